"""Pre-labeling and ranking: unlabeled clips get predictions from the active model version
and a priority from the project's strategy; the annotation queue orders by priority.

Without a model, clips are ranked for a cold start: diverse clips first, by k-means over
cheap log-mel statistics, so the first labels cover the data.

What runs the model (torch) is imported in the functions that do: the web side and the clip
processing task import this module to ask for runs, and torch costs a process ~500 MB."""

from __future__ import annotations

import logging
import math
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from labelapp.chunks import id_chunks, rows_per_statement
from labelapp.durability import recomputable_writes
from labelapp.errors import DomainError
from labelapp.models import Annotation, Clip, Project
from labelapp.queueing import enqueue, enqueue_on_commit
from ml_backend import tasks
from ml_backend.feature_config import FeatureConfig
from ml_backend.models import MLConfig, ModelVersion, Prediction, PrelabelRun
from ml_backend.segments import extract_segments, sounding_frames
from ml_backend.uncertainty import get_strategy
from ontology.merge import labels_now

logger = logging.getLogger(__name__)

BATCH = 256  # clips per inference batch and per bulk write
DIVERSE_PICKS = 200  # clips a batch-diversity strategy orders explicitly at the queue's head
BALD_PASSES = 8
SEGMENT_THRESHOLD = 0.5
PICKED_BASE = 1e6  # above any uncertainty score
LABELED_CENTERS = 2000  # labeled clips whose embeddings diversity keeps picks away from
BATCH_DIVERSE = ("kcenter", "hybrid", "badge")  # strategies that order a batch of picks
# Those that keep their picks away from the labeled clips (their embeddings as centers).
USES_LABELED_CENTERS = ("kcenter", "hybrid")
COLD_START_SAMPLE = 5000  # clips clustered for a cold start (the rest keep their order)
STALE_AFTER = timedelta(minutes=5)  # a running pre-labeling silent this long lost its worker


def prelabel_request(*, project: Project, model_version: ModelVersion | None = None) -> PrelabelRun:
    """Queue a pre-labeling of the project's unlabeled clips, or give back the one already
    queued for the same version: it reads the clips when it starts, so a second would redo
    its work (seven quick presses of "Pre-label" queued seven runs)."""
    return _prelabel_queued_or_new(project, model_version)[0]


def _prelabel_queued_or_new(
    project: Project, model_version: ModelVersion | None
) -> tuple[PrelabelRun, bool]:
    queued = queued_prelabel(project, model_version)
    if queued is not None:
        return queued, False
    run = PrelabelRun.objects.create(project=project, model_version=model_version)
    enqueue_on_commit(tasks.prelabel, run.pk)  # broker down: the sweep re-sends queued runs
    return run, True


def prelabel_active_request(*, project: Project) -> tuple[PrelabelRun, bool]:
    """A lead's "Pre-label & rank" (page, API, CLI): a run of the active version, named so
    (without one it was listed as a cold-start ranking while a model was active), or the
    cold start when there is none. Returns the run and whether it is new."""
    from ml_backend.selectors import active_model_version

    with transaction.atomic():
        # One at a time per project: six presses at once each found none queued and queued
        # six (PostgreSQL waits here; SQLite writes one transaction at a time anyway).
        Project.objects.select_for_update().filter(pk=project.pk).first()
        return _prelabel_queued_or_new(project, active_model_version(project))


def queued_prelabel(project: Project, model_version: ModelVersion | None) -> PrelabelRun | None:
    return (
        PrelabelRun.objects.filter(
            project=project,
            model_version=model_version,
            kind=PrelabelRun.Kind.PRELABEL,
            status=PrelabelRun.Status.QUEUED,
        )
        .order_by("-pk")
        .first()
    )


def rank_request(*, project: Project) -> PrelabelRun | None:
    """Re-rank the unlabeled clips from the active version's stored predictions (after a
    strategy change): only clips without a prediction get scored, and for hybrid and k-center
    the labeled clips' embeddings are computed (their features are cached). None when
    the project has no active model (its cold-start order stands until one exists)."""
    version = ModelVersion.objects.filter(
        project=project, status=ModelVersion.Status.ACTIVE
    ).first()
    if version is None:
        return None
    run = PrelabelRun.objects.create(
        project=project, model_version=version, kind=PrelabelRun.Kind.RANK
    )
    enqueue_on_commit(tasks.rank, run.pk)
    return run


