"""`benchmarks/active_learning.py --combine`: folds pooled into one label-efficiency report, runs
of one fold from several files joined, and the spread of the pooled ratio over resampled runs.
The expected figures are worked out by hand from the curves written here."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "al_benchmark", ROOT / "benchmarks" / "active_learning.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _combine(*paths: Path) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "active_learning.py"), "--combine"]
        + [str(p) for p in paths],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout


def _fold(
    path: Path, reference: float, curves: dict[str, list[list[float]]], labels, test=None
) -> Path:
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
    result = {"reference": {"labels": 2000, "accuracy": reference}, "strategies": strategies}
    if test:
        result["test_manifest"] = test
    path.write_text(json.dumps(result))
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


def test_runs_of_one_fold_from_two_files_join_and_the_ratio_comes_with_its_spread(tmp_path):
    """Repeats 0-1 and (a run with --first-repeat 2) repeats 2-3 of one fold: one fold of four
    runs. Hybrid reaches the bar (0.76) at 40 labels in two runs and at 60 in the other two;
    random at 80 in every run."""
    labels = [20, 40, 60, 80]
    random_runs = [[0.3, 0.5, 0.6, 0.8]] * 2
    first, second = (
        _fold(tmp_path / name, 0.8, {"hybrid": [hybrid] * 2, "random": random_runs}, labels, "t")
        for name, hybrid in (("r01.json", [0.5, 0.8, 0.8, 0.8]), ("r23.json", [0.5, 0.7, 0.8, 0.8]))
    )
    out = _combine(first, second)
    assert out.count("== t (4 repeats)") == 1 and "folds pooled" not in out
    # mean hybrid 0.5 / 0.75 / 0.8: the bar 0.76 at 60 labels (interpolated 40 + 20 * 0.01 /
    # 0.05 = 44), random at 80 (60 + 20 * 0.16 / 0.2 = 76)
    assert "60/80 = 0.75; interpolated 44/76 = 0.58" in out
    assert "over 1000 paired resamples of the 4 runs of each fold: median 0.58" in out

    bench = _benchmark()
    (fold,) = bench.merge_folds([json.loads(first.read_text()), json.loads(second.read_text())])
    assert len(fold["strategies"]["hybrid"]["repeats"]) == 4
    spread = bench.ratio_spread([fold], "hybrid", draws=1000)
    # A resample holds k runs of the first kind (binomial, 4 draws of 1/2): the mean hybrid
    # curve is 0.7 + 0.025 k at 40 labels. k = 4: the bar at 37.3 labels (ratio 0.49); k = 3:
    # 38.9 (0.51); k = 2: 44 (0.58), the median; k = 1, 0: 49.3, 52 (0.65, 0.68). At or under
    # 0.5 only with k = 4, in 1/16 of the resamples.
    assert spread["kinds"] == {"both": 1000, "random never": 0, "never": 0}
    assert spread["median"] == pytest.approx(44 / 76)
    assert spread["low"] < spread["median"] < spread["high"]
    assert spread["at_target"] == pytest.approx(1 / 16, abs=0.03)


def test_identical_runs_have_no_spread(tmp_path):
    bench = _benchmark()
    fold = json.loads(
        _fold(
            tmp_path / "a.json",
            0.9,
            {"hybrid": [[0.5, 0.9, 0.9]] * 3, "random": [[0.4, 0.7, 0.86]] * 3},
            [20, 40, 60],
        ).read_text()
    )
    spread = bench.ratio_spread([fold], "hybrid", draws=50)
    expected, kind = bench.pooled_ratio([fold], "hybrid")
    assert kind == "both"
    assert spread["low"] == spread["median"] == spread["high"] == pytest.approx(expected)


def test_resamples_keep_each_run_number_of_both_strategies_together(tmp_path):
    """Run 1 failed for both strategies (one import order, one pool: curves at 0). A resample
    that draws run 1 reaches the bar with neither; one of run 0 twice, with both. Drawn apart,
    hybrid's run 0 would meet random's run 1 ("random never")."""
    bench = _benchmark()
    fold = json.loads(
        _fold(
            tmp_path / "a.json",
            0.9,
            {"hybrid": [[0.5, 0.9, 0.9], [0.0] * 3], "random": [[0.4, 0.7, 0.9], [0.0] * 3]},
            [20, 40, 60],
        ).read_text()
    )
    spread = bench.ratio_spread([fold], "hybrid", draws=1000)
    assert spread["kinds"]["random never"] == 0
    assert 180 < spread["kinds"]["both"] < 320  # run 0 twice: 1 in 4
    assert spread["kinds"]["both"] + spread["kinds"]["never"] == 1000
    assert spread["high"] == float("inf") and spread["at_target"] < 0.32


def test_files_of_one_fold_with_other_settings_or_the_same_runs_are_refused(tmp_path):
    bench = _benchmark()

    def result(reference=0.8, first=0, budget=80, pool=2000):
        curves = {"hybrid": [[0.5, 0.8]], "random": [[0.4, 0.7]]}
        r = json.loads(_fold(tmp_path / "x.json", reference, curves, [20, 40], "t.csv").read_text())
        r["settings"] = {"repeats": 1, "first_repeat": first, "budget": budget, "pool": pool}
        return r

    (joined,) = bench.merge_folds([result(), result(first=1, budget=100)])
    assert joined["settings"]["repeats"] == 2
    with pytest.raises(ValueError, match="references"):
        bench.merge_folds([result(), result(reference=0.9, first=1)])
    with pytest.raises(ValueError, match="different settings"):
        bench.merge_folds([result(), result(first=1, pool=800)])
    with pytest.raises(ValueError, match="joined twice"):
        bench.merge_folds([result(), result()])
