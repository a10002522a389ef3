"""Export jobs: a row with status, progress and error; a worker writes the file into the
media store (`exports/<project id>/<job id>.<ext>`) and the API streams it back.

`export_write` is the one code path: the worker (`export_run`) and the `export` command
both call it, with the same filters and options.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TextIO

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from labelapp.errors import DomainError, NotFound, PermissionDenied
from labelapp.exports.common import ExportContext, export_options_build
from labelapp.exports.earmark_json import write_earmark
from labelapp.exports.filters import export_filters_build
from labelapp.exports.label_studio import write_label_studio
from labelapp.exports.manifest import earlier_manifest, group_field_check, write_manifest
from labelapp.exports.raven import write_raven
from labelapp.exports.tabular import write_csv
from labelapp.models import ExportJob, Project

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportFormat:
    name: str
    writer: Callable[[TextIO, ExportContext], Iterator[int]]
    passes: int  # times the writer reads every clip (its progress counts passes * clips)
    extension: str
    content_type: str


FORMATS: dict[str, ExportFormat] = {
    "earmark": ExportFormat("earmark", write_earmark, 1, "json", "application/json"),
    "label_studio": ExportFormat("label_studio", write_label_studio, 1, "json", "application/json"),
    "csv": ExportFormat("csv", write_csv, 1, "csv", "text/csv"),
    "manifest": ExportFormat("manifest", write_manifest, 2, "csv", "text/csv"),
    "raven": ExportFormat("raven", write_raven, 1, "txt", "text/tab-separated-values"),
}
JSONL = ("jsonl", "application/x-ndjson")


def export_format(name) -> ExportFormat:
    fmt = FORMATS.get(str(name or "").strip().lower())
    if fmt is None:
        raise DomainError(
            f"unknown export format {name!r}; one of {', '.join(FORMATS)}", code="invalid_format"
        )
    return fmt


def export_file_type(job: ExportJob) -> tuple[str, str]:
    """(extension, content type) of a job's file."""
    if job.format == "manifest" and job.options.get("manifest_format") == "jsonl":
        return JSONL
    fmt = export_format(job.format)
    return fmt.extension, fmt.content_type


