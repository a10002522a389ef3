"""Metrics on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend.metrics import compute_metrics


def test_single_label_metrics() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 1, 2, 0]] * 0.8 + 0.2 / 3
    m = compute_metrics(y, probs)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    pc = m["per_class"]
    assert pc[1]["precision"] == pytest.approx(2 / 3) and pc[1]["recall"] == 1.0
    assert m["macro_f1"] == pytest.approx(np.mean([p["f1"] for p in pc]))
    assert 0 < m["mAP"] <= 1


def test_perfect_multi_label_and_levels() -> None:
    parents = [-1, 0, 0]
    y = np.array([[1, 1, 0], [1, 0, 1], [0, 0, 0]])
    probs = np.where(y == 1, 0.9, 0.1)
    m = compute_metrics(y, probs, multi_label=True, parents=parents)
    assert m["accuracy"] == 1.0 and m["macro_f1"] == 1.0 and m["mAP"] == 1.0
    assert m["per_level"]["1"]["classes"] == [1, 2]


def test_single_label_per_level_maps_to_ancestors() -> None:
    parents = [-1, -1, 0, 0, 1]  # roots 0, 1; leaves 2, 3 under 0; 4 under 1
    y = np.array([2, 3, 4])
    # Predicts the wrong leaf under the right parent for the first clip.
    probs = np.eye(5)[[3, 3, 4]]
    m = compute_metrics(y, probs, parents=parents)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["per_level"]["0"]["accuracy"] == 1.0
    assert m["per_level"]["1"]["accuracy"] == pytest.approx(2 / 3)
