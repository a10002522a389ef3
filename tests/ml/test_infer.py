"""Inference over long clips: windows, aggregation, frame timeline, MC dropout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_backend.features import FeatureConfig
from ml_backend.infer import predict, predict_batch
from ml_backend.model import AudioCNN, ModelConfig


@pytest.fixture(scope="module")
def model() -> AudioCNN:
    torch.manual_seed(0)
    cfg = ModelConfig(
        n_mels=16, n_classes=3, width=8, channel_mult=(1, 2), strides=(2, 2), multi_label=True
    )
    return AudioCNN(cfg).eval()


def test_predict_shapes_for_long_clip(model) -> None:
    feats = np.random.default_rng(0).normal(-5, 1, size=(16, 333)).astype(np.float32)
    out = predict(model, feats, (100, 50))
    assert out["clip_probs"].shape == (3,)
    assert out["frame_probs"].shape == (333, 3)
    assert out["embedding"].shape == (model.config.embedding_dim,)
    assert out["mc_probs"] is None
    assert np.all((out["frame_probs"] >= 0) & (out["frame_probs"] <= 1))


def test_max_aggregate_not_below_mean(model) -> None:
    feats = np.random.default_rng(1).normal(-5, 1, size=(16, 400)).astype(np.float32)
    hi = predict(model, feats, (100, 50), aggregate="max")["clip_probs"]
    lo = predict(model, feats, (100, 50), aggregate="mean")["clip_probs"]
    assert np.all(hi >= lo - 1e-7)
    with pytest.raises(ValueError):
        predict(model, feats, (100, 50), aggregate="median")


def test_window_config_from_feature_config(model) -> None:
    cfg = FeatureConfig(n_mels=16, window_s=0.5, window_hop_s=0.25)
    feats = np.zeros((16, 120), dtype=np.float32)
    assert predict(model, feats, cfg)["frame_probs"].shape == (120, 3)


def test_mc_dropout_passes(model) -> None:
    torch.manual_seed(0)
    feats = np.random.default_rng(2).normal(-5, 1, size=(16, 150)).astype(np.float32)
    out = predict(model, feats, (100, 50), mc_dropout_passes=4)
    assert out["mc_probs"].shape == (4, 3)
    assert not model.training


def test_hierarchy_consistency_applied(model) -> None:
    feats = np.random.default_rng(3).normal(-5, 1, size=(16, 150)).astype(np.float32)
    parents = [-1, 0, 1]
    out = predict(model, feats, (100, 50), parents=parents, mc_dropout_passes=2)
    for key in ("clip_probs", "frame_probs", "mc_probs"):
        p = out[key]
        assert np.all(p[..., 1] <= p[..., 0]) and np.all(p[..., 2] <= p[..., 1])


def test_batch_matches_single(model) -> None:
    rng = np.random.default_rng(4)
    clips = [rng.normal(-5, 1, size=(16, n)).astype(np.float32) for n in (30, 100, 260)]
    batch = predict_batch(model, clips, (100, 50), return_frames=True)
    assert batch["clip_probs"].shape == (3, 3)
    for i, clip in enumerate(clips):
        single = predict(model, clip, (100, 50))
        np.testing.assert_allclose(batch["clip_probs"][i], single["clip_probs"], atol=1e-5)
        np.testing.assert_allclose(batch["embeddings"][i], single["embedding"], atol=1e-5)
        np.testing.assert_allclose(batch["frame_probs"][i], single["frame_probs"], atol=1e-5)
    mc = predict_batch(model, clips, (100, 50), mc_dropout_passes=3)["mc_probs"]
    assert mc.shape == (3, 3, 3)
