"""Ontology benchmark: fetch a 632-label tree through the API; merge a label used by 10,000
annotations. Each is compared with the approach not taken (a row-by-row tree walk, a
row-by-row merge).

    .venv/bin/python benchmarks/ontology.py [--labels 632] [--annotations 10000] [--repeat 30]

Uses a throwaway SQLite database under /tmp, or DATABASE_URL if set (point it at a scratch
database: the script creates a project named "bench-ontology-<time>" and deletes it after).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if not os.environ.get("DATABASE_URL"):
    _tmp = tempfile.mkdtemp(prefix="earmark-bench-ontology-")
    os.environ["DATABASE_URL"] = f"sqlite:///{_tmp}/bench.sqlite3"
    os.environ.setdefault("EARMARK_VAR_DIR", _tmp)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelapp.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402

from labelapp.models import Annotation, Clip, ClipLabel, Membership, Segment, SegmentLabel  # noqa: E402
from labelapp.services.projects import membership_set, project_create  # noqa: E402
from ontology.io import ontology_import  # noqa: E402
from ontology.merge import label_merge  # noqa: E402
from ontology.models import Label  # noqa: E402
from ontology.samples import audioset_like  # noqa: E402
from ontology.tree import tree_build, tree_cache_clear  # noqa: E402
from ontology.unmerge import merge_undo  # noqa: E402


class QueryCounter:
    """Counts SQL statements without Django's debug cursor (which would slow what we time)."""

    def __init__(self):
        self.n = 0

    def __call__(self, execute, sql, params, many, context):
        self.n += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)


def timed(fn, repeat: int) -> tuple[float, int]:
    """Median seconds over `repeat` runs and the queries of one run."""
    times = []
    with QueryCounter() as queries:
        fn()
    n_queries = queries.n
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), n_queries


def naive_tree(ontology) -> list[dict]:
    """The road not taken: walk the tree row by row, one query per label for its children."""
    out = []

    def walk(parent):
        for label in Label.objects.filter(ontology=ontology, parent=parent).order_by("order"):
            out.append(
                {
                    "id": label.pk,
                    "name": label.name,
                    "path": label.path,
                    "parent": label.parent_id,
                    "depth": label.depth,
                }
            )
            walk(label)

    walk(None)
    return out


def naive_merge(source: Label, target: Label) -> int:
    """The road not taken: rewrite each use in its own statements."""
    changed = 0
    with transaction.atomic():
        for row in ClipLabel.objects.filter(label=source):
            if ClipLabel.objects.filter(annotation_id=row.annotation_id, label=target).exists():
                row.delete()
            else:
                row.label = target
                row.save(update_fields=["label"])
            changed += 1
        for row in SegmentLabel.objects.filter(label=source):
            if SegmentLabel.objects.filter(segment_id=row.segment_id, label=target).exists():
                row.delete()
            else:
                row.label = target
                row.save(update_fields=["label"])
        source.delete()
    return changed


