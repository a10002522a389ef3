"""A long clip's spectral overview through the app: computed by a worker once the clip is
ready, drawn by far spectrogram views, asked for by the first view of a clip processed before
overviews existed, and deleted with the clip."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from django.core.files.storage import default_storage

from labelapp.audio import render_spectrogram_png
from labelapp.media import media_open
from labelapp.models import Clip
from labelapp.services.clip_removal import clip_delete
from labelapp.services.clips import clip_spectrum_compute
from labelapp.services.imports import ImportItem, clip_import
from labelapp.tasks import clips_process

pytestmark = pytest.mark.django_db

RATE = 16000
FAR = "start=0&end=70&width=100&height=32&scale=linear"


def _long_clip(project, tmp_path, seconds: int = 70) -> Clip:
    rng = np.random.default_rng(3)
    audio = (0.003 * rng.standard_normal(seconds * RATE)).astype(np.float32)
    tone = 0.5 * np.sin(2 * np.pi * 3000 * np.arange(RATE // 10) / RATE)
    for i in range(seconds // 7):
        at = int((7 * i + rng.uniform(0.5, 6)) * RATE)
        audio[at : at + len(tone)] += tone
    path = tmp_path / f"long-{seconds}.wav"
    sf.write(path, audio, RATE, subtype="PCM_16")
    outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
    clips_process([outcome.clip_id])  # its overview's message runs at once (eager)
    return Clip.objects.get(pk=outcome.clip_id)


def _far_png(client, clip, *, sampled: bool = False) -> bytes:
    res = client.get(f"/api/clips/{clip.pk}/spectrogram?{FAR}")
    assert res.status_code == 200 and res["Content-Type"] == "image/png"
    # drawn without its overview: asked again, not kept for a day
    assert res["Cache-Control"] == ("private, no-cache" if sampled else "private, max-age=86400")
    return res.content


def _render(clip, *, overview: bool) -> bytes:
    kwargs = dict(start=0, end=70, width=100, height=32, scale="linear")
    with media_open(clip.file.name) as audio:
        if not overview:
            return render_spectrogram_png(audio, **kwargs)
        with media_open(clip.spectrum_file) as fh:
            return render_spectrogram_png(audio, overview=fh, **kwargs)


def test_a_long_clip_gets_an_overview_its_far_views_are_drawn_from(
    project, tmp_path, client_for, annotator, django_capture_on_commit_callbacks
):
    clip = _long_clip(project, tmp_path)
    assert clip.status == "ready" and clip.spectrum_file.endswith(".spec")
    assert default_storage.exists(clip.spectrum_file)
    png = _far_png(client_for(annotator), clip)
    assert png == _render(clip, overview=True) != _render(clip, overview=False)
    assert clip_spectrum_compute(clip.pk) == "skipped"  # a second message: nothing to do
    name = clip.spectrum_file
    with django_capture_on_commit_callbacks(execute=True):
        clip_delete(clip=clip, force=True)
    assert not default_storage.exists(name)


def test_a_short_clip_gets_none(project, tmp_path, client_for, annotator, monkeypatch):
    sent = []
    monkeypatch.setattr("labelapp.queueing.enqueue", lambda task, *args: sent.append(args))
    clip = _long_clip(project, tmp_path, seconds=30)
    assert clip.spectrum_file == ""
    res = client_for(annotator).get(f"/api/clips/{clip.pk}/spectrogram?start=0&end=30&width=50")
    assert res.status_code == 200 and sent == []


def test_a_clip_without_one_is_sampled_and_asks_a_worker_once(
    project, tmp_path, client_for, annotator, monkeypatch
):
    """A clip processed before overviews existed (or whose overview failed): its far view is
    drawn from samples and sends the clip to a worker, once however often it is viewed; the
    worker's overview draws the next view."""
    clip = _long_clip(project, tmp_path)
    default_storage.delete(clip.spectrum_file)
    Clip.objects.filter(pk=clip.pk).update(spectrum_file="")
    clip.refresh_from_db()
    sent = []
    monkeypatch.setattr("labelapp.queueing.enqueue", lambda task, *args: sent.append(args))
    client = client_for(annotator)
    for _ in range(3):
        assert _far_png(client, clip, sampled=True) == _render(clip, overview=False)
    assert sent == [(clip.pk,)]
    assert clip_spectrum_compute(clip.pk) == "computed"
    clip.refresh_from_db()
    assert _far_png(client, clip) == _render(clip, overview=True)


def test_an_overview_lost_from_the_store_is_no_error_and_is_made_again(
    project, tmp_path, client_for, annotator, monkeypatch
):
    clip = _long_clip(project, tmp_path)
    default_storage.delete(clip.spectrum_file)
    sent = []
    monkeypatch.setattr("labelapp.queueing.enqueue", lambda task, *args: sent.append(args))
    client = client_for(annotator)
    assert _far_png(client, clip, sampled=True) == _render(clip, overview=False)
    assert sent == [(clip.pk,)]
    assert clip_spectrum_compute(clip.pk) == "computed"
    clip.refresh_from_db()
    assert default_storage.exists(clip.spectrum_file)
    assert _far_png(client, clip) == _render(clip, overview=True)
