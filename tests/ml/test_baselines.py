"""Classic-feature baselines on synthetic tones."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.baselines import BASELINE_KINDS, classic_features, evaluate, fit_baseline

SR = 8_000


def _tones(n_per_class: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Class c = a noisy tone near 300 * (c + 1) Hz with random length and level."""
    rng = np.random.default_rng(seed)
    clips, labels = [], []
    for c in range(3):
        for _ in range(n_per_class):
            n = int(rng.integers(2_000, 6_000))
            t = np.arange(n) / SR
            f = 300 * (c + 1) * rng.uniform(0.95, 1.05)
            x = rng.uniform(0.05, 0.5) * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(n)
            clips.append(x.astype(np.float32))
            labels.append(c)
    return clips, np.asarray(labels)


def test_classic_features_fixed_size() -> None:
    a = classic_features(np.zeros(100, dtype=np.float32), SR)
    b = classic_features(np.random.default_rng(0).standard_normal(9_000).astype(np.float32), SR)
    assert a.shape == b.shape and a.ndim == 1
    assert np.all(np.isfinite(b))


@pytest.mark.parametrize("kind", BASELINE_KINDS)
def test_baselines_learn_tones(kind: str) -> None:
    x_train, y_train = _tones(15, seed=0)
    x_test, y_test = _tones(6, seed=1)
    model = fit_baseline(kind, x_train, SR, y_train)
    metrics = evaluate(model, x_test, SR, y_test)
    assert metrics["accuracy"] >= 0.9
    assert {"macro_f1", "mAP", "per_class", "confusion"} <= set(metrics)


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ValueError):
        fit_baseline("knn", [np.zeros(100)], SR, np.array([0]))
