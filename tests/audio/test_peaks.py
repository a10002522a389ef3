"""Peaks: file structure, values against numpy, window reads that touch only the window."""

from __future__ import annotations

import io
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from labelapp.audio import (
    BASE_SAMPLES_PER_BUCKET,
    AudioError,
    _util,
    compute_peaks,
    peaks_window,
    probe,
    read_peaks,
    read_peaks_header,
    read_sample_window,
)
from labelapp.audio.peaks import (
    _HEADER_V1,
    MAX_CHANNEL_ENVELOPES,
    PeaksHeader,
    PeaksLevel,
    plan_levels,
)
from tests.audio._signals import LONG_RATE, LONG_S, MEDIUM_S, CountingReader, tone

PCM16_STEP = 1 / 32767  # tolerance for values that went through int16 twice


def peaks_bytes(source, **kwargs) -> bytes:
    out = io.BytesIO()
    compute_peaks(source, out, **kwargs)
    return out.getvalue()


def expected_pairs(samples: np.ndarray, spb: int) -> np.ndarray:
    """(buckets, 2) int16 min/max over channels and `spb`-frame buckets, like the file."""
    lo, hi = samples.min(axis=1), samples.max(axis=1)
    pad = -len(lo) % spb
    lo = np.pad(lo, (0, pad), constant_values=np.inf).reshape(-1, spb).min(axis=1)
    hi = np.pad(hi, (0, pad), constant_values=-np.inf).reshape(-1, spb).max(axis=1)
    return np.clip(np.rint(np.stack([lo, hi], axis=1) * 32767), -32767, 32767).astype(np.int16)


