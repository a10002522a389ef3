"""Feature drift on arrays (ml_backend.drift): a shifted distribution is flagged, the same
one is not, and the thresholds mean what the module says."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend import drift

N_MELS = 64


def clips(rng, n: int, mean=-5.0, std=2.0, frames: int = 150) -> list[np.ndarray]:
    """`n` log-mel matrices whose bands are normal(mean, std); mean/std may be per band."""
    mean = np.broadcast_to(np.asarray(mean, dtype=float), (N_MELS,))[:, None]
    std = np.broadcast_to(np.asarray(std, dtype=float), (N_MELS,))[:, None]
    return [mean + std * rng.standard_normal((N_MELS, frames)) for _ in range(n)]


def compare(reference, current) -> drift.DriftReport:
    return drift.band_drift(drift.band_stats(reference), drift.band_stats(current))


def test_the_same_distribution_is_not_flagged():
    rng = np.random.default_rng(0)
    report = compare(clips(rng, 40), clips(rng, 40))
    assert report.enough_data
    assert not report.flagged
    assert report.shifted.sum() == 0
    assert np.abs(report.smd).max() < 0.1
    assert np.allclose(report.spread_ratio, 1.0, atol=0.05)


def test_a_louder_input_is_flagged_in_every_band():
    """+2 nats is one pooled standard deviation (std 2 on both sides): smd ~ 1."""
    rng = np.random.default_rng(1)
    report = compare(clips(rng, 30), clips(rng, 30, mean=-3.0))
    assert report.flagged
    assert report.shifted.all()
    assert np.allclose(report.smd, 1.0, atol=0.1)


def test_a_change_of_spread_alone_is_flagged():
    rng = np.random.default_rng(2)
    report = compare(clips(rng, 30), clips(rng, 30, std=4.0))
    assert report.flagged
    assert np.abs(report.smd).max() < 0.2
    assert np.allclose(report.spread_ratio, 2.0, atol=0.1)


def test_one_odd_band_is_noise_not_drift():
    """A shift in 3 of 64 bands (under 10 %) marks those bands and flags nothing."""
    rng = np.random.default_rng(3)
    mean = np.full(N_MELS, -5.0)
    mean[10:13] = -1.0
    report = compare(clips(rng, 30), clips(rng, 30, mean=mean))
    assert list(np.flatnonzero(report.shifted)) == [10, 11, 12]
    assert not report.flagged
    assert report.shifted_fraction == pytest.approx(3 / 64)


def test_a_shift_in_the_high_bands_is_flagged_once_it_covers_a_tenth_of_them():
    rng = np.random.default_rng(4)
    mean = np.full(N_MELS, -5.0)
    mean[-8:] = -2.0  # 8 of 64 bands = 12.5 %: a new noise source up high
    report = compare(clips(rng, 30), clips(rng, 30, mean=mean))
    assert report.flagged
    assert list(np.flatnonzero(report.shifted)) == list(range(56, 64))


def test_just_under_the_threshold_is_not_a_shift():
    """smd 0.4 < 0.5 in every band: reported, not flagged."""
    rng = np.random.default_rng(5)
    report = compare(clips(rng, 60, frames=400), clips(rng, 60, mean=-4.2, frames=400))
    assert np.allclose(report.smd, 0.4, atol=0.05)
    assert not report.shifted.any()
    assert not report.flagged


def test_too_few_clips_never_flag():
    rng = np.random.default_rng(6)
    report = compare(clips(rng, 30), clips(rng, drift.MIN_CLIPS - 1, mean=5.0))
    assert report.shifted.all()  # the shift is plain to see...
    assert not report.enough_data
    assert not report.flagged  # ...but four clips are not a trend


def test_each_clip_weighs_the_same_whatever_its_length():
    """A 1000-frame clip of zeros and a 10-frame clip of twos: mean 1, std 1 (an equal
    mixture of 0 and 2), not the frame-weighted 0.02."""
    long = np.zeros((4, 1000))
    short = np.full((4, 10), 2.0)
    stats = drift.band_stats([long, short])
    assert stats.n_clips == 2 and stats.n_frames == 1010
    assert np.allclose(stats.mean, 1.0)
    assert np.allclose(stats.std, 1.0)


def test_band_stats_streams_from_a_generator_and_skips_empty_clips():
    rng = np.random.default_rng(7)
    data = clips(rng, 5)
    stats = drift.band_stats(x for x in data + [np.zeros((N_MELS, 0))])
    assert stats.n_clips == 5
    pooled = np.concatenate(data, axis=1)  # equal lengths: equal weights = pooled frames
    assert np.allclose(stats.mean, pooled.mean(axis=1))
    assert np.allclose(stats.std, pooled.std(axis=1))


def test_silent_bands_do_not_divide_by_zero():
    a = [np.zeros((3, 20)) for _ in range(6)]
    report = compare(a, a)
    assert np.all(np.isfinite(report.smd)) and np.all(np.isfinite(report.spread_ratio))
    assert not report.flagged


def test_sets_with_different_bands_are_refused():
    rng = np.random.default_rng(8)
    ref = drift.band_stats(clips(rng, 5))
    other = drift.band_stats([np.zeros((32, 10))] * 5)
    with pytest.raises(ValueError, match="different mel bands"):
        drift.band_drift(ref, other)
    with pytest.raises(ValueError, match="mel bands"):
        drift.band_stats([np.zeros((64, 10)), np.zeros((32, 10))])
    with pytest.raises(ValueError, match="n_mels, frames"):
        drift.band_stats([np.zeros(10)])


def test_the_report_is_json_with_the_thresholds_it_used():
    import json

    rng = np.random.default_rng(9)
    out = compare(clips(rng, 10), clips(rng, 10, mean=-2.0)).to_dict()
    json.dumps(out)
    assert out["flagged"] is True
    assert out["n_mels"] == N_MELS and len(out["smd"]) == N_MELS
    assert out["shifted_bands"] == N_MELS
    assert out["thresholds"] == {
        "smd": 0.5,
        "spread_ratio": 1.5,
        "band_fraction": 0.1,
        "min_clips": 5,
    }
