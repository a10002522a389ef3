"""Label efficiency of active learning on FSDD, speaker-independent, through the simulation
(`ml_backend.simulation`: the real import, annotation, training and ranking code in-process).

The pool is drawn from four speakers (`--pool 2000`: all their clips, the issue's "all
labels"), the test set is the fifth speaker's 500 clips. The reference is a training on the
whole labeled pool. The figure: labels the best strategy needs to reach 95% of that reference
accuracy, divided by the labels random needs (target <= 0.5), read off the mean curves at the
first point that reaches it, and interpolated linearly between that point and the one before.

    .venv/bin/python benchmarks/active_learning.py [--test-speaker theo] [--pool 800] ...

The figure in RESULTS.md (session 10), the five folds with the product's retraining schedule
(a training after every 10 labels, or 10% more when that is more):

    .venv/bin/python benchmarks/active_learning.py --pool 2000 --seed-size 20 --batch 10 \
        --growth 0.1 --repeats 3 --epochs 10 --min-steps 200 --strategy hybrid --budget 200 \
        --test-speaker theo --test-speaker jackson --test-speaker lucas \
        --test-speaker nicolas --test-speaker yweweler

Several `--test-speaker` folds end with the folds pooled (mean curves over every fold's repeats,
against the mean all-labels accuracy), and with the spread of the pooled ratio: the ratio of
BOOTSTRAP_DRAWS resamples of each fold's repeats (a run is one import order), its median and 90%
interval. `--combine A.json B.json ...` pools saved curves; files of one fold (the same test
manifest, e.g. repeats 0-2 and, from a run with `--first-repeat 3`, repeats 3-5) join as one fold.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import statistics
import time
from pathlib import Path

SPEAKERS = ("jackson", "lucas", "nicolas", "theo", "yweweler")
TARGET_RATIO = 0.5
REFERENCE_SHARE = 0.95
BOOTSTRAP_DRAWS = 1000


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--test-speaker", action="append", choices=SPEAKERS, help="fold(s)")
    p.add_argument("--pool", type=int, default=800, help="clips drawn from the four speakers")
    p.add_argument("--seed-size", type=int, default=40)
    p.add_argument("--batch", type=int, default=40)
    p.add_argument("--budget", type=int, default=240)
    p.add_argument(
        "--growth", type=float, default=0.0, help="rounds of this share more labels (0.25)"
    )
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument(
        "--first-repeat",
        type=int,
        default=0,
        help="number the repeats from here (3: three new runs beside an earlier 0-2)",
    )
    p.add_argument("--epochs", type=int, default=4, help="MLConfig.epochs of the project")
    p.add_argument(
        "--min-steps", type=int, default=40, help="EARMARK_TRAIN_MIN_STEPS (product: 200)"
    )
    p.add_argument(
        "--test-in-project",
        action="store_true",
        help="the test speaker's clips sit unlabeled in every simulated project (and the "
        "reference's), as in ml_fsdd: training adapts to them",
    )
    p.add_argument("--strategy", action="append", help="default: margin, hybrid (+ random)")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="JSON",
        help="no simulation: pool the folds of these learning_curves.json files (of one "
        "schedule) and report them as one",
    )
    return p.parse_args()


def _manifest(path: Path, files: list[Path]) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["audio", "labels", "speaker"])
        for f in files:
            digit, speaker, _ = f.stem.split("_")
            writer.writerow([str(f), digit, speaker])
    return path


def labels_to_reach(curve: list[dict], target: float) -> int | None:
    """Labels at the first point of a mean curve whose accuracy reaches `target`."""
    return next((p["labels"] for p in curve if (p["accuracy"] or 0.0) >= target), None)


def labels_to_reach_interpolated(curve: list[dict], target: float) -> float | None:
    """Where the mean curve first crosses `target`, on the straight line between the point
    that reaches it and the one before (the first point itself when that one reaches it)."""
    before = None
    for p in curve:
        acc = p["accuracy"] or 0.0
        if acc >= target:
            if before is None or acc == before[1]:
                return float(p["labels"])
            share = (target - before[1]) / (acc - before[1])
            return before[0] + share * (p["labels"] - before[0])
        before = (p["labels"], acc)
    return None


def pooled(results: list[dict]) -> tuple[dict, float]:
    """The folds as one: each strategy's curve is the mean, label point by label point, over
    every fold's repeats (each fold must hold as many as the others, so each weighs the same),
    and the reference is the mean of the folds' all-labels accuracies, i.e. the first target's
    mean held-out-speaker accuracy. Points that not every fold reached are left out."""
    from ml_backend.metrics import mean_curve

    names = [s for s in results[0]["strategies"] if all(s in r["strategies"] for r in results)]
    strategies = {}
    for name in names:
        counts = {len(r["strategies"][name]["repeats"]) for r in results}
        if len(counts) > 1:
            raise ValueError(
                f"{name}: the folds hold {sorted(counts)} runs; pooled, each fold must hold as "
                "many as the others"
            )
        repeats = [points for r in results for points in r["strategies"][name]["repeats"]]
        mean = [p for p in mean_curve(repeats) if p["n"] == len(repeats)]
        strategies[name] = {"mean": mean}
    reference = statistics.fmean(r["reference"]["accuracy"] for r in results)
    return {"strategies": strategies}, reference


def _report_pooled(results: list[dict]) -> None:
    print(f"== {len(results)} folds pooled (mean curves over every fold's repeats)")
    result, reference = pooled(results)
    _report(result, reference, results[0]["reference"]["labels"])
    _report_spread(results)


def pooled_ratio(results: list[dict], strategy: str) -> tuple[float, str]:
    """The pooled interpolated ratio of `strategy` against random, and how it was read:
    "both" (both curves reach the bar); "random never" (random does not reach it: the ratio
    is at most the strategy's labels over random's last point, which is returned); "never"
    (the strategy does not reach it: infinity)."""
    result, reference = pooled(results)
    target = REFERENCE_SHARE * reference
    mine = labels_to_reach_interpolated(result["strategies"][strategy]["mean"], target)
    random_curve = result["strategies"]["random"]["mean"]
    base = labels_to_reach_interpolated(random_curve, target)
    if mine is None:
        return math.inf, "never"
    if base is None:
        return mine / random_curve[-1]["labels"], "random never"
    return mine / base, "both"


def ratio_spread(
    results: list[dict], strategy: str, draws: int = BOOTSTRAP_DRAWS, seed: int = 0
) -> dict:
    """How much the pooled ratio owes to which runs: `draws` resamples of each fold's runs
    with replacement (as many as it has), the pooled ratio of each. Run k of every strategy
    labels the same pool in the same import order, so a resample draws run numbers and takes
    both strategies' runs of those numbers (paired). Every draw counts: one where the strategy
    never reaches the bar as a ratio of infinity, one where random never does at its upper
    bound (`pooled_ratio`). Returns the median, the 5th and 95th percentiles, the share of
    draws at or under the target, and how many draws were read each way."""
    rng = random.Random(seed)
    ratios, kinds = [], {"both": 0, "random never": 0, "never": 0}
    for _ in range(draws):
        sample = []
        for r in results:
            mine, base = r["strategies"][strategy]["repeats"], r["strategies"]["random"]["repeats"]
            if len(mine) != len(base):
                raise ValueError(
                    f"{r.get('test_manifest', 'a fold')}: {len(mine)} {strategy} runs against "
                    f"{len(base)} random runs; resampled in pairs, they must be as many"
                )
            picks = rng.choices(range(len(mine)), k=len(mine))
            strategies = {
                strategy: {"repeats": [mine[i] for i in picks]},
                "random": {"repeats": [base[i] for i in picks]},
            }
            sample.append({**r, "strategies": strategies})
        value, kind = pooled_ratio(sample, strategy)
        ratios.append(value)
        kinds[kind] += 1
    ratios.sort()
    n = len(ratios)
    return {
        "median": ratios[n // 2],
        "low": ratios[int(0.05 * n)],
        "high": ratios[min(n - 1, int(0.95 * n))],
        "at_target": sum(v <= TARGET_RATIO for v in ratios) / n,
        "kinds": kinds,
    }


def _report_spread(results: list[dict]) -> None:
    def show(v: float) -> str:
        return "never" if math.isinf(v) else f"{v:.2f}"

    for name in results[0]["strategies"]:
        if name == "random" or not all(name in r["strategies"] for r in results):
            continue
        runs = len(results[0]["strategies"][name]["repeats"])
        spread = ratio_spread(results, name)
        kinds = spread["kinds"]
        print(
            f"{name} / random, interpolated, over {BOOTSTRAP_DRAWS} paired resamples of the "
            f"{runs} runs of each fold: median {show(spread['median'])}, 90% between "
            f"{show(spread['low'])} and {show(spread['high'])}; <= {TARGET_RATIO} in "
            f"{spread['at_target']:.0%} (both reach the bar in {kinds['both']}, random never "
            f"in {kinds['random never']}, {name} never in {kinds['never']})"
        )


IGNORED_SETTINGS = ("repeats", "first_repeat", "budget")


def _comparable(settings: dict | None) -> dict:
    """A run's settings less those that may differ between files of one fold."""
    return {k: v for k, v in (settings or {}).items() if k not in IGNORED_SETTINGS}