@pytest.fixture(scope="module")
def noise_stereo(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """600001 frames of stereo float noise at 44.1 kHz: two levels, a partial last bucket."""
    rng = np.random.default_rng(3)
    data = rng.uniform(-0.9, 0.9, size=(600_001, 2)).astype(np.float32)
    path = tmp_path_factory.mktemp("noise") / "noise.wav"
    sf.write(path, data, 44100, subtype="FLOAT")
    return path, data


@pytest.fixture(scope="module")
def medium_peaks(medium_wav) -> bytes:
    return peaks_bytes(medium_wav)


def test_plan_levels():
    assert plan_levels(24000) == [94]
    assert plan_levels(2048 * 256) == [2048]
    assert plan_levels(2048 * 256 + 1) == [2049, 513]
    assert plan_levels(LONG_S * LONG_RATE) == [112500, 28125, 7032, 1758]


def test_file_layout(medium_wav, medium_peaks):
    header = read_peaks_header(io.BytesIO(medium_peaks))
    assert (header.sample_rate, header.frames, header.channels) == (8000, MEDIUM_S * 8000, 1)
    assert [lv.buckets for lv in header.levels] == [18750, 4688, 1172]
    assert [lv.samples_per_bucket for lv in header.levels] == [256, 1024, 4096]
    assert (header.version, header.envelopes) == (2, 1)
    assert header.levels[0].offset == header.size == 36 + 16 * 3
    for below, above in zip(header.levels, header.levels[1:], strict=False):
        assert above.offset == below.offset + 4 * below.buckets
    last = header.levels[-1]
    assert len(medium_peaks) == last.offset + 4 * last.buckets
    assert header.to_bytes() == medium_peaks[: header.size]


def test_level_values_match_numpy(noise_stereo):
    """Stereo keeps one envelope per channel, each bucket's pairs channel 0 first."""
    path, data = noise_stereo
    raw = peaks_bytes(path, block_frames=1000)  # 768-frame blocks: many block boundaries
    assert raw == peaks_bytes(path)
    header = read_peaks_header(io.BytesIO(raw))
    assert (header.channels, header.envelopes) == (2, 2)
    assert [lv.buckets for lv in header.levels] == [2344, 586]
    assert header.levels[1].offset == header.levels[0].offset + 2344 * 8
    for level in header.levels:
        stored = np.frombuffer(raw, "<i2", level.buckets * 4, level.offset).reshape(-1, 2, 2)
        for channel in (0, 1):
            np.testing.assert_array_equal(
                stored[:, channel],
                expected_pairs(data[:, [channel]], level.samples_per_bucket),
            )


def test_read_peaks_matches_direct_numpy(noise_stereo):
    path, data = noise_stereo
    peaks = io.BytesIO(peaks_bytes(path))
    for start, end, width in [(3.3, 9.7, 500), (0.0, 20.0, 7), (13.0, 13.1, 5), (1.0, 1.2, 33)]:
        got = read_peaks(peaks, start=start, end=end, width=width)
        spb = BASE_SAMPLES_PER_BUCKET * 4 ** got["level"]
        first, last = round(got["start"] * 44100), round(got["end"] * 44100)
        assert first <= start * 44100 and last >= min(end * 44100, len(data))
        buckets = expected_pairs(data[first:last], spb)
        groups = (np.arange(width) * len(buckets)) // width
        lo = np.minimum.reduceat(buckets[:, 0], groups) / 32767
        hi = np.maximum.reduceat(buckets[:, 1], groups) / 32767
        assert got["min"] == np.round(lo, 4).tolist()
        assert got["max"] == np.round(hi, 4).tolist()


def test_read_peaks_of_known_amplitudes(tmp_path):
    """Ten 1 s segments of a sine with amplitude 0.1 ... 1.0; 8192 Hz so 1 s = 32 buckets."""
    rate = 8192
    t = np.arange(rate) / rate
    segments = [a * np.sin(2 * np.pi * 1024 * t) for a in np.arange(1, 11) / 10]
    path = tmp_path / "steps.wav"
    sf.write(path, np.concatenate(segments).astype(np.float32), rate, subtype="PCM_16")
    got = read_peaks(io.BytesIO(peaks_bytes(path)), start=0, end=10, width=10)
    assert (got["start"], got["end"], got["level"], got["samples_per_bucket"]) == (0, 10, 0, 8192)
    np.testing.assert_allclose(got["max"], np.arange(1, 11) / 10, atol=2e-4)
    np.testing.assert_allclose(got["min"], -np.arange(1, 11) / 10, atol=2e-4)


def test_read_peaks_width_level_choice_and_clamping(medium_peaks):
    peaks = io.BytesIO(medium_peaks)
    whole = read_peaks(peaks, start=0, end=MEDIUM_S, width=1000)
    assert whole["level"] == 2 and len(whole["min"]) == len(whole["max"]) == 1000
    assert read_peaks(peaks, start=0, end=MEDIUM_S, width=2000)["level"] == 1
    finest = read_peaks(peaks, start=0, end=MEDIUM_S, width=20000)
    assert finest["level"] == 0 and len(finest["min"]) == 18750  # fewer than width
    clamped = read_peaks(peaks, start=590, end=10_000, width=100)
    assert clamped["end"] == MEDIUM_S and len(clamped["max"]) == 100
    for width in (1, 3, 640, 2000):
        got = read_peaks(peaks, start=123.4, end=187.9, width=width)
        assert len(got["min"]) == width
        assert all(lo <= hi for lo, hi in zip(got["min"], got["max"], strict=True))
        assert got["start"] <= 123.4 and got["end"] >= 187.9
        assert got["samples_per_bucket"] >= BASE_SAMPLES_PER_BUCKET
        assert got["sample_rate"] == 8000


def test_read_peaks_reads_only_the_window(medium_peaks):
    for start, end, width in [(300, 310, 100), (0, MEDIUM_S, 1000), (599, 600, 10)]:
        reader = CountingReader(medium_peaks)
        got = read_peaks(reader, start=start, end=end, width=width)
        window_bytes = 4 * round((got["end"] - got["start"]) * 8000 / 256 / 4 ** got["level"])
        header_read = 36 + 16 * 32  # one read sized for the largest level table
        assert reader.bytes_read <= header_read + window_bytes + 8, (start, end)
        assert reader.reads <= 4
    assert len(medium_peaks) > 90_000 > 40 * reader.bytes_read


def test_compute_peaks_from_a_bare_file_object_and_each_format(request, medium_wav):
    reader = CountingReader(medium_wav.read_bytes())
    assert peaks_bytes(reader) == peaks_bytes(medium_wav)
    for name in ("flac_file", "ogg_file", "mp3_file", "stereo_96k_wav"):
        path = request.getfixturevalue(name)
        header = read_peaks_header(io.BytesIO(peaks_bytes(path)))
        assert header.frames == probe(path).frames
        assert header.channels == probe(path).channels


def test_compute_peaks_rejects_non_audio(random_bytes_wav, zero_frames_wav):
    with pytest.raises(AudioError, match="^not an audio file"):
        compute_peaks(random_bytes_wav, io.BytesIO())
    with pytest.raises(AudioError, match="^no audio samples"):
        compute_peaks(zero_frames_wav, io.BytesIO())


@pytest.mark.parametrize("block_frames", [262144, 16384])
def test_a_file_damaged_mid_way_says_where(tmp_path, block_frames):
    """A FLAC damaged about 4 s in said "decoding failed at 0.0 s": the start of the block
    that failed, not where it failed (an exploratory tester)."""
    rate = 16000
    t = np.arange(10 * rate) / rate
    noise = 0.05 * np.random.default_rng(0).standard_normal(len(t))
    good = tmp_path / "ok.flac"
    sf.write(good, (0.3 * np.sin(2 * np.pi * 440 * t) + noise).astype(np.float32), rate)
    data = bytearray(good.read_bytes())
    for i in range(int(len(data) * 0.4), int(len(data) * 0.4) + 4000, 7):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.flac"
    bad.write_bytes(bytes(data))
    with pytest.raises(AudioError, match=r"decoding failed at (\d+\.\d) s") as caught:
        compute_peaks(bad, io.BytesIO(), block_frames=block_frames)
    at = float(str(caught.value).split("failed at ")[1].split(" s")[0])
    assert 2.0 <= at <= 4.5, caught.value


@pytest.mark.slow
def test_compute_peaks_memory_is_bounded_on_a_long_file(long_wav):
    fractions: list[float] = []
    out = io.BytesIO()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        header = compute_peaks(long_wav, out, progress=fractions.append)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert header.frames == LONG_S * LONG_RATE
    # The result itself (600 KB) lives in `out`; everything else is block-sized.
    assert peak - len(out.getvalue()) < 6 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert 10 <= len(fractions) <= 102
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_sample_window_with_fewer_samples_than_width_is_the_samples(medium_wav):
    got = read_sample_window(medium_wav, start=100.0, end=100.001, width=100)
    raw, _ = sf.read(medium_wav, start=800_000, frames=8, dtype="float32")
    assert got["level"] == -1 and (got["start"], got["end"]) == (100.0, 100.001)
    assert got["min"] == got["max"] == np.round(raw.astype(np.float64), 4).tolist()
    assert got["samples_per_bucket"] == 1.0


@pytest.mark.parametrize("block_samples", [1 << 19, 1000, 97])
def test_sample_window_matches_numpy_across_block_boundaries(
    stereo_96k_wav, monkeypatch, block_samples
):
    monkeypatch.setattr(_util, "READ_BLOCK_SAMPLES", block_samples)
    data, rate = sf.read(stereo_96k_wav, dtype="float32")
    got = read_sample_window(stereo_96k_wav, start=0.5, end=0.6001, width=100)
    f0, f1 = 48000, 57610  # ceil(0.6001 * 96000)
    edges = f0 + (np.arange(101) * (f1 - f0)) // 100
    lo = np.minimum.reduceat(data[f0:f1].min(axis=1), edges[:-1] - f0)
    hi = np.maximum.reduceat(data[f0:f1].max(axis=1), edges[:-1] - f0)
    assert got["min"] == np.round(lo.astype(np.float64), 4).tolist()
    assert got["max"] == np.round(hi.astype(np.float64), 4).tolist()
    assert got["samples_per_bucket"] == pytest.approx((f1 - f0) / 100)


def test_sample_window_refuses_long_windows(medium_wav):
    with pytest.raises(ValueError, match="at most 10 s"):
        read_sample_window(medium_wav, start=0, end=10.5, width=100)


def test_peaks_window_picks_samples_or_levels(medium_wav, medium_peaks):
    peaks = io.BytesIO(medium_peaks)
    deep = peaks_window(peaks, medium_wav, start=42.0, end=42.5, width=800)  # 5 per bucket
    assert deep == read_sample_window(medium_wav, start=42.0, end=42.5, width=800)
    wide = peaks_window(peaks, medium_wav, start=0, end=300, width=800)
    assert wide == read_peaks(peaks, start=0, end=300, width=800)
    assert wide["level"] >= 0
    # Zoomed in past level 0 but longer than a sample window may be: level 0, fewer buckets.
    long_zoom = peaks_window(peaks, medium_wav, start=0, end=30, width=2000)
    assert long_zoom["level"] == 0 and len(long_zoom["min"]) < 2000
    assert peaks_window(peaks, None, start=42.0, end=42.5, width=800)["level"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": 0, "end": 1, "width": 0}, "width must be between 1 and 20000"),
        ({"start": 0, "end": 1, "width": 20001}, "width must be between 1 and 20000"),
        ({"start": 0, "end": 1, "width": 2.5}, "width must be an integer"),
        ({"start": -1, "end": 1, "width": 10}, "start must be a finite number"),
        ({"start": float("nan"), "end": 1, "width": 10}, "start must be a finite number"),
        ({"start": 2, "end": 2, "width": 10}, "end must be greater than start"),
        ({"start": 700, "end": 800, "width": 10}, "at or past the end of the audio"),
    ],
)
def test_window_arguments_are_validated(medium_wav, medium_peaks, kwargs, message):
    with pytest.raises(ValueError, match=message):
        read_peaks(io.BytesIO(medium_peaks), **kwargs)
    with pytest.raises(ValueError, match=message):
        read_sample_window(medium_wav, **kwargs)


