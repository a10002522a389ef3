"""Seconds per training epoch on FSDD under each torch thread / OpenMP / precision setting,
on an idle machine and beside one busy process (a pure-Python loop on one core).

Each setting runs in its own process, because OpenMP reads its wait policy when torch loads.
The trainings are the product's (`ml_backend.train.train_model`, the benchmark's model), on
the 2,000 clips of four speakers, two epochs each; the figure is the mean of both epochs.

    .venv/bin/python benchmarks/train_threads.py [--epochs 2] [--no-busy]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# (name, environment, TrainConfig overrides)
SETTINGS = [
    ("2 threads, passive wait", {"OMP_WAIT_POLICY": "PASSIVE"}, {"num_threads": 2, "bf16": False}),
    (
        "2 threads, spin 100,000",
        {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": "100000"},
        {"num_threads": 2, "bf16": False},
    ),
    ("2 threads, libgomp default", {}, {"num_threads": 2, "bf16": False}),
    ("1 thread", {"OMP_WAIT_POLICY": "PASSIVE"}, {"num_threads": 1, "bf16": False}),
    ("1 thread, bfloat16", {"OMP_WAIT_POLICY": "PASSIVE"}, {"num_threads": 1, "bf16": True}),
]

CHILD = """
import json, sys
import torch  # first: ml_fsdd sets a passive OpenMP policy for whoever imports torch after it
sys.path.insert(0, {repo!r}); sys.path.insert(0, {bench!r})
from dataclasses import replace
import numpy as np
import ml_fsdd as B
from ml_backend.features import compute_logmel
from ml_backend.train import train_model, native_bf16
audio, y, speakers, sr = B.load_dataset(B.DEFAULT_DATA)
idx = np.flatnonzero(speakers != "theo")
feats = {{i: compute_logmel(audio[i], sr, B.FEATURES) for i in idx}}
xw, groups = B.windows_for(feats, idx)
overrides = json.loads({overrides!r})
if overrides.get("bf16") and not native_bf16():
    print(json.dumps(None)); sys.exit()
cfg = replace(B.TRAIN, epochs={epochs}, **overrides)
result = train_model(xw, y[groups], groups=groups, config=cfg)
print(json.dumps([h["seconds"] for h in result.history]))
"""


def _epoch_seconds(env: dict, overrides: dict, epochs: int) -> float | None:
    code = CHILD.format(
        repo=str(REPO),
        bench=str(REPO / "benchmarks"),
        overrides=json.dumps(overrides),
        epochs=epochs,
    )
    omp = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    child_env = {k: v for k, v in os.environ.items() if k not in omp}
    child_env.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=child_env, capture_output=True, text=True, check=True
    )
    seconds = json.loads(out.stdout.strip().splitlines()[-1])
    return None if seconds is None else sum(seconds) / len(seconds)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--no-busy", action="store_true", help="idle measurements only")
    args = p.parse_args()
    rows = []
    for name, env, overrides in SETTINGS:
        idle = _epoch_seconds(env, overrides, args.epochs)
        busy = None
        if not args.no_busy and idle is not None:
            loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                busy = _epoch_seconds(env, overrides, args.epochs)
            finally:
                loop.kill()
                loop.wait()
        rows.append((name, idle, busy))
        cells = [f"{v:.2f}" if v is not None else "n/a" for v in (idle, busy)]
        print(f"{name:<30} idle {cells[0]:>6} s/epoch, beside a busy process {cells[1]:>6}")
    base = rows[0][1]
    best = min((r for r in rows if r[1] is not None), key=lambda r: max(r[1], r[2] or 0))
    print(
        f"most robust: {best[0]} ({best[1]:.2f} idle, "
        f"{best[2] if best[2] is None else round(best[2], 2)} busy); "
        f"ratio against 2 passive threads idle: {base / best[1]:.2f}x faster"
    )


if __name__ == "__main__":
    main()