def merge_folds(results: list[dict]) -> list[dict]:
    """Results of one fold (the same test manifest) as one: their runs joined per strategy,
    the mean curves recomputed. They must have the same reference (one training on all the
    labels, the same for every run of the fold: a different one is another setting) and the
    same settings but for the runs and the budget, and no run number twice (where the files
    record them). Files without a test manifest stay folds of their own."""
    from ml_backend.metrics import mean_curve

    by_fold: dict = {}
    ranges: dict = {}
    for r in results:
        key = r.get("test_manifest", id(r))
        fold = by_fold.get(key)
        settings = r.get("settings") or {}
        if fold is None:
            fold = by_fold[key] = {**r, "strategies": {}}
        else:
            if abs(fold["reference"]["accuracy"] - r["reference"]["accuracy"]) > 1e-9:
                raise ValueError(
                    f"{key}: references {fold['reference']['accuracy']} and "
                    f"{r['reference']['accuracy']} differ: not runs of one setting"
                )
            mine, theirs = _comparable(fold.get("settings")), _comparable(settings)
            if mine != theirs:
                raise ValueError(f"{key}: files with different settings ({mine} / {theirs})")
        if "first_repeat" in settings:
            numbers = set(
                range(settings["first_repeat"], settings["first_repeat"] + settings["repeats"])
            )
            if ranges.get(key, set()) & numbers:
                raise ValueError(f"{key}: run numbers {sorted(numbers)} are joined twice")
            ranges[key] = ranges.get(key, set()) | numbers
        for name, strategy in r["strategies"].items():
            fold["strategies"].setdefault(name, {"repeats": []})["repeats"].extend(
                strategy["repeats"]
            )
    for fold in by_fold.values():
        for strategy in fold["strategies"].values():
            strategy["mean"] = mean_curve(strategy["repeats"])
        if "settings" in fold:
            fold["settings"] = {
                **fold["settings"],
                "repeats": len(next(iter(fold["strategies"].values()))["repeats"]),
            }
    return list(by_fold.values())