def unlabeled_clips(project: Project):
    return Clip.objects.filter(
        project=project, status=Clip.Status.READY, annotation_count=0
    ).order_by("id")


def prelabel_execute(run_id: int) -> str:
    """Run a queued pre-labeling (or ranking) to its end. Idempotent: a second delivery finds
    it claimed. One run of a project at a time: one queued while another of its project runs
    waits ("waiting"), and the running one hands over to it when it ends (the sweep re-sends
    it too). Two at once would each hold a worker, and a training would wait for both."""
    now = timezone.now()
    busy = PrelabelRun.objects.filter(
        project_id=OuterRef("project_id"),
        status=PrelabelRun.Status.RUNNING,
        heartbeat_at__gte=now - STALE_AFTER,
    )
    still_queued = PrelabelRun.objects.filter(pk=run_id, status=PrelabelRun.Status.QUEUED)
    from ml_backend.training import current_worker

    claimed = still_queued.exclude(Exists(busy)).update(
        status=PrelabelRun.Status.RUNNING, heartbeat_at=now, worker=current_worker()
    )
    if not claimed:
        queued = still_queued.select_related("model_version").first()
        if queued is None:
            return "skipped"
        if queued.model_version is not None:
            try:  # replaced while it waited: nothing to wait for
                _still_active(queued.model_version)
            except Superseded as exc:
                return _cancel(still_queued, exc)
        return "waiting"
    run = PrelabelRun.objects.select_related("project", "model_version").get(pk=run_id)
    try:
        return _execute_claimed(run, run_id)
    finally:
        for queued_id in PrelabelRun.objects.filter(
            project_id=run.project_id, status=PrelabelRun.Status.QUEUED
        ).values_list("pk", flat=True):
            enqueue(tasks.prelabel, queued_id)


def prelabels_sweep_stale() -> int:
    """Runs whose worker died (silent for STALE_AFTER) are marked failed with the reason, so
    that they neither show as running forever nor hold their project's next run back."""
    cutoff = timezone.now() - STALE_AFTER
    return (
        PrelabelRun.objects.filter(status=PrelabelRun.Status.RUNNING)
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at=None, created_at__lt=cutoff))
        .update(
            status=PrelabelRun.Status.FAILED,
            finished_at=timezone.now(),
            error="the worker stopped responding (killed or crashed)",
        )
    )


def _execute_claimed(run: PrelabelRun, run_id: int) -> str:
    try:
        with recomputable_writes():  # a rerun writes every prediction and priority again
            _prelabel(run, run_id)
    except Superseded as exc:
        # A lead's cancel already wrote its own reason: only a run still running takes this one.
        return _cancel(
            PrelabelRun.objects.filter(pk=run_id, status=PrelabelRun.Status.RUNNING), exc
        )
    except Exception as exc:
        logger.exception("pre-labeling %s failed", run_id)
        PrelabelRun.objects.filter(pk=run_id).update(
            status=PrelabelRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            finished_at=timezone.now(),
        )
        return "failed"
    # Only a run still running: one cancelled meanwhile (its project deleted) stays so.
    finished = PrelabelRun.objects.filter(pk=run_id, status=PrelabelRun.Status.RUNNING).update(
        status=PrelabelRun.Status.SUCCEEDED, finished_at=timezone.now()
    )
    keep = settings.EARMARK_KEEP_PREDICTION_VERSIONS
    if finished and keep > 0 and run.kind == PrelabelRun.Kind.PRELABEL and run.model_version_id:
        # The clips have their new version's scores: older versions' past `keep` can go.
        from ml_backend import tasks

        enqueue(tasks.predictions_prune, run.project_id, keep)
    return "succeeded"


def _cancel(runs, exc: Exception) -> str:
    runs.update(status=PrelabelRun.Status.CANCELLED, error=str(exc), finished_at=timezone.now())
    return "cancelled"


class Superseded(Exception):  # noqa: N818 - a state, not an error
    """A newer model version became active, or the run was cancelled (its project deleted):
    this run's scores would be thrown away."""


def _still_running(run_id: int) -> None:
    if not PrelabelRun.objects.filter(pk=run_id, status=PrelabelRun.Status.RUNNING).exists():
        raise Superseded("stopped: the run was cancelled")


LIVE = (PrelabelRun.Status.QUEUED, PrelabelRun.Status.RUNNING)


