"""The figures of a project's dashboard, aggregated in the database.

Each reader costs a fixed number of queries however many clips the project holds (counts,
`GROUP BY` and conditional aggregates; nothing loops over clips in Python), and returns
plain JSON-able data: the page draws it (``labelapp.plots``) and the API returns it as is.
Callers check who asks (``labelapp.selectors.project_for_user``) before calling.

The labeling figures (progress, throughput, label distribution) are computed in
``dashboard_labeling`` and the model's (history, learning curves, confusion) in
``dashboard_model``; this module adds the jobs and the agreement panels, gathers everything
in ``project_dashboard``, and keeps every reader importable from here.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.models import ExportJob, ImportJob, Project
from labelapp.services.dashboard_labeling import (  # noqa: F401 (constants re-exported)
    COUNTED,
    PROGRESS_STATES,
    THROUGHPUT_DAYS,
    THROUGHPUT_SERIES,
    dashboard_label_distribution,
    dashboard_labels,
    dashboard_progress,
    dashboard_throughput,
)
from labelapp.services.dashboard_model import (
    dashboard_confusion,
    dashboard_learning_curves,
    dashboard_model_history,
)

logger = logging.getLogger(__name__)

JOBS_SHOWN = 12
LIVE_STATUSES = ("pending", "queued", "running")


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
                f"{j.duplicates} duplicate{'' if j.duplicates == 1 else 's'}, "
                f"{j.rejected} rejected",
            )
        )
    for r in TrainingRun.objects.filter(project=project).order_by("-created_at")[:limit]:
        jobs.append(_job("training", r, r.progress, r.message))
    for p in PrelabelRun.objects.filter(project=project).order_by("-created_at")[:limit]:
        jobs.append(_job(p.job_name, p, p.progress, f"{p.done}/{p.total} clips"))
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

    labels = dashboard_labels(project)
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
