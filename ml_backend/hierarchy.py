"""Label hierarchies given as parent indices: ancestor expansion, consistency, depth.

``parents[i]`` is the index of class ``i``'s parent, or -1 for a root. Pure NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ROOT = -1


def validate_parents(parents: Sequence[int]) -> np.ndarray:
    """Check indices are in range and the graph is a forest (no cycles); return int array."""
    p = np.asarray(parents, dtype=np.int64).reshape(-1)
    n = len(p)
    if np.any((p < ROOT) | (p >= n)):
        raise ValueError("parent indices must be -1 or a valid class index")
    for i in range(n):
        seen = 0
        j = i
        while p[j] != ROOT:
            j = int(p[j])
            seen += 1
            if seen > n:
                raise ValueError(f"cycle in label hierarchy involving class {i}")
    return p


def depths(parents: Sequence[int]) -> np.ndarray:
    """Depth of each class, roots at 0: (C,) int64."""
    p = validate_parents(parents)
    d = np.zeros(len(p), dtype=np.int64)
    for i in range(len(p)):
        j = i
        while p[j] != ROOT:
            j = int(p[j])
            d[i] += 1
    return d


def ancestors(parents: Sequence[int]) -> list[list[int]]:
    """For each class, its ancestors from parent up to root (excluding itself)."""
    p = validate_parents(parents)
    out: list[list[int]] = []
    for i in range(len(p)):
        chain: list[int] = []
        j = int(p[i])
        while j != ROOT:
            chain.append(j)
            j = int(p[j])
        out.append(chain)
    return out


def ancestor_matrix(parents: Sequence[int]) -> np.ndarray:
    """(C, C) bool, ``A[i, j]`` true when j is i or an ancestor of i."""
    anc = ancestors(parents)
    a = np.eye(len(anc), dtype=bool)
    for i, chain in enumerate(anc):
        a[i, chain] = True
    return a


def topological_order(parents: Sequence[int]) -> np.ndarray:
    """Class indices sorted so every parent precedes its children (by depth, stable)."""
    return np.argsort(depths(parents), kind="stable")


def expand_targets(y: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Make targets imply their ancestors.

    Args:
        y: (N,) class indices or (N, C) multi-hot / soft targets.
        parents: parent index per class.

    Returns:
        (N, C) float32 where each ancestor's target is the max over itself and its
        descendants' targets.
    """
    a = ancestor_matrix(parents)
    c = a.shape[0]
    y = np.asarray(y)
    if y.ndim == 1:
        onehot = np.zeros((len(y), c), dtype=np.float32)
        onehot[np.arange(len(y)), y.astype(np.int64)] = 1.0
        y = onehot
    y = y.astype(np.float32)
    if y.shape[1] != c:
        raise ValueError(f"targets have {y.shape[1]} classes, hierarchy has {c}")
    # out[n, j] = max_i y[n, i] over classes i that have j as self-or-ancestor.
    out = np.zeros_like(y)
    for i in range(c):
        cols = np.flatnonzero(a[i])
        out[:, cols] = np.maximum(out[:, cols], y[:, [i]])
    return out


def make_consistent(probs: np.ndarray, parents: Sequence[int]) -> np.ndarray:
    """Clamp scores top-down so a child never scores above its parent.

    Args:
        probs: (..., C) scores (sigmoid probabilities or any monotone score).
        parents: parent index per class.

    Returns:
        Copy of ``probs`` with ``child = min(child, parent)`` applied parents-first, so the
        bound propagates through every ancestor.
    """
    p = validate_parents(parents)
    out = np.array(probs, dtype=np.float32, copy=True)
    if out.shape[-1] != len(p):
        raise ValueError(f"probs have {out.shape[-1]} classes, hierarchy has {len(p)}")
    for i in topological_order(p):
        if p[i] != ROOT:
            out[..., i] = np.minimum(out[..., i], out[..., p[i]])
    return out


def ancestor_at_depth(parents: Sequence[int], level: int) -> np.ndarray:
    """(C,) index of each class's ancestor-or-self at ``level``; -1 if the class is shallower."""
    d = depths(parents)
    p = np.asarray(parents, dtype=np.int64)
    out = np.full(len(p), ROOT, dtype=np.int64)
    for i in range(len(p)):
        if d[i] < level:
            continue
        j = i
        for _ in range(int(d[i]) - level):
            j = int(p[j])
        out[i] = j
    return out


def classes_by_level(parents: Sequence[int]) -> dict[int, np.ndarray]:
    """Map depth -> class indices at that depth."""
    d = depths(parents)
    return {int(level): np.flatnonzero(d == level) for level in np.unique(d)}
