"""End to end through the real broker and a real `celery -A labelapp worker` process:
import -> enqueue on commit -> worker streams the file -> peaks served by the API."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from labelapp.models import Clip
from labelapp.tasks import clips_sweep_pending
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _wait_processed(clip_ids, timeout=120):
    def done():
        statuses = list(Clip.objects.filter(pk__in=clip_ids).values_list("status", flat=True))
        return len(statuses) == len(clip_ids) and all(s in ("ready", "failed") for s in statuses)

    wait_for(done, timeout=timeout, message=f"clips {clip_ids} were not processed by the worker")
    return {c.pk: c for c in Clip.objects.filter(pk__in=clip_ids)}


def test_an_uploaded_file_is_processed_by_the_worker_and_its_peaks_served(
    celery_worker_process, client_for, lead, annotator, project, wav_factory
):
    data = wav_factory(seconds=4.0, sr=16000).read_bytes()
    res = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/",
        {"files": [SimpleUploadedFile("up.wav", data)]},
        format="multipart",
    )
    assert res.status_code == 201
    clip_id = res.json()["files"][0]["clip_id"]
    clip = _wait_processed([clip_id])[clip_id]
    assert clip.status == "ready", clip.error
    peaks = client_for(annotator).get(f"/api/clips/{clip_id}/peaks?width=400").json()
    assert len(peaks["max"]) == 400 and max(peaks["max"]) == pytest.approx(0.5, abs=0.05)


def test_cli_import_of_mixed_formats_ends_ready(celery_worker_process, project, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(3)
    specs = [
        ("hi-res.wav", 96000, 2, "WAV", "PCM_24"),
        ("a.flac", 44100, 1, "FLAC", "PCM_16"),
        ("b.ogg", 22050, 2, "OGG", "VORBIS"),
        ("c.mp3", 44100, 1, "MP3", "MPEG_LAYER_III"),
        ("quad.wav", 48000, 4, "WAV", "FLOAT"),
    ]
    for name, sr, ch, fmt, subtype in specs:
        sig = 0.3 * rng.standard_normal((int(sr * 1.5), ch)).astype(np.float32)
        sf.write(folder / name, np.clip(sig, -1, 1), sr, format=fmt, subtype=subtype)
    out = io.StringIO()
    call_command("import_audio", project.name, str(folder), stdout=out, stderr=io.StringIO())
    assert "5 imported" in out.getvalue()
    clips = _wait_processed(list(Clip.objects.values_list("pk", flat=True)))
    by_name = {c.original_name: c for c in clips.values()}
    assert all(c.status == "ready" for c in clips.values()), [c.error for c in clips.values()]
    assert (by_name["hi-res.wav"].sample_rate, by_name["hi-res.wav"].channels) == (96000, 2)
    assert by_name["quad.wav"].channels == 4


@pytest.mark.slow
def test_a_long_recording_is_streamed_and_its_first_screen_is_small(
    celery_worker_process, client_for, annotator, project, tmp_path
):
    """30 minutes at 22.05 kHz: processed in blocks; the first screen's peaks are kilobytes."""
    sr, minutes = 22050, 30
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", sr, 1, subtype="PCM_16") as fh:
        for _ in range(minutes * 6):  # 10-second blocks: the generator is bounded too
            fh.write((0.2 * rng.standard_normal(sr * 10)).astype(np.float32))
    call_command(
        "import_audio", project.name, str(path), stdout=io.StringIO(), stderr=io.StringIO()
    )
    clip = Clip.objects.get(original_name="long.wav")
    clip = _wait_processed([clip.pk], timeout=240)[clip.pk]
    assert clip.status == "ready", clip.error
    assert clip.duration == pytest.approx(minutes * 60, abs=0.01)
    res = client_for(annotator).get(
        f"/api/clips/{clip.pk}/peaks?start=0&end={minutes * 60}&width=1600"
    )
    assert res.status_code == 200
    assert len(res.content) < 64 * 1024, f"first screen is {len(res.content)} bytes"
    assert len(json.loads(res.content)["max"]) == 1600


def test_the_sweep_resends_clips_whose_message_was_lost(
    celery_worker_process, project, wav_factory
):
    """An import while the broker was down leaves a pending clip; beat's sweep recovers it."""
    from labelapp.services.imports import ImportItem, clip_import

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("labelapp.services.imports.clips_enqueue_processing", lambda ids: None)
        outcome = clip_import(project=project, item=ImportItem(name="lost.wav", path=wav_factory()))
    Clip.objects.filter(pk=outcome.clip_id).update(
        created_at=timezone.now() - timezone.timedelta(minutes=10)
    )
    assert Clip.objects.get(pk=outcome.clip_id).status == "pending"
    clips_sweep_pending.delay()
    assert _wait_processed([outcome.clip_id])[outcome.clip_id].status == "ready"
