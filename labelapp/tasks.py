"""Celery tasks: take ids, call a service. Services are idempotent, so redelivery is harmless."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)

BATCH = 50  # clip ids per message when re-sending


@shared_task(ignore_result=True)
def clips_process(clip_ids: list[int]) -> None:
    from labelapp.services.clips import clip_process
    from ml_backend.prelabel import prelabel_new_clips

    ready = [clip_id for clip_id in clip_ids if clip_process(clip_id) == "ready"]
    if ready:
        prelabel_new_clips(ready)
        _labeled_clips_ready(ready)
    _first_training_after_processing(clip_ids)
    _spectra_after_processing(ready)


def _spectra_after_processing(clip_ids: list[int]) -> None:
    """Long clips' spectral overviews, each a message of its own: the clips are ready (their
    waveforms drawn, their far spectrograms sampled) while they are computed."""
    from labelapp.audio import spectrum
    from labelapp.models import Clip
    from labelapp.queueing import enqueue

    for clip_id, duration in Clip.objects.filter(pk__in=clip_ids).values_list("id", "duration"):
        if spectrum.wanted(duration):
            enqueue(clip_spectrum, clip_id)


def _first_training_after_processing(clip_ids: list[int]) -> None:
    """A first training due while an import was processed waited for it (see
    `ml_backend.training._start_if_due`): the batch that ends the processing starts it, though
    its own clips are unlabeled."""
    from labelapp.models import Clip
    from ml_backend.training import clips_in_processing, training_start_if_due

    projects = set(Clip.objects.filter(pk__in=clip_ids).values_list("project_id", flat=True))
    for project_id in projects:
        if not clips_in_processing(project_id):
            training_start_if_due(project_id=project_id)


def _labeled_clips_ready(clip_ids: list[int]) -> None:
    from django.db.models import Count

    from labelapp.models import Clip
    from ml_backend.hooks import labeled_clips_ready

    labeled = (
        Clip.objects.filter(pk__in=clip_ids, annotation_count__gt=0)
        .values("project_id")
        .annotate(n=Count("pk"))
    )
    for row in labeled:
        labeled_clips_ready(project_id=row["project_id"], count=row["n"])


@shared_task(ignore_result=True)
def clip_peaks_refresh(clip_id: int) -> None:
    """Peaks of an older format rewritten (asked for by a view that found them)."""
    from labelapp.services.clips import clip_peaks_refresh as refresh

    refresh(clip_id)


@shared_task(ignore_result=True)
def clip_spectrum(clip_id: int) -> None:
    """A long clip's spectral overview, for its far spectrogram views."""
    from labelapp.services.clips import clip_spectrum_compute

    clip_spectrum_compute(clip_id)


@shared_task(ignore_result=True)
def clips_sweep_pending() -> None:
    from labelapp.services.clips import clips_needing_processing
    from labelapp.services.health import worker_seen

    worker_seen()  # beat and a worker are alive: /healthz?deep=1

    ids = clips_needing_processing()
    for i in range(0, len(ids), BATCH):
        clips_process.delay(ids[i : i + BATCH])


@shared_task(ignore_result=True)
def imports_sweep() -> None:
    """Imports whose process died mid-way (a killed command) stop showing as running."""
    from labelapp.services.imports import import_jobs_fail_stale
    from labelapp.services.label_imports import labels_jobs_fail_stale, labels_jobs_resend

    for job_id in labels_jobs_resend():
        labels_import.delay(job_id)
    if failed := labels_jobs_fail_stale():
        logger.warning("%d labels imports without progress marked failed", failed)
    if failed := import_jobs_fail_stale():
        logger.warning("%d command-line imports without progress marked failed", failed)


@shared_task(ignore_result=True, acks_late=True)
def labels_import(job_id: int) -> None:
    """A labels file's clips labeled (services.label_imports); a second delivery does nothing."""
    from labelapp.services.label_imports import labels_import_run

    labels_import_run(job_id)


@shared_task(ignore_result=True, acks_late=True)
def export_run(job_id: int) -> None:
    from labelapp.exports import export_run as run

    run(job_id)


@shared_task(ignore_result=True)
def exports_sweep() -> None:
    """Exports whose message never reached a worker, or whose worker died, are sent again."""
    from labelapp.exports import export_jobs_requeue_stale, export_jobs_resend_pending

    export_jobs_resend_pending()
    export_jobs_requeue_stale()


@shared_task(bind=True, ignore_result=True, max_retries=48)
def media_delete(self, names: list[str]) -> None:
    """Stored files of deleted clips (names, as their rows are gone); a missing one is fine.
    While the media folder is away, tried again every 15 minutes for half a day."""
    from labelapp.media import MediaUnavailable
    from labelapp.services.clip_removal import media_delete as delete

    try:
        delete(names=names)
    except MediaUnavailable as exc:
        raise self.retry(exc=exc, countdown=900) from exc


@shared_task(bind=True, ignore_result=True, acks_late=True, max_retries=40)
def project_purge(self, project_id: int) -> None:
    """A deleted project's rows and files; waits for a training that is still stopping (for
    ten minutes; after that, or run eagerly, beat's sweep sends it again)."""
    from labelapp.services.project_removal import RETRY_AFTER_S
    from labelapp.services.project_removal import project_purge as purge

    if purge(project_id=project_id) == "waiting" and not self.request.is_eager:
        raise self.retry(countdown=RETRY_AFTER_S)


@shared_task(ignore_result=True)
def projects_purge_sweep() -> None:
    """Deleted projects whose purge message or worker was lost are sent again."""
    from labelapp.queueing import enqueue
    from labelapp.services.project_removal import projects_to_purge

    for project_id in projects_to_purge():
        enqueue(project_purge, project_id)
