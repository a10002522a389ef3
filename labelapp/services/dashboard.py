"""The figures of a project's dashboard, aggregated in the database.

Each reader costs a fixed number of queries however many clips the project holds (counts,
`GROUP BY` and conditional aggregates; nothing loops over clips in Python), and returns
plain JSON-able data: the page draws it (``labelapp.plots``) and the API returns it as is.
Callers check who asks (``labelapp.selectors.project_for_user``) before calling.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.models import (
    Annotation,
    AnnotationRevision,
    Clip,
    ClipLabel,
    ExportJob,
    ImportJob,
    Project,
    Segment,
    SegmentLabel,
)
from ontology.models import PATH_SEPARATOR, Label

logger = logging.getLogger(__name__)

COUNTED = (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED)
THROUGHPUT_DAYS = 30
THROUGHPUT_SERIES = 7  # annotators drawn by name; the rest are summed as "others"
JOBS_SHOWN = 12
LIVE_STATUSES = ("pending", "queued", "running")

# The clip states of the progress bar, in drawing order; each clip is in exactly one.
PROGRESS_STATES = (
    ("labeled", "labeled"),  # enough annotations, none waiting for review
    ("in_review", "in review"),  # enough annotations, some submitted and not yet reviewed,
    # or sent to adjudication
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
    ready = Q(status=Clip.Status.READY)
    calm = ready & Q(needs_adjudication=False)
    enough = Q(annotation_count__gte=need)
    none = Q(annotation_count=0)
    row = (
        Clip.objects.filter(project=project)
        .alias(has_submitted=awaiting, has_skip=skipped)
        .aggregate(
            total=Count("id"),
            labeled=Count("id", filter=calm & enough & Q(has_submitted=False)),
            in_review=Count(
                "id", filter=ready & (Q(needs_adjudication=True) | (enough & Q(has_submitted=True)))
            ),
            partial=Count("id", filter=calm & Q(annotation_count__gt=0) & ~enough),
            skipped=Count("id", filter=calm & none & Q(has_skip=True)),
            unlabeled=Count("id", filter=calm & none & Q(has_skip=False)),
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


def _labels(project: Project) -> list[dict]:
    return list(
        Label.objects.filter(ontology_id=project.ontology_id)
        .order_by("path")
        .values("id", "name", "path", "depth", "parent_id", "deprecated")
    )


def dashboard_label_distribution(project: Project, labels: list[dict] | None = None) -> list[dict]:
    """Per label of the ontology, in tree order: ``direct`` = clips whose submitted or accepted
    annotations use the label itself (as a clip label or on a segment), ``total`` = clips
    using the label or any label under it. Each clip counts once per label, however many
    annotators or segments name it, so a parent's total is the number of distinct clips in
    its subtree, not the sum of its children.

    One query: the (label, ancestor-or-self) pairs, derived from the materialized paths, are
    joined as a VALUES list, so the database rolls counts up the tree with a hash join.
    """
    labels = _labels(project) if labels is None else labels
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


def dashboard_model_history(project: Project) -> list[dict]:
    """Trained versions, oldest first, with the headline metrics training stores
    (``ml_backend.train``: accuracy, macro_f1, mAP on the validation split, or on the
    training set when there were too few labels to hold any out). One query."""
    from ml_backend.models import ModelVersion

    rows = (
        ModelVersion.objects.filter(project=project)
        .exclude(status__in=[ModelVersion.Status.EXTERNAL, ModelVersion.Status.FAILED])
        .order_by("version")
        .values("id", "version", "name", "status", "training_size", "metrics", "classes")
    )
    out = []
    for r in rows:
        m = r["metrics"] or {}
        out.append(
            {
                "id": r["id"],
                "version": r["version"],
                "name": r["name"],
                "status": r["status"],
                "training_size": r["training_size"],
                "accuracy": m.get("accuracy"),
                "macro_f1": m.get("macro_f1"),
                "mAP": m.get("mAP", m.get("map")),
                "evaluated_on": m.get("evaluated_on") or m.get("split"),
                "n": m.get("n"),
                "_metrics": m,
                "_classes": r["classes"] or [],
            }
        )
    return out


def dashboard_learning_curves(project: Project, history: list[dict]) -> dict:
    """The project's learning curves: the last ``simulate_al`` result when there is one
    (mean accuracy and macro-F1 per strategy against labels used), else the real curve of
    its trained versions (their metrics against their training-set size). One query."""
    from ml_backend.models import MLConfig

    stored = (
        MLConfig.objects.filter(project=project).values_list("learning_curves", flat=True).first()
    )
    if stored and stored.get("strategies"):
        return {
            "source": "simulation",
            "created_at": stored.get("created_at"),
            "pool_size": stored.get("pool_size"),
            "test_size": stored.get("test_size"),
            "settings": stored.get("settings", {}),
            "strategies": {
                name: [
                    {k: p.get(k) for k in ("labels", "accuracy", "macro_f1")}
                    for p in data.get("mean", [])
                ]
                for name, data in stored["strategies"].items()
            },
        }
    points = [
        {"labels": v["training_size"], "accuracy": v["accuracy"], "macro_f1": v["macro_f1"]}
        for v in history
        if v["accuracy"] is not None
    ]
    return {"source": "versions", "strategies": {"trained versions": points} if points else {}}


def dashboard_confusion(history: list[dict], labels: list[dict]) -> dict | None:
    """The confusion matrix of the active version, as training stored it (rows: true class,
    columns: predicted, in the model's class order), with label paths. Multi-label models
    store none; then the per-class F1 of the same evaluation stands in."""
    active = next((v for v in history if v["status"] == "active"), None)
    if active is None:
        return None
    paths = {lb["id"]: lb["path"] for lb in labels}
    classes = [paths.get(c, f"#{c}") for c in active["_classes"]]
    m = active["_metrics"]
    out = {
        "version": active["name"],
        "evaluated_on": active["evaluated_on"],
        "n": active["n"],
        "labels": classes,
        "matrix": None,
        "per_class_f1": None,
    }
    matrix = m.get("confusion")
    if matrix and len(matrix) == len(classes):
        out["matrix"] = matrix
    elif m.get("per_class") and len(m["per_class"]) == len(classes):
        out["per_class_f1"] = [pc.get("f1") for pc in m["per_class"]]
    return out


def dashboard_jobs(project: Project, *, limit: int = JOBS_SHOWN) -> list[dict]:
    """Imports, trainings, pre-labelings and exports, newest first, with progress 0..1 and
    whether they are still live (the page polls while one is). Four queries."""
    from ml_backend.models import PrelabelRun, TrainingRun

    jobs = []
    for j in ImportJob.objects.filter(project=project).order_by("-created_at")[:limit]:
        jobs.append(
            _job(
                "import",
                j,
                j.progress,
                f"{j.processed}/{j.total} files: {j.imported} imported, "
                f"{j.duplicates} duplicates, {j.rejected} rejected",
            )
        )
    for r in TrainingRun.objects.filter(project=project).order_by("-created_at")[:limit]:
        jobs.append(_job("training", r, r.progress, r.message))
    for p in PrelabelRun.objects.filter(project=project).order_by("-created_at")[:limit]:
        jobs.append(_job("pre-labeling", p, p.progress, f"{p.done}/{p.total} clips"))
    for e in ExportJob.objects.filter(project=project).order_by("-created_at")[:limit]:
        jobs.append(_job("export", e, e.progress, f"{e.get_format_display()}: {e.done}/{e.total}"))
    jobs.sort(key=lambda j: j["created_at"], reverse=True)
    return jobs[:limit]


def _job(kind: str, row, progress: float, detail: str) -> dict:
    finished = row.status in ("done", "succeeded")
    return {
        "kind": kind,
        "id": row.pk,
        "status": row.status,
        "live": row.status in LIVE_STATUSES,
        "progress": 1.0 if finished else round(max(0.0, min(1.0, progress or 0.0)), 4),
        "detail": detail,
        "error": (row.error or "")[:300],
        "created_at": row.created_at.isoformat(),
    }


def _optional_figures(project: Project, name: str) -> dict:
    """A figure from ``labelapp.services.agreement`` when this installation has it; the
    dashboard shows a "not available" panel otherwise, and when it fails."""
    try:
        from labelapp.services import agreement

        compute = getattr(agreement, name)
    except (ImportError, AttributeError):
        return {"available": False, "reason": "not available in this installation"}
    try:
        data = compute(project)
    except DomainError as exc:
        return {"available": False, "reason": exc.message}
    except Exception:  # one broken panel must not take the whole dashboard down
        logger.exception("%s of project %s failed", name, project.pk)
        return {"available": False, "reason": "could not be computed (see the server log)"}
    return {"available": True, **(data or {})}


def dashboard_agreement(project: Project) -> dict:
    return _optional_figures(project, "project_agreement")


def dashboard_model_vs_humans(project: Project) -> dict:
    return _optional_figures(project, "model_vs_humans")


def project_dashboard(project: Project) -> dict:
    """Every figure of the dashboard in one JSON-able dict (what the API returns)."""
    from ml_backend.drift_service import project_drift

    labels = _labels(project)
    history = dashboard_model_history(project)
    versions = [{k: v for k, v in row.items() if not k.startswith("_")} for row in history]
    return {
        "project": {"id": project.pk, "name": project.name, "label_mode": project.label_mode},
        "generated_at": timezone.now().isoformat(),
        "progress": dashboard_progress(project),
        "throughput": dashboard_throughput(project),
        "label_distribution": dashboard_label_distribution(project, labels),
        "model_history": versions,
        "learning_curves": dashboard_learning_curves(project, history),
        "confusion": dashboard_confusion(history, labels),
        "jobs": dashboard_jobs(project),
        "agreement": dashboard_agreement(project),
        "model_vs_humans": dashboard_model_vs_humans(project),
        "drift": project_drift(project),
    }
