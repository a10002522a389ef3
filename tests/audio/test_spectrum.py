"""The spectral overview of a long recording: every frame's loudest bins, at a few zooms,
drawn by far spectrogram views instead of a sample of the frames."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from labelapp.audio import AudioError, render_spectrogram_png, spectrum
from labelapp.audio.spectrum import compute_overview, overview_power, read_overview_header
from tests.audio.test_spectrogram import decode

FFMPEG = shutil.which("ffmpeg")
RATE = 16000
CHIRP_HZ = 3000


def _chirps(seconds: int, every: float, rate: int = RATE, seed: int = 0):
    """Quiet noise with a 0.1 s tone at CHIRP_HZ every `every` seconds, at random offsets."""
    rng = np.random.default_rng(seed)
    audio = (0.003 * rng.standard_normal(seconds * rate)).astype(np.float32)
    tone = 0.5 * np.sin(2 * np.pi * CHIRP_HZ * np.arange(int(0.1 * rate)) / rate)
    starts = [
        int((every * i + rng.uniform(0.2, every - 0.4)) * rate) for i in range(int(seconds / every))
    ]
    for s in starts:
        audio[s : s + len(tone)] += tone.astype(np.float32)
    return audio, starts, len(tone)


def _overview(path) -> io.BytesIO:
    out = io.BytesIO()
    compute_overview(path, out)
    out.seek(0)
    return out


def _lit(png: bytes, width: int, height: int, top_hz: float = RATE / 2) -> np.ndarray:
    pixels = decode(png).astype(np.float64).sum(axis=2)
    row = height - 1 - int(CHIRP_HZ / (top_hz / height))
    brightness = pixels[row - 1 : row + 2].max(axis=0)
    return brightness > np.median(brightness) + 150


@pytest.fixture
def chirps_mp3(tmp_path):
    """20 minutes of an MP3 with a 0.1 s chirp every 10 s (120 chirps)."""
    if FFMPEG is None:
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg)")
    audio, starts, length = _chirps(1200, 10.0)
    wav = tmp_path / "chirps.wav"
    sf.write(wav, audio, RATE, subtype="PCM_16")
    mp3 = tmp_path / "chirps.mp3"
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "96k", str(mp3)], check=True
    )
    return mp3, starts, length


def test_a_far_view_of_an_mp3_drawn_from_the_overview_shows_every_chirp(chirps_mp3):
    """An MP3's far view samples within its budget (an hour: 34 of 180 chirps lit); from the
    overview every chirp lights its column (or a neighbour), and the columns between chirps
    stay dark."""
    path, starts, length = chirps_mp3
    width, height = 600, 64
    overview = _overview(path)
    kwargs = dict(start=0, end=1200, width=width, height=height, scale="linear")
    lit = _lit(render_spectrogram_png(path, overview=overview, **kwargs), width, height)
    frames = sf.info(str(path)).frames
    column = lambda frame: frame * width // frames  # noqa: E731
    # an overview column is drawn in the pixel its middle falls in: a pixel early or late
    hit = [lit[max(0, column(s) - 1) : column(s + length) + 2].any() for s in starts]
    assert all(hit), f"{sum(hit)} of {len(starts)} chirps lit"
    chirp_columns = {c for s in starts for c in range(column(s) - 1, column(s + length) + 2)}
    assert not any(lit[c] for c in range(width) if c not in chirp_columns)


def test_a_near_view_and_other_audio_are_read_from_the_samples(tmp_path, monkeypatch):
    """Too near for the overview's columns (or an overview of another file, or a broken one)
    the view is what it is without one: the same PNG, never an error."""
    audio, _, _ = _chirps(90, 10.0)
    path = tmp_path / "a.wav"
    sf.write(path, audio, RATE, subtype="PCM_16")
    other = tmp_path / "b.wav"
    sf.write(other, audio[: 80 * RATE], RATE, subtype="PCM_16")
    near = dict(start=10, end=20, width=400, height=32)  # 400 samples a column
    assert render_spectrogram_png(path, overview=_overview(path), **near) == render_spectrogram_png(
        path, **near
    )
    far = dict(start=0, end=80, width=100, height=32)
    plain = render_spectrogram_png(path, **far)
    assert render_spectrogram_png(path, overview=_overview(other), **far) == plain
    broken = io.BytesIO(b"EMSP" + b"\x00" * 10)
    assert render_spectrogram_png(path, overview=broken, **far) == plain
    assert render_spectrogram_png(path, overview=_overview(path), **far) != plain


def test_each_level_keeps_the_loudest_of_the_one_below(tmp_path):
    """A loud 50 ms tone in 20 minutes of silence is in one column of every level, at its
    level: a coarser zoom never averages it away."""
    audio = np.zeros(1200 * RATE, dtype=np.float32)
    at = 700 * RATE
    audio[at : at + RATE // 20] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(RATE // 20) / RATE)
    path = tmp_path / "one.wav"
    sf.write(path, audio, RATE, subtype="FLOAT")
    out = _overview(path)
    header = read_overview_header(out)
    assert len(header.levels) >= 2 and header.levels[-1].columns <= spectrum.MAX_TOP_COLUMNS
    tone_bin = round(1000 * spectrum.N_FFT / RATE)
    for level in header.levels:
        out.seek(level.offset)
        data = np.frombuffer(out.read(level.columns * header.bins), np.uint8).reshape(
            -1, header.bins
        )
        db = data[:, tone_bin].astype(float) * spectrum.STEP_DB + spectrum.SILENCE_DB
        loud = np.flatnonzero(db > -12)
        assert len(loud) >= 1 and set(loud) <= {at // level.span, (at + RATE // 20) // level.span}
        assert db.max() == pytest.approx(-6, abs=1.5)  # a 0.5 sine: -6 dB, as the view reads it
    # the whole file at 200 px: the tone's pixel at -6 dB, the rest silent
    power = overview_power(out, header, 0, len(audio), 200)
    db = 10 * np.log10(power[tone_bin])
    assert db.argmax() == at * 200 // len(audio) and db.max() == pytest.approx(-6, abs=1.5)
    assert np.sort(db)[-3] < -100


def test_a_very_long_file_widens_its_columns_to_bound_level_0(tmp_path, monkeypatch):
    monkeypatch.setattr(spectrum, "MAX_LEVEL0_COLUMNS", 100)
    audio, _, _ = _chirps(120, 10.0)
    path = tmp_path / "w.wav"
    sf.write(path, audio, RATE, subtype="PCM_16")
    header = read_overview_header(_overview(path))
    assert header.levels[0].columns <= 100 and header.group > spectrum.BASE_GROUP
    assert header.levels[0].span == header.group * spectrum.HOP
    assert header.levels[0].columns * header.levels[0].span >= len(audio)


def test_audio_that_does_not_decode_is_an_audio_error(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(b"RIFF" + bytes(range(256)) * 40)
    with pytest.raises(AudioError):
        compute_overview(path, io.BytesIO())


def test_only_long_clips_get_one():
    assert not spectrum.wanted(None) and not spectrum.wanted(59.9) and spectrum.wanted(60.0)
