"""Spectrogram PNGs: size, where a tone lands, bounded reads, argument checks."""

from __future__ import annotations

import io
import math
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from labelapp.audio import AudioError, render_spectrogram_png
from labelapp.audio.spectrogram import MAGMA_LUT
from tests.audio._signals import MEDIUM_S, CountingReader


def decode(png: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


def brightest_row(pixels: np.ndarray) -> int:
    """Row (0 = top) with the highest mean brightness; magma's brightness rises with level."""
    return int(pixels.astype(np.float64).sum(axis=2).mean(axis=1).argmax())


def mel(hz: float) -> float:
    return 2595 * math.log10(1 + hz / 700)


def test_png_has_the_requested_size(sine_wav):
    for width, height in [(16, 16), (300, 120), (4096, 33)]:
        pixels = decode(
            render_spectrogram_png(sine_wav, start=0, end=3, width=width, height=height)
        )
        assert pixels.shape == (height, width, 3)


@pytest.mark.parametrize(
    ("scale", "max_freq", "expected_from_bottom"),
    [
        ("linear", None, 1000 / 4000),
        ("linear", 2000.0, 1000 / 2000),
        ("mel", None, mel(1000) / mel(4000)),
        ("mel", 1500.0, mel(1000) / mel(1500)),
        ("linear", (500.0, 2000.0), (1000 - 500) / (2000 - 500)),
        ("mel", (600.0, 4000.0), (mel(1000) - mel(600)) / (mel(4000) - mel(600))),
    ],
)
def test_a_pure_tone_lands_in_its_row(sine_wav, scale, max_freq, expected_from_bottom):
    """(`max_freq` a pair: a bottom frequency and a top one.)"""
    height = 128
    low, high = max_freq if isinstance(max_freq, tuple) else (None, max_freq)
    png = render_spectrogram_png(
        sine_wav,
        start=0.5,
        end=2.5,
        width=64,
        height=height,
        scale=scale,
        max_freq=high,
        min_freq=low,
    )
    expected_row = height - 1 - int(expected_from_bottom * height)  # row 0 is the top
    assert abs(brightest_row(decode(png)) - expected_row) <= 1


def test_stereo_tones_both_show(stereo_96k_wav):
    height = 200  # linear, 0..48 kHz: 240 Hz per row
    pixels = decode(
        render_spectrogram_png(
            stereo_96k_wav, start=0, end=2, width=50, height=height, scale="linear", n_fft=2048
        )
    )
    brightness = pixels.astype(np.float64).sum(axis=2).mean(axis=1)
    rows_1k, rows_3k = height - 1 - int(1000 / 240), height - 1 - int(3000 / 240)
    quiet = np.median(brightness)
    assert brightness[rows_1k - 1 : rows_1k + 2].max() > quiet + 100
    assert brightness[rows_3k - 1 : rows_3k + 2].max() > quiet + 100


def test_long_window_reads_a_few_frames_per_column(medium_wav):
    """Ten minutes at 8 kHz (9.6 MB) drawn 100 columns wide: SPARSE_LOOKS reads of 512
    frames a column, not the file."""
    from labelapp.audio.spectrogram import SPARSE_LOOKS

    reader = CountingReader(medium_wav.read_bytes())
    png = render_spectrogram_png(reader, start=0, end=MEDIUM_S, width=100, height=64)
    assert decode(png).shape == (64, 100, 3)
    # libsndfile buffers a little per seek
    assert reader.bytes_read < 100 * SPARSE_LOOKS * 512 * 2 * 4 < medium_wav.stat().st_size


def test_a_far_view_shows_short_sounds(write_audio):
    """A 0.2 s tone burst every 10 s of 5 minutes of quiet noise, seen whole 100 columns wide
    (3 s a column): every burst lights its column at 2 kHz (one frame a column missed most)."""
    rate = 16000
    rng = np.random.default_rng(1)
    audio = (0.01 * rng.standard_normal(300 * rate)).astype(np.float32)
    starts = [int((10 * i + rng.uniform(0.5, 9.0)) * rate) for i in range(30)]
    burst = 0.5 * np.sin(2 * np.pi * 2000 * np.arange(int(0.2 * rate)) / rate)
    for s in starts:
        audio[s : s + len(burst)] += burst
    path = write_audio("bursts.wav", audio, rate, subtype="PCM_16")
    pixels = decode(
        render_spectrogram_png(path, start=0, end=300, width=100, height=64, scale="linear")
    )
    row = 64 - 1 - int(2000 / (8000 / 64))
    brightness = pixels.astype(np.float64).sum(axis=2)[row - 1 : row + 2].max(axis=0)
    lit = brightness > np.median(brightness) + 100
    column = lambda frame: frame * 100 // (300 * rate)  # noqa: E731
    # a burst across a column boundary may light the next column instead
    assert all(lit[column(s)] or lit[column(s + len(burst) - 1)] for s in starts)


def test_short_window_reads_about_the_window(medium_wav):
    reader = CountingReader(medium_wav.read_bytes())
    render_spectrogram_png(reader, start=300, end=301, width=400, height=64)  # 8000 frames
    assert reader.bytes_read < (8000 + 512) * 2 * 2


def test_window_with_fewer_samples_than_columns(sine_wav):
    pixels = decode(render_spectrogram_png(sine_wav, start=1.0, end=1.01, width=400, height=64))
    assert pixels.shape == (64, 400, 3)
    assert brightest_row(pixels) == 64 - 1 - int(mel(1000) / mel(4000) * 64)


def test_silence_is_the_darkest_colour(write_audio):
    path = write_audio("silence.wav", np.zeros(16000, np.float32), subtype="PCM_16")
    pixels = decode(render_spectrogram_png(path, start=0, end=2, width=32, height=32))
    assert (pixels == MAGMA_LUT[0]).all()


def test_end_past_the_audio_is_clamped(sine_wav):
    png = render_spectrogram_png(sine_wav, start=2.0, end=100.0, width=20, height=20)
    assert decode(png).shape == (20, 20, 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"width": 15}, "width must be between 16 and 4096"),
        ({"width": 4097}, "width must be between 16 and 4096"),
        ({"height": 15}, "height must be between 16 and 1024"),
        ({"height": 1025}, "height must be between 16 and 1024"),
        ({"n_fft": 500}, "n_fft must be a power of two"),
        ({"n_fft": 32}, "n_fft must be between 64 and 8192"),
        ({"scale": "log"}, "scale must be one of mel, linear"),
        ({"max_freq": 0.0}, "max_freq must be a positive number"),
        ({"min_freq": -1.0}, "min_freq must be a number of Hz, 0 or more"),
        ({"min_freq": 4000.0}, r"min_freq \(4000 Hz\) must be below the top"),
        ({"start": -0.5}, "start must be a finite number"),
        ({"start": 2.0, "end": 1.0}, "end must be greater than start"),
        ({"start": 3.0, "end": 4.0}, "at or past the end of the audio"),
    ],
)
def test_invalid_arguments(sine_wav, kwargs, message):
    arguments = {"start": 0.0, "end": 1.0, "width": 64, "height": 64} | kwargs
    with pytest.raises(ValueError, match=message):
        render_spectrogram_png(sine_wav, **arguments)


