"""GET /api/clips/<id>/peaks per channel: stereo clips answer each channel's envelope when
asked, mono clips answer as before, and peaks written before per-channel envelopes still
answer (never a 500) while a worker rewrites them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from labelapp.audio import read_peaks_header
from labelapp.models import Clip
from labelapp.services.clips import clip_peaks_refresh, clip_process
from labelapp.services.imports import ImportItem, clip_import
from tests.audio.test_peaks import as_version_1

pytestmark = pytest.mark.django_db


def _clip(project, path) -> Clip:
    outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
    assert clip_process(outcome.clip_id) == "ready"
    return Clip.objects.get(pk=outcome.clip_id)


@pytest.fixture
def left_only_clip(project, tmp_path):
    """3 s of stereo at 8 kHz: a 0.5 tone on the left, silence on the right."""
    t = np.arange(3 * 8000) / 8000
    left = 0.5 * np.sin(2 * np.pi * 500 * t)
    path = tmp_path / "left-only.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 8000, subtype="PCM_16")
    return _clip(project, path)


def _as_old_peaks(clip) -> str:
    """Give `clip` peaks as version 1 wrote them; returns their stored name."""
    with default_storage.open(clip.peaks_file, "rb") as fh:
        old = as_version_1(fh.read())
    name = default_storage.save(f"peaks/{clip.project_id}/old-{clip.pk}.peaks", ContentFile(old))
    Clip.objects.filter(pk=clip.pk).update(peaks_file=name)
    return name


def _peaks(client, clip, query=""):
    res = client.get(f"/api/clips/{clip.pk}/peaks?start=0&end=3&width=60{query}")
    assert res.status_code == 200, res.content
    return res.json()


def test_a_stereo_clip_answers_each_channel_when_asked(client_for, annotator, left_only_clip):
    client = client_for(annotator)
    body = _peaks(client, left_only_clip, "&per_channel=1")
    left, right = body["per_channel"]
    assert min(left["max"]) > 0.45 and max(left["min"]) < -0.45
    assert max(map(abs, right["min"] + right["max"])) < 0.001
    assert body["max"] == left["max"]  # "min"/"max" stay the envelope over all channels
    plain = _peaks(client, left_only_clip)
    assert "per_channel" not in plain and plain["max"] == body["max"]
    deep = client.get(f"/api/clips/{left_only_clip.pk}/peaks?start=1&end=1.01&per_channel=1")
    assert deep.json()["level"] == -1 and len(deep.json()["per_channel"]) == 2


def test_a_mono_clip_answers_as_before(client_for, annotator, project, wav_factory):
    clip = _clip(project, wav_factory(seconds=3.0, sr=8000))
    client = client_for(annotator)
    assert _peaks(client, clip, "&per_channel=1") == _peaks(client, clip)
    assert "per_channel" not in _peaks(client, clip)


def test_the_workspace_overview_carries_each_channel(client_for, annotator, left_only_clip):
    body = client_for(annotator).get(f"/api/clips/{left_only_clip.pk}/workspace/").json()
    assert len(body["overview"]["per_channel"]) == 2


def test_old_peaks_answer_as_one_envelope_and_are_rewritten(client_for, annotator, left_only_clip):
    """Peaks written before per-channel envelopes (version 1): the first view gets one
    envelope, no error, and sends the clip to a worker (eager here), which rewrites them
    under a new name and deletes the old file; the next view gets each channel."""
    clip = left_only_clip
    with default_storage.open(clip.peaks_file, "rb") as fh:
        old = as_version_1(fh.read())
    old_name = default_storage.save(
        f"peaks/{clip.project_id}/old-{clip.pk}.peaks", ContentFile(old)
    )
    Clip.objects.filter(pk=clip.pk).update(peaks_file=old_name)
    client = client_for(annotator)

    first = _peaks(client, clip, "&per_channel=1")
    assert "per_channel" not in first and min(first["max"]) > 0.45
    clip.refresh_from_db()
    assert clip.peaks_file != old_name and not default_storage.exists(old_name)
    with default_storage.open(clip.peaks_file, "rb") as fh:
        assert read_peaks_header(io.BytesIO(fh.read())).envelopes == 2
    assert len(_peaks(client, clip, "&per_channel=1")["per_channel"]) == 2
    # a second message (redelivered, or sent after the cache forgot) does nothing
    assert clip_peaks_refresh(clip.pk) == "current"


def test_old_peaks_are_rewritten_once_however_often_they_are_viewed(
    client_for, annotator, left_only_clip, monkeypatch
):
    sent = []
    monkeypatch.setattr("labelapp.queueing.enqueue", lambda task, *args: sent.append(args))
    clip = left_only_clip
    _as_old_peaks(clip)
    client = client_for(annotator)
    for _ in range(3):
        assert "per_channel" not in _peaks(client, clip, "&per_channel=1")
    assert client.get(f"/api/clips/{clip.pk}/workspace/").json()["overview"]["max"]
    assert sent == [(clip.pk,)]
    _peaks(client, clip)  # not asked per channel: nothing to refresh for
    assert sent == [(clip.pk,)]


def test_a_view_that_read_the_row_before_a_rewrite_answers_from_the_new_file(
    client_for, annotator, left_only_clip, monkeypatch
):
    """The worker swaps the row to the new file and deletes the old one between the view's
    read of the row and its open of the file: the view opens the new file, not a 500."""
    from labelapp import api, selectors

    clip = left_only_clip
    _as_old_peaks(clip)
    real = selectors.clip_for_user

    def row_then_rewrite(user, clip_id, *args, **kwargs):
        row = real(user, clip_id, *args, **kwargs)
        assert clip_peaks_refresh(clip_id) == "refreshed"
        return row  # still naming the deleted file

    monkeypatch.setattr(api.selectors, "clip_for_user", row_then_rewrite)
    body = _peaks(client_for(annotator), clip, "&per_channel=1")
    assert len(body["per_channel"]) == 2


def test_a_missing_peaks_file_is_a_404_not_a_500(client_for, annotator, left_only_clip):
    default_storage.delete(left_only_clip.peaks_file)
    res = client_for(annotator).get(f"/api/clips/{left_only_clip.pk}/peaks?width=10")
    assert res.status_code == 404


def test_an_answer_from_peaks_being_rewritten_is_not_cached(
    client_for, annotator, left_only_clip, monkeypatch
):
    """One envelope now, each channel once the worker is done: the browser must ask again."""
    monkeypatch.setattr("labelapp.queueing.enqueue", lambda task, *args: True)
    _as_old_peaks(left_only_clip)
    client = client_for(annotator)
    url = f"/api/clips/{left_only_clip.pk}/peaks?start=0&end=3&width=60"
    assert "max-age=86400" not in client.get(url + "&per_channel=1")["Cache-Control"]
    assert "max-age=86400" in client.get(url)["Cache-Control"]  # the same before and after


def test_a_deleted_projects_peaks_are_not_rewritten(left_only_clip):
    """Its purge deletes the folder before the rows: a file written meanwhile would stay."""
    from django.utils import timezone

    clip = left_only_clip
    old = _as_old_peaks(clip)
    clip.project.__class__.objects.filter(pk=clip.project_id).update(deleted_at=timezone.now())
    before = default_storage.listdir(f"peaks/{clip.project_id}")
    assert clip_peaks_refresh(clip.pk) == "skipped"
    clip.refresh_from_db()
    assert clip.peaks_file == old
    assert default_storage.listdir(f"peaks/{clip.project_id}") == before


def test_a_window_past_the_clip_names_the_times_asked_for(client_for, annotator, left_only_clip):
    """It quoted the window cut to the clip: "0.6435-0.6435 s is outside the clip"."""
    client = client_for(annotator)
    for path in ("peaks", "spectrogram"):
        res = client.get(f"/api/clips/{left_only_clip.pk}/{path}?start=500&end=600")
        assert res.status_code == 400, res.content
        assert res.json()["detail"].startswith("the window 500-600 s is outside the clip"), path


def test_a_clip_the_media_store_cannot_give_waits_instead_of_failing(
    project, wav_factory, monkeypatch
):
    """An S3 outage marked every clip processed meanwhile failed for good ("could not read or
    write media"); it goes back to pending, for the sweep to send again once the store
    answers. A file the store refuses still fails, with a reason that names no endpoint."""
    from labelapp.media import MediaUnavailable
    from labelapp.services import clips as clip_services

    path = wav_factory(seconds=1.0, sr=8000)
    outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))

    def unavailable(*args, **kwargs):
        raise MediaUnavailable("http://10.0.0.5:9000/bucket/key: read timeout")

    monkeypatch.setattr(clip_services, "_peaks_store", unavailable)
    assert clip_process(outcome.clip_id) == "waiting"
    clip = Clip.objects.get(pk=outcome.clip_id)
    assert clip.status == "pending" and clip.processing_started_at is None and not clip.error

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(clip_services, "_peaks_store", refused)
    assert clip_process(outcome.clip_id) == "failed"
    clip.refresh_from_db()
    assert clip.status == "failed" and "Permission denied" in clip.error
