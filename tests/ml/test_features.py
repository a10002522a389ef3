"""Log-mel features: shapes, streaming equals one-shot, cache, windows."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile as sf

from ml_backend import features as F
from ml_backend.features import FeatureConfig, compute_logmel, cut_windows, stream_logmel


def test_shape_dtype_and_frame_rate() -> None:
    cfg = FeatureConfig(sample_rate=16_000, n_mels=64)
    x = np.zeros(16_000, dtype=np.float32)  # 1 s
    out = compute_logmel(x, 16_000, cfg)
    assert out.dtype == np.float32
    assert out.shape == (64, 1 + 16_000 // cfg.hop_length)  # 100 frames per second + 1


@pytest.mark.parametrize("rate", [22_050, 11_025, 16_000, 44_100])
def test_a_frame_is_where_its_hop_of_samples_puts_it_at_any_rate(rate) -> None:
    """At 22,050 Hz the hop is 220 samples, 9.977 ms, not 10: frames read as 100 a second put
    a 26-minute recording's predicted segments 3.6 s late (and trained segments on the wrong
    audio). A burst at 500 s of 10 minutes lands at 500 s by `frames_per_second`."""
    cfg = FeatureConfig(sample_rate=rate)
    x = np.zeros(600 * rate, dtype=np.float32)
    at = 500 * rate
    x[at : at + rate // 10] = 0.5  # a 0.1 s burst at 500 s
    energy = compute_logmel(x, rate, cfg).sum(axis=0)
    first = int(np.argmax(energy > energy.min() + 10.0))
    assert cfg.hop_s == cfg.hop_length / rate and cfg.frames_per_second == 1 / cfg.hop_s
    assert abs(first / cfg.frames_per_second - 500.0) < 0.05, first / cfg.frames_per_second


def test_resampling_keeps_duration_in_frames() -> None:
    cfg = FeatureConfig(sample_rate=16_000)
    a = compute_logmel(np.zeros(8_000 * 2), 8_000, cfg)
    b = compute_logmel(np.zeros(16_000 * 2), 16_000, cfg)
    assert a.shape == b.shape


def test_silence_hits_log_floor_and_tone_lands_in_right_band() -> None:
    cfg = FeatureConfig(sample_rate=8_000, n_mels=40, f_max=4_000.0)
    silence = compute_logmel(np.zeros(8_000), 8_000, cfg)
    assert np.allclose(silence, math.log(cfg.log_floor))
    t = np.arange(8_000) / 8_000
    low = compute_logmel(np.sin(2 * np.pi * 300 * t), 8_000, cfg)
    high = compute_logmel(np.sin(2 * np.pi * 2_500 * t), 8_000, cfg)
    assert low.mean(axis=1).argmax() < high.mean(axis=1).argmax()


def test_tiny_clip_gives_one_frame() -> None:
    out = compute_logmel(np.zeros(10), 8_000, FeatureConfig(sample_rate=8_000))
    assert out.shape[1] == 1


@pytest.mark.parametrize("sr_in", [8_000, 16_000, 22_050, 44_100])
def test_streaming_matches_one_shot(tmp_path, rng, sr_in: int) -> None:
    cfg = FeatureConfig(sample_rate=16_000, n_mels=32)
    x = (0.1 * rng.standard_normal(int(sr_in * 2.7) + 7)).astype(np.float32)
    path = tmp_path / "clip.wav"
    sf.write(path, x, sr_in, subtype="FLOAT")
    one_shot = compute_logmel(x, sr_in, cfg)
    streamed = stream_logmel(path, cfg, block_samples=3_001)  # odd size on purpose
    assert streamed.shape == one_shot.shape
    np.testing.assert_allclose(streamed, one_shot, atol=1e-4)


def test_streaming_accepts_open_soundfile_and_stereo(tmp_path, rng) -> None:
    cfg = FeatureConfig(sample_rate=8_000)
    x = (0.1 * rng.standard_normal((12_000, 2))).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, x, 8_000, subtype="FLOAT")
    with sf.SoundFile(path) as reader:
        streamed = stream_logmel(reader, cfg, block_samples=1_000)
    np.testing.assert_allclose(streamed, compute_logmel(x, 8_000, cfg), atol=1e-4)


def test_config_key_is_stable_and_ignores_window_settings() -> None:
    a = FeatureConfig()
    assert a.key() == FeatureConfig().key()
    assert a.key() != FeatureConfig(n_mels=40).key()
    assert a.key() == FeatureConfig(window_s=2.0, window_hop_s=1.0).key()
    assert FeatureConfig.from_dict(a.to_dict()) == a


def test_cache_round_trip(tmp_path, rng, monkeypatch) -> None:
    cfg = FeatureConfig(sample_rate=8_000)
    path = tmp_path / "clip.wav"
    sf.write(path, (0.1 * rng.standard_normal(8_000)).astype(np.float32), 8_000, subtype="FLOAT")
    sha = F.file_sha256(path)
    first = F.load_or_compute(path, cfg, cache_root=tmp_path / "cache")
    cached = F.cache_path(tmp_path / "cache", sha, cfg)
    assert cached.exists()
    assert cached != F.cache_path(tmp_path / "cache", sha, FeatureConfig(n_mels=40))

    def boom(*args, **kwargs):
        raise AssertionError("cache miss: features recomputed")

    monkeypatch.setattr(F, "stream_logmel", boom)
    again = F.load_or_compute(path, cfg, cache_root=tmp_path / "cache", clip_sha256=sha)
    np.testing.assert_array_equal(first, again)


def test_cache_needs_hash_for_streams(tmp_path) -> None:
    with pytest.raises(ValueError, match="clip_sha256"):
        F.load_or_compute(open(__file__, "rb"), FeatureConfig(), cache_root=tmp_path)  # noqa: SIM115


def test_cut_windows_pads_short_clip() -> None:
    feats = np.arange(4 * 30, dtype=np.float32).reshape(4, 30)
    w = cut_windows(feats, frames_per_window=50, hop_frames=25)
    assert w.shape == (1, 4, 50)
    np.testing.assert_array_equal(w[0, :, :30], feats)
    assert np.all(w[0, :, 30:] == feats.min())
    w2 = cut_windows(feats, 50, 25, pad_value=-7.0)
    assert np.all(w2[0, :, 30:] == -7.0)


def test_cut_windows_covers_long_clip_with_overlap() -> None:
    feats = np.random.default_rng(0).normal(size=(8, 230)).astype(np.float32)
    w = cut_windows(feats, frames_per_window=100, hop_frames=50)
    # starts 0, 50, 100, 150 -> the last window (150..250) covers frame 229
    assert w.shape == (4, 8, 100)
    for k in range(4):
        valid = min(100, 230 - 50 * k)
        np.testing.assert_array_equal(w[k, :, :valid], feats[:, 50 * k : 50 * k + valid])
    assert F.n_windows_for(230, 100, 50) == 4
    assert F.n_windows_for(100, 100, 50) == 1


def _cached_noise(tmp_path, rng):
    """A second of noise at 8 kHz, its features computed and cached: (config, sha, features)."""
    cfg = FeatureConfig(sample_rate=8_000)
    path = tmp_path / "clip.wav"
    sf.write(path, (0.1 * rng.standard_normal(8_000)).astype(np.float32), 8_000, subtype="FLOAT")
    sha = F.file_sha256(path)
    return cfg, path, sha, F.load_or_compute(path, cfg, cache_root=tmp_path / "cache")


def test_a_damaged_cache_file_is_recomputed_and_replaced(tmp_path, rng) -> None:
    cfg, path, sha, first = _cached_noise(tmp_path, rng)
    cached = F.cache_path(tmp_path / "cache", sha, cfg)
    cached.write_bytes(b"\x93NUMPY garbage")  # a torn or foreign file
    assert F.load_cached(tmp_path / "cache", sha, cfg) is None
    again = F.load_or_compute(path, cfg, cache_root=tmp_path / "cache", clip_sha256=sha)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(F.load_cached(tmp_path / "cache", sha, cfg), first)


def test_background_cache_writes_land_once_waited_for(tmp_path, rng, monkeypatch) -> None:
    cfg = FeatureConfig(sample_rate=8_000)
    paths = []
    for i in range(5):
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(4_000)).astype(np.float32), 8_000)
        paths.append(path)
    computed = [
        F.load_or_compute(p, cfg, cache_root=tmp_path / "cache", background_write=True)
        for p in paths
    ]
    F.cache_writes_wait()

    def boom(*args, **kwargs):
        raise AssertionError("cache miss: features recomputed")

    monkeypatch.setattr(F, "stream_logmel", boom)
    for path, feats in zip(paths, computed, strict=True):
        again = F.load_or_compute(path, cfg, cache_root=tmp_path / "cache")
        np.testing.assert_array_equal(again, feats)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


@pytest.mark.parametrize("sr_in", [8_000, 22_050])
def test_batched_logmel_equals_one_clip_at_a_time(rng, sr_in: int, monkeypatch) -> None:
    cfg = FeatureConfig(sample_rate=8_000, n_mels=40, f_min=100.0, f_max=4_000.0)
    monkeypatch.setattr(F, "BATCH_MAX_ROWS", 3)  # so the row cap cuts batches here
    calls = []
    real = F._frames_to_logmel
    monkeypatch.setattr(F, "_frames_to_logmel", lambda x, c: calls.append(len(x)) or real(x, c))
    # Lengths from shorter than one FFT to several batches' worth, unsorted, with
    # duplicates, near-equal runs longer than the row cap, and a spread wide enough for the
    # padding limit to cut batches too; one stereo clip (samples, channels).
    lengths = [3, 200, 4_100, 9_000, 4_000, 4_100, 55_000, 1, 12_345, 700]
    lengths += [4_050 + k for k in range(7)]
    waves = [(0.1 * rng.standard_normal(n)).astype(np.float32) for n in lengths]
    waves.append((0.1 * rng.standard_normal((5_000, 2))).astype(np.float32))
    batched = F.compute_logmel_many(waves, sr_in, cfg)
    assert max(calls) == 3 and len(calls) < len(waves)  # batches were shared, and capped
    assert len(batched) == len(waves)
    for wave, feats in zip(waves, batched, strict=True):
        single = compute_logmel(wave, sr_in, cfg)
        assert feats.shape == single.shape
        assert feats.dtype == np.float32
        np.testing.assert_allclose(feats, single, atol=1e-4)


@pytest.mark.parametrize("chunk", [None, 2])  # 2: the five files go through in three chunks
def test_load_or_compute_many_matches_load_or_compute_and_fills_the_cache(
    tmp_path, rng, monkeypatch, chunk
) -> None:
    if chunk is not None:
        monkeypatch.setattr(F, "MANY_CHUNK", chunk)
    cfg = FeatureConfig(sample_rate=8_000, n_mels=32)
    specs = [  # (samples, rate, channels): short mono, short stereo, another rate, one long
        (4_000, 8_000, 1),
        (6_000, 8_000, 2),
        (11_025, 11_025, 1),
        (F.STREAM_BLOCK_SAMPLES * 2 + 17, 8_000, 1),
        (3_000, 8_000, 1),
    ]
    paths = []
    for i, (n, sr, ch) in enumerate(specs):
        shape = (n, ch) if ch > 1 else (n,)
        path = tmp_path / f"clip{i}.wav"
        sf.write(path, (0.1 * rng.standard_normal(shape)).astype(np.float32), sr, subtype="FLOAT")
        paths.append(path)
    shas = [F.file_sha256(p) for p in paths]
    # One clip cached beforehand: it must be read, not recomputed.
    pre = F.load_or_compute(paths[4], cfg, cache_root=tmp_path / "cache", clip_sha256=shas[4])
    many = F.load_or_compute_many(
        paths, cfg, cache_root=tmp_path / "cache", clip_sha256s=shas, background_write=True
    )
    F.cache_writes_wait()
    for path, feats in zip(paths, many, strict=True):
        np.testing.assert_allclose(feats, F.stream_logmel(path, cfg), atol=1e-4)
    np.testing.assert_array_equal(many[4], pre)

    def boom(*args, **kwargs):
        raise AssertionError("cache miss: features recomputed")

    monkeypatch.setattr(F, "stream_logmel", boom)
    monkeypatch.setattr(F, "compute_logmel_many", boom)
    again = F.load_or_compute_many(paths, cfg, cache_root=tmp_path / "cache", clip_sha256s=shas)
    for a, b in zip(again, many, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="clip_sha256"):
        F.load_or_compute_many(paths, cfg, cache_root=tmp_path / "cache", clip_sha256s=shas[:2])


def test_load_or_compute_many_on_empty_and_corrupt_files(tmp_path) -> None:
    cfg = FeatureConfig(sample_rate=8_000, n_mels=32)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 8_000)
    good = tmp_path / "good.wav"
    sf.write(good, np.zeros(4_000, dtype=np.float32), 8_000)
    feats = F.load_or_compute_many(
        [empty, good], cfg, cache_root=tmp_path / "cache", clip_sha256s=["e" * 64, "a" * 64]
    )
    np.testing.assert_array_equal(feats[0], F.stream_logmel(empty, cfg))  # one silent frame
    assert F.load_cached(tmp_path / "cache", "e" * 64, cfg) is not None  # written at once
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(sf.LibsndfileError):  # as load_or_compute raises for it
        F.load_or_compute_many(
            [good, corrupt], cfg, cache_root=tmp_path / "c2", clip_sha256s=["a" * 64, "b" * 64]
        )


def test_non_finite_samples_give_finite_features_on_every_path(tmp_path, rng) -> None:
    """A float WAV with Inf and NaN samples (an importer's clipping, a broken writer): its
    features were NaN, and one such clip stopped the project's cold-start clustering."""
    cfg = FeatureConfig(sample_rate=8_000)
    wave = (0.1 * rng.standard_normal(12_000)).astype(np.float32)
    clean = wave.copy()
    wave[[500, 6_000, 9_000]] = [np.inf, -np.inf, np.nan]
    clean[[500, 6_000, 9_000]] = 0.0
    path = tmp_path / "inf.wav"
    sf.write(path, wave, 8_000, subtype="FLOAT")
    expected = compute_logmel(clean, 8_000, cfg)
    for feats in (
        compute_logmel(wave, 8_000, cfg),
        stream_logmel(path, cfg),
        F.compute_logmel_many([wave, wave[:4_000]], 8_000, cfg)[0],
        F.load_or_compute_many([path], cfg, tmp_path / "cache", [F.file_sha256(path)])[0],
    ):
        assert np.isfinite(feats).all()
        np.testing.assert_allclose(feats, expected, atol=1e-4)
    stereo = np.stack([wave, clean], axis=1)  # Inf in one channel: that sample is zeroed
    assert np.isfinite(compute_logmel(stereo, 8_000, cfg)).all()
    # finite but absurd (1e30: a broken writer's scale) overflowed the mel power to Inf
    huge = (0.3 * np.sin(np.arange(12_000) / 5) * 1e30).astype(np.float32)
    path = tmp_path / "huge.wav"
    sf.write(path, huge, 8_000, subtype="FLOAT")
    for feats in (compute_logmel(huge, 8_000, cfg), stream_logmel(path, cfg)):
        assert np.isfinite(feats).all() and feats.max() < 40


def test_a_cached_matrix_with_nan_is_computed_again(tmp_path, rng) -> None:
    cfg, path, sha, first = _cached_noise(tmp_path, rng)
    poisoned = first.copy()
    poisoned[3, 4] = np.nan  # cached before the samples were made finite
    np.save(F.cache_path(tmp_path / "cache", sha, cfg), poisoned)
    assert F.load_cached(tmp_path / "cache", sha, cfg) is None
    again = F.load_or_compute(path, cfg, cache_root=tmp_path / "cache", clip_sha256=sha)
    np.testing.assert_array_equal(again, first)