def prelabel_cancel(*, run: PrelabelRun, user=None) -> PrelabelRun:
    """Cancel a queued or running pre-labeling (or ranking). A running one stops at its next
    batch: the predictions of the batches it finished stay (they are the active version's),
    the queue keeps the order it had, and the next version's run scores every clip again.
    409 when it has already ended."""
    stopped = PrelabelRun.objects.filter(pk=run.pk, status__in=LIVE).update(
        status=PrelabelRun.Status.CANCELLED,
        # The row says "cancelled" already (it read "cancelled … — cancelled by lead").
        error=(f"by {user.get_username()}; " if user is not None else "")
        + f"the queue keeps its order until the next {run.job_name}",
        finished_at=timezone.now(),
    )
    run.refresh_from_db()
    if not stopped:
        raise DomainError(
            f"this {run.job_name} has already ended ({run.status})", status=409, code="finished"
        )
    return run


def _still_active(version: ModelVersion) -> None:
    if not ModelVersion.objects.filter(pk=version.pk, status=ModelVersion.Status.ACTIVE).exists():
        newer = ModelVersion.objects.filter(
            project_id=version.project_id, status=ModelVersion.Status.ACTIVE
        ).first()
        name = newer.name if newer else "another version"
        raise Superseded(f"stopped: {name} replaced {version.name}; its own run scores the clips")


def _no_newer_ranking(run_id: int, version: ModelVersion) -> None:
    """Before a run writes its priorities: a ranking already written by a run queued after
    this one wins. Queued after, not of a higher version number: a lead's rollback to v3 is
    ranked by a run queued after v7's, and v7's ranking in place stopped it every time."""
    newer = (
        PrelabelRun.objects.filter(
            project_id=version.project_id, status=PrelabelRun.Status.SUCCEEDED, pk__gt=run_id
        )
        .exclude(model_version=None)
        .select_related("model_version")
        .first()
    )
    if newer is not None:
        raise Superseded(
            f"stopped: {newer.model_version.name}'s ranking is already in place "
            f"(this run scored with {version.name})"
        )


def _prelabel(run: PrelabelRun, run_id: int) -> None:
    active = ModelVersion.objects.filter(
        project=run.project, status=ModelVersion.Status.ACTIVE
    ).first()
    if run.model_version is not None and active is not None and run.model_version != active:
        _still_active(run.model_version)  # raises: a newer version took over while queued
    if active is None:
        _cold_start(run)
        return
    ids = list(unlabeled_clips(run.project).values_list("pk", flat=True))
    PrelabelRun.objects.filter(pk=run.pk).update(total=len(ids))

    # A newer version that becomes active while this run scores does not stop it: the run
    # finishes and its ranking stands until the newer version's own run replaces it. When
    # labels come faster than a ranking of the whole pool takes (100,000 clips, a training
    # every 10% more labels), stopping every superseded run left the queue never re-ranked
    # (benchmarks/RESULTS.md, load, session 13). Only a newer ranking already written wins.
    def check() -> None:
        PrelabelRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
        _no_newer_ranking(run_id, active)

    def progress(done: int) -> None:
        # The count first: a batch written as a cancel came is counted (it said 256 of 512).
        PrelabelRun.objects.filter(pk=run_id).update(done=done, heartbeat_at=timezone.now())
        _still_running(run_id)

    # Random choices (the random strategy, BADGE's draws) seeded by the model version, not by
    # the run's row id: two simulations of one pool gave the random baseline other curves.
    seed = active.version
    if run.kind == PrelabelRun.Kind.RANK:
        rank_from_predictions(
            run.project, active, ids, progress=progress, seed=seed, before_priorities=check
        )
    else:
        score_clips(run.project, active, ids, progress=progress, seed=seed, before_priorities=check)