def export_write(
    out: TextIO,
    *,
    project: Project,
    format: str,
    filters: dict | None = None,
    options: dict | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write one export to the text stream `out`; call `on_progress(done, total)` after each
    chunk of clips. Returns the writer's summary (counts, split sizes). Raises DomainError for
    bad filters or options before anything is written."""
    fmt = export_format(format)
    ctx = ExportContext(
        project=project,
        filters=export_filters_build(project, filters),
        options=_options(project, fmt.name, options),
    )
    clips = ctx.clip_count()
    # Reported in clips: a writer that reads every clip twice (the manifest) is at 150 of 300
    # clips, half its work, when its first pass ends; its own count would say 300 of 600.
    work = clips * fmt.passes
    if on_progress:
        on_progress(0, clips)
    for done in fmt.writer(out, ctx):
        if on_progress:
            on_progress(min(done, work) // fmt.passes, clips)
    if on_progress:
        on_progress(clips, clips)
    return {**ctx.summary, **ctx.summary_extra}


@transaction.atomic
def export_job_create(
    *, project: Project, user=None, format: str, filters: dict | None, options: dict | None
) -> ExportJob:
    """Check the request, store it as a pending job and send it to a worker on commit."""
    from labelapp.queueing import enqueue_on_commit
    from labelapp.tasks import export_run as export_run_task

    fmt = export_format(format)
    checked = export_filters_build(project, filters)
    opts = _options(project, fmt.name, options)
    job = ExportJob.objects.create(
        project=project,
        created_by=user,
        format=fmt.name,
        filters=checked.normalized,
        options=opts,
    )
    enqueue_on_commit(export_run_task, job.pk)
    return job


def _options(project: Project, format: str, options: dict | None) -> dict:
    """The format's options checked, and against the project where that needs its data."""
    opts = export_options_build(format, options)
    if format == "manifest":
        group_field_check(project, opts["group_by"])
        if opts["keep_splits"]:
            earlier_manifest(project, opts["keep_splits"])
    return opts


def export_storage_name(job: ExportJob) -> str:
    ext, _ = export_file_type(job)
    return f"exports/{job.project_id}/{job.pk}.{ext}"


def export_run(job_id: int) -> None:
    """Run a pending export job. Idempotent: only the delivery that moves the job from
    pending to running does the work; a second delivery, or one for a deleted job, does
    nothing."""
    claimed = ExportJob.objects.filter(
        pk=job_id, status=ExportJob.Status.PENDING, project__deleted_at__isnull=True
    ).update(status=ExportJob.Status.RUNNING, started_at=timezone.now())
    if not claimed:
        return
    job = ExportJob.objects.select_related("project__ontology").get(pk=job_id)

    def progress(done: int, total: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(
            done=done, total=total, progress=(done / total) if total else 0.0
        )

    fd, tmp_name = tempfile.mkstemp(prefix=f"earmark-export-{job_id}-")
    try:
        with open(fd, "w", encoding="utf-8", newline="") as out:
            summary = export_write(
                out,
                project=job.project,
                format=job.format,
                filters=job.filters,
                options=job.options,
                on_progress=progress,
            )
        name = export_storage_name(job)
        if default_storage.exists(name):
            default_storage.delete(name)
        with open(tmp_name, "rb") as fh:
            name = default_storage.save(name, File(fh))
        size = default_storage.size(name)
    except Exception as exc:
        message = exc.message if isinstance(exc, DomainError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, DomainError):
            logger.exception("export job %s failed", job_id)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportJob.Status.FAILED, error=message, finished_at=timezone.now()
        )
        return
    finally:
        os.unlink(tmp_name)
    finished = ExportJob.objects.filter(pk=job_id).update(
        status=ExportJob.Status.DONE,
        file=name,
        size_bytes=size,
        progress=1.0,
        done=F("total"),
        summary=summary,
        finished_at=timezone.now(),
    )
    if not finished:  # the project was deleted and purged meanwhile: no row names the file
        default_storage.delete(name)


def export_jobs_resend_pending(*, older_than_s: int = 300) -> int:
    """Send pending jobs again whose message never arrived (the broker was down when they
    were created): for a periodic sweep. A duplicate message is harmless: `export_run`'s
    claim lets one delivery through."""
    from labelapp.queueing import enqueue
    from labelapp.tasks import export_run as export_run_task

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_s)
    ids = list(
        ExportJob.objects.filter(status=ExportJob.Status.PENDING, created_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        enqueue(export_run_task, job_id)
    return len(ids)


STALE_AFTER_S = 30 * 60  # a running export silent this long lost its worker


def export_jobs_requeue_stale(*, older_than_s: int = STALE_AFTER_S) -> int:
    """Put running jobs whose worker died (SIGKILL, a lost machine) back to pending and send
    them again. The writer starts over and replaces the file, so nothing half-written stays;
    a job that is in fact still running loses only its progress bar's place."""
    from labelapp.queueing import enqueue
    from labelapp.tasks import export_run as export_run_task

    cutoff = timezone.now() - dt.timedelta(seconds=older_than_s)
    ids = list(
        ExportJob.objects.filter(status=ExportJob.Status.RUNNING, started_at__lt=cutoff)
        .order_by("id")
        .values_list("pk", flat=True)
    )
    requeued = 0
    for job_id in ids:
        if ExportJob.objects.filter(pk=job_id, status=ExportJob.Status.RUNNING).update(
            status=ExportJob.Status.PENDING, done=0, progress=0.0
        ):
            enqueue(export_run_task, job_id)
            requeued += 1
    return requeued


def export_job_for_user(user, job_id) -> ExportJob:
    """An export job for a lead of its project: 404 for non-members, 403 for other roles."""
    from labelapp import selectors

    try:
        job = ExportJob.objects.select_related("project", "created_by").get(pk=int(job_id))
    except (ExportJob.DoesNotExist, ValueError, TypeError):
        raise NotFound("export job not found") from None
    role = selectors.role_in_project(user, job.project)
    if role is None:
        raise NotFound("export job not found")
    if role != selectors.LEAD:
        raise PermissionDenied(f"your role in this project ({role}) does not allow exports")
    return job
