"""Segments from frame probabilities: threshold, median filter, min duration, gaps."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.segments import extract_segments, median_filter

HOP = 0.01  # s


def _track(n: int, on: list[tuple[int, int]], value: float = 0.9) -> np.ndarray:
    p = np.full((n, 1), 0.05)
    for a, b in on:
        p[a:b, 0] = value
    return p


def test_threshold_gives_correct_times_and_score() -> None:
    probs = _track(100, [(20, 50)])
    segs = extract_segments(probs, HOP, threshold=0.5)
    assert len(segs) == 1
    s = segs[0]
    assert s["start"] == pytest.approx(0.20)
    assert s["end"] == pytest.approx(0.50)
    assert s["class"] == 0
    assert s["score"] == pytest.approx(0.9)


def test_median_filter_removes_one_frame_blip() -> None:
    probs = _track(100, [(20, 50), (70, 71)])
    assert len(extract_segments(probs, HOP, median_kernel=1)) == 2
    segs = extract_segments(probs, HOP, median_kernel=3)
    assert [(round(s["start"], 2), round(s["end"], 2)) for s in segs] == [(0.20, 0.50)]


def test_median_filter_rejects_even_kernel_and_keeps_shape() -> None:
    with pytest.raises(ValueError):
        median_filter(np.zeros((10, 2)), 4)
    assert median_filter(np.zeros((10, 2)), 5).shape == (10, 2)


def test_min_duration_drops_short_segments() -> None:
    probs = _track(100, [(10, 13), (40, 60)])
    segs = extract_segments(probs, HOP, min_duration_s=0.05)
    assert len(segs) == 1
    assert segs[0]["start"] == pytest.approx(0.40)


def test_short_gaps_are_merged_long_ones_kept() -> None:
    probs = _track(100, [(10, 20), (22, 30), (60, 70)])  # gaps of 2 and 30 frames
    segs = extract_segments(probs, HOP, merge_gap_s=0.05)
    assert [(round(s["start"], 2), round(s["end"], 2)) for s in segs] == [
        (0.10, 0.30),
        (0.60, 0.70),
    ]
    # The merged segment's score includes the low gap frames.
    assert segs[0]["score"] < 0.9


def test_multiple_classes_and_per_class_threshold() -> None:
    probs = np.zeros((50, 2))
    probs[5:15, 0] = 0.6
    probs[20:40, 1] = 0.6
    segs = extract_segments(probs, HOP, threshold=[0.5, 0.7])
    assert [s["class"] for s in segs] == [0]
    segs = extract_segments(probs, HOP, threshold=0.5)
    assert [s["class"] for s in segs] == [0, 1]
    assert segs[1]["start"] == pytest.approx(0.20)


def test_segment_at_end_of_track() -> None:
    segs = extract_segments(_track(30, [(25, 30)]), HOP)
    assert segs[0]["end"] == pytest.approx(0.30)


def test_sounding_frames_are_those_within_the_range_of_the_loudest():
    from ml_backend.segments import sounding_frames

    power = np.full((8, 10), 1e-8)  # silence, 80 dB under the word
    power[:, 3:6] = 1.0  # the word
    power[:, 7] = 10 ** (-3.0)  # a breath 30 dB under it
    logmel = np.log(power)
    assert sounding_frames(logmel).tolist() == [False] * 3 + [True] * 3 + [
        False,
        True,
        False,
        False,
    ]
    assert (
        sounding_frames(logmel, below_peak_db=20).tolist() == [False] * 3 + [True] * 3 + [False] * 4
    )
    with pytest.raises(ValueError):
        sounding_frames(np.zeros((8, 0)))
