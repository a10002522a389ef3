"""Celery tasks: take ids, call a service. Services are idempotent, so redelivery is harmless."""

from __future__ import annotations

from celery import shared_task

BATCH = 50  # clip ids per message when re-sending


@shared_task(ignore_result=True)
def clips_process(clip_ids: list[int]) -> None:
    from labelapp.services.clips import clip_process
    from ml_backend.prelabel import prelabel_new_clips

    ready = [clip_id for clip_id in clip_ids if clip_process(clip_id) == "ready"]
    if ready:
        prelabel_new_clips(ready)


@shared_task(ignore_result=True)
def clips_sweep_pending() -> None:
    from labelapp.services.clips import clips_needing_processing

    ids = clips_needing_processing()
    for i in range(0, len(ids), BATCH):
        clips_process.delay(ids[i : i + BATCH])
