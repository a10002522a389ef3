"""Deleting a project: hidden at once, purged by a worker.

The request only marks the project (`deleted_at`), frees its name and stops its queued and
running model jobs, in one transaction: from then on every page and endpoint answers 404 for
it, to members and site admins alike (`labelapp.selectors`). A worker then purges it
(`project_purge`): the project's storage folders (originals, peaks, model artifacts,
exports), then its clips' rows in chunks, the project's rows, and its ontology when no other
project uses it. Files go before the rows that name them, so a purge cut short leaves rows
to find them by; the purge is idempotent and beat's sweep sends it again for a project
still there after PURGE_GRACE.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import ProtectedError, Q
from django.utils import timezone

from labelapp.errors import DomainError
from labelapp.models import Clip, Project
from labelapp.services.clip_removal import media_delete
from ontology.models import Label

logger = logging.getLogger(__name__)

CHUNK = 1000  # clips per transaction
# Where a project's files are stored, each under "<folder>/<project id>/": see
# imports.storage_name_for, clips.peaks_name_for, training._save_artifact and
# exports.jobs.export_storage_name.
MEDIA_FOLDERS = ("clips", "peaks", "models", "exports")
PURGE_GRACE = timedelta(minutes=5)  # a project still there this long after: send it again
PURGE_CLAIM = timedelta(minutes=10)  # a purge started longer ago than this died: another may go
RETRY_AFTER_S = 15  # a training still running: look again this much later


def project_delete_request(*, project: Project, confirm: str) -> Project:
    """Hide the project and queue its purge. `confirm` must be the project's name."""
    from labelapp.queueing import enqueue_on_commit
    from labelapp.tasks import project_purge as purge_task
    from ml_backend.models import PrelabelRun, TrainingRun

    if confirm != project.name:
        raise DomainError(
            "type the project's name to confirm: deleting it removes every clip, annotation, "
            "model and export of it",
            code="confirm_name",
        )
    with transaction.atomic():
        project = Project.objects.select_for_update().get(pk=project.pk)
        if project.deleted_at is None:
            now = timezone.now()
            suffix = f" · deleted #{project.pk}"
            Project.objects.filter(pk=project.pk).update(
                deleted_at=now, name=project.name[: 200 - len(suffix)] + suffix
            )
            TrainingRun.objects.filter(project=project, status=TrainingRun.Status.QUEUED).update(
                status=TrainingRun.Status.CANCELLED,
                finished_at=now,
                message="the project was deleted",
            )
            TrainingRun.objects.filter(project=project, status=TrainingRun.Status.RUNNING).update(
                cancel_requested=True, message="the project was deleted"
            )
            PrelabelRun.objects.filter(
                project=project, status__in=[PrelabelRun.Status.QUEUED, PrelabelRun.Status.RUNNING]
            ).update(
                status=PrelabelRun.Status.CANCELLED,
                finished_at=now,
                error="the project was deleted",
            )
            logger.info("project %s (%s) deleted; purge queued", project.pk, project.name)
        enqueue_on_commit(purge_task, project.pk)
        project.refresh_from_db()
    return project


def project_purge(*, project_id: int) -> str:
    """Remove a deleted project's rows and files. Returns "purged", "gone" (nothing left),
    "waiting" (a training still runs: try again later), "busy" (another purge of it started
    less than PURGE_CLAIM ago: left to that one) or "live" (never deleted: refused)."""
    from ml_backend.models import TrainingRun

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return "gone"
    if project.deleted_at is None:
        logger.error("refused to purge project %s: it was not deleted", project_id)
        return "live"
    if TrainingRun.objects.filter(
        project=project,
        status=TrainingRun.Status.RUNNING,
        heartbeat_at__gte=timezone.now() - timedelta(minutes=5),
    ).exists():
        return "waiting"
    # One purge at a time: two would delete the same rows in the same chunks, and on
    # PostgreSQL could deadlock on them. The claim is a conditional update, one statement.
    now = timezone.now()
    claimed = (
        Project.objects.filter(pk=project_id)
        .filter(Q(purge_started_at__isnull=True) | Q(purge_started_at__lt=now - PURGE_CLAIM))
        .update(purge_started_at=now)
    )
    if not claimed:
        return "busy"
    stamp = now

    def renew() -> None:
        """Keep the claim fresh between steps; a purge that lost it (it ran longer than
        PURGE_CLAIM between two steps, and another took over) stops."""
        nonlocal stamp
        now = timezone.now()
        if not Project.objects.filter(pk=project_id, purge_started_at=stamp).update(
            purge_started_at=now
        ):
            raise _ClaimLost
        stamp = now

    try:
        purge_rows(project, renew=renew)
    except _ClaimLost:
        return "busy"
    except BaseException:
        # A failed purge (a store error) frees the claim at once for the retry.
        Project.objects.filter(pk=project_id, purge_started_at=stamp).update(purge_started_at=None)
        raise
    return "purged"


class _ClaimLost(Exception):
    """Another purge took the project over."""


def purge_rows(project: Project, *, renew: Callable[[], None] = lambda: None) -> None:
    """Delete a project with every row and stored file of it, now.

    Every file of a project lies in its folders (originals, peaks, model artifacts,
    exports), so the folders go whole: that also takes files no row names (a training
    cancelled after it wrote its model, peaks of a clip processed as it was deleted, an
    export finished after its job row went). Files first: a store that fails leaves the
    rows, and the purge is sent again. Then the clips in chunks, then the project.
    `renew()` is called before each folder and each chunk (it may raise to stop)."""
    for prefix in MEDIA_FOLDERS:
        renew()
        _delete_tree(f"{prefix}/{project.pk}")
    while ids := list(
        Clip.objects.filter(project=project).order_by("id").values_list("id", flat=True)[:CHUNK]
    ):
        renew()
        with transaction.atomic():
            Clip.objects.filter(pk__in=ids).delete()
    renew()
    ontology = project.ontology
    project.delete()
    try:
        with transaction.atomic():
            if not ontology.projects.exists():
                # a parent is protected from its children: unhook them, then all go at once
                Label.objects.filter(ontology=ontology).update(parent=None)
                ontology.delete()
    except ProtectedError:
        logger.info("ontology %s kept: its labels are still referred to", ontology.pk)


def _delete_tree(folder: str) -> None:
    """Every stored file under `folder` (a prefix on S3), then the emptied folders."""
    try:
        dirs, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    for sub in dirs:
        _delete_tree(f"{folder}/{sub}")
    media_delete(names=[f"{folder}/{name}" for name in files], checked=False)
    # remote storage has no folders; a local one may have been written to meanwhile
    with contextlib.suppress(NotImplementedError, OSError):
        Path(default_storage.path(folder)).rmdir()


def projects_to_purge() -> list[int]:
    """Deleted projects still there after PURGE_GRACE (their message or worker was lost)."""
    return list(
        Project.objects.filter(deleted_at__lt=timezone.now() - PURGE_GRACE).values_list(
            "pk", flat=True
        )[:100]
    )
