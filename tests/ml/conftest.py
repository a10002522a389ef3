"""Shared fixtures for the pure-ML tests: no Django, no database."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

FSDD_DIR = Path("/work/shared/datasets/fsdd/recordings")


@pytest.fixture(autouse=True)
def _two_threads() -> None:
    # The CI machine has 2 cores; more threads only add contention.
    torch.set_num_threads(2)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def make_separable(
    n_per_class: int = 40, n_classes: int = 3, n_mels: int = 16, frames: int = 32, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic log-mel windows where class c has a bright band at a class-specific
    frequency during a random time span: (N, n_mels, frames) float32 and (N,) labels."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    band = n_mels // n_classes
    for c in range(n_classes):
        for _ in range(n_per_class):
            x = rng.normal(-8.0, 0.5, size=(n_mels, frames))
            start = rng.integers(0, frames // 2)
            length = rng.integers(frames // 4, frames // 2)
            x[c * band : (c + 1) * band, start : start + length] += 6.0
            xs.append(x)
            ys.append(c)
    return np.stack(xs).astype(np.float32), np.asarray(ys)
