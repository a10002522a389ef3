"""`benchmarks/active_learning.py --combine`: folds pooled into one label-efficiency report.
The expected figures are worked out by hand from the curves written here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _fold(path: Path, reference: float, curves: dict[str, list[list[float]]], labels) -> Path:
    strategies = {}
    for name, repeats in curves.items():
        runs = [
            [
                {"labels": n, "accuracy": a, "macro_f1": a - 0.01}
                for n, a in zip(labels, accs, strict=True)
            ]
            for accs in repeats
        ]
        mean = [
            {
                "labels": n,
                "accuracy": sum(r[i] for r in repeats) / len(repeats),
                "accuracy_std": 0.0,
                "macro_f1": 0.0,
            }
            for i, n in enumerate(labels)
        ]
        strategies[name] = {"repeats": runs, "mean": mean}
    path.write_text(
        json.dumps({"reference": {"labels": 2000, "accuracy": reference}, "strategies": strategies})
    )
    return path


def test_folds_pool_into_mean_curves_against_the_mean_reference(tmp_path):
    a = _fold(
        tmp_path / "a.json",
        0.9,
        {
            "hybrid": [[0.5, 0.9, 0.9, 0.95], [0.7, 0.9, 0.9, 0.95]],
            "random": [[0.4, 0.7, 0.86, 0.9], [0.4, 0.7, 0.86, 0.9]],
        },
        [20, 40, 60, 80],  # 80: this fold only, so it is left out of the pooled curve
    )
    b = _fold(
        tmp_path / "b.json",
        0.8,
        {
            "hybrid": [[0.6, 0.75, 0.8], [0.6, 0.75, 0.8]],
            "random": [[0.4, 0.7, 0.76], [0.4, 0.7, 0.76]],
        },
        [20, 40, 60],
    )
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "active_learning.py"),
            "--combine",
            str(a),
            str(b),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    pooled = out.split("2 folds pooled", 1)[1]
    # Reference: (0.9 + 0.8) / 2; bar 0.8075. Hybrid: 0.6 / 0.825 / 0.85 at 20 / 40 / 60,
    # random: 0.4 / 0.7 / 0.81.
    assert "accuracy 0.850" in pooled
    assert "| 20 | 0.600 ± 0.071" in pooled
    assert "| 40 | 0.825" in pooled and "| 60 | 0.850" in pooled and "| 80 |" not in pooled
    # Hybrid reaches the bar at 40 (interpolated 20 + 20 * 0.2075 / 0.225 = 38.4), random at 60
    # (40 + 20 * 0.1075 / 0.11 = 59.5).
    assert (
        "label-efficiency ratio (hybrid / random): 40/60 = 0.67; interpolated 38/60 = 0.65"
        in pooled
    )
    # Each fold is also reported on its own: fold a's random reaches 0.855 at 60.
    assert "random: reaches 0.855 at 60 labels" in out.split("2 folds pooled", 1)[0]
