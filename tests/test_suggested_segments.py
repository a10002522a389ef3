"""A prediction's suggested segments on a long recording (a segments tester's 30-minute
one): a song's notes 30 ms apart were a segment each, and the 200 kept went to the parent
label "bird", which a multi-label model scores at least as high as its children."""

from __future__ import annotations

import numpy as np

from ml_backend.prelabel import MAX_SUGGESTED_SEGMENTS, suggested_segments

HOP = 0.01
BIRD, SONG, WIND = 11, 12, 13
PATHS = {BIRD: "bird", SONG: "bird/song", WIND: "noise/wind"}


def _notes(frames: np.ndarray, column: int, first_s: float, count: int, p: float) -> None:
    """`count` phrases of 5 notes of 0.12 s, 0.03 s apart, a phrase every 3 s."""
    for k in range(count):
        for n in range(5):
            a = round((first_s + 3 * k + n * 0.15) / HOP)
            frames[a : a + 12, column] = p


def test_a_songs_notes_are_one_segment_and_the_parent_gives_way_to_its_child():
    frames = np.zeros((round(1800 / HOP), 3), dtype=np.float32)  # 30 minutes
    _notes(frames, 0, 10.0, 500, 0.99)  # bird: every note, as high as can be
    _notes(frames, 1, 10.0, 500, 0.8)  # bird/song: the same notes
    frames[round(1500 / HOP) : round(1504 / HOP), 2] = 0.9  # wind for 4 s at 25:00
    segs = suggested_segments(frames, HOP, [BIRD, SONG, WIND], 1800.0, paths=PATHS)
    labels = {s["label"] for s in segs}
    assert labels == {SONG, WIND}, labels  # no "bird" where its song is
    songs = [s for s in segs if s["label"] == SONG]
    assert len(songs) <= MAX_SUGGESTED_SEGMENTS
    first = songs[0]
    assert abs(first["start"] - 10.0) < 0.05 and abs(first["end"] - 10.72) < 0.05, first
    # scored as its notes are, not diluted by the gaps the merge bridged (0.64 for 0.8)
    assert abs(first["score"] - 0.8) < 0.01, first
    assert any(abs(s["start"] - 1500.0) < 0.05 for s in segs if s["label"] == WIND)


def test_without_paths_a_single_label_models_segments_are_kept_as_they_come():
    frames = np.zeros((1000, 2), dtype=np.float32)
    frames[100:150, 0] = 0.9
    frames[400:450, 1] = 0.9
    segs = suggested_segments(frames, HOP, [BIRD, WIND], 10.0)
    assert [(s["label"], s["start"], s["end"]) for s in segs] == [
        (BIRD, 1.0, 1.5),
        (WIND, 4.0, 4.5),
    ]