def prelabel_new_clips(clip_ids: list[int]) -> None:
    """Clips that just became ready get predictions at once when their project has a model
    (called by the processing task); their priority joins the queue's order. A project
    without a model gets a cold-start ranking of its clips instead, unless one is already
    waiting in the queue (that one will see these clips too, since it runs after them) or
    the project's automatic model loop is off (a simulation's projects: its random baseline
    must start from import order)."""
    by_project: dict[int, list[int]] = {}
    for clip_id, project_id in Clip.objects.filter(
        pk__in=clip_ids, status=Clip.Status.READY, annotation_count=0, project__deleted_at=None
    ).values_list("pk", "project_id"):
        by_project.setdefault(project_id, []).append(clip_id)
    for project_id, ids in by_project.items():
        version = ModelVersion.objects.filter(
            project_id=project_id, status=ModelVersion.Status.ACTIVE
        ).first()
        if version is not None:
            score_clips(version.project, version, ids, diversity=False)
        elif (
            not MLConfig.objects.filter(project_id=project_id, enabled=False).exists()
            and not PrelabelRun.objects.filter(
                project_id=project_id, model_version=None, status=PrelabelRun.Status.QUEUED
            ).exists()
        ):
            prelabel_request(project=Project.objects.get(pk=project_id))


def predictions_rescore_labeled(*, project_id: int, label_id: int) -> int:
    """After a merge is undone: the active version scores again the labeled clips whose
    prediction names the merge's target. The merge folded the source's scores into the
    target's in every stored prediction; the undo's pre-labeling scores the unlabeled clips
    again, but a clip labeled since kept a prediction without the restored label (and with
    its score under the target), which a second annotator's suggestions and the exported
    predictions show. Returns the clips scored; idempotent (scoring again writes the same)."""
    version = ModelVersion.objects.filter(
        project_id=project_id, status=ModelVersion.Status.ACTIVE, project__deleted_at=None
    ).first()
    if version is None:
        return 0
    ids = list(
        Prediction.objects.filter(
            model_version=version,
            clip__project_id=project_id,
            clip__status=Clip.Status.READY,
            clip__annotation_count__gt=0,
            clip_scores__has_key=str(label_id),
        )
        .order_by("clip_id")
        .values_list("clip_id", flat=True)
    )
    for chunk in id_chunks(ids, BATCH):
        score_clips(version.project, version, chunk, diversity=False)
    return len(ids)


def score_clips(
    project: Project,
    version: ModelVersion,
    ids: list[int],
    *,
    progress=None,
    seed: int = 0,
    diversity: bool = True,
    before_priorities=None,
) -> None:
    """Predictions and priorities for clips `ids`, in batches of BATCH. `before_priorities()`
    is called before the priorities are written (it may raise to stop the run)."""
    from ml_backend.dataset import clips_features
    from ml_backend.features import cache_writes_wait
    from ml_backend.infer import predict_batch
    from ml_backend.inference import load_version

    model, extra, feature_config = load_version(version)
    parents = extra.get("parents") if extra.get("multi_label") else None
    # The version's classes in today's labels (a merge since it trained: the target's id).
    classes = labels_now(ontology=project.ontology, ids=list(version.classes or extra["classes"]))
    strategy_name = MLConfig.objects.get_or_create(project=project)[0].strategy
    strategy = get_strategy(strategy_name)
    all_ids, all_scores, all_embeddings, all_probs = [], [], [], []
    segments_wanted = project.annotation_mode != Project.AnnotationMode.CLIP
    multi = bool(extra.get("multi_label"))
    # A multi-label model's parents score at least as high as their children: their
    # segments are left out where a child's cover them before the best are kept.
    paths = _class_paths(classes) if multi and segments_wanted else None
    for start in range(0, len(ids), BATCH):
        clips = list(Clip.objects.filter(pk__in=ids[start : start + BATCH]).order_by("id"))
        try:
            feats = clips_features(clips, feature_config, background_write=True)
        except OSError:
            # A lead deleted a clip meanwhile (its file goes after its row): score the rest.
            clips = list(Clip.objects.filter(pk__in=[c.pk for c in clips]).order_by("id"))
            feats = clips_features(clips, feature_config, background_write=True)
        out = predict_batch(
            model,
            feats,
            feature_config,
            parents=parents,
            mc_dropout_passes=BALD_PASSES if strategy_name == "bald" else 0,
            return_frames=segments_wanted,
        )
        probs = out["clip_probs"]
        if strategy_name == "kcenter":  # diversity alone: uncertainty only breaks ties
            scores = _margin_like(probs)
        else:
            # A draw of its own per batch (each batch drew the same values, so clips 256
            # apart shared their "random" score), still the same for the same version.
            scores = strategy.score(
                probs, mc_probs=out["mc_probs"], multi_label=multi, seed=[seed, start]
            )
        rows = []
        for i, clip in enumerate(clips):
            segs = []
            if segments_wanted and out["frame_probs"] is not None:
                # Frames of near-silence suggest nothing (the timeline has a frame per
                # feature frame).
                gated = out["frame_probs"][i] * sounding_frames(feats[i])[:, None]
                segs = suggested_segments(
                    gated, feature_config.hop_s, classes, clip.duration, paths=paths
                )
            rows.append(
                Prediction(
                    clip=clip,
                    model_version=version,
                    clip_scores=_clip_scores(probs[i], classes),
                    segments=segs,
                    score=float(probs[i].max()),
                    uncertainty=float(scores[i]),
                    embedding=out["embeddings"][i].astype(np.float16).tobytes(),
                )
            )
        _write_predictions(rows)
        all_ids.extend(c.pk for c in clips)
        all_scores.append(np.asarray(scores, dtype=np.float64))
        all_embeddings.append(out["embeddings"])
        all_probs.append(probs)
        if progress is not None:
            progress(min(len(ids), start + len(clips)))
    cache_writes_wait()
    if not all_ids:
        return
    scores = np.concatenate(all_scores)
    name = strategy_name if diversity else ""
    priorities = _priorities(
        name,
        strategy,
        scores,
        np.concatenate(all_probs),
        np.concatenate(all_embeddings),
        labeled_embeddings=(
            _embeddings(_labeled_clips(project), model, feature_config, parents)
            if name in USES_LABELED_CENTERS
            else None
        ),
        multi_label=multi,
        seed=seed,
        passed=_passed_indices(project, all_ids) if name in BATCH_DIVERSE else None,
    )
    if before_priorities is not None:
        before_priorities()
    _write_ranking(project, all_ids, priorities)