def annotations_make(project, user, n: int, pairs: list[tuple[Label, Label]]) -> None:
    """n annotations; each uses every pair's source, a fifth also its target, and a tenth
    has a segment labeled with the source."""
    stamp = f"{time.time_ns():x}"
    clips = Clip.objects.bulk_create(
        Clip(
            project=project,
            file=f"b{i}.wav",
            sha256=f"{stamp}{i:048d}"[:64],
            original_name=f"b{i}.wav",
            duration=10,
            sample_rate=16000,
            channels=1,
            status="ready",
        )
        for i in range(n)
    )
    annotations = Annotation.objects.bulk_create(
        Annotation(clip=clip, annotator=user, ontology_version=project.ontology.version)
        for clip in clips
    )
    clip_labels, segments = [], []
    for i, annotation in enumerate(annotations):
        for source, target in pairs:
            clip_labels.append(ClipLabel(annotation=annotation, label=source))
            if i % 5 == 0:
                clip_labels.append(ClipLabel(annotation=annotation, label=target))
        if i % 10 == 0:
            segments.append(Segment(annotation=annotation, start=0.0, end=1.0))
    ClipLabel.objects.bulk_create(clip_labels, batch_size=2000)
    segments = Segment.objects.bulk_create(segments, batch_size=2000)
    SegmentLabel.objects.bulk_create(
        [SegmentLabel(segment=seg, label=source) for seg in segments for source, _ in pairs],
        batch_size=2000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=632)
    parser.add_argument("--annotations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    User = get_user_model()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    lead = User.objects.create_user(f"bench-lead-{stamp}", password="x")  # noqa: S106
    annotator = User.objects.create_user(f"bench-annotator-{stamp}", password="x")  # noqa: S106
    project = project_create(name=f"bench-ontology-{stamp}", created_by=lead, label_mode="multi")
    membership_set(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    ontology = project.ontology
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")

    # --- import ---------------------------------------------------------------------------
    document = json.dumps(audioset_like(args.labels))
    started = time.perf_counter()
    report = ontology_import(ontology=ontology, content=document, user=lead)
    import_s = time.perf_counter() - started
    print(f"import of {report['created']} AudioSet classes: {import_s * 1000:.1f} ms")

    # --- the whole tree through the real API view ----------------------------------------
    client = Client()
    client.force_login(annotator)
    url = f"/api/projects/{project.pk}/ontology/"
    first = client.get(url)
    assert first.status_code == 200 and len(first.json()["labels"]) == args.labels
    etag = first["ETag"]

    def cold():
        tree_cache_clear()
        assert client.get(url).status_code == 200

    def warm():
        assert client.get(url).status_code == 200

    def revalidate():
        assert client.get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304

    ontology.refresh_from_db()
    api_cold, q_cold = timed(cold, args.repeat)
    api_warm, q_warm = timed(warm, args.repeat)
    api_304, q_304 = timed(revalidate, args.repeat)
    build, q_build = timed(lambda: tree_build(ontology).payload(), args.repeat)
    walk, q_walk = timed(lambda: naive_tree(ontology), max(3, args.repeat // 5))
    size_kb = len(first.content) / 1024

    # --- ancestors and descendants of a deep label ---------------------------------------
    deep = Label.objects.filter(ontology=ontology).order_by("-depth", "id").first()
    top = Label.objects.get(ontology=ontology, path=deep.path.split("/")[0])

    def ancestors_by_path():
        return list(Label.objects.filter(ontology=ontology, path__in=deep.ancestor_paths))

    def ancestors_by_walk():
        out, node = [], deep
        while node.parent_id is not None:
            node = Label.objects.get(pk=node.parent_id)
            out.append(node)
        return out

    def descendants_by_path():
        return list(Label.objects.filter(ontology=ontology, path__startswith=top.path + "/"))

    def descendants_by_walk():
        out, frontier = [], [top]
        while frontier:
            node = frontier.pop()
            kids = list(Label.objects.filter(parent=node))
            out.extend(kids)
            frontier.extend(kids)
        return out

    assert len(descendants_by_path()) == len(descendants_by_walk())
    anc_path, q_anc_path = timed(ancestors_by_path, args.repeat)
    anc_walk, q_anc_walk = timed(ancestors_by_walk, args.repeat)
    desc_path, q_desc_path = timed(descendants_by_path, args.repeat)
    desc_walk, q_desc_walk = timed(descendants_by_walk, max(3, args.repeat // 5))

    # --- merge a label used by N annotations ---------------------------------------------
    leaves = list(Label.objects.filter(ontology=ontology, children__isnull=True)[:4])
    (a1, b1, a2, b2) = leaves
    started = time.perf_counter()
    annotations_make(project, annotator, args.annotations, [(a1, b1), (a2, b2)])
    setup_s = time.perf_counter() - started
    with QueryCounter() as q:
        started = time.perf_counter()
        counts = label_merge(source=a1, target=b1, user=lead)
        merge_s = time.perf_counter() - started
    q_merge = q.n
    assert counts["annotations_changed"] == args.annotations, counts
    assert ClipLabel.objects.filter(label=b1).count() == args.annotations
    with QueryCounter() as q:  # and back: every use returns to the restored label
        started = time.perf_counter()
        undone = merge_undo(ontology=ontology, change_id=counts["change"], user=lead)
        undo_s = time.perf_counter() - started
    q_undo = q.n
    assert ClipLabel.objects.filter(label_id=a1.pk).count() == args.annotations, undone
    assert undone["uses_kept_as_edited"] == 0, undone
    with QueryCounter() as q:
        started = time.perf_counter()
        naive_merge(a2, b2)
        naive_s = time.perf_counter() - started
    q_naive = q.n
    assert ClipLabel.objects.filter(label=b2).count() == args.annotations

    ms = 1000
    print(f"\ntree: {args.labels} labels, response {size_kb:.0f} KiB, median of {args.repeat}")
    rows = [
        ("GET tree, cache cold (API view)", api_cold, q_cold),
        ("GET tree, cache warm (API view)", api_warm, q_warm),
        ("GET tree, If-None-Match → 304 (API view)", api_304, q_304),
        ("build tree + payload, one query (no HTTP)", build, q_build),
        ("baseline: row-by-row walk (no HTTP)", walk, q_walk),
        ("ancestors of a depth-5 label, by path", anc_path, q_anc_path),
        ("baseline: ancestors by parent walk", anc_walk, q_anc_walk),
        (
            f"descendants of a top-level label ({len(descendants_by_path())}), by path",
            desc_path,
            q_desc_path,
        ),
        ("baseline: descendants by parent walk", desc_walk, q_desc_walk),
    ]
    for name, seconds, queries in rows:
        print(f"  {name:<50} {seconds * ms:9.2f} ms  {queries:6d} queries")
    print(f"  walk / cold API fetch: {walk / api_cold:.1f}x;  walk / build: {walk / build:.1f}x")
    print(
        f"\nmerge: label used by {args.annotations} annotations "
        f"({counts['clip_labels_moved']} moved, {counts['clip_labels_deduplicated']} "
        f"duplicates dropped, {counts['segment_labels_moved']} segment uses); "
        f"setup {setup_s:.1f} s"
    )
    for name, seconds, queries in [
        ("label_merge (set-based, records what undo needs)", merge_s, q_merge),
        ("merge_undo (the same uses back)", undo_s, q_undo),
        ("baseline: row-by-row merge", naive_s, q_naive),
    ]:
        print(f"  {name:<50} {seconds * ms:9.2f} ms  {queries:6d} queries")
    print(f"  row-by-row / set-based: {naive_s / merge_s:.0f}x")

    if connection.vendor != "sqlite":  # a shared scratch database: leave it as found
        Annotation.objects.filter(clip__project=project).delete()
        project.delete()
        for depth in sorted(
            set(Label.objects.filter(ontology=ontology).values_list("depth", flat=True)),
            reverse=True,
        ):
            Label.objects.filter(ontology=ontology, depth=depth).delete()
        ontology.delete()
        User.objects.filter(pk__in=[lead.pk, annotator.pk]).delete()


if __name__ == "__main__":
    main()