def _combine(paths: list[str]) -> None:
    if len({Path(p).resolve() for p in paths}) < len(paths):
        raise SystemExit("cannot combine: a file is named twice")
    try:
        results = merge_folds([json.loads(Path(p).read_text()) for p in paths])
    except ValueError as exc:
        raise SystemExit(f"cannot combine: {exc}") from None
    for r in results:
        n = len(next(iter(r["strategies"].values()))["repeats"])
        print(f"== {r.get('test_manifest', '?')} ({n} repeats)")
        _report(r, r["reference"]["accuracy"], r["reference"]["labels"])
    if len(results) > 1:
        _report_pooled(results)
    else:
        _report_spread(results)


def main() -> None:
    args = _args()
    if args.combine:
        _combine(args.combine)
        return
    os.environ["EARMARK_TRAIN_MIN_STEPS"] = str(args.min_steps)  # read when training imports
    # Without pretraining, as sessions 10-18 measured. Under the product's "auto" a first training
    # on 40 labels or more pretrains: the all-labels reference always would (moving the bar away
    # from theirs), and the loop would from --seed-size 40 (the product's first training is at
    # min_labels, 20). Set EARMARK_PRETRAIN=auto or 1 to measure with it.
    os.environ.setdefault("EARMARK_PRETRAIN", "0")
    from _stack import setup

    var = setup("active-learning")
    from django.conf import settings

    from labelapp.services.projects import project_create
    from ml_backend.models import MLConfig
    from ml_backend.simulation import SimulationConfig, plot_learning_curves, simulate
    from ontology.services import label_create

    recordings = settings.EARMARK_FSDD_DIR / "recordings"
    if not recordings.is_dir():
        raise SystemExit(f"FSDD not found at {recordings}")
    project = project_create(name="fsdd-al", target_sample_rate=8000)
    for digit in range(10):
        label_create(ontology=project.ontology, name=str(digit))
    MLConfig.objects.update_or_create(project=project, defaults={"epochs": args.epochs})
    strategies = args.strategy or ["margin", "hybrid"]
    print(
        f"pool {args.pool}, seed {args.seed_size} + {args.batch}/round (growth {args.growth}) "
        f"up to {args.budget}, "
        f"{args.repeats} repeats, epochs {args.epochs}, min steps {args.min_steps}, "
        f"test clips {'in the project, unlabeled' if args.test_in_project else 'held out'}"
    )
    started = time.monotonic()
    folds = []
    for speaker in args.test_speaker or ["theo"]:
        train_files = sorted(f for f in recordings.glob("*.wav") if f.stem.split("_")[1] != speaker)
        random.Random(0).shuffle(train_files)
        pool = _manifest(var / f"pool-{speaker}.csv", train_files[: args.pool])
        test = _manifest(var / f"test-{speaker}.csv", sorted(recordings.glob(f"*_{speaker}_*.wav")))
        print(f"== fold: test speaker {speaker}")
        n = min(args.pool, len(train_files))
        reference = simulate(
            project=project,
            manifest=pool,
            test_manifest=test,
            config=SimulationConfig(
                ["random"],
                seed_size=n,
                batch=n,
                budget=n,
                repeats=1,
                test_in_project=args.test_in_project,
            ),
            progress=lambda line: print("reference", line.strip(), flush=True),
            store=False,
        )
        ref_acc = reference["strategies"]["random"]["mean"][-1]["accuracy"]
        result = simulate(
            project=project,
            manifest=pool,
            test_manifest=test,
            config=SimulationConfig(
                strategies,
                seed_size=args.seed_size,
                batch=args.batch,
                budget=args.budget,
                repeats=args.repeats,
                first_repeat=args.first_repeat,
                growth=args.growth,
                test_in_project=args.test_in_project,
            ),
            progress=lambda line: print(line, flush=True),
        )
        out = var / f"learning_curves-{speaker}"
        out.mkdir(exist_ok=True)
        result["reference"] = {"labels": n, "accuracy": ref_acc}
        (out / "learning_curves.json").write_text(json.dumps(result, indent=1))
        plot_learning_curves(result, out / "learning_curves.png")
        _report(result, ref_acc, n)
        print(f"curves: {out}")
        folds.append(result)
    if len(folds) > 1:
        _report_pooled(folds)
    elif folds:
        _report_spread(folds)
    print(f"total {time.monotonic() - started:.0f} s")


