"""Model shapes, train-only augmentation, checkpoints, warm-start state copying."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_backend.model import (
    AudioCNN,
    ModelConfig,
    adapt_batchnorm,
    enable_mc_dropout,
    load_checkpoint,
    load_matching_state,
    save_checkpoint,
)

SMALL = {"n_mels": 16, "width": 8, "channel_mult": (1, 2), "strides": (2, 2)}


@pytest.mark.parametrize("frontend", [0, 4])
@pytest.mark.parametrize("frames", [1, 37, 100, 256])
def test_output_shapes(frames: int, frontend: int) -> None:
    cfg = ModelConfig(n_classes=5, frontend_channels=frontend, **SMALL)
    model = AudioCNN(cfg).eval()
    out = model(torch.randn(3, 16, frames))
    assert out["clip_logits"].shape == (3, 5)
    t_out = out["frame_logits"].shape[1]
    assert out["frame_logits"].shape == (3, t_out, 5)
    assert t_out == -(-frames // cfg.time_downsample)
    assert out["embedding"].shape == (3, cfg.embedding_dim)


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_pooling_modes(pooling: str) -> None:
    model = AudioCNN(ModelConfig(n_classes=2, pooling=pooling, **SMALL)).eval()
    assert model(torch.randn(2, 16, 40))["clip_logits"].shape == (2, 2)


def test_augmentation_only_in_training() -> None:
    torch.manual_seed(0)
    model = AudioCNN(ModelConfig(n_classes=3, **SMALL))
    x = torch.randn(4, 16, 50) - 5
    model.eval()
    with torch.no_grad():
        a, b = model(x)["clip_logits"], model(x)["clip_logits"]
    assert torch.equal(a, b)
    assert torch.equal(model.augment(x), x)
    model.train()
    assert not torch.equal(model.augment(x), x)
    assert model.augment(x).shape == x.shape


def test_peak_norm_makes_scores_gain_invariant() -> None:
    model = AudioCNN(ModelConfig(n_classes=3, **SMALL)).eval()
    x = torch.randn(2, 16, 50) - 5
    with torch.no_grad():
        a = model(x)["clip_logits"]
        b = model(x + 2.3)["clip_logits"]  # +10 dB
    torch.testing.assert_close(a, b)


def test_mc_dropout_varies_but_keeps_batchnorm_frozen() -> None:
    torch.manual_seed(0)
    model = AudioCNN(ModelConfig(n_classes=3, dropout=0.5, **SMALL))
    enable_mc_dropout(model)
    assert not model.augment.training
    assert not any(m.training for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d))
    x = torch.randn(2, 16, 50)
    with torch.no_grad():
        a, b = model(x)["clip_logits"], model(x)["clip_logits"]
    assert not torch.equal(a, b)


def test_checkpoint_round_trip(tmp_path) -> None:
    cfg = ModelConfig(n_classes=4, multi_label=True, **SMALL)
    model = AudioCNN(cfg)
    model.set_normalization(np.linspace(-5, -1, 16), np.linspace(1, 2, 16))
    model.eval()
    path = tmp_path / "model.pt"
    save_checkpoint(
        path, model, cfg, extra={"classes": ["a", "b", "c", "d"], "feature": {"n_mels": 16}}
    )
    loaded, cfg2, extra = load_checkpoint(path)
    assert cfg2 == cfg
    assert extra["classes"] == ["a", "b", "c", "d"]
    assert not loaded.training
    x = torch.randn(2, 16, 60)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x)["clip_logits"], model(x)["clip_logits"])
    torch.testing.assert_close(loaded.norm_mean, model.norm_mean)


def test_load_matching_state_skips_changed_head() -> None:
    old = AudioCNN(ModelConfig(n_classes=3, **SMALL))
    new = AudioCNN(ModelConfig(n_classes=5, **SMALL))
    copied = load_matching_state(new, old.state_dict())
    assert "stem.0.weight" in copied
    assert "frame_head.weight" not in copied
    torch.testing.assert_close(new.stem[0].weight, old.stem[0].weight)


def test_config_dict_round_trip() -> None:
    cfg = ModelConfig(n_classes=7, channel_mult=(1, 2, 4), strides=(2, 2, 1))
    d = cfg.to_dict()
    assert isinstance(d["channel_mult"], list)
    assert ModelConfig.from_dict(d) == cfg


def test_batchnorm_adaptation_moves_statistics_to_the_new_data_and_keeps_weights() -> None:
    torch.manual_seed(0)
    model = AudioCNN(ModelConfig(n_classes=3, frontend_channels=4, **SMALL)).eval()
    weights = {
        k: v.clone()
        for k, v in model.state_dict().items()
        if "running" not in k and "num_batches" not in k
    }
    stem_bn = model.stem[1]
    before = stem_bn.running_mean.clone()
    rng = np.random.default_rng(0)
    # A louder, differently coloured "new microphone": per-band offsets the training never saw.
    new = (rng.standard_normal((64, 16, 50)) + np.linspace(-3, 3, 16)[None, :, None]) * 2.0
    x = torch.from_numpy(new[:8].astype(np.float32))
    out_before = model(x)["clip_logits"].detach()
    adapt_batchnorm(model, new.astype(np.float32), batch_size=16)
    assert not model.training and all(not m.training for m in model.modules())
    assert not torch.allclose(stem_bn.running_mean, before)
    # the statistics now describe the new data (up to the earlier layers' batch statistics
    # used while adapting, against their final ones here)
    with torch.no_grad():
        h = model.stem[0](
            model.frontend(
                model.level_normalize(torch.from_numpy(new.astype(np.float32)))
                .sub(model.norm_mean[None, :, None])
                .div(model.norm_std[None, :, None])
            )
        )
    np.testing.assert_allclose(
        stem_bn.running_mean.numpy(), h.mean(dim=(0, 2)).numpy(), rtol=0.05, atol=0.01
    )
    for k, v in model.state_dict().items():
        if k in weights:
            assert torch.equal(v, weights[k]), k
    assert not torch.allclose(model(x)["clip_logits"], out_before)
    assert stem_bn.momentum == 0.1  # restored for later training


def test_bands_that_barely_vary_in_training_are_left_out() -> None:
    """The empty bands above 4 kHz of 8 kHz audio in a 16 kHz project: scaled to unit
    variance they carried only augmentation noise, and the model learned nothing."""
    cfg = ModelConfig(n_classes=3, **SMALL)
    model = AudioCNN(cfg).eval()
    std = np.ones(16)
    std[12:] = 1e-4  # four bands that never moved
    model.set_normalization(np.zeros(16), std)
    assert bool((model.norm_std[12:] >= 1e3).all()) and torch.equal(
        model.norm_std[:12], torch.ones(12)
    )
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 60, generator=generator)
    x[:, 12:] = -3.0  # empty: under the sound in the other bands, over the range clamp
    shaken = x.clone()
    shaken[:, 12:] += torch.randn(2, 4, 60, generator=generator)  # what noise mixing puts there

    def moved() -> float:  # how far the shaking moves the embedding
        with torch.no_grad():
            return float((model(x)["embedding"] - model(shaken)["embedding"]).abs().max())

    left_out = moved()
    model.set_normalization(np.zeros(16), np.ones(16))  # the same bands kept: they count
    kept = moved()
    assert left_out < 1e-3 * kept, (left_out, kept)