def test_corrupt_peaks_files_raise_value_error(medium_peaks):
    with pytest.raises(ValueError, match="bad magic"):
        read_peaks(io.BytesIO(b"RIFF" + medium_peaks[4:]), start=0, end=1, width=10)
    with pytest.raises(ValueError, match="too short"):
        read_peaks_header(io.BytesIO(medium_peaks[:10]))
    with pytest.raises(ValueError, match="cut off"):
        read_peaks(io.BytesIO(medium_peaks[:2000]), start=500, end=600, width=10)


def test_real_fsdd_clip_peaks(fsdd_clip):
    info = probe(fsdd_clip)
    peaks = io.BytesIO(peaks_bytes(fsdd_clip))
    got = read_peaks(peaks, start=0, end=info.duration, width=8)
    data, _ = sf.read(fsdd_clip, dtype="float32")
    assert len(got["max"]) == 8
    assert max(got["max"]) == pytest.approx(data.max(), abs=PCM16_STEP + 1e-4)
    assert min(got["min"]) == pytest.approx(data.min(), abs=PCM16_STEP + 1e-4)


# --- one envelope per channel ---------------------------------------------------------------


def left_only(seconds: float = 4.0, rate: int = 8000) -> np.ndarray:
    """(frames, 2): a 0.5 tone in the left channel, silence in the right."""
    left = tone(seconds, rate, 500.0, 0.5)
    return np.stack([left, np.zeros_like(left)], axis=1)