def _report(result: dict, ref_acc: float, n: int) -> None:
    target = REFERENCE_SHARE * ref_acc
    print(f"all-labels reference ({n} labels): accuracy {ref_acc:.3f}; 95% of it: {target:.3f}")
    names = list(result["strategies"])
    # Curves of several files may stop at different budgets: a row per labels point of any.
    at = {s: {p["labels"]: p for p in result["strategies"][s]["mean"]} for s in names}
    labels = sorted({lab for points in at.values() for lab in points})
    print("| labels | " + " | ".join(f"{s} acc (F1)" for s in names) + " |")
    print("|---:|" + "---:|" * len(names))
    for lab in labels:
        cells = []
        for s in names:
            p = at[s].get(lab)
            cells.append(
                f"{p['accuracy']:.3f} ± {p['accuracy_std']:.3f} ({p['macro_f1']:.3f})" if p else "–"
            )
        print(f"| {lab} | " + " | ".join(cells) + " |")
    needed = {s: labels_to_reach(result["strategies"][s]["mean"], target) for s in names}
    between = {
        s: labels_to_reach_interpolated(result["strategies"][s]["mean"], target) for s in names
    }
    budget = labels[-1]
    for s, k in needed.items():
        where = f"{k} labels (interpolated {between[s]:.0f})" if k else f"> {budget} labels"
        print(f"{s}: reaches {target:.3f} at {where}")
    best = (
        min((k, s) for s, k in needed.items() if s != "random" and k)
        if any(k for s, k in needed.items() if s != "random")
        else None
    )
    if best is None:
        print("label-efficiency ratio: n/a (no strategy reached the target within the budget)")
    elif needed["random"]:
        ratio = best[0] / needed["random"]
        smooth = between[best[1]] / between["random"]
        print(
            f"label-efficiency ratio ({best[1]} / random): {best[0]}/{needed['random']} = "
            f"{ratio:.2f}; interpolated {between[best[1]]:.0f}/{between['random']:.0f} = "
            f"{smooth:.2f} (target <= {TARGET_RATIO})"
        )
    else:
        print(
            f"label-efficiency ratio ({best[1]} / random): < {best[0]}/{budget} = "
            f"{best[0] / budget:.2f} (random did not reach the target within {budget} labels)"
        )


if __name__ == "__main__":
    main()