def _clip_scores(probs: np.ndarray, classes: list) -> dict[str, float]:
    """{label id: score}; two classes merged into one label keep the higher score, a class
    whose label was deleted (None) is left out."""
    scores: dict[str, float] = {}
    for label, p in zip(classes, probs, strict=True):
        if label is None:
            continue
        value = round(float(p), 4)
        if value > scores.get(str(label), -1.0):
            scores[str(label)] = value
    return scores


# Suggested segments per clip, at most: on a long recording a model can find thousands of
# short events (4,341 on a 2-hour clip in a walk-through), more than anyone reviews one by one
# and enough to hide the waveform; the best-scored are kept.
MAX_SUGGESTED_SEGMENTS = 200
# Gaps shorter than this within one label's run are bridged (a song's notes, a call's pulses).
MERGE_GAP_S = 0.3


def _class_paths(classes: list) -> dict[int, str]:
    from ontology.models import Label

    ids = [c for c in classes if c is not None]
    return dict(Label.objects.filter(pk__in=ids).values_list("pk", "path"))


def suggested_segments(
    frame_probs: np.ndarray,
    hop_s: float,
    classes: list,
    duration: float,
    *,
    paths: dict[int, str] | None = None,
) -> list[dict]:
    """A prediction's segments from its frame probabilities (T, C), in seconds rounded to 10 ms.
    The last feature frame reaches up to a hop past the audio's end, so an end is cut to the
    clip's `duration` (when known): a suggestion an annotator accepts must be a segment the
    annotation accepts. Runs of one label closer than MERGE_GAP_S are one segment (a song's
    notes were a segment each, 0.1 s long). With `paths` (a multi-label model's classes), a
    label's segment that a label under it covers goes before the MAX_SUGGESTED_SEGMENTS best
    are kept: a 30-minute recording's 200 places went to its 0.1 s "bird" segments, scored
    1.0, and none to its songs and calls."""
    segs = []
    for seg in extract_segments(
        frame_probs,
        hop_s,
        threshold=SEGMENT_THRESHOLD,
        median_kernel=5,
        min_duration_s=0.1,
        merge_gap_s=MERGE_GAP_S,
    ):
        if classes[seg["class"]] is None:  # a label deleted since the version trained
            continue
        start, end = round(seg["start"], 2), round(seg["end"], 2)
        if duration:
            end = min(end, round(duration, 2))  # as an annotation snaps it
        if end <= start:
            continue
        segs.append(
            {
                "start": start,
                "end": end,
                "channel": None,
                "label": classes[seg["class"]],
                "score": round(float(seg["score"]), 4),
            }
        )
    if paths:
        from ml_backend.selectors import deepest_segments

        segs = deepest_segments(segs, {**paths, **{c: "" for c in classes if c not in paths}})
    if len(segs) > MAX_SUGGESTED_SEGMENTS:  # the best-scored, in time order
        segs = sorted(
            sorted(segs, key=lambda g: -g["score"])[:MAX_SUGGESTED_SEGMENTS],
            key=lambda g: (g["start"], g["end"]),
        )
    return segs


