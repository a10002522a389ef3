"""A clip labeled only through its segments trains on its segments' frames: a 2-hour recording
with one 90 s segment is one example among the others, not 7,200 windows of its label."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.features import crop_to_spans


def test_crop_keeps_the_frames_inside_the_spans_in_order():
    feats = np.arange(2 * 1000, dtype=np.float32).reshape(2, 1000)  # 10 s at 100 frames/s
    out = crop_to_spans(feats, [(6.0, 6.5), (1.0, 1.2)], 100.0)
    assert out.shape == (2, 70)
    np.testing.assert_array_equal(out[0], np.r_[np.arange(100, 120), np.arange(600, 650)])


def test_one_short_span_is_a_copy_not_a_view_of_the_recording():
    feats = np.zeros((2, 720_000), dtype=np.float32)
    out = crop_to_spans(feats, [(10.0, 12.0)], 100.0)
    assert out.shape == (2, 200) and out.base is None


def test_a_long_span_becomes_evenly_spaced_windows_up_to_the_cap():
    from ml_backend.features import FeatureConfig
    from ml_backend.training import MAX_LABELED_FRAMES, _labeled_frames

    config = FeatureConfig(sample_rate=16000, n_mels=2)  # 100 frames a second, 100 a window
    feats = np.tile(np.arange(720_000, dtype=np.float32), (2, 1))  # 2 h
    (out,) = _labeled_frames([feats], [[(6900.0, 6994.0)]], config)
    assert out.shape == (MAX_LABELED_FRAMES // 100, 2, 100)  # 10 windows of 100 frames
    starts = out[:, 0, 0]
    assert starts[0] == 690_000 and starts[-1] == 699_400 - 100
    assert np.all(np.diff(starts) > 0)


def test_spans_outside_the_clip_leave_the_features_whole():
    feats = np.ones((2, 50), dtype=np.float32)
    assert crop_to_spans(feats, [(9.0, 9.5)], 100.0) is feats


@pytest.mark.django_db
def test_labeled_set_gives_spans_only_for_clips_labeled_by_segments_alone(project, annotator):
    from labelapp.services.annotations import annotation_submit
    from ml_backend.dataset import labeled_set
    from ontology.services import label_get_or_create_path
    from tests.conftest import ready_clips

    project.annotation_mode = "both"
    project.save()
    for path in ("a", "b"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    by_segments, by_clip, both = ready_clips(project, 3)
    annotation_submit(
        clip=by_segments,
        user=annotator,
        segments=[
            {"start": 6, "end": 7.5, "labels": ["a"]},
            {"start": 1, "end": 2, "labels": ["a"]},
        ],
    )
    annotation_submit(clip=by_clip, user=annotator, clip_labels=["b"])
    annotation_submit(
        clip=both,
        user=annotator,
        clip_labels=["b"],
        segments=[{"start": 1, "end": 2, "labels": ["a"]}],
    )
    data = labeled_set(project)
    spans = dict(zip([c.pk for c in data.clips], data.spans, strict=True))
    assert spans == {by_segments.pk: [(1.0, 2.0), (6.0, 7.5)], by_clip.pk: None, both.pk: None}


def test_training_reads_the_segment_frames():
    """The training's features for a segments-only clip are its spans', capped."""
    from ml_backend.features import FeatureConfig
    from ml_backend.training import MAX_LABELED_FRAMES, _labeled_frames

    config = FeatureConfig(sample_rate=16000, n_mels=2)
    long = np.zeros((2, 720_000), np.float32)
    short = np.zeros((2, 80), np.float32)
    out = _labeled_frames([long, short], [[(100.0, 250.0)], None], config)
    assert out[0].shape == (MAX_LABELED_FRAMES // config.window_frames, 2, config.window_frames)
    assert out[1] is short


def test_a_long_recording_tagged_as_a_whole_trains_on_windows_spread_over_it():
    """A clip-level tag names the whole recording: a 2-hour clip trains on windows from its
    start to its end, at most MAX_LABELED_FRAMES of them, not on its 720,000 frames."""
    from ml_backend.features import FeatureConfig
    from ml_backend.training import MAX_LABELED_FRAMES, _labeled_frames

    config = FeatureConfig(sample_rate=16000, n_mels=2)
    w = config.window_frames
    frames = 720_000
    long = np.tile(np.arange(frames, dtype=np.float32), (2, 1))  # each frame holds its index
    short = np.zeros((2, 300), np.float32)
    out_long, out_short = _labeled_frames([long, short], None, config)
    assert out_short is short  # a clip under the bound trains whole
    assert out_long.shape == (MAX_LABELED_FRAMES // w, 2, w)  # pre-cut: no window straddles
    for win in out_long[:, 0]:  # each window a stretch of the recording as it was
        assert np.array_equal(win, np.arange(win[0], win[0] + w))
    starts = out_long[:, 0, 0]
    assert starts[0] == 0 and starts[-1] == frames - w  # the first frame to the last
    gaps = np.diff(starts)
    assert gaps.min() > frames / len(starts) * 0.9  # evenly spread, not the first 10 s
    assert not np.shares_memory(out_long, long)  # the recording's features are not kept


def test_pre_cut_windows_train_as_they_are():
    """The training takes a clip's windows as given: none is cut again across their joins."""
    from ml_backend.train import TrainConfig, _prepare

    config = TrainConfig(window_frames=100, window_hop_frames=50)
    cut = np.stack([np.full((2, 100), k, np.float32) for k in (0, 500, 900)])  # 3 windows
    whole = np.zeros((2, 250), np.float32)  # 4 windows when cut at hop 50
    windows, targets, groups, _ = _prepare([cut, whole], [1, 0], ["a", "b"], config)
    assert windows.shape == (7, 2, 100)
    assert [float(w[0, 0]) for w in windows[:3]] == [0.0, 500.0, 900.0]
    assert all(len(np.unique(w)) == 1 for w in windows[:3])  # no window mixes two of them
    assert targets.tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert groups.tolist() == ["a"] * 3 + ["b"] * 4


@pytest.mark.parametrize(
    ("clips", "frames"), [(12, 80), (12, 1000), (40, 30_000), (2000, 80), (12, "10 windows")]
)
def test_a_training_takes_about_min_steps_however_long_its_clips(clips, frames):
    """Steps are counted in the windows the training cuts: 12 clips of 19 windows each take
    about MIN_STEPS steps, as 12 one-window clips do, not 19 times as many; a set larger than
    MIN_STEPS batches takes its epochs, whatever they come to."""
    from ml_backend.features import FeatureConfig, n_windows_for
    from ml_backend.training import MIN_STEPS, training_schedule

    config = FeatureConfig(sample_rate=8000, n_mels=2)
    if frames == "10 windows":  # a bounded long clip, pre-cut
        features = [np.zeros((10, 2, config.window_frames), np.float32)] * clips
        rows = clips * 10
    else:
        features = [np.zeros((2, frames), np.float32)] * clips
        rows = clips * n_windows_for(frames, config.window_frames, config.window_hop_frames)
    batch, epochs = training_schedule(features, config, epochs=3)
    steps = epochs * (rows // batch)
    assert 8 <= batch <= 64
    if rows // 64 * 3 >= MIN_STEPS:
        assert epochs == 3 and batch == 64  # enough windows: the configured epochs
    else:
        assert MIN_STEPS <= steps <= 2 * MIN_STEPS, (batch, epochs, steps)
