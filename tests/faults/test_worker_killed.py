"""The Celery worker is killed (SIGKILL) in the middle of a job.

* Mid-import: the pool process computing a long clip's peaks dies. No half-written peaks
  file appears in the media store, the clip is not marked ready, and once its claim is stale
  the sweep sends it again and a worker finishes it.
* Mid-training: tests/e2e/test_active_learning.py::
  test_a_killed_training_leaves_the_previous_version_active kills the pool process during a
  training (the active model stays, the sweep marks the run failed with the reason, a retry
  succeeds); `scripts/faults.sh` with FULL=1 runs it with this folder.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta

import psutil
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from labelapp.models import Clip
from labelapp.services.clips import STALE_CLAIM, peaks_name_for
from labelapp.services.imports import ImportItem, clip_import
from labelapp.tasks import clips_sweep_pending
from tests.conftest import wait_for, write_wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _kill_pool(worker) -> int:
    killed = 0
    for child in psutil.Process(worker.pid).children(recursive=True):
        os.kill(child.pid, signal.SIGKILL)
        killed += 1
    return killed


def test_a_worker_killed_while_processing_a_clip_leaves_no_partial_peaks_and_a_retry_succeeds(
    celery_worker_process, project, tmp_path
):
    minutes = 60 if os.environ.get("FULL") else 20
    path = write_wav(tmp_path / "long.wav", seconds=minutes * 60, sr=16000)
    outcome = clip_import(project=project, item=ImportItem(name="long.wav", path=path))
    clip_id = outcome.clip_id
    wait_for(
        lambda: Clip.objects.get(pk=clip_id).status != "pending",
        timeout=60,
        interval=0.02,
        message="the worker never claimed the clip",
    )
    clip = Clip.objects.get(pk=clip_id)
    if clip.status != "processing":
        pytest.skip(f"the clip was {clip.status} before the kill: make it longer on this machine")
    assert _kill_pool(celery_worker_process) >= 1
    clip.refresh_from_db()
    assert clip.status == "processing" and not clip.peaks_file
    assert not default_storage.exists(peaks_name_for(clip)), "a half-written peaks file"
    # The redelivered message finds the clip claimed and leaves it: only a stale claim is
    # taken over, so two workers never process one clip at once.
    Clip.objects.filter(pk=clip_id).update(
        processing_started_at=timezone.now() - STALE_CLAIM - timedelta(minutes=1)
    )
    clips_sweep_pending.delay()
    clip = wait_for(
        lambda: Clip.objects.filter(pk=clip_id, status__in=["ready", "failed"]).first(),
        timeout=180,
        message="the sweep did not re-send the clip whose worker was killed:\n"
        + celery_worker_process.log_path.read_text()[-3000:],
    )
    assert clip.status == "ready", clip.error
    assert clip.duration == pytest.approx(minutes * 60, abs=0.01)
    assert default_storage.exists(clip.peaks_file)
