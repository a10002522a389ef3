"""The labeling work of a project, for its dashboard: clips by state, clips submitted per
annotator per day, and clips per label of the ontology, rolled up the label tree.

Each reader costs a fixed number of queries however many clips the project holds and
returns plain JSON-able data; ``labelapp.services.dashboard`` gathers them for the page and
the API.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from labelapp.models import (
    Annotation,
    AnnotationRevision,
    Clip,
    ClipLabel,
    Project,
    Segment,
    SegmentLabel,
)
from ontology.models import PATH_SEPARATOR
from ontology.tree import tree_build

COUNTED = (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED)
THROUGHPUT_DAYS = 30
THROUGHPUT_SERIES = 7  # annotators drawn by name; the rest are summed as "others"

# The clip states of the progress bar, in drawing order; each clip is in exactly one.
PROGRESS_STATES = (
    # "labeled" alone read as the clip list's "labeled" (any annotation): a lead counted 61
    # there and 6 here
    ("labeled", "complete, none waiting for review"),  # enough annotations, none waiting
    ("in_review", "waiting for review"),  # enough annotations, some submitted and not yet reviewed,
    # or sent to adjudication
    # fewer than enough, and a rejected one keeps its place until its annotator fixes it
    # (they were "needs more annotations" while every queue said "nothing left")
    ("fixing", "waiting for a fix"),
    ("partial", "needs more annotations"),  # fewer than the project's annotations_per_clip
    ("skipped", "skipped"),  # no annotation, only skips
    ("unlabeled", "unlabeled"),
    ("processing", "processing"),  # imported, not yet ready
    ("failed", "failed"),
)


def dashboard_progress(project: Project) -> dict:
    """Clips by state (see PROGRESS_STATES; the states add up to ``total``), and annotations
    by status; ``annotated`` counts every ready clip with enough annotations, reviewed or
    not, and ``done_fraction`` is its share of all clips. "Enough annotations" means at least
    the project's ``annotations_per_clip`` submitted or accepted ones
    (``Clip.annotation_count``, which the annotation services keep in step). Two queries."""
    need = project.annotations_per_clip
    awaiting = Exists(
        Annotation.objects.filter(clip=OuterRef("pk"), status=Annotation.Status.SUBMITTED)
    )
    skipped = Exists(
        Annotation.objects.filter(clip=OuterRef("pk"), status=Annotation.Status.SKIPPED)
    )
    rejected = Exists(
        Annotation.objects.filter(clip=OuterRef("pk"), status=Annotation.Status.REJECTED)
    )
    ready = Q(status=Clip.Status.READY)
    calm = ready & Q(needs_adjudication=False)
    enough = Q(annotation_count__gte=need)
    none = Q(annotation_count=0)
    row = (
        Clip.objects.filter(project=project)
        .alias(has_submitted=awaiting, has_skip=skipped, has_rejected=rejected)
        .aggregate(
            total=Count("id"),
            labeled=Count("id", filter=calm & enough & Q(has_submitted=False)),
            in_review=Count(
                "id", filter=ready & (Q(needs_adjudication=True) | (enough & Q(has_submitted=True)))
            ),
            fixing=Count("id", filter=calm & ~enough & Q(has_rejected=True)),
            partial=Count(
                "id", filter=calm & Q(annotation_count__gt=0) & ~enough & Q(has_rejected=False)
            ),
            skipped=Count("id", filter=calm & none & Q(has_skip=True, has_rejected=False)),
            unlabeled=Count("id", filter=calm & none & Q(has_skip=False, has_rejected=False)),
            processing=Count(
                "id", filter=Q(status__in=[Clip.Status.PENDING, Clip.Status.PROCESSING])
            ),
            failed=Count("id", filter=Q(status=Clip.Status.FAILED)),
            adjudication=Count("id", filter=ready & Q(needs_adjudication=True)),
            annotated=Count("id", filter=ready & enough),
        )
    )
    annotations = dict(
        Annotation.objects.filter(clip__project=project)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    total = row["total"]
    return {
        **row,
        "annotations_per_clip": need,
        "done_fraction": round(row["annotated"] / total, 4) if total else 0.0,
        "states": [{"key": k, "name": n, "clips": row[k]} for k, n in PROGRESS_STATES],
        "annotations": {s: annotations.get(s, 0) for s in Annotation.Status.values},
    }


def dashboard_throughput(
    project: Project, *, days: int = THROUGHPUT_DAYS, today: date | None = None
) -> dict:
    """Clips submitted per annotator per day over the last ``days`` days (today included).

    Counted from the revision history (a write with action ``submitted`` by the annotation's
    own annotator), so a clip skipped on Monday and labeled on Tuesday counts on Tuesday, and
    a clip resubmitted after a rejection counts again on the day of the new work. Imported
    annotations are not anyone's throughput. One query.

    Returns ``{"days": [iso dates], "annotators": [{"id", "username", "counts": [per day],
    "total"}], "total"}``, annotators by total, most first.
    """
    tz = timezone.get_current_timezone()
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first, time.min), tz)
    rows = (
        AnnotationRevision.objects.filter(
            annotation__clip__project=project,
            action=Annotation.Status.SUBMITTED,
            created_at__gte=since,
        )
        .exclude(annotation__source=Annotation.Source.IMPORTED)
        .annotate(day=TruncDate("created_at", tzinfo=tz))
        .values("author_id", "author__username", "annotation__annotator_id", "day")
        .annotate(n=Count("annotation_id", distinct=True))
        .order_by()
    )
    day_list = [first + timedelta(days=i) for i in range(days)]
    index = {d: i for i, d in enumerate(day_list)}
    people: dict[int, dict] = {}
    for r in rows:
        # Someone else's write on an annotation (a reviewer's) is not throughput. Compared
        # here, on grouped rows: as a join condition it led SQLite to a quadratic plan.
        if r["day"] not in index or r["author_id"] != r["annotation__annotator_id"]:
            continue
        person = people.setdefault(
            r["author_id"],
            {"id": r["author_id"], "username": r["author__username"], "counts": [0] * days},
        )
        person["counts"][index[r["day"]]] += r["n"]
    annotators = sorted(people.values(), key=lambda p: (-sum(p["counts"]), p["username"]))
    for p in annotators:
        p["total"] = sum(p["counts"])
    return {
        "days": [d.isoformat() for d in day_list],
        "annotators": annotators,
        "total": sum(p["total"] for p in annotators),
    }


def dashboard_labels(project: Project) -> list[dict]:
    """The labels of the project's ontology in tree order, read once and shared by the label
    distribution and the confusion matrix (which names the model's classes by path)."""
    # The tree's own order (zero to nine), not the paths' alphabet (eight, five, four, ...);
    # built here, not read from the cache, so the page's queries stay the same every time.
    return [
        {
            "id": n.id,
            "name": n.name,
            "path": n.path,
            "depth": n.depth,
            "parent_id": n.parent_id,
            "deprecated": n.deprecated,
        }
        for n in tree_build(project.ontology).ordered
    ]


def dashboard_label_distribution(project: Project, labels: list[dict] | None = None) -> list[dict]:
    """Per label of the ontology, in tree order: ``direct`` = clips whose submitted or accepted
    annotations use the label itself (as a clip label or on a segment), ``total`` = clips
    using the label or any label under it. Each clip counts once per label, however many
    annotators or segments name it, so a parent's total is the number of distinct clips in
    its subtree, not the sum of its children.

    One query: the (label, ancestor-or-self) pairs, derived from the materialized paths, are
    joined as a VALUES list, so the database rolls counts up the tree with a hash join.
    """
    labels = dashboard_labels(project) if labels is None else labels
    if not labels:
        return []
    by_path = {lb["path"].lower(): lb["id"] for lb in labels}
    pairs = []
    for lb in labels:
        parts = lb["path"].lower().split(PATH_SEPARATOR)
        for i in range(1, len(parts) + 1):
            ancestor = by_path.get(PATH_SEPARATOR.join(parts[:i]))
            if ancestor is not None:
                pairs.append(f"({int(lb['id'])}, {int(ancestor)})")
    t = {m.__name__: m._meta.db_table for m in (Annotation, Clip, ClipLabel, Segment, SegmentLabel)}
    # Table names come from model metadata and the VALUES list holds integers only; the
    # project and statuses are parameters.
    sql = f"""
        SELECT m.column2,
               COUNT(DISTINCT u.clip_id),
               COUNT(DISTINCT CASE WHEN m.column1 = m.column2 THEN u.clip_id END)
        FROM (
            SELECT a.clip_id AS clip_id, cl.label_id AS label_id
            FROM {t["ClipLabel"]} cl
            JOIN {t["Annotation"]} a ON a.id = cl.annotation_id
            JOIN {t["Clip"]} c ON c.id = a.clip_id
            WHERE c.project_id = %s AND a.status IN (%s, %s)
            UNION
            SELECT a.clip_id, sl.label_id
            FROM {t["SegmentLabel"]} sl
            JOIN {t["Segment"]} s ON s.id = sl.segment_id
            JOIN {t["Annotation"]} a ON a.id = s.annotation_id
            JOIN {t["Clip"]} c ON c.id = a.clip_id
            WHERE c.project_id = %s AND a.status IN (%s, %s)
        ) u
        JOIN (VALUES {", ".join(pairs)}) AS m ON m.column1 = u.label_id
        GROUP BY m.column2
    """  # noqa: S608
    params = [project.pk, *COUNTED, project.pk, *COUNTED]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        counts = {int(lid): (int(total), int(direct)) for lid, total, direct in cursor.fetchall()}
    return [
        {
            "id": lb["id"],
            "name": lb["name"],
            "path": lb["path"],
            "depth": lb["depth"],
            "deprecated": lb["deprecated"],
            "total": counts.get(lb["id"], (0, 0))[0],
            "direct": counts.get(lb["id"], (0, 0))[1],
        }
        for lb in labels
    ]
