"""Clip processing: metadata, peaks. Idempotent: a clip is claimed by one conditional UPDATE."""

from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from labelapp.audio import AudioError, PeaksHeader, compute_peaks, read_peaks_header, spectrum
from labelapp.audio.peaks import VERSION as PEAKS_VERSION
from labelapp.audio.peaks import envelopes_for
from labelapp.media import STORE_ERRORS, media_open, store_error_reason, store_unavailable
from labelapp.models import Clip

logger = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=30)  # a worker killed mid-clip leaves a claim this old
PENDING_GRACE = timedelta(minutes=2)  # a pending clip this old missed its message
PEAKS_REFRESH_EVERY_S = 600  # seconds; at most one refresh message per clip this often


def peaks_name_for(clip: Clip) -> str:
    return f"peaks/{clip.project_id}/{clip.pk}.peaks"


def clip_claim(clip_id: int) -> bool:
    """Move a clip to `processing` if nobody else holds it; True when this caller got it."""
    now = timezone.now()
    claimed = Clip.objects.filter(
        Q(status=Clip.Status.PENDING)
        | Q(status=Clip.Status.PROCESSING, processing_started_at__lt=now - STALE_CLAIM),
        pk=clip_id,
        project__deleted_at=None,  # a deleted project's clips wait for its purge
    ).update(status=Clip.Status.PROCESSING, processing_started_at=now)
    return claimed == 1


def clip_process(clip_id: int) -> str:
    """Compute a clip's peaks and mark it ready, or failed with the reason.

    Returns what happened ("ready", "failed", "skipped") for logs and tests. The audio is
    streamed in blocks by `compute_peaks`; nothing here holds the whole file.
    """
    if not clip_claim(clip_id):
        return "skipped"
    clip = Clip.objects.filter(pk=clip_id).first()
    if clip is None:  # a lead deleted it just now
        return "skipped"
    try:
        saved = _peaks_store(clip, peaks_name_for(clip), replace=True)
    except (AudioError, ValueError, RuntimeError) as exc:
        return _fail(clip, f"could not decode the audio: {exc}")
    except STORE_ERRORS as exc:
        if store_unavailable(exc):
            # The store did not answer: not the clip's fault (it was marked failed for good).
            # Back to pending; the sweep sends it again once the store answers.
            logger.warning(
                "clip %s (%r, project %s) waits for the media store: %s",
                clip.pk,
                clip.original_name,
                clip.project_id,
                exc,
            )
            Clip.objects.filter(pk=clip.pk, status=Clip.Status.PROCESSING).update(
                status=Clip.Status.PENDING, processing_started_at=None
            )
            return "waiting"
        return _fail(clip, f"could not read or write media: {store_error_reason(exc)}")
    if not Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.READY, peaks_file=saved, error="", processed_at=timezone.now()
    ):  # deleted while its peaks were computed: no row will ever name them
        default_storage.delete(saved)
        return "skipped"
    return "ready"


def _peaks_store(clip: Clip, name: str, *, replace: bool, compute=compute_peaks) -> str:
    """Compute the clip's peaks (or what `compute(source, out)` writes of its audio: its
    spectral overview) and store them as `name` (with `replace`, over a file of that name;
    else beside it, under a name the storage picks); returns the stored name."""
    tmp_path: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(prefix="earmark-peaks-", delete=False) as tmp:
            tmp_path = Path(tmp.name)
            # media_open: a remote recording is streamed in ranges as it is decoded, not
            # fetched whole into the worker's memory first (django-storages' S3File does that)
            with media_open(clip.file.name) as audio:
                source = _local_path(audio) or audio
                compute(source, tmp)
        if replace and default_storage.exists(name):
            default_storage.delete(name)
        with open(tmp_path, "rb") as fh:
            return default_storage.save(name, File(fh))
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def clip_spectrum_compute(clip_id: int) -> str:
    """Compute and store a ready long clip's spectral overview (`labelapp.audio.spectrum`);
    returns "computed", "skipped" (short, not ready, gone or done already) or "failed" (the
    far views keep sampling the audio; a later view asks again). Idempotent: of two workers
    racing, the conditional UPDATE keeps one file and the other deletes its own. An overview
    the row names but the store lost is computed again."""
    live = Clip.objects.filter(project__deleted_at=None)  # a purge deletes folders, then rows
    clip = live.filter(pk=clip_id, status=Clip.Status.READY).first()
    if clip is None or not spectrum.wanted(clip.duration):
        return "skipped"
    old = clip.spectrum_file
    if old and default_storage.exists(old):
        return "skipped"
    name = f"peaks/{clip.project_id}/{clip.pk}.spec"
    try:
        saved = _peaks_store(clip, name, replace=False, compute=spectrum.compute_overview)
    except (AudioError, ValueError, RuntimeError, OSError) as exc:
        logger.warning("spectral overview of clip %s not computed: %s", clip.pk, exc)
        return "failed"
    if not live.filter(pk=clip.pk, spectrum_file=old).update(spectrum_file=saved):
        default_storage.delete(saved)  # another worker's is kept, or the clip is gone
        return "skipped"
    return "computed"


def clip_spectrum_soon(clip: Clip) -> bool:
    """Ask a worker for a long clip's overview from a view that found none (a clip processed
    before overviews existed, one whose overview failed or was lost): one message per clip per
    PEAKS_REFRESH_EVERY_S, as `clip_peaks_refresh_soon`. True when a message was sent."""
    from labelapp.tasks import clip_spectrum as task

    return spectrum.wanted(clip.duration) and _worker_asked_once(task, "spectrum", clip.pk)