def test_not_audio_is_an_audio_error(random_bytes_wav):
    with pytest.raises(AudioError, match="^not an audio file"):
        render_spectrogram_png(random_bytes_wav, start=0, end=1, width=64, height=64)


@pytest.mark.parametrize("fixture", ["flac_file", "ogg_file", "mp3_file"])
def test_compressed_formats_render(request, fixture):
    png = render_spectrogram_png(
        request.getfixturevalue(fixture), start=0, end=3, width=50, height=64, scale="linear"
    )
    assert brightest_row(decode(png)) == 64 - 1 - int(1000 / 4000 * 64)


def test_real_fsdd_clip_spectrogram(fsdd_clip):
    duration = sf.info(fsdd_clip).duration
    pixels = decode(render_spectrogram_png(fsdd_clip, start=0, end=duration, width=200, height=80))
    assert pixels.shape == (80, 200, 3)
    # Speech: more energy in the lower half of the (mel) image than in the upper.
    brightness = pixels.astype(np.float64).sum(axis=2)
    assert brightness[40:].mean() > brightness[:40].mean()


FFMPEG = shutil.which("ffmpeg")


@pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed (apt-get install ffmpeg)")
def sparse_reads(monkeypatch) -> list[int]:
    """The frames each seek-by-seek read of a render asks for, one entry per read (the real
    reads run)."""
    from labelapp.audio import spectrogram

    reads: list[int] = []
    sparse = spectrogram._frames_sparse
    monkeypatch.setattr(
        spectrogram, "_frames_sparse", lambda snd, c, n: reads.append(len(c)) or sparse(snd, c, n)
    )
    return reads