def rank_from_predictions(
    project: Project,
    version: ModelVersion,
    ids: list[int],
    *,
    progress=None,
    seed: int = 0,
    before_priorities=None,
) -> None:
    """Priorities for clips `ids` from `version`'s stored predictions and the project's current
    strategy. Clips the version has not scored yet are scored first. BALD needs dropout
    passes that are not stored: it keeps each prediction's stored uncertainty."""
    strategy_name = MLConfig.objects.get_or_create(project=project)[0].strategy
    strategy = get_strategy(strategy_name)
    classes = [str(c) for c in version.classes]
    columns = ("clip_id", "clip_scores", "embedding", "uncertainty")
    stored = {
        clip_id: (scores, embedding, uncertainty)
        for chunk in id_chunks(ids)
        for clip_id, scores, embedding, uncertainty in Prediction.objects.filter(
            model_version=version, clip_id__in=chunk
        ).values_list(*columns)
        if embedding
    }
    missing = [i for i in ids if i not in stored]
    if missing:
        score_clips(project, version, missing, diversity=False, seed=seed)
        stored.update(
            (clip_id, (scores, embedding, uncertainty))
            for chunk in id_chunks(missing)
            for clip_id, scores, embedding, uncertainty in Prediction.objects.filter(
                model_version=version, clip_id__in=chunk
            ).values_list(*columns)
        )
    ids = [i for i in ids if i in stored]
    if not ids:
        return
    probs = np.array([[stored[i][0].get(c, 0.0) for c in classes] for i in ids], dtype=np.float64)
    embeddings = np.stack(
        [np.frombuffer(bytes(stored[i][1]), dtype=np.float16) for i in ids]
    ).astype(np.float32)
    multi = project.label_mode == Project.LabelMode.MULTI
    if strategy_name == "bald":
        scores = np.array([stored[i][2] or 0.0 for i in ids], dtype=np.float64)
    elif strategy_name == "kcenter":
        scores = _margin_like(probs)
    else:
        scores = strategy.score(probs, mc_probs=None, multi_label=multi, seed=seed)
    labeled = (
        _labeled_embeddings_of(project, version) if strategy_name in USES_LABELED_CENTERS else None
    )
    priorities = _priorities(
        strategy_name,
        strategy,
        scores,
        probs,
        embeddings,
        labeled_embeddings=labeled,
        multi_label=multi,
        seed=seed,
        passed=_passed_indices(project, ids) if strategy_name in BATCH_DIVERSE else None,
    )
    if before_priorities is not None:
        before_priorities()
    _write_ranking(project, ids, priorities)
    if progress is not None:
        progress(len(ids))


def _labeled_clips(project: Project) -> list[Clip]:
    """The LABELED_CENTERS most recently labeled clips of the project."""
    return list(
        Clip.objects.filter(project=project, status=Clip.Status.READY, annotation_count__gt=0)
        .annotate(labeled_at=Max("annotations__created_at"))
        .order_by("-labeled_at", "-id")[:LABELED_CENTERS]
    )


def _embeddings(
    clips: list[Clip], model, feature_config: FeatureConfig, parents
) -> np.ndarray | None:
    """Embeddings of `clips` under this model (the labeled clips: the centers a diversity
    strategy keeps its picks away from). Their features are cached; the model run costs what
    scoring as many unlabeled clips does. Non-finite rows are left out (one NaN center would
    make every distance NaN). None when there are none."""
    from ml_backend.dataset import clips_features
    from ml_backend.infer import predict_batch

    out = []
    for start in range(0, len(clips), BATCH):
        feats = clips_features(clips[start : start + BATCH], feature_config)
        out.append(predict_batch(model, feats, feature_config, parents=parents)["embeddings"])
    if not out:
        return None
    embeddings = np.concatenate(out)
    embeddings = embeddings[np.isfinite(embeddings).all(axis=1)]
    return embeddings if len(embeddings) else None


