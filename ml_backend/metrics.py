"""Classification metrics on NumPy arrays, overall and per hierarchy level.

Returns plain JSON-serialisable dicts (floats, lists), so they can be stored as-is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from ml_backend import hierarchy


def _ap_per_class(y_true: np.ndarray, scores: np.ndarray) -> list[float | None]:
    """Average precision per class column; None where a class has no positives."""
    out: list[float | None] = []
    for c in range(y_true.shape[1]):
        if y_true[:, c].sum() == 0:
            out.append(None)
        else:
            out.append(float(average_precision_score(y_true[:, c], scores[:, c])))
    return out


def _mean_defined(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _single_label(y: np.ndarray, probs: np.ndarray, n_classes: int) -> dict[str, Any]:
    pred = probs.argmax(axis=1)
    labels = np.arange(n_classes)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    onehot = np.zeros((len(y), n_classes), dtype=np.int64)
    onehot[np.arange(len(y)), y] = 1
    ap = _ap_per_class(onehot, probs)
    present = s > 0
    return {
        "n": len(y),
        "accuracy": float((pred == y).mean()) if len(y) else 0.0,
        # Macro over classes present in the ground truth, so an absent class is not a 0.
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "mAP": _mean_defined(ap),
        "per_class": _per_class(p, r, f, s, ap),
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
    }


def _multi_label(y: np.ndarray, probs: np.ndarray, threshold: float) -> dict[str, Any]:
    pred = (probs >= threshold).astype(np.int64)
    y = y.astype(np.int64)
    # Per column by hand: sklearn reads a one-column target as binary, not multi-label.
    tp = (pred & y).sum(axis=0).astype(np.float64)
    fp = (pred & (1 - y)).sum(axis=0)
    fn = ((1 - pred) & y).sum(axis=0)
    s = y.sum(axis=0)
    p = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=(tp + fp) > 0)
    r = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=(tp + fn) > 0)
    f = np.divide(2 * p * r, p + r, out=np.zeros_like(tp), where=(p + r) > 0)
    ap = _ap_per_class(y, probs)
    present = s > 0
    return {
        "n": len(y),
        # Exact-match (subset) accuracy: every label of a clip right. Pages call it so and
        # show micro-F1 beside it (v1 of a 20-label project read "0.0% accuracy" at 65% F1).
        "accuracy": float((pred == y).all(axis=1).mean()) if len(y) else 0.0,
        "micro_f1": _micro_f1(tp.sum(), fp.sum(), fn.sum()),
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "mAP": _mean_defined(ap),
        "per_class": _per_class(p, r, f, s, ap),
        "confusion": None,
    }


def _micro_f1(tp: float, fp: float, fn: float) -> float:
    return float(2 * tp / (2 * tp + fp + fn)) if tp + fp + fn > 0 else 0.0


def _per_class(p, r, f, s, ap) -> list[dict[str, Any]]:  # noqa: ANN001 - sklearn arrays
    return [
        {
            "precision": float(p[i]),
            "recall": float(r[i]),
            "f1": float(f[i]),
            "support": int(s[i]),
            "ap": ap[i],
        }
        for i in range(len(p))
    ]


def compute_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    multi_label: bool = False,
    parents: Sequence[int] | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/AP, mAP, confusion matrix.

    Args:
        y_true: (N,) class indices (single-label) or (N, C) 0/1 targets (multi-label).
        probs: (N, C) class probabilities.
        multi_label: threshold each class at ``threshold`` instead of taking the argmax.
        parents: optional label hierarchy; adds ``per_level`` with the same metrics per
            depth. Single-label: true and predicted classes are mapped to their ancestor
            at that depth (examples whose class is shallower are left out). Multi-label:
            metrics over the columns of that depth.

    Returns:
        dict with keys n, accuracy, macro_f1, mAP, per_class, confusion, per_level.
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    n_classes = probs.shape[1]
    if multi_label:
        out = _multi_label(y_true, probs, threshold)
    else:
        out = _single_label(y_true.astype(np.int64), probs, n_classes)
    out["per_level"] = None
    if parents is not None:
        out["per_level"] = per_level_metrics(y_true, probs, parents, multi_label, threshold)
    return out


def per_level_metrics(
    y_true: np.ndarray,
    probs: np.ndarray,
    parents: Sequence[int],
    multi_label: bool = False,
    threshold: float = 0.5,
) -> dict[str, dict[str, Any]]:
    """Metrics per hierarchy depth (keys are depths as strings, for JSON)."""
    out: dict[str, dict[str, Any]] = {}
    levels = hierarchy.classes_by_level(parents)
    for level, cols in levels.items():
        if multi_label:
            m = _multi_label(np.asarray(y_true)[:, cols], probs[:, cols], threshold)
        else:
            # Sum the probability mass of each ancestor's subtree at this level.
            anc = hierarchy.ancestor_at_depth(parents, level)
            y = anc[np.asarray(y_true, dtype=np.int64)]
            keep = y >= 0
            mass = np.zeros((len(probs), len(cols)))
            col_index = {int(c): j for j, c in enumerate(cols)}
            for c in range(probs.shape[1]):
                if anc[c] >= 0:
                    mass[:, col_index[int(anc[c])]] += probs[:, c]
            y_local = np.array([col_index[int(v)] for v in y[keep]], dtype=np.int64)
            m = _single_label(y_local, mass[keep], len(cols))
        m["classes"] = [int(c) for c in cols]
        out[str(level)] = m
    return out


def mean_curve(repeats: list[list[dict]]) -> list[dict]:
    """Pointwise mean over repeats, by labels used; points without a model are left out."""
    by_labels: dict[int, list[dict]] = {}
    for points in repeats:
        for p in points:
            by_labels.setdefault(p["labels"], []).append(p)
    curve = []
    for labels in sorted(by_labels):
        row: dict = {"labels": labels, "n": len(by_labels[labels])}
        for metric in ("accuracy", "macro_f1"):
            values = [p[metric] for p in by_labels[labels] if p[metric] is not None]
            row[metric] = round(float(np.mean(values)), 4) if values else None
            row[f"{metric}_std"] = round(float(np.std(values)), 4) if values else None
        curve.append(row)
    return curve
