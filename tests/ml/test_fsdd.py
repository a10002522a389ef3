"""Sanity check on real speech: a few dozen FSDD clips, unseen speaker."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from ml_backend.features import FeatureConfig, compute_logmel
from ml_backend.infer import predict_batch
from ml_backend.model import ModelConfig
from ml_backend.train import TrainConfig, train_model

from .conftest import FSDD_DIR

pytestmark = pytest.mark.slow


def _load(speaker: str, per_digit: int, cfg: FeatureConfig) -> tuple[list[np.ndarray], np.ndarray]:
    feats, labels = [], []
    for digit in range(10):
        for i in range(per_digit):
            audio, sr = sf.read(FSDD_DIR / f"{digit}_{speaker}_{i}.wav", dtype="float32")
            feats.append(compute_logmel(audio, sr, cfg))
            labels.append(digit)
    return feats, np.asarray(labels)


@pytest.mark.skipif(not FSDD_DIR.is_dir(), reason=f"FSDD not found at {FSDD_DIR}")
def test_unseen_speaker_well_above_chance() -> None:
    cfg = FeatureConfig(sample_rate=8_000, n_mels=40, f_min=100.0, f_max=4_000.0)
    train_x, train_y = [], []
    for speaker in ("jackson", "lucas", "yweweler"):
        x, y = _load(speaker, 6, cfg)
        train_x += x
        train_y.append(y)
    test_x, test_y = _load("theo", 4, cfg)
    model_cfg = ModelConfig(width=16, channel_mult=(1, 2, 2), strides=(2, 2, 2))
    tcfg = TrainConfig(
        model=model_cfg,
        epochs=25,
        batch_size=32,
        val_fraction=0.0,
        window_frames=cfg.window_frames,
        window_hop_frames=cfg.window_hop_frames,
    )
    result = train_model(train_x, np.concatenate(train_y), config=tcfg)
    probs = predict_batch(result.model, test_x, cfg)["clip_probs"]
    accuracy = float((probs.argmax(axis=1) == test_y).mean())
    assert accuracy >= 0.5, f"held-out speaker accuracy {accuracy:.2f} (chance 0.10)"