def _labeled_embeddings_of(project: Project, version: ModelVersion) -> np.ndarray | None:
    """The labeled clips' embeddings for a re-rank, which otherwise needs only stored
    predictions: the model is loaded only when there are labeled clips, and a model that
    cannot be loaded or run costs the centers (with a warning), not the ranking."""
    clips = _labeled_clips(project)
    if not clips:
        return None
    from ml_backend.inference import load_version

    try:
        model, extra, feature_config = load_version(version)
        parents = extra.get("parents") if extra.get("multi_label") else None
        return _embeddings(clips, model, feature_config, parents)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        logger.warning("ranking %s without labeled centers: %s", version.name, exc)
        return None


def _passed_indices(project: Project, ids: list[int]) -> np.ndarray:
    """Positions in `ids` of clips an annotator skipped. A batch of diverse picks leaves them
    out: a clip someone passed on is often one nobody can label (noise, an unknown sound),
    and its place at the head of the queue, and the picks near it that k-center gives up
    for it, would be spent on nothing. It still waits in the queue by its score, for the
    other annotators."""
    skipped = set(
        Annotation.objects.filter(
            clip__project=project, status=Annotation.Status.SKIPPED
        ).values_list("clip_id", flat=True)
    )
    return np.asarray([i for i, clip_id in enumerate(ids) if clip_id in skipped], dtype=np.int64)


def _margin_like(probs: np.ndarray) -> np.ndarray:
    top2 = np.sort(probs, axis=1)[:, -2:] if probs.shape[1] > 1 else np.zeros((len(probs), 2))
    return 1.0 - (top2[:, 1] - top2[:, 0])


def _priorities(
    name,
    strategy,
    scores: np.ndarray,
    probs: np.ndarray,
    embeddings: np.ndarray,
    *,
    labeled_embeddings: np.ndarray | None = None,
    multi_label: bool = False,
    seed: int = 0,
    passed: np.ndarray | None = None,
) -> np.ndarray:
    """Priority per clip, higher first: the strategy's score, so clips scored in different
    batches compare. Batch-diversity strategies put their picks at the head of the queue
    (PICKED_BASE and up), in pick order; the rest follow by score. Clips at indices `passed`
    (an annotator skipped them) are not picked: they keep their place by score."""
    priorities = np.asarray(scores, dtype=np.float64).copy()
    if name in BATCH_DIVERSE:
        k = min(DIVERSE_PICKS, len(scores))
        picks = strategy.select(
            k,
            probs=probs,
            embeddings=embeddings,
            labeled_embeddings=labeled_embeddings,
            multi_label=multi_label,
            seed=seed,
            exclude=passed if passed is not None else [],
        )
        for rank, index in enumerate(picks):
            priorities[index] = PICKED_BASE + (k - rank)
    return priorities


# Rows per UPDATE, each its own transaction: an UPDATE locks its rows until it commits, and
# annotators' submissions (annotation_count) and the queue's claim wait for those locks; one
# transaction over 100,000 clips held them for seconds. 4,000 parameters: under SQLite's default
# limit (fewer rows where a build sets it lower: `rows_per_statement`).
PRIORITY_CHUNK = 2000
# Clips a ranking of a large pool writes in order (and the queue serves in that order before
# the next one): more than a team labels between two versions (10% more labels, or one
# ranking's time at 20 labels/s).
RANKING_HEAD = 5000


def _write_predictions(rows: list[Prediction]) -> None:
    """Insert or update a batch of predictions. A clip deleted since the batch was read
    fails the foreign key (checked at commit): the batch is written again without it."""

    def write(batch: list[Prediction]) -> None:
        with transaction.atomic():
            Prediction.objects.bulk_create(
                batch,
                update_conflicts=True,
                unique_fields=["clip", "model_version"],
                update_fields=["clip_scores", "segments", "score", "uncertainty", "embedding"],
            )

    try:
        write(rows)
    except IntegrityError:
        alive = set(
            Clip.objects.filter(pk__in=[r.clip_id for r in rows]).values_list("pk", flat=True)
        )
        write([r for r in rows if r.clip_id in alive])