def as_version_1(raw: bytes) -> bytes:
    """A version-2 peaks file rewritten as version 1 wrote it: a 32-byte header and one
    envelope over all channels (for files written before per-channel envelopes)."""
    header = read_peaks_header(io.BytesIO(raw))
    shift = header.size - (_HEADER_V1.size + 16 * len(header.levels))
    levels, data = [], []
    offset = header.size - shift
    for level in header.levels:
        pairs = np.frombuffer(raw, "<i2", level.buckets * 2 * header.envelopes, level.offset)
        pairs = pairs.reshape(-1, header.envelopes, 2)
        combined = np.stack([pairs[..., 0].min(axis=1), pairs[..., 1].max(axis=1)], axis=1)
        data.append(combined.astype("<i2").tobytes())
        levels.append(PeaksLevel(level.index, level.samples_per_bucket, offset, level.buckets))
        offset += 4 * level.buckets
    old = PeaksHeader(header.sample_rate, header.frames, header.channels, tuple(levels), version=1)
    return old.to_bytes() + b"".join(data)


def test_a_tone_in_the_left_channel_only_draws_in_the_left_envelope(write_audio):
    path = write_audio("left.wav", left_only(), subtype="PCM_16")
    peaks = io.BytesIO(peaks_bytes(path))
    for start, end, width in [(0, 4, 10), (1.0, 1.5, 7)]:
        got = read_peaks(peaks, start=start, end=end, width=width, per_channel=True)
        left, right = got["per_channel"]
        assert len(left["max"]) == len(right["max"]) == width
        np.testing.assert_allclose(left["max"], 0.5, atol=2e-3)
        np.testing.assert_allclose(left["min"], -0.5, atol=2e-3)
        assert max(map(abs, right["max"] + right["min"])) == 0.0
        assert got["max"] == left["max"] and got["min"] == left["min"]  # over all channels
    # per channel is asked for: one layout for callers that do not ask
    assert "per_channel" not in read_peaks(peaks, start=0, end=4, width=10)
    # zoomed in past level 0: the samples, per channel too
    deep = peaks_window(peaks, path, start=2.0, end=2.01, width=400, per_channel=True)
    assert deep["level"] == -1 and len(deep["per_channel"]) == 2
    assert max(deep["per_channel"][0]["max"]) > 0.3 and max(deep["per_channel"][1]["max"]) == 0
    left, right = deep["per_channel"]
    assert deep["min"] == [min(a, b) for a, b in zip(left["min"], right["min"], strict=True)]


