"""What the browser plays (`labelapp.audio.playback`): the original where browsers seek in it
exactly, else 16-bit PCM WAV decoded for the bytes asked, the same samples as one read of the
whole file, a file exactly as long as its header says."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from labelapp.audio.playback import (
    BLOCK,
    PcmWavFile,
    fits_wav,
    plays_as_stored,
    wav_header,
)
from ml_backend.audio_read import read_at

RATE = 22050
FFMPEG = shutil.which("ffmpeg")


def _noise(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.standard_normal((int(seconds * RATE), channels)), axis=0)
    walk -= walk.mean(axis=0)
    return (0.3 * walk / np.abs(walk).max()).astype(np.float32)


@pytest.fixture(params=["vbr_mp3", "vorbis", "aiff_stereo"])
def coded(request, tmp_path):
    """Files a browser plays wrong or not at all, several blocks long."""
    if request.param == "vbr_mp3":
        path = tmp_path / "x.mp3"
        sf.write(path, _noise(8), RATE, format="MP3", subtype="MPEG_LAYER_III",
                 bitrate_mode="VARIABLE", compression_level=0.9)  # fmt: skip
    elif request.param == "vorbis":
        path = tmp_path / "x.ogg"
        sf.write(path, _noise(8), RATE, format="OGG", subtype="VORBIS")
    else:
        path = tmp_path / "x.aiff"
        sf.write(path, _noise(8, channels=2), RATE, format="AIFF", subtype="PCM_16")
    return path


def _as_wav(path, frames=None) -> tuple[PcmWavFile, np.ndarray]:
    whole = sf.read(path, dtype="float32", always_2d=True)[0]
    snd = sf.SoundFile(path)
    return PcmWavFile(snd, len(whole) if frames is None else frames), whole


def test_the_wav_holds_the_whole_files_samples_and_reads_as_a_wav(coded):
    wav, whole = _as_wav(coded)
    body = wav.read()
    assert len(body) == wav.size == 44 + whole.size * 2
    got, rate = sf.read(io.BytesIO(body), dtype="float32", always_2d=True)
    assert rate == RATE and got.shape == whole.shape
    np.testing.assert_allclose(got, whole, atol=1.5 / 32767)


def test_any_byte_range_reads_what_the_whole_body_has_there(coded):
    """To the byte, but for an MP3's last bit now and then: its decoder gives the same frames
    to within 1e-7 after a seek, which can round a sample to its neighbouring 16-bit value."""
    wav, _ = _as_wav(coded)
    body = wav.read()
    rng = np.random.default_rng(1)
    frame_bytes = wav.channels * 2
    wav.seek(40)
    assert wav.read(8) == body[40:48]  # across the header's end
    at_block = 44 + BLOCK * frame_bytes
    spans = [(at_block - 2 * frame_bytes, 4 * frame_bytes)]
    firsts, lengths = rng.integers(0, wav.frames - 1, 20), rng.integers(1, 3 * BLOCK, 20)
    pairs = zip(firsts, lengths, strict=True)
    spans += [(44 + int(f) * frame_bytes, int(n) * frame_bytes) for f, n in pairs]
    for first, length in spans:  # in any order: seeks back and forth, across blocks
        wav.seek(first)
        got = np.frombuffer(wav.read(length), "<i2").astype(int)
        want = np.frombuffer(body[first : first + length], "<i2").astype(int)
        assert len(got) == len(want) and np.abs(got - want).max(initial=0) <= 1, first
    wav.seek(wav.size - 3)
    assert wav.read(100) == body[-3:] and wav.read(10) == b""


def test_frames_past_the_decoders_are_silence_and_frames_before_it_are_cut(coded):
    """An MP3's length is the probe's estimate: the file is as long as the header says."""
    whole = sf.read(coded, dtype="float32", always_2d=True)[0]
    longer, _ = _as_wav(coded, frames=len(whole) + 1000)
    got = sf.read(io.BytesIO(longer.read()), dtype="float32", always_2d=True)[0]
    assert len(got) == len(whole) + 1000 and not got[len(whole) :].any()
    shorter, _ = _as_wav(coded, frames=len(whole) - 1000)
    got = sf.read(io.BytesIO(shorter.read()), dtype="float32", always_2d=True)[0]
    np.testing.assert_allclose(got, whole[:-1000], atol=1.5 / 32767)


def test_closing_closes_the_decoder_and_the_stored_file(coded):
    closed = []
    wav = PcmWavFile(sf.SoundFile(coded), 100, on_close=lambda: closed.append(True))
    wav.close()
    assert wav.snd.closed and closed == [True]


def _vorbis_by_libsndfile(path):
    t = np.arange(60 * RATE) / RATE
    sf.write(path, (0.5 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), RATE,
             format="OGG", subtype="VORBIS")  # fmt: skip


def _vorbis_by_ffmpeg(path):
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed (apt-get install ffmpeg)")
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=60,volume=0.4", "-f", "lavfi", "-i",
         "anoisesrc=d=60:a=0.05", "-filter_complex", "amix=inputs=2", "-ar", "44100",
         "-c:a", "libvorbis", "-q:a", "4", str(path)],
        check=True,
    )  # fmt: skip


@pytest.mark.parametrize("encode", [_vorbis_by_libsndfile, _vorbis_by_ffmpeg])
def test_vorbis_spans_read_as_the_whole_file(tmp_path, encode):
    """libsndfile's seeks in Ogg Vorbis land wrong (most in a file's last seconds): the plain
    seek is checked to still be wrong, so the preroll is known to be needed."""
    path = tmp_path / "v.ogg"
    encode(path)
    whole = sf.read(path, dtype="float32", always_2d=True)[0]
    rng = np.random.default_rng(0)
    starts = [
        *rng.integers(0, len(whole) - 3000, 100),
        *rng.integers(len(whole) - 150_000, len(whole) - 3000, 100),
    ]
    plain_off = 0
    with sf.SoundFile(path) as snd:
        for start in starts:
            got = read_at(snd, int(start), 2000)
            assert np.abs(got - whole[start : start + len(got)]).max() < 1e-6, start
            snd.seek(int(start))
            got = snd.read(2000, dtype="float32", always_2d=True)
            plain_off += np.abs(got - whole[start : start + len(got)]).max() > 1e-4
    assert plain_off > 0


@pytest.mark.parametrize(
    "fmt, codec, stored",
    [
        ("WAV", "PCM_16", True),
        ("WAV", "PCM_24", True),
        ("WAV", "FLOAT", True),
        ("WAVEX", "PCM_16", True),
        ("FLAC", "PCM_16", True),
        ("OGG", "OPUS", True),
        ("WAV", "DOUBLE", False),
        ("WAV", "IMA_ADPCM", False),
        ("MP3", "MPEG_LAYER_III", False),
        ("OGG", "VORBIS", False),
        ("AIFF", "PCM_16", False),
        ("CAF", "PCM_16", False),
    ],
)
def test_what_plays_as_stored(fmt, codec, stored):
    assert plays_as_stored(fmt, codec) is stored


def test_a_wav_over_4_gb_does_not_fit():
    six_hours = 6 * 3600 * 96000  # the longest a clip may be
    assert fits_wav(six_hours, 1) and not fits_wav(six_hours, 2)
    assert fits_wav(6 * 3600 * 48000, 2)
    assert len(wav_header(10, 2, 8000)) == 44