def _write_ranking(project: Project, ids: list[int], priorities: np.ndarray) -> None:
    """Write a ranking of `ids`: all of it when it is small; of a large pool only what the queue
    serves before the next ranking. Those are the HEAD best clips, in their new order, and the
    clips whose stored priority would put them above that head (last ranking's picks), lowered
    to their new priority; the rest keep theirs, which are no higher than the head's last.

    Writing every priority of 100,000 clips each time a version lands costs the annotators
    latency (benchmarks/RESULTS.md, load, session 13: p95 87 -> 126 ms); the head and the
    clips to lower are a few thousand rows."""
    if len(ids) <= RANKING_HEAD:
        _write_priorities(ids, priorities)
        return
    priorities = np.asarray(priorities, dtype=np.float64)
    order = np.argsort(-priorities, kind="stable")
    head = order[:RANKING_HEAD]
    floor = float(priorities[head[-1]])
    position = {clip_id: i for i, clip_id in enumerate(ids)}
    in_head = np.zeros(len(ids), dtype=bool)
    in_head[head] = True
    above = [
        position[clip_id]
        for clip_id in Clip.objects.filter(  # clip_queue_idx: a range of it
            project=project, status=Clip.Status.READY, annotation_count=0, priority__gt=floor
        ).values_list("pk", flat=True)
        if clip_id in position and not in_head[position[clip_id]]
    ]
    rows = np.concatenate([head, np.asarray(above, dtype=np.int64)])
    _write_priorities([ids[i] for i in rows], priorities[rows])


def _write_priorities(ids: list[int], priorities: np.ndarray) -> None:
    """One `UPDATE ... FROM (VALUES ...)` per chunk: the database joins on the primary key.

    Django's `bulk_update` builds a `CASE WHEN id = ... THEN ...` per row instead, which
    took about a minute for 100,000 clips; this takes seconds (benchmarks/prelabel_rank.py).
    PostgreSQL and SQLite (3.33+) both accept this form."""
    table = connection.ops.quote_name(Clip._meta.db_table)
    cast = "::double precision" if connection.vendor == "postgresql" else ""
    rows = rows_per_statement(2, PRIORITY_CHUNK)
    with connection.cursor() as cursor:
        for start in range(0, len(ids), rows):
            chunk_ids = ids[start : start + rows]
            chunk = priorities[start : start + rows]
            values = ",".join([f"(%s, %s{cast})"] * len(chunk_ids))
            params: list = []
            for clip_id, priority in zip(chunk_ids, chunk, strict=True):
                # NaN (a broken model's scores) is no priority: last in the queue, rather
                # than a NOT NULL failure that stopped the whole pre-labeling.
                value = float(priority)
                params += [int(clip_id), value if math.isfinite(value) else 0.0]
            # Only placeholders and the model's own table name are formatted into the SQL.
            sql = (
                f"WITH v(id, priority) AS (VALUES {values}) "  # noqa: S608
                f"UPDATE {table} SET priority = v.priority FROM v WHERE {table}.id = v.id"
            )
            cursor.execute(sql, params)


def _cold_start(run: PrelabelRun) -> None:
    from ml_backend.dataset import clips_features, feature_config_for
    from ml_backend.features import cache_writes_wait, summary_features

    project = run.project
    clips = list(unlabeled_clips(project)[:COLD_START_SAMPLE])
    PrelabelRun.objects.filter(pk=run.pk).update(total=len(clips))
    if len(clips) < 2:  # nothing to order: done (it said 0 of 1 after succeeding)
        PrelabelRun.objects.filter(pk=run.pk).update(done=len(clips))
        return
    config = feature_config_for(project)
    feats = []
    for start in range(0, len(clips), BATCH):
        _still_running(run.pk)
        PrelabelRun.objects.filter(pk=run.pk).update(done=start, heartbeat_at=timezone.now())
        batch = clips_features(clips[start : start + BATCH], config, background_write=True)
        feats.extend(summary_features(f) for f in batch)
    cache_writes_wait()
    picks = get_strategy("cold_start").select(
        min(DIVERSE_PICKS, len(clips)),
        features=np.nan_to_num(np.stack(feats), nan=0.0, posinf=0.0, neginf=0.0),
        exclude=_passed_indices(project, [c.pk for c in clips]),
    )
    priorities = np.zeros(len(clips))
    for rank, index in enumerate(picks):
        priorities[index] = PICKED_BASE + (len(picks) - rank)
    _still_running(run.pk)
    _write_priorities([c.pk for c in clips], priorities)
    PrelabelRun.objects.filter(pk=run.pk).update(done=len(clips))
