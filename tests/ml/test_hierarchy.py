"""Label hierarchy: depths, ancestor expansion, top-down consistency."""

from __future__ import annotations

import numpy as np
import pytest

from ml_backend import hierarchy as H

# 0 animal -> 1 dog -> 3 puppy ; 0 animal -> 2 cat ; 4 vehicle (root) -> 5 car
PARENTS = [-1, 0, 0, 1, -1, 4]


def test_depths_and_levels() -> None:
    assert H.depths(PARENTS).tolist() == [0, 1, 1, 2, 0, 1]
    levels = H.classes_by_level(PARENTS)
    assert levels[0].tolist() == [0, 4]
    assert levels[2].tolist() == [3]
    assert H.ancestors(PARENTS)[3] == [1, 0]
    assert H.ancestor_at_depth(PARENTS, 1).tolist() == [-1, 1, 2, 1, -1, 5]


def test_cycles_and_bad_indices_rejected() -> None:
    with pytest.raises(ValueError, match="cycle"):
        H.depths([1, 0])
    with pytest.raises(ValueError):
        H.depths([-1, 7])


def test_expand_targets_adds_ancestors() -> None:
    y = H.expand_targets(np.array([3, 5, 2]), PARENTS)
    assert y.tolist() == [
        [1, 1, 0, 1, 0, 0],
        [0, 0, 0, 0, 1, 1],
        [1, 0, 1, 0, 0, 0],
    ]
    multi = np.zeros((1, 6))
    multi[0, [3, 5]] = 1
    assert H.expand_targets(multi, PARENTS)[0].tolist() == [1, 1, 0, 1, 1, 1]


def test_consistency_child_never_above_parent(rng) -> None:
    probs = rng.random((200, 6))
    fixed = H.make_consistent(probs, PARENTS)
    for child, parent in enumerate(PARENTS):
        if parent >= 0:
            assert np.all(fixed[:, child] <= fixed[:, parent])
    # Roots are untouched; already-consistent rows unchanged.
    np.testing.assert_allclose(fixed[:, [0, 4]], probs[:, [0, 4]], rtol=1e-6)
    ok = np.array([[0.9, 0.8, 0.1, 0.7, 0.5, 0.2]])
    np.testing.assert_allclose(H.make_consistent(ok, PARENTS), ok, rtol=1e-6)


def test_consistency_propagates_through_grandparents() -> None:
    probs = np.array([0.2, 0.9, 0.0, 0.95, 0.0, 0.0])
    fixed = H.make_consistent(probs, PARENTS)
    assert fixed[1] == pytest.approx(0.2)
    assert fixed[3] == pytest.approx(0.2)  # bounded by grandparent via the clamped parent
