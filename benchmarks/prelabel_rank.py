"""Pre-labeling throughput, ranking at 100,000 clips, and the queue query at that size.

(a) `prelabel_execute` end to end (read the audio, log-mel, model, Prediction rows, priorities)
    on FSDD clips with a model trained on 100 of them: cold (feature cache empty) and warm.
(b) ranking 100,000 unlabeled clips after a new model version, from the model's outputs: the
    strategy's priorities (margin; hybrid with its k-center picks over 128-d embeddings) and
    the priority writes to 100,000 synthesized Clip rows (they have no audio). Inference and
    Prediction writes at that size follow from (a)'s warm rate; the total is printed too.
(c) the annotation queue's next-clip query (`clips_available_to(...).first()`, as
    `clip_next_claim` runs it) over those 100,000 clips, with its query plan.

    .venv/bin/python benchmarks/prelabel_rank.py [--clips 1000] [--rank 100000]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/earmark_bench ... --skip-throughput
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import time

TARGET_RATE = 500.0  # clips/s
TARGET_RANK_S = 300.0
TARGET_QUEUE_MS = 10.0


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=1000, help="FSDD clips for (a)")
    p.add_argument("--rank", type=int, default=100_000, help="clips for (b) and (c)")
    p.add_argument("--skip-throughput", action="store_true", help="only (b) and (c)")
    p.add_argument(
        "--real-rank",
        type=int,
        default=0,
        metavar="N",
        help="(b') rank N clips end to end: (a)'s clips cloned to N rows (distinct hashes, so "
        "each gets its own cached features), scored by prelabel_execute like after a new "
        "model version",
    )
    return p.parse_args()


def throughput(n: int) -> float:
    """(a): returns the warm rate in clips/s."""
    from django.conf import settings

    from labelapp.models import Clip
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, import_job_create, import_run
    from labelapp.services.projects import project_create
    from ml_backend.dataset import features_root
    from ml_backend.models import MLConfig, ModelVersion, PrelabelRun
    from ml_backend.prelabel import prelabel_execute
    from ml_backend.simulation import _simulator, _tasks_in_process
    from ml_backend.training import training_execute, training_request
    from ontology.services import label_create

    files = sorted((settings.EARMARK_FSDD_DIR / "recordings").glob("*.wav"))
    files = random.Random(0).sample(files, min(n, len(files)))
    project = project_create(name=f"prelabel-bench-{os.getpid()}", target_sample_rate=8000)
    # One training, started here: no automatic one while the labels go in.
    MLConfig.objects.create(project=project, enabled=False, strategy="margin", epochs=4)
    labels = {str(d): label_create(ontology=project.ontology, name=str(d)).pk for d in range(10)}
    user = _simulator()
    with _tasks_in_process():
        job = import_job_create(project=project, source="cli", total=len(files))
        import_run(project=project, items=[ImportItem(f.name, path=f) for f in files], job=job)
        for clip_id in Clip.objects.filter(project=project).values_list("pk", flat=True):
            clip_process(clip_id)
        for clip in Clip.objects.filter(project=project).order_by("?")[:100]:
            annotation_submit(clip=clip, user=user, clip_labels=[labels[clip.original_name[0]]])
        training_execute(training_request(project=project, trigger="manual").pk)
    version = ModelVersion.objects.get(project=project, status="active")
    unlabeled = Clip.objects.filter(project=project, annotation_count=0).count()
    print(f"(a) {len(files)} FSDD clips, model {version.name} on 100 labels; {unlabeled} to score")
    rates = {}
    # first: this process has not loaded the model or run it yet, features not cached;
    # cold: the worker is warm (model cached), features computed from the audio;
    # warm: features cached, as when a new model version re-ranks clips already scored.
    for kind in ("first", "cold", "warm"):
        if kind != "warm":
            shutil.rmtree(features_root(), ignore_errors=True)
        run = PrelabelRun.objects.create(project=project, model_version=version)
        started = time.perf_counter()
        assert prelabel_execute(run.pk) == "succeeded"
        seconds = time.perf_counter() - started
        rates[kind] = unlabeled / seconds
        print(
            f"(a) {kind}: {unlabeled} clips in {seconds:.2f} s = {rates[kind]:.0f} clips/s "
            f"(target >= {TARGET_RATE:.0f}, ratio {rates[kind] / TARGET_RATE:.2f})"
        )
    return rates["warm"], project, version


def ranking_real(project, version, n: int) -> None:
    """(b'): `prelabel_execute` over n unlabeled clips, the whole path a new model version
    takes: ids, cached features, model, Prediction rows, priorities. Features are computed
    first (the cold path, timed apart: in production they are cached when a clip is first
    scored or ranked for a cold start)."""
    import hashlib

    from labelapp.models import Clip
    from ml_backend.dataset import clip_features, feature_config_for
    from ml_backend.models import PrelabelRun
    from ml_backend.prelabel import prelabel_execute, unlabeled_clips

    sources = list(unlabeled_clips(project))
    have = len(sources)
    started = time.perf_counter()
    rows = []
    for i in range(max(0, n - have)):
        src = sources[i % have]
        rows.append(
            Clip(
                project=project,
                file=src.file.name,
                sha256=hashlib.sha256(f"{src.sha256}-{i}".encode()).hexdigest(),
                original_name=f"clone-{i}-{src.original_name}",
                size_bytes=src.size_bytes,
                format=src.format,
                codec=src.codec,
                duration=src.duration,
                sample_rate=src.sample_rate,
                channels=src.channels,
                frames=src.frames,
                status=Clip.Status.READY,
                peaks_file=src.peaks_file,
            )
        )
    Clip.objects.bulk_create(rows, batch_size=5000)
    total = unlabeled_clips(project).count()
    print(
        f"(b') {total} unlabeled clips "
        f"({len(rows)} cloned in {time.perf_counter() - started:.1f} s)"
    )
    config = feature_config_for(project)
    started = time.perf_counter()
    for clip in unlabeled_clips(project).iterator(chunk_size=2000):
        clip_features(clip, config)
    seconds = time.perf_counter() - started
    print(f"(b') features computed and cached: {seconds:.0f} s ({total / seconds:.0f} clips/s)")
    run = PrelabelRun.objects.create(project=project, model_version=version)
    started = time.perf_counter()
    assert prelabel_execute(run.pk) == "succeeded"
    seconds = time.perf_counter() - started
    scored = version.predictions.count()
    print(
        f"(b') ranking {total} clips after a new model version, end to end: {seconds:.1f} s "
        f"({total / seconds:.0f} clips/s; {scored} predictions of {version.name}; "
        f"target < {TARGET_RANK_S:.0f} s, ratio {TARGET_RANK_S / seconds:.2f})"
    )


def _synthesize(n: int):
    from _stack import synthesize_clips

    from labelapp.services.projects import project_create

    project = project_create(name=f"rank-bench-{os.getpid()}")
    started = time.perf_counter()
    synthesize_clips(project, n)
    print(f"synthesized {n} clips in {time.perf_counter() - started:.1f} s")
    return project


def ranking(n: int, warm_rate: float | None):
    """(b): priorities from model outputs and their writes, for n clips."""
    import numpy as np

    from labelapp.models import Clip
    from ml_backend.prelabel import (
        LABELED_CENTERS,
        USES_LABELED_CENTERS,
        _priorities,
        _write_priorities,
        unlabeled_clips,
    )
    from ml_backend.uncertainty import get_strategy

    project = _synthesize(n)
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(10) * 0.3, size=n)
    embeddings = rng.standard_normal((n, 128)).astype(np.float32)
    # Hybrid keeps its picks away from the labeled clips: as many as it takes at most.
    labeled = rng.standard_normal((LABELED_CENTERS, 128)).astype(np.float32)
    for name in ("margin", "hybrid", "badge"):
        strategy = get_strategy(name)
        started = time.perf_counter()
        ids = list(unlabeled_clips(project).values_list("pk", flat=True))
        t_ids = time.perf_counter() - started
        scores = strategy.score(probs, embeddings=embeddings, multi_label=False, seed=1)
        priorities = _priorities(
            name,
            strategy,
            scores,
            probs,
            embeddings,
            labeled_embeddings=labeled if name in USES_LABELED_CENTERS else None,
            seed=1,
        )
        t_rank = time.perf_counter() - started - t_ids
        _write_priorities(ids, priorities)
        total = time.perf_counter() - started
        top = Clip.objects.filter(project=project).order_by("-priority", "id").first()
        assert top is not None and top.priority == priorities.max()
        line = (
            f"(b) {name}: {n} clips: ids {t_ids:.2f} s, priorities {t_rank:.2f} s, "
            f"writes {total - t_ids - t_rank:.2f} s; ranking {total:.1f} s"
        )
        if warm_rate:
            inference = n / warm_rate
            line += f"; + inference and Prediction rows at (a)'s warm rate {inference:.0f} s"
            line += f" = {total + inference:.0f} s (target < {TARGET_RANK_S:.0f} s)"
        print(line)
    return project


def queue_query(project) -> None:
    """(c): the next-clip query of the annotation queue over the ranked clips."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.utils import timezone

    from labelapp.services.queue import clips_available_to

    user, _ = get_user_model().objects.get_or_create(username="queue-bench")
    variants = {
        "clips_available_to (annotation_count < wanted)": clips_available_to,
        "same with annotation_count = 0 (one annotation per clip)": _equality_variant,
    }
    for name, build in variants.items():
        qs = build(project, user, timezone.now())
        qs.first()  # warm the connection and the page cache
        times = []
        for _ in range(50):
            started = time.perf_counter()
            clip = build(project, user, timezone.now()).first()
            times.append((time.perf_counter() - started) * 1000)
        assert clip is not None
        times.sort()
        print(
            f"(c) {name} on {connection.vendor}, {project.clips.count()} clips: "
            f"median {statistics.median(times):.2f} ms, p95 {times[int(0.95 * len(times))]:.2f} "
            f"ms (target < {TARGET_QUEUE_MS:.0f} ms)"
        )
        print("(c) plan:\n" + qs.explain())


def _equality_variant(project, user, now):
    """The queue's selector with an equality on annotation_count, which lets the index give
    the order (a range on it, as `< wanted`, makes the database sort every candidate)."""
    from django.db.models import Exists, F, OuterRef

    from labelapp.models import Annotation, Clip
    from labelapp.services.queue import _live_locks_of_others

    mine = Annotation.objects.filter(clip=OuterRef("pk"), annotator=user).exclude(
        status=Annotation.Status.DRAFT
    )
    return (
        Clip.objects.filter(project=project, status=Clip.Status.READY, annotation_count=0)
        .exclude(Exists(mine))
        .alias(locks=_live_locks_of_others(user, now))
        .filter(locks__lt=project.annotations_per_clip - F("annotation_count"))
        .order_by("-priority", "id")
    )


def main() -> None:
    args = _args()
    os.environ.setdefault("EARMARK_TRAIN_MIN_STEPS", "40")
    os.environ.setdefault("EARMARK_PRETRAIN", "0")  # its one training (100 labels) is set-up
    from _stack import setup

    var = setup("prelabel-rank")
    from django.db import connection

    print(f"database: {connection.vendor}; var {var}")
    warm = None
    if not args.skip_throughput:
        warm, fsdd_project, version = throughput(args.clips)
        if args.real_rank:
            ranking_real(fsdd_project, version, args.real_rank)
            queue_query(fsdd_project)
    project = ranking(args.rank, warm)
    queue_query(project)
    if connection.vendor != "sqlite":  # a shared database: leave nothing behind
        project.delete()


if __name__ == "__main__":
    main()
