"""`GET /api/clips/<id>/playback`: what pages play. A WAV or FLAC is its original file; an MP3
(and Vorbis, AIFF, ...) is 16-bit PCM WAV decoded for the bytes asked, with Range requests,
the clip's length to the frame, and the same samples as the stored file decodes to."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from labelapp.models import Clip
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, clip_import

pytestmark = pytest.mark.django_db


def _clip(project, path, name) -> Clip:
    outcome = clip_import(project=project, item=ImportItem(name=name, path=str(path)))
    assert clip_process(outcome.clip_id) == "ready"
    return Clip.objects.get(pk=outcome.clip_id)


@pytest.fixture
def mp3_clip(project, tmp_path):
    rng = np.random.default_rng(0)
    walk = np.cumsum(rng.standard_normal((6 * 22050, 2)), axis=0)
    walk -= walk.mean(axis=0)
    path = tmp_path / "dawn.mp3"
    sf.write(path, (0.3 * walk / np.abs(walk).max()).astype(np.float32), 22050, format="MP3",
             subtype="MPEG_LAYER_III", bitrate_mode="VARIABLE", compression_level=0.9)  # fmt: skip
    return _clip(project, path, "dawn.mp3"), path


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_an_mp3_plays_as_pcm_wav_with_ranges(client_for, annotator, mp3_clip):
    clip, path = mp3_clip
    client = client_for(annotator)
    url = f"/api/clips/{clip.pk}/playback"
    full = client.get(url)
    body = _body(full)
    frames = round(clip.duration * clip.sample_rate)
    assert full.status_code == 200 and full["Content-Type"] == "audio/wav"
    assert full["Accept-Ranges"] == "bytes" and len(body) == 44 + frames * 2 * 2
    audio, rate = sf.read(io.BytesIO(body), dtype="float32", always_2d=True)
    whole = sf.read(path, dtype="float32", always_2d=True)[0]
    assert rate == clip.sample_rate and audio.shape == (frames, 2)
    n = min(len(whole), frames)
    np.testing.assert_allclose(audio[:n], whole[:n], atol=1.5 / 32767)

    part = client.get(url, HTTP_RANGE="bytes=100000-100099")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100000-100099/{len(body)}"
    got, want = (np.frombuffer(b, "<i2").astype(int) for b in (_body(part), body[100000:100100]))
    assert np.abs(got - want).max() <= 1  # an MP3 decodes to within 1e-7 after a seek
    assert client.get(url, HTTP_IF_NONE_MATCH=full["ETag"]).status_code == 304
    # the original is still what /audio serves
    original = client.get(f"/api/clips/{clip.pk}/audio")
    assert original["Content-Type"] == "audio/mpeg" and _body(original) == path.read_bytes()


def test_a_wav_plays_as_stored(client_for, annotator, project, wav_factory):
    clip = _clip(project, wav_factory(seconds=2.0, sr=8000), "take.wav")
    client = client_for(annotator)
    played = client.get(f"/api/clips/{clip.pk}/playback")
    assert played["Content-Type"] == "audio/wav"
    assert _body(played) == _body(client.get(f"/api/clips/{clip.pk}/audio"))


def test_a_clip_not_processed_yet_plays_as_stored_and_strangers_get_a_404(
    client_for, annotator, outsider, mp3_clip
):
    clip, path = mp3_clip
    Clip.objects.filter(pk=clip.pk).update(status=Clip.Status.PENDING)
    assert _body(client_for(annotator).get(f"/api/clips/{clip.pk}/playback")) == path.read_bytes()
    assert client_for(outsider).get(f"/api/clips/{clip.pk}/playback").status_code == 404


def test_a_file_gone_from_the_store_is_a_404_that_says_so(client_for, annotator, mp3_clip):
    from django.core.files.storage import default_storage

    clip, _ = mp3_clip
    default_storage.delete(clip.file.name)
    response = client_for(annotator).get(f"/api/clips/{clip.pk}/playback")
    assert response.status_code == 404
    assert "missing from the media store" in response.json()["detail"]


def test_a_head_decodes_nothing_and_a_weak_if_none_match_is_a_304(
    client_for, annotator, mp3_clip, monkeypatch
):
    """A HEAD of an hour's MP3 decoded all of it for a body Django drops (3.7 s of CPU);
    `If-None-Match: W/"..."` got the whole file (a playback retester)."""
    from labelapp.audio import playback

    clip, _ = mp3_clip
    client = client_for(annotator)
    url = f"/api/clips/{clip.pk}/playback"
    size = int(client.get(url)["Content-Length"])

    def no_decoding(self, start):
        raise AssertionError("a HEAD decoded audio")

    monkeypatch.setattr(playback.PcmWavFile, "_decoded", no_decoding)
    head = client.head(url)
    assert head.status_code == 200 and head["Content-Length"] == str(size)
    assert head["Content-Type"] == "audio/wav" and head["Accept-Ranges"] == "bytes"
    part = client.head(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 100-199/{size}"
    etag = head["ETag"].removeprefix("W/")
    for sent in (f"W/{etag}", etag, f'"other", {etag}', "*"):
        assert client.get(url, HTTP_IF_NONE_MATCH=sent).status_code == 304, sent
    assert client.get(url, HTTP_IF_NONE_MATCH='"other"').status_code == 200


def test_an_mp3_playing_copy_has_a_weak_etag_that_no_if_range_matches(
    client_for, annotator, mp3_clip
):
    """A range's samples of a decoded MP3 can differ by one from a whole read's (the decoder's
    output after a seek depends by 1e-8 on what it decoded before): a strong ETag promised
    identical bytes, which a cache may splice. If-Range compares strongly: never a match."""
    clip, _ = mp3_clip
    client = client_for(annotator)
    url = f"/api/clips/{clip.pk}/playback"
    etag = client.head(url)["ETag"]
    assert etag.startswith('W/"')
    resumed = client.get(url, HTTP_RANGE="bytes=100-199", HTTP_IF_RANGE=etag)
    assert resumed.status_code == 200 and "Content-Range" not in resumed
    assert client.get(url, HTTP_RANGE="bytes=100-199").status_code == 206


def test_an_aiff_plays_as_pcm_wav_under_a_strong_etag(client_for, annotator, project, tmp_path):
    path = tmp_path / "marsh.aiff"
    sf.write(path, np.linspace(-0.5, 0.5, 8000, dtype=np.float32), 8000, format="AIFF")
    clip = _clip(project, path, "marsh.aiff")
    client = client_for(annotator)
    url = f"/api/clips/{clip.pk}/playback"
    full = client.get(url)
    etag = full["ETag"]
    assert full["Content-Type"] == "audio/wav" and etag.startswith('"')
    part = client.get(url, HTTP_RANGE="bytes=1000-1099", HTTP_IF_RANGE=etag)
    assert part.status_code == 206 and _body(part) == _body(full)[1000:1100]


def test_an_aiff_original_is_named_as_audio(client_for, annotator, project, tmp_path):
    path = tmp_path / "field.aiff"
    sf.write(path, np.zeros(8000, dtype=np.float32), 8000, format="AIFF")
    clip = _clip(project, path, "field.aiff")
    response = client_for(annotator).get(f"/api/clips/{clip.pk}/audio")
    assert response["Content-Type"] == "audio/aiff"  # it was application/octet-stream
