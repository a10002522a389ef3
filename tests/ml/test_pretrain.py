"""Self-supervised pretraining of the feature extractor (ml_backend/pretrain.py), on arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_backend.model import AudioCNN, ModelConfig, load_matching_state
from ml_backend.pretrain import (
    HEAD_PREFIXES,
    PretrainConfig,
    backbone_state,
    contrastive_pretrain,
    nt_xent,
)
from ml_backend.train import TrainConfig, TrainingCancelled, train_model
from tests.ml.conftest import FSDD_DIR, make_separable

SMALL = ModelConfig(n_mels=16, n_classes=3, width=8, frontend_channels=4)
FAST = PretrainConfig(steps=6, batch_size=16, num_threads=1)


def test_nt_xent_is_low_when_each_view_matches_its_partner_and_high_when_it_matches_another():
    base = torch.eye(4) * 5  # four windows, far apart from each other
    matched = nt_xent(base, base.clone(), temperature=0.1)
    crossed = nt_xent(base, base[[1, 0, 3, 2]], temperature=0.1)  # partners swapped in pairs
    assert matched.item() < 0.01
    assert crossed.item() > 5


def test_nt_xent_gradient_pulls_partners_together():
    z1 = torch.randn(8, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    z2 = torch.randn(8, 6, generator=torch.Generator().manual_seed(1))
    before = torch.nn.functional.cosine_similarity(z1, z2).mean().item()
    grad = torch.autograd.grad(nt_xent(z1, z2, 0.5), z1)[0]
    step = z1.detach() - 0.5 * grad
    after = torch.nn.functional.cosine_similarity(step, z2).mean().item()
    assert after > before


def test_pretraining_returns_the_feature_extractor_only_and_its_summary():
    x, _ = make_separable(n_per_class=12, n_mels=16, frames=32)
    state, summary = contrastive_pretrain(x, SMALL, FAST)
    assert state and not any(k.startswith(HEAD_PREFIXES) for k in state)
    assert "stem.0.weight" in state and "norm_mean" in state
    assert summary["steps"] == 6 and summary["windows"] == len(x)
    assert np.isfinite(summary["first_loss"]) and np.isfinite(summary["last_loss"])
    # It fits a model with any number of classes: everything but the heads is copied.
    model = AudioCNN(ModelConfig(**{**SMALL.__dict__, "n_classes": 7}))
    copied = load_matching_state(model, state)
    assert set(copied) == set(state)
    assert torch.equal(model.state_dict()["stem.0.weight"], state["stem.0.weight"])


def test_pretraining_changes_the_weights_and_is_deterministic_for_a_seed():
    x, _ = make_separable(n_per_class=12, n_mels=16, frames=32)
    torch.manual_seed(0)
    untrained = backbone_state(AudioCNN(SMALL))
    a, _ = contrastive_pretrain(x, SMALL, FAST)
    b, _ = contrastive_pretrain(x, SMALL, FAST)
    c, _ = contrastive_pretrain(x, SMALL, PretrainConfig(steps=6, batch_size=16, seed=1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["stem.0.weight"], c["stem.0.weight"])
    assert not torch.equal(a["stem.0.weight"], untrained["stem.0.weight"])


def _fsdd_windows(speakers: tuple[str, ...], per_digit: int, cfg) -> tuple[np.ndarray, np.ndarray]:
    import soundfile as sf

    from ml_backend.features import compute_logmel, cut_windows

    xs, ys = [], []
    for speaker in speakers:
        for digit in range(10):
            for i in range(per_digit):
                audio, sr = sf.read(FSDD_DIR / f"{digit}_{speaker}_{i}.wav", dtype="float32")
                feats = compute_logmel(audio, sr, cfg)
                xs.append(cut_windows(feats, cfg.window_frames, cfg.window_hop_frames)[0])
                ys.append(digit)
    return np.stack(xs), np.asarray(ys)


def _nearest_neighbour_accuracy(model: AudioCNN, x, y, x_test, y_test) -> float:
    model.eval()
    with torch.no_grad():
        known = torch.nn.functional.normalize(model(torch.from_numpy(x))["embedding"], dim=1)
        new = torch.nn.functional.normalize(model(torch.from_numpy(x_test))["embedding"], dim=1)
    return float((y[(new @ known.t()).argmax(1).numpy()] == y_test).mean())


@pytest.mark.slow
@pytest.mark.skipif(not FSDD_DIR.is_dir(), reason=f"FSDD not found at {FSDD_DIR}")
def test_pretraining_on_unlabeled_speech_makes_a_new_voice_s_digits_nearer_their_own():
    """Without a label, 240 clips of three speakers: afterwards a held-out speaker's clip lies
    nearer clips of its own digit (1-NN accuracy of the embedding) than with random weights."""
    from ml_backend.features import FeatureConfig
    from ml_backend.train import _band_stats

    cfg = FeatureConfig(sample_rate=8_000, n_mels=40, f_min=100.0, f_max=4_000.0)
    x, y = _fsdd_windows(("jackson", "lucas", "yweweler"), 8, cfg)
    x_test, y_test = _fsdd_windows(("theo",), 10, cfg)
    arch = ModelConfig(n_mels=40, n_classes=10, width=16, channel_mult=(1, 2, 2), strides=(2, 2, 2))
    torch.manual_seed(0)
    untrained = AudioCNN(arch)
    untrained.set_normalization(*_band_stats(untrained, x))
    before = _nearest_neighbour_accuracy(untrained, x, y, x_test, y_test)

    state, summary = contrastive_pretrain(
        x, arch, PretrainConfig(steps=100, batch_size=64, lr=3e-3)
    )
    pretrained = AudioCNN(arch)
    load_matching_state(pretrained, state)
    after = _nearest_neighbour_accuracy(pretrained, x, y, x_test, y_test)
    assert summary["last_loss"] < summary["first_loss"] - 0.3
    # Measured: 0.26 before, 0.49 after (chance 0.10).
    assert after >= before + 0.1, (before, after)


def test_pretraining_can_be_cancelled():
    x, _ = make_separable(n_per_class=8, n_mels=16, frames=32)
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2

    with pytest.raises(TrainingCancelled):
        contrastive_pretrain(x, SMALL, FAST, should_stop=stop)
    assert len(calls) == 3


def test_pretraining_needs_two_windows():
    x, _ = make_separable(n_per_class=1, n_classes=1, n_mels=16, frames=32)
    with pytest.raises(ValueError, match="two windows"):
        contrastive_pretrain(x, SMALL, FAST)


def test_a_training_starts_from_a_pretrained_backbone():
    x, y = make_separable(n_per_class=10, n_mels=16, frames=32)
    state, _ = contrastive_pretrain(x, SMALL, FAST)
    cfg = TrainConfig(model=SMALL, epochs=1, batch_size=8, val_fraction=0.0)
    # One epoch at a learning rate of ~0: the weights stay where the warm start put them.
    cfg.lr = 1e-12
    result = train_model(x, y, config=cfg, init_state=state)
    trained = result.model.state_dict()
    assert torch.allclose(trained["blocks.0.conv1.weight"], state["blocks.0.conv1.weight"])
