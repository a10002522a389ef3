"""A training on a project of long recordings: its time and the process's memory growth, with
each clip read by at most 10 s (the product: an unlabeled clip's middle, a tagged clip's windows
spread over it) and, as the baseline, whole (as before session 18 for unlabeled clips and
session 19 for tagged ones: 7,200 windows an hour to score, pseudo-label and train on). Each
mode runs in a child process of its own, so their peaks do not mix.

    .venv/bin/python benchmarks/long_recordings.py [--clips 34] [--seconds 300]
        [--labeled-seconds 1]

12 labeled tones of `--labeled-seconds` (two classes, clip-level tags) and `--clips` unlabeled
tones of `--seconds` each, 8 kHz; pretraining off (it is not what is measured). Prints both
figures and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _child(clips: int, seconds: float, labeled_seconds: float, whole: bool) -> dict:
    os.environ["EARMARK_PRETRAIN"] = "0"
    import numpy as np
    import psutil
    import soundfile as sf
    from _stack import setup

    var = setup("long-recordings")
    from django.contrib.auth import get_user_model

    from labelapp.celery import app
    from labelapp.models import Clip
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.imports import ImportItem, clip_import
    from labelapp.services.projects import project_create
    from ml_backend import training
    from ml_backend.models import MLConfig, ModelVersion
    from ontology.services import label_create

    if whole:  # the baseline: every frame of every clip, read 64 clips at a time
        training.MAX_UNLABELED_FRAMES = training.MAX_LABELED_FRAMES = 10**12
        training.FEATURE_BATCH_SECONDS = float("inf")
    app.conf.task_always_eager = True  # import and process here
    user = get_user_model().objects.create(username="bench")
    project = project_create(name="long", target_sample_rate=8000)
    project.label_mode, project.annotation_mode = "single", "clip"
    project.save()
    MLConfig.objects.create(project=project, min_labels=1000, epochs=1)
    low, high = (label_create(ontology=project.ontology, name=n) for n in ("low", "high"))
    rng = np.random.default_rng(0)
    src = Path(var) / "src"
    src.mkdir()
    for i in range(12 + clips):
        t = np.arange(int((labeled_seconds if i < 12 else seconds) * 8000)) / 8000
        tone = 0.3 * np.sin(2 * np.pi * (300 if i % 2 else 2000) * t)
        path = src / f"c{i}.wav"
        sf.write(path, (tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32), 8000)
        clip_id = clip_import(project=project, item=ImportItem(name=path.name, path=path)).clip_id
        if i < 12:
            clip = Clip.objects.get(pk=clip_id)
            annotation_submit(clip=clip, user=user, clip_labels=[(low if i % 2 else high).pk])
    app.conf.task_always_eager = False  # the training alone: its pre-labeling goes to the broker
    before = psutil.Process().memory_info().rss / 2**20
    run = training.training_request(project=project)
    started = time.perf_counter()
    outcome = training.training_execute(run.pk)
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    version = ModelVersion.objects.filter(project=project).first()
    return {
        "outcome": outcome,
        "seconds": round(took, 1),
        "growth_mb": round(max(0.0, peak - before)),
        "pseudo_labeled": (version.metrics or {}).get("pseudo_labeled_clips") if version else None,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clips", type=int, default=34, help="unlabeled recordings (32 at least)")
    p.add_argument("--seconds", type=float, default=300.0, help="length of each")
    p.add_argument("--labeled-seconds", type=float, default=1.0, help="length of the 12 tagged")
    p.add_argument("--child", choices=("middle", "whole"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        sys.path.insert(0, str(HERE))
        print(
            json.dumps(
                _child(args.clips, args.seconds, args.labeled_seconds, args.child == "whole")
            )
        )
        return
    print(
        f"{args.clips} unlabeled recordings of {args.seconds:.0f} s, "
        f"12 tagged of {args.labeled_seconds:.0f} s"
    )
    figures = {}
    for mode in ("middle", "whole"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--clips", str(args.clips),
             "--seconds", str(args.seconds), "--labeled-seconds", str(args.labeled_seconds)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        figures[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        f = figures[mode]
        print(
            f"{mode:>6}: training {f['outcome']} in {f['seconds']} s, process grew "
            f"{f['growth_mb']} MB, {f['pseudo_labeled']} clips pseudo-labeled",
            flush=True,
        )
    m, w = figures["middle"], figures["whole"]
    print(
        f"middle 10 s against whole clips: time x{m['seconds'] / w['seconds']:.2f}, "
        f"memory growth x{m['growth_mb'] / max(1, w['growth_mb']):.2f}"
    )


if __name__ == "__main__":
    main()