def clip_peaks_outdated(header: PeaksHeader) -> bool:
    """Whether a clip's peaks predate the current format in a way a view can see: a file of
    version 1 keeps one envelope over all channels where one per channel is kept now."""
    return header.version < PEAKS_VERSION and envelopes_for(header.channels) > 1


def clip_peaks_answer_outdated(clip: Clip, body: dict) -> bool:
    """`clip_peaks_outdated`, told from a peaks answer that asked `per_channel` instead of
    from the file's header (a view has just read that): a clip that keeps each channel's
    envelope now whose answer came without them has version-1 peaks."""
    return "per_channel" not in body and envelopes_for(clip.channels) > 1


def clip_peaks_refresh_soon(clip: Clip) -> bool:
    """Ask a worker to rewrite `clip`'s outdated peaks (`clip_peaks_outdated`), from a read:
    one message per clip per PEAKS_REFRESH_EVERY_S (the shared cache remembers; a cache that
    is down sends none, and a later view asks again). True when a message was sent."""
    from labelapp.tasks import clip_peaks_refresh as task

    return _worker_asked_once(task, "peaks-refresh", clip.pk)


def _worker_asked_once(task, what: str, clip_id: int) -> bool:
    """Send `task(clip_id)` unless it was sent for this clip in the last PEAKS_REFRESH_EVERY_S
    (the shared cache remembers; a cache that is down sends none, and a later view asks
    again). True when a message was sent."""
    from labelapp.queueing import enqueue

    try:
        first = cache.add(f"earmark:{what}:{clip_id}", 1, PEAKS_REFRESH_EVERY_S)
    except Exception:  # noqa: BLE001 - any cache failure: skip, as the docstring says
        return False
    return first and enqueue(task, clip_id)


def clip_peaks_refresh(clip_id: int) -> str:
    """Rewrite a ready clip's peaks file in the current format (per-channel envelopes came
    with version 2); returns "refreshed", "current" or "skipped". Idempotent: current peaks
    are left alone, and of two workers racing, the conditional UPDATE keeps one new file and
    the other deletes its own. The new file has a name of its own, so a view reading the old
    one meanwhile reads a whole file."""
    live = Clip.objects.filter(project__deleted_at=None)  # a purge deletes folders, then rows
    clip = live.filter(pk=clip_id, status=Clip.Status.READY).exclude(peaks_file="").first()
    if clip is None:
        return "skipped"
    old = clip.peaks_file
    try:
        with media_open(old) as fh:
            if not clip_peaks_outdated(read_peaks_header(fh)):
                return "current"
    except (OSError, ValueError):
        pass  # unreadable: written anew
    name = f"peaks/{clip.project_id}/{clip.pk}.v{PEAKS_VERSION}.peaks"
    try:
        saved = _peaks_store(clip, name, replace=False)
    except (AudioError, ValueError, RuntimeError, OSError) as exc:
        # The old peaks still draw the clip (one envelope): it stays ready.
        logger.warning("peaks of clip %s not refreshed: %s", clip.pk, exc)
        return "skipped"
    if not live.filter(pk=clip.pk, peaks_file=old).update(peaks_file=saved):
        # another worker swapped first, or the clip (or its project) is gone
        default_storage.delete(saved)
        return "skipped"
    default_storage.delete(old)
    return "refreshed"


def _local_path(fileobj) -> str | None:
    """The file's path on this machine, when the storage opened a local file. A remote file's
    name is its key (relative), which must not be looked up in the working directory."""
    name = getattr(fileobj, "name", None)
    if isinstance(name, str) and Path(name).is_absolute() and Path(name).is_file():
        return name
    return None


def _fail(clip: Clip, message: str) -> str:
    # The project and the file named: "clip 31 failed" sent an operator to the database.
    logger.warning(
        "clip %s (%r, project %s) failed: %s", clip.pk, clip.original_name, clip.project_id, message
    )
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.FAILED, error=message[:2000], processed_at=timezone.now()
    )
    return "failed"


def clips_needing_processing(limit: int = 1000) -> list[int]:
    """Clips whose message was lost (broker down at import) or whose worker died."""
    now = timezone.now()
    return list(
        Clip.objects.filter(
            Q(status=Clip.Status.PENDING, created_at__lt=now - PENDING_GRACE)
            | Q(status=Clip.Status.PROCESSING, processing_started_at__lt=now - STALE_CLAIM),
            project__deleted_at=None,
        ).values_list("pk", flat=True)[:limit]
    )


def clip_reprocess(clip: Clip) -> None:
    """Send a failed clip back to the queue (after its file or the decoder was fixed)."""
    from labelapp.services.imports import clips_enqueue_processing

    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.PENDING, error="")
    clips_enqueue_processing([clip.pk])


RETRY_BATCH = 500  # clips a processing message carries


def clips_retry_failed(*, project) -> int:
    """Send every failed clip of `project` back to processing (its media store back after an
    outage, a decoder installed): they failed for good, and only deleting and uploading them
    again got them back. Returns how many; a clip whose file is still unreadable fails again
    with its reason."""
    from labelapp.queueing import enqueue_on_commit
    from labelapp.tasks import clips_process

    with transaction.atomic():
        ids = list(
            Clip.objects.select_for_update()
            .filter(project=project, status=Clip.Status.FAILED)
            .values_list("pk", flat=True)
        )
        Clip.objects.filter(pk__in=ids).update(
            status=Clip.Status.PENDING, error="", processing_started_at=None
        )
        for start in range(0, len(ids), RETRY_BATCH):
            enqueue_on_commit(clips_process, ids[start : start + RETRY_BATCH])
    return len(ids)
