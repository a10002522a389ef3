"""Pruning old versions' predictions: a project of N clips scored by V model versions (the
rows each new version's scoring run writes), then `predictions_prune` keeping each clip's
newest K versions. Prints the time, the rows before and after, and the rows and database
pages kept against the baseline of keeping every version's (the default).

    .venv/bin/python benchmarks/prune_predictions.py [--clips 50000] [--versions 4] [--keep 1]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/scratch .venv/bin/python benchmarks/...
"""

from __future__ import annotations

import argparse
import time

import _stack


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=50_000)
    p.add_argument("--versions", type=int, default=4)
    p.add_argument("--keep", type=int, default=1)
    return p.parse_args()


def _table_bytes() -> int | None:
    from django.db import connection

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT pg_total_relation_size('ml_backend_prediction')")
            return cur.fetchone()[0]
        try:
            cur.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'ml_backend_prediction'")
        except Exception:  # noqa: BLE001 - SQLite built without the dbstat table
            return None
        return cur.fetchone()[0]


def main() -> None:
    args = _args()
    _stack.setup("prune")
    from labelapp.services.projects import project_create
    from ml_backend.models import ModelVersion, Prediction
    from ml_backend.services import predictions_prune
    from ontology.models import Ontology

    project = project_create(name="prune", ontology=Ontology.objects.create(name="prune"))
    _stack.synthesize_clips(project, args.clips)
    ids = list(project.clips.values_list("pk", flat=True))
    started = time.perf_counter()
    for v in range(1, args.versions + 1):
        version = ModelVersion.objects.create(
            project=project,
            version=v,
            name=f"v{v}",
            status="active" if v == args.versions else "retired",
            classes=list(range(10)),
        )
        # A scoring run's row: 10 class scores, no segments, a 128-d float16 embedding.
        Prediction.objects.bulk_create(
            [
                Prediction(
                    clip_id=c,
                    model_version=version,
                    clip_scores={str(k): 0.1 for k in range(10)},
                    score=0.5,
                    uncertainty=0.3,
                    embedding=bytes(256),
                )
                for c in ids
            ],
            batch_size=2000,
        )
    before, size_before = Prediction.objects.count(), _table_bytes()
    print(f"{before:,} predictions written in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    counts = predictions_prune(project_id=project.pk, keep=args.keep)
    took = time.perf_counter() - started
    after, size_after = Prediction.objects.count(), _table_bytes()
    assert after == counts["kept"] == args.clips * min(args.keep, args.versions)
    print(
        f"prune (keep {args.keep}): {counts['deleted']:,} deleted in {took:.2f} s "
        f"({counts['clips'] / took:,.0f} clips/s, {counts['deleted'] / took:,.0f} rows/s)"
    )
    print(f"rows: {before:,} -> {after:,}; ratio against keeping all: {after / before:.2f}")
    if size_before:
        # SQLite frees pages for reuse (VACUUM gives them back to the file system)
        print(f"table: {size_before / 2**20:.1f} MiB before, {size_after / 2**20:.1f} MiB after")


if __name__ == "__main__":
    main()