def test_per_channel_sample_windows_match_numpy(stereo_96k_wav):
    data, _ = sf.read(stereo_96k_wav, dtype="float32")
    got = read_sample_window(stereo_96k_wav, start=0.5, end=0.6001, width=100, per_channel=True)
    f0, f1 = 48000, 57610
    edges = f0 + (np.arange(101) * (f1 - f0)) // 100
    for channel, envelope in enumerate(got["per_channel"]):
        lo = np.minimum.reduceat(data[f0:f1, channel], edges[:-1] - f0)
        hi = np.maximum.reduceat(data[f0:f1, channel], edges[:-1] - f0)
        assert envelope["min"] == np.round(lo.astype(np.float64), 4).tolist()
        assert envelope["max"] == np.round(hi.astype(np.float64), 4).tolist()
    assert got == {
        **read_sample_window(stereo_96k_wav, start=0.5, end=0.6001, width=100),
        "per_channel": got["per_channel"],
    }


def test_mono_and_many_channel_sources_keep_one_envelope(write_audio, sine_wav):
    mono = io.BytesIO(peaks_bytes(sine_wav))
    assert read_peaks_header(mono).envelopes == 1
    assert "per_channel" not in read_peaks(mono, start=0, end=1, width=10, per_channel=True)
    rng = np.random.default_rng(5)
    many = rng.uniform(-0.5, 0.5, size=(20_000, MAX_CHANNEL_ENVELOPES + 1)).astype(np.float32)
    path = write_audio("many.wav", many, subtype="FLOAT")
    peaks = io.BytesIO(peaks_bytes(path))
    header = read_peaks_header(peaks)
    assert (header.channels, header.envelopes) == (MAX_CHANNEL_ENVELOPES + 1, 1)
    got = peaks_window(peaks, path, start=0, end=2.5, width=20, per_channel=True)
    assert "per_channel" not in got
    assert max(got["max"]) == pytest.approx(many.max(), abs=1e-4)
    deep = peaks_window(peaks, path, start=1.0, end=1.01, width=20, per_channel=True)
    assert deep["level"] == -1 and "per_channel" not in deep


def test_a_version_1_file_reads_as_one_envelope_at_every_zoom(write_audio):
    """Files written before per-channel envelopes still answer (one envelope over all
    channels), and no window of them answers per channel: the view keeps one layout."""
    path = write_audio("left.wav", left_only(), subtype="PCM_16")
    current = peaks_bytes(path)
    old = io.BytesIO(as_version_1(current))
    header = read_peaks_header(old)
    assert (header.version, header.envelopes, header.channels) == (1, 1, 2)
    assert header.levels[0].offset == 32 + 16 * len(header.levels)
    for start, end, width in [(0, 4, 10), (0.5, 3.3, 333)]:
        got = read_peaks(old, start=start, end=end, width=width, per_channel=True)
        assert "per_channel" not in got
        now = read_peaks(io.BytesIO(current), start=start, end=end, width=width)
        assert got == now
    deep = peaks_window(old, path, start=2.0, end=2.01, width=400, per_channel=True)
    assert deep["level"] == -1 and "per_channel" not in deep


def test_an_eight_channel_file_streams_in_bounded_memory(tmp_path):
    """Two minutes of 8 channels (7.7M samples): the blocks hold a bounded number of samples
    whatever the channel count, so memory stays a few MB as for mono."""
    rate, channels = 8000, MAX_CHANNEL_ENVELOPES
    path = tmp_path / "eight.wav"
    rng = np.random.default_rng(11)
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16") as out:
        for _ in range(12):
            out.write(rng.uniform(-0.5, 0.5, size=(10 * rate, channels)).astype(np.float32))
    out = io.BytesIO()
    tracemalloc.start()
    try:
        header = compute_peaks(path, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (header.frames, header.envelopes) == (120 * rate, channels)
    assert peak - len(out.getvalue()) < 6 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    got = read_peaks(out, start=0, end=120, width=50, per_channel=True)
    assert len(got["per_channel"]) == channels


def test_peaks_of_samples_past_full_scale_are_full_scale_without_overflow():
    """1e30 samples overflowed the scaling multiply (a warning in the worker's log)."""
    import warnings

    from labelapp.audio.peaks import PEAK_SCALE, _to_pairs

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pairs = _to_pairs(np.array([-1e30, np.nan, -0.5]), np.array([1e30, np.inf, 0.5]))
    half = int(np.rint(0.5 * PEAK_SCALE))
    assert pairs.tolist() == [[-PEAK_SCALE, PEAK_SCALE], [0, PEAK_SCALE], [-half, half]]