def test_a_far_view_of_a_file_slow_to_seek_reads_within_a_budget(tmp_path, monkeypatch):
    """A 30 s FLAC at 384 kHz, 8 channels, in 65,535-frame blocks (a few KB of silence): each
    seek decodes a whole block, and a 4,096-column far view took 11.5 s of the web process
    (4,096 columns x 16 looks). It now reads as many as fit its time budget, and the image
    is still the size asked for."""

    path = tmp_path / "slow.flac"
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=384000:cl=7.1",
         "-t", "30", "-c:a", "flac", "-frame_size", "65535", "-sample_fmt", "s16", str(path)],
        check=True,
    )  # fmt: skip
    reads = sparse_reads(monkeypatch)
    pixels = decode(render_spectrogram_png(path, start=0, end=30, width=4096, height=16))
    assert pixels.shape == (16, 4096, 3)
    assert sum(reads) < 4096 * 16 // 4, sum(reads)  # 65,536 before


def test_a_broken_float_files_spectrogram_still_shows_its_tone(tmp_path):
    """Samples of 1e30 (and Inf, NaN) made every power Inf or NaN: the PNG was all black."""
    t = np.arange(8000 * 2) / 8000
    wave = (0.3 * np.sin(2 * np.pi * 1000 * t) * 1e30).astype(np.float32)
    wave[100:110] = np.inf
    wave[200] = np.nan
    path = tmp_path / "broken.wav"
    sf.write(path, wave, 8000, subtype="FLOAT")
    height = 64
    pixels = decode(render_spectrogram_png(str(path), start=0, end=2, width=64, height=height))
    # not black: the clipped tone (full scale, a square wave now) shows, rows differ
    assert pixels.max() > 0 and pixels.astype(float).mean(axis=(1, 2)).std() > 1


def test_the_seek_cost_is_not_the_first_reads(write_audio, monkeypatch):
    """The first read of a file just opened cost 9.4 ms where the others cost 0.4: the mean
    of the timed reads made an hour's MP3 draw 57 columns of 992, its chirps gone."""
    import time

    from labelapp.audio import spectrogram

    path = write_audio("tone.wav", np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    calls = []

    def slow_first(snd, centers, n_fft):
        time.sleep(0.05 if not calls else 0.001)
        calls.append(len(centers))
        return np.zeros((len(centers), n_fft), np.float32)

    monkeypatch.setattr(spectrogram, "_frames_sparse", slow_first)
    with sf.SoundFile(path) as snd:
        cost = spectrogram._seek_cost(snd, 0, 16000, 512)
    assert 0.0009 < cost < 0.01, cost  # the median of single reads, the first untimed
    assert calls == [1] * (spectrogram.COST_PROBES + 1)


def test_a_flac_view_whose_looks_are_close_is_read_through(write_audio, monkeypatch):
    """A minute of 96 kHz stereo FLAC drawn 992 wide: seek by seek, every seek decoding a
    block, took 1.57 s; read through it takes a fraction, every look kept, a short chirp
    on one channel lit."""
    from labelapp.audio import spectrogram

    rate = 96000
    audio = np.zeros((60 * rate, 2), np.float32)
    at = 37 * rate
    audio[at : at + rate // 5, 1] = 0.5 * np.sin(2 * np.pi * 3000 * np.arange(rate // 5) / rate)
    path = write_audio("minute.flac", audio, rate, format="FLAC", subtype="PCM_16")
    seeks = sparse_reads(monkeypatch)
    pixels = decode(
        render_spectrogram_png(path, start=0, end=60, width=992, height=64, scale="linear")
    )
    assert sum(seeks) <= spectrogram.COST_PROBES + 1  # the cost probes only
    row = 64 - 1 - int(3000 / (rate / 2 / 64))
    brightness = pixels.astype(np.float64).sum(axis=2)[row - 1 : row + 2].max(axis=0)
    column = 37 * 992 // 60
    assert brightness[column] > np.median(brightness) + 100


def test_an_mp3_far_view_takes_several_looks_a_column(tmp_path, monkeypatch):
    """An MP3 took one look a column: an hour's view showed 11 of 180 chirps of 0.15 s
    (34 with the looks its budget fits, a 20-minute view 55 of 60 against 12)."""
    from labelapp.audio import spectrogram

    path = tmp_path / "far.mp3"
    subprocess.run(
        [FFMPEG, "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anoisesrc=r=16000:a=0.01",
         "-t", "60", "-b:a", "64k", str(path)],
        check=True,
    )  # fmt: skip
    reads = sparse_reads(monkeypatch)
    pixels = decode(render_spectrogram_png(path, start=0, end=60, width=50, height=16))
    assert pixels.shape == (16, 50, 3)
    probes = spectrogram.COST_PROBES + 1
    assert sum(reads) - probes > 50, reads  # more than one look for some columns
