"""A labels file for clips already in a project (`labelapp.services.label_imports`): N clip
rows and a CSV of S segments per clip, checked as the upload request checks it, then applied
as the worker applies it. Prints both times, the rows a second, and the check's time against
the baseline of looking each row's clip up in the database (two queries a row, as the first
cut did: a 50,000-row file took 33 s to check in the browser).

    .venv/bin/python benchmarks/labels_import.py [--clips 2500] [--segments 20]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch .venv/bin/python benchmarks/...
"""

from __future__ import annotations

import argparse
import time

import _stack


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=2500)
    p.add_argument("--segments", type=int, default=20)
    return p.parse_args()


def main() -> None:
    args = _args()
    _stack.setup("labels-import")
    from django.contrib.auth import get_user_model

    from labelapp.models import Clip
    from labelapp.services.label_imports import labels_import_run, labels_import_start
    from labelapp.services.projects import project_create
    from ontology.services import label_get_or_create_path

    lead = get_user_model().objects.create_user("bench-lead", password="x" * 16)
    project = project_create(name="labels import", created_by=lead, label_mode="multi")
    for d in range(10):
        label_get_or_create_path(ontology=project.ontology, path=f"digit/d{d}")
    _stack.synthesize_clips(project, args.clips)
    rows = ["audio,labels,start,end"]
    for i in range(args.clips):
        for k in range(args.segments):
            rows.append(f"{i}.wav,d{i % 10},{k * 0.04:.2f},{k * 0.04 + 0.03:.2f}")
    data = ("\n".join(rows) + "\n").encode()
    n_rows = len(rows) - 1

    # The baseline: each row's clip looked up by name, exact then ignoring case.
    started = time.perf_counter()
    for i in range(args.clips):
        for _ in range(args.segments):
            list(Clip.objects.filter(project=project, original_name=f"{i}.wav")[:10])
            list(Clip.objects.filter(project=project, original_name__iexact=f"{i}.wav")[:10])
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    job = labels_import_start(
        project=project, user=lead, name="labels.csv", data=data, to_worker=False
    )
    checked = time.perf_counter() - started
    started = time.perf_counter()
    job = labels_import_run(job.pk)
    applied = time.perf_counter() - started
    assert job.imported == args.clips and job.rejected == 0, job.report[:3]
    print(
        f"{n_rows:,} rows over {args.clips:,} clips ({len(data) / 2**20:.1f} MB): checked in "
        f"{checked:.2f} s ({n_rows / checked:,.0f} rows/s), applied in {applied:.1f} s "
        f"({args.clips / applied:,.0f} clips/s, {n_rows / applied:,.0f} segments/s)"
    )
    print(
        f"baseline (the clip looked up a row, two queries): {baseline:.1f} s for the lookups "
        f"alone; check / baseline = {checked / baseline:.3f}"
    )


if __name__ == "__main__":
    main()
