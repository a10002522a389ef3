"""Training loop: stratified split, AdamW + one-cycle LR, early stopping on macro-F1.

Pure PyTorch/NumPy. Deterministic on CPU for a given seed and thread count: all
randomness (init, shuffling, augmentation) comes from generators seeded here.
"""

from __future__ import annotations

import copy
import dataclasses
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torch import nn

from ml_backend import hierarchy
from ml_backend.features import cut_windows
from ml_backend.metrics import compute_metrics
from ml_backend.model import AudioCNN, ModelConfig, load_matching_state, probabilities

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]


class TrainingCancelled(Exception):
    """Raised when ``should_stop()`` returns true during training."""


@dataclass
class TrainConfig:
    """Optimisation settings.

    Attributes:
        model: architecture and augmentation; ``n_mels`` is taken from the data, and
            ``n_classes`` from the targets (single-label: at least max label + 1).
        epochs: maximum epochs; the one-cycle schedule spans all of them.
        batch_size: windows per step.
        lr: peak learning rate of the one-cycle schedule.
        weight_decay: AdamW decoupled weight decay.
        val_fraction: share of groups held out (stratified) for early stopping; 0 = none.
        patience: epochs without validation macro-F1 improvement before stopping.
        loss: "ce" (cross-entropy / BCE) or "focal".
        focal_gamma: focusing exponent for the focal loss.
        class_weighting: weight classes by inverse frequency (pos_weight for BCE).
        label_smoothing: cross-entropy label smoothing (single-label only).
        mixup_alpha: if > 0, mix pairs of training windows (powers added, weights from
            Beta(alpha, alpha)) and their losses.
        parents: label hierarchy; multi-label targets are expanded to ancestors.
        window_frames, window_hop_frames: used when X is a list of variable-length clips.
        seed: seeds torch, numpy and random.
        num_threads: torch intra-op threads during training; 0 keeps torch's setting (the
            cores, or ``OMP_NUM_THREADS``). One by default: with the passive OpenMP wait
            policy the workers use (spinning threads slow a busy 2-core machine 5-20x), one
            thread trained FSDD faster than two on a quiet machine (2.4 vs 3.3 s an epoch)
            and beside another busy process (2.5 vs 3.7 s); benchmarks/train_threads.py.
        keep_best: return the epoch with the best validation macro-F1 and stop early; False
            trains every epoch and returns the last (validation still measured and reported).
        pseudo_rounds: rounds of ``self_train``; each labels the unlabeled clips again with
            the model the round before tuned, then tunes it on them.
        pseudo_balanced: pick the confident clips class by class (the same share of the
            cap for each predicted class) instead of the most confident overall.
        pseudo_align: distribution alignment of the pseudo-labels, in rounds of Sinkhorn
            balancing (0: off): the unlabeled clips' predicted probabilities are rescaled,
            class by class, until their mean matches the project's class frequencies
            (``project_prior``: labels and predictions, each clip once), then thresholded. A
            model that files a new voice's "six" under "eight" predicts "eight" for far more
            clips than the labels allow; alignment moves the least "eight"-like of them back
            before they become training targets. 20 rounds by default: on FSDD's held-out
            speakers it raised every fold (mean 0.941 -> 0.960, 0.957 with the project prior;
            the hardest, nicolas, 0.868 -> 0.916; benchmarks/RESULTS.md). Each class's scale
            is bounded (``ALIGN_MAX_SCALE``).
        bf16: compute the training steps' convolutions in bfloat16 (autocast; weights,
            batch norm, loss and every prediction stay float32). None: where the CPU
            multiplies bfloat16 natively (AMX or AVX512-BF16): a quarter off a step there;
            elsewhere it would be emulated, and slower.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-2
    val_fraction: float = 0.1
    patience: int = 8
    loss: str = "ce"
    focal_gamma: float = 2.0
    class_weighting: bool = True
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    parents: list[int] | None = None
    window_frames: int = 100
    window_hop_frames: int = 50
    seed: int = 0
    num_threads: int = 1
    keep_best: bool = True
    pseudo_rounds: int = 1
    pseudo_balanced: bool = False
    pseudo_align: int = 20
    bf16: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d


@dataclass
class TrainResult:
    model: AudioCNN
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    config: TrainConfig
    best_epoch: int = 0


def native_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AMX tiles or AVX512-BF16)."""
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - legacy global RNG used by some libraries
    torch.manual_seed(seed)


def _prepare(
    x: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray | Sequence[Any],
    groups: Sequence[Any] | None,
    config: TrainConfig,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Windows (N, M, F) float32, targets (N,) or (N, C), group ids (N,) and, for each window,
    the index of the example of `x` it is from (N,)."""
    y_arr = np.asarray(y)
    if isinstance(x, np.ndarray) and x.ndim == 3:
        windows = x.astype(np.float32, copy=False)
        g = np.asarray(groups) if groups is not None else np.arange(len(windows))
        return windows, y_arr, g, np.arange(len(windows))
    # Variable-length clips: cut into windows, each inheriting its clip's label and group.
    parts, ys, gs, items = [], [], [], []
    clip_groups = list(groups) if groups is not None else list(range(len(x)))
    for i, feats in enumerate(x):
        f = np.asarray(feats, np.float32)
        # A clip may come pre-cut, (k, M, F): windows chosen from a long recording.
        w = f if f.ndim == 3 else cut_windows(f, config.window_frames, config.window_hop_frames)
        parts.append(w)
        ys.extend([y_arr[i]] * len(w))
        gs.extend([clip_groups[i]] * len(w))
        items.extend([i] * len(w))
    return np.concatenate(parts), np.asarray(ys), np.asarray(gs), np.asarray(items)


def per_example(
    targets: np.ndarray, probs: np.ndarray, items: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Window targets and probabilities joined per example: its first window's target and
    the mean of its windows' probabilities (as a clip's score is the mean of its windows')."""
    order, first = np.unique(items, return_index=True)
    index = np.searchsorted(order, items)
    sums = np.zeros((len(order), probs.shape[1]), dtype=np.float64)
    np.add.at(sums, index, probs)
    counts = np.bincount(index, minlength=len(order))[:, None]
    return targets[first], (sums / counts).astype(np.float32)


def _split(
    y: np.ndarray, groups: np.ndarray, multi_label: bool, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, val) with whole groups on one side, stratified by class."""
    uniq, first = np.unique(groups, return_index=True)
    if val_fraction <= 0 or len(uniq) < 4:
        return np.arange(len(y)), np.zeros(0, dtype=np.int64)
    # Stratify on one label per group: the class for single-label, the rarest positive
    # class (or "none") for multi-label.
    if multi_label:
        freq = y.sum(axis=0)
        strat = np.array(
            [
                int(np.flatnonzero(row)[np.argmin(freq[np.flatnonzero(row)])]) if row.any() else -1
                for row in y[first]
            ]
        )
    else:
        strat = y[first].astype(np.int64)
    _, counts = np.unique(strat, return_counts=True)
    n_val = max(1, round(val_fraction * len(uniq)))
    can_stratify = counts.min() >= 2 and n_val >= len(counts)
    tr_g, va_g = train_test_split(
        uniq, test_size=n_val, random_state=seed, stratify=strat if can_stratify else None
    )
    va_mask = np.isin(groups, va_g)
    return np.flatnonzero(~va_mask), np.flatnonzero(va_mask)


class _Loss(nn.Module):
    """Cross-entropy / BCE, optionally focal and class-weighted. logits (B, C)."""

    def __init__(
        self, config: TrainConfig, multi_label: bool, weights: torch.Tensor | None
    ) -> None:
        super().__init__()
        self.multi_label = multi_label
        self.focal = config.loss == "focal"
        self.gamma = config.focal_gamma
        self.smoothing = config.label_smoothing
        self.weights = weights

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.multi_label:
            bce = nn.functional.binary_cross_entropy_with_logits(
                logits, target, pos_weight=self.weights, reduction="none"
            )
            if self.focal:
                p = torch.sigmoid(logits)
                pt = target * p + (1 - target) * (1 - p)
                bce = (1 - pt).pow(self.gamma) * bce
            return bce.mean()
        if self.focal:
            logp = torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
            loss = -((1 - logp.exp()).pow(self.gamma)) * logp
            if self.weights is not None:
                loss = loss * self.weights[target]
            return loss.mean()
        return nn.functional.cross_entropy(
            logits, target, weight=self.weights, label_smoothing=self.smoothing
        )


def _class_weights(y: np.ndarray, n_classes: int, multi_label: bool) -> torch.Tensor:
    if multi_label:
        pos = y.sum(axis=0)
        # pos_weight = negatives / positives, capped so a rare class cannot dominate.
        w = np.clip((len(y) - pos) / np.maximum(pos, 1), 1.0, 20.0)
    else:
        counts = np.bincount(y.astype(np.int64), minlength=n_classes).astype(np.float64)
        w = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
        w = np.clip(w, 0.0, 20.0)
    return torch.as_tensor(w, dtype=torch.float32)


@torch.inference_mode()
def _band_stats(
    model: AudioCNN, x: np.ndarray, max_windows: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean/std (n_mels,) of the inputs as the model sees them before band
    normalisation (i.e. after peak normalisation), on up to ``max_windows`` windows."""
    step = max(1, len(x) // max_windows)  # evenly spaced: rows may be sorted by class
    sub = model.level_normalize(torch.from_numpy(np.ascontiguousarray(x[::step])))
    return sub.mean(dim=(0, 2)).numpy(), sub.std(dim=(0, 2)).numpy()


@torch.inference_mode()
def predict_windows(model: AudioCNN, windows: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Clip probabilities (N, C) for windows (N, M, F), model in eval mode."""
    model.eval()
    outs = []
    for i in range(0, len(windows), batch_size):
        logits = model(torch.from_numpy(windows[i : i + batch_size]))["clip_logits"]
        outs.append(probabilities(logits, model.config.multi_label))
    if not outs:
        return np.zeros((0, model.config.n_classes), dtype=np.float32)
    return torch.cat(outs).numpy()


def train_model(
    x: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray | Sequence[Any],
    groups: Sequence[Any] | None = None,
    config: TrainConfig | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    extra: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainResult:
    """Train an ``AudioCNN``.

    Args:
        x: windows (N, n_mels, frames) or a list of per-clip (n_mels, T_i) arrays (a clip may
            come as its (k_i, n_mels, frames) windows, already cut).
        y: (N,) class indices (single-label) or (N, C) 0/1 targets (multi-label).
        groups: group id per row (e.g. clip or recording id) kept on one side of the split.
        config: training settings; ``config.model.multi_label`` selects the loss.
        init_state: previous state dict for a warm start; tensors whose name and shape
            match are copied (a head with a different class count starts fresh).
        progress: called as ``progress(fraction in [0, 1], message)`` after each epoch.
        should_stop: polled every step; if it returns true, ``TrainingCancelled`` is raised.
        extra: (windows (K, n_mels, frames), targets) added to the training side only, after
            the validation split (pseudo-labels: validation stays on human labels).

    Returns:
        TrainResult with the best-validation model (eval mode), its validation metrics
        (training metrics when there is no validation split) and per-epoch history.
    """
    config = config or TrainConfig()
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads or prev_threads)
    try:
        return _train(x, y, groups, config, init_state, progress, should_stop, extra)
    finally:
        torch.set_num_threads(prev_threads)


def _train(  # noqa: ANN001
    x, y, groups, config, init_state, progress, should_stop, extra=None
) -> TrainResult:
    seed_everything(config.seed)
    windows, targets, group_ids, items = _prepare(x, y, groups, config)
    multi = config.model.multi_label
    n_classes = targets.shape[1] if multi else max(config.model.n_classes, int(targets.max()) + 1)
    if multi and config.parents is not None:
        targets = hierarchy.expand_targets(targets, config.parents)
    mcfg = dataclasses.replace(config.model, n_mels=windows.shape[1], n_classes=n_classes)
    config = dataclasses.replace(config, model=mcfg)

    tr_idx, va_idx = _split(targets, group_ids, multi, config.val_fraction, config.seed)
    model = AudioCNN(mcfg)
    if init_state is not None:
        load_matching_state(model, init_state)
    x_tr, y_tr = windows[tr_idx], targets[tr_idx]
    if extra is not None:  # pseudo-labeled windows: training side only, never validation
        x_tr = np.concatenate([x_tr, extra[0].astype(np.float32, copy=False)])
        y_tr = np.concatenate([y_tr, np.asarray(extra[1], dtype=y_tr.dtype)])
    model.set_normalization(*_band_stats(model, x_tr))

    xt = torch.from_numpy(np.ascontiguousarray(x_tr))
    yt = torch.as_tensor(y_tr, dtype=torch.float32 if multi else torch.long)
    weights = _class_weights(y_tr, n_classes, multi) if config.class_weighting else None
    loss_fn = _Loss(config, multi, weights)

    n = len(x_tr)
    bs = min(config.batch_size, n)
    # Drop a trailing batch of one: batch norm cannot train on it.
    steps = n // bs + (1 if n % bs > 1 else 0)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        # at least 8: OneCycleLR divides by its phase lengths, zero below ~4 steps
        opt,
        max_lr=config.lr,
        total_steps=max(8, steps * config.epochs),
        pct_start=0.25,
    )
    rng = np.random.default_rng(config.seed)
    bf16 = native_bf16() if config.bf16 is None else config.bf16
    history: list[dict[str, Any]] = []
    best_f1, best_epoch, best_state, bad = -1.0, 0, None, 0
    total_steps = steps * config.epochs
    for epoch in range(config.epochs):
        t0 = time.perf_counter()
        model.train()
        order = torch.from_numpy(rng.permutation(n))
        running = 0.0
        for s in range(steps):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(f"cancelled at epoch {epoch + 1}, step {s + 1}")
            idx = order[s * bs : (s + 1) * bs]
            xb, yb = xt[idx], yt[idx]
            if config.mixup_alpha > 0:
                lam = float(rng.beta(config.mixup_alpha, config.mixup_alpha))
                lam = max(lam, 1 - lam)  # the first clip dominates
                perm = torch.from_numpy(rng.permutation(len(idx)))
                # Mix powers, not log powers: log(lam * P1 + (1 - lam) * P2).
                xb = torch.logaddexp(xb + np.log(lam), xb[perm] + np.log(1 - lam + 1e-8))
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = model(xb)
            logits = out["clip_logits"].float()
            if config.mixup_alpha > 0:
                loss = lam * loss_fn(logits, yb) + (1 - lam) * loss_fn(logits, yb[perm])
            else:
                loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched.last_epoch + 1 < total_steps:
                sched.step()
            running += float(loss.detach())
        entry: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss": running / max(1, steps),
            "lr": float(opt.param_groups[0]["lr"]),
        }
        if len(va_idx):
            probs = predict_windows(model, windows[va_idx])
            m = compute_metrics(targets[va_idx], probs, multi_label=multi)
            entry.update(val_accuracy=m["accuracy"], val_macro_f1=m["macro_f1"])
            if m["macro_f1"] > best_f1:
                best_f1, best_epoch, bad = m["macro_f1"], epoch + 1, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                bad += 1
        entry["seconds"] = time.perf_counter() - t0
        history.append(entry)
        if progress is not None:
            msg = f"epoch {epoch + 1}/{config.epochs} loss {entry['loss']:.4f}"
            if "val_macro_f1" in entry:
                msg += f" val macro-F1 {entry['val_macro_f1']:.3f}"
            progress((epoch + 1) / config.epochs, msg)
        if config.keep_best and len(va_idx) and bad >= config.patience:
            break
    if config.keep_best and best_state is not None:
        model.load_state_dict(best_state)
    else:
        best_epoch = len(history)
    model.eval()
    eval_idx = va_idx if len(va_idx) else tr_idx
    # Per labeled example, as the model page counts them (a clip, or a labeled span), not per
    # window: a 1.1 s clip is two windows, and "31/32" was reported over 31 clips.
    unit_targets, unit_probs = per_example(
        targets[eval_idx], predict_windows(model, windows[eval_idx]), items[eval_idx]
    )
    metrics = compute_metrics(unit_targets, unit_probs, multi_label=multi, parents=config.parents)
    metrics.update(
        split="validation" if len(va_idx) else "train",
        # Examples (clips, or a clip's labeled spans), as the figures count them; the windows
        # the network saw beside them (a 1.1 s clip is two).
        train_size=int(len(np.unique(items[tr_idx]))),
        val_size=int(len(np.unique(items[va_idx]))),
        train_windows=len(tr_idx),
        val_windows=len(va_idx),
        # Whole groups sit on one side of the split (clips, or a speaker's clips together).
        groups=int(len(np.unique(group_ids))),
        val_groups=int(len(np.unique(group_ids[va_idx]))),
        best_epoch=best_epoch,
        epochs_run=len(history),
    )
    return TrainResult(
        model=model, metrics=metrics, history=history, config=config, best_epoch=best_epoch
    )


# Self-training (pseudo-labels): clips the model is sure about, from the data it will meet,
# join a short second training. On FSDD's held-out speakers it added 3-5 points on top of
# batch-norm adaptation (benchmarks/RESULTS.md).
PSEUDO_THRESHOLD = 0.9
PSEUDO_EPOCHS = 6
PSEUDO_LR = 1e-3
# Pseudo-labeled clips per labeled clip at most (the most confident first): with few labels a
# weak model must not drown them in its own answers. 4, not 1: on FSDD's active-learning
# curves (hybrid, rounds of 40) four per label gave +11 points at 80 labels, +4 at 160, +2 at
# 200, the same at 250 and -2 at 40; the confidence threshold keeps the wrong answers out.
PSEUDO_MAX_RATIO = 4.0
# Bound on each class's scale when pseudo-labels are aligned to the project's class frequencies
# (``align_distribution``): two classes' probabilities move at most 100-fold against each
# other. FSDD's hardest held-out voice needs 62-fold ("six" against "eight"); a bound of 4
# cost it 2.4 points, 10 gave the unbounded result (benchmarks/RESULTS.md).
ALIGN_MAX_SCALE = 10.0


def self_train(
    result: TrainResult,
    x: np.ndarray | Sequence[np.ndarray],
    y: np.ndarray | Sequence[Any],
    groups: Sequence[Any] | None,
    unlabeled: Sequence[np.ndarray],
    *,
    threshold: float = PSEUDO_THRESHOLD,
    adapt: Callable[[AudioCNN], None] | None = None,
    unlabeled_total: int | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[TrainResult, int]:
    """Fine-tune ``result.model`` on the labeled data plus the unlabeled clips it labels with
    at least ``threshold`` confidence (single-label models only), ``config.pseudo_rounds``
    times.

    Args:
        result: the first training (its config is reused: same split, same validation).
        x, y, groups: the labeled data, as given to ``train_model``.
        unlabeled: (n_mels, T_i) features of unlabeled clips.
        adapt: called with the model after each round (batch-norm adaptation to the
            unlabeled clips), so the next round labels them with adapted statistics.
        unlabeled_total: how many unlabeled clips ``unlabeled`` is a random sample of (default:
            itself), for the class frequencies the pseudo-labels are aligned to.

    Returns:
        (the fine-tuned result, or ``result`` itself when nothing qualified; pseudo-labels
        used by the last round)
    """
    from ml_backend.infer import predict_batch

    config = result.config
    if config.model.multi_label or not len(unlabeled):
        return result, 0
    window = (config.window_frames, config.window_hop_frames)
    if isinstance(x, np.ndarray) and x.ndim == 3:  # pre-cut windows: cut the new clips alike
        window = (x.shape[2], min(config.window_hop_frames, x.shape[2]))
    # Rows of pre-cut windows share their clip's group; rows of a list are clips already
    # (their groups may hold many clips: a speaker's, kept together in validation).
    rows_are_windows = isinstance(x, np.ndarray) and x.ndim == 3
    by_group = groups if rows_are_windows else None
    n_labeled = len(np.unique(by_group)) if by_group is not None else len(y)
    cap = int(PSEUDO_MAX_RATIO * n_labeled)
    counts = _class_counts(np.asarray(y), by_group, config.model.n_classes)
    weight = max(1, unlabeled_total or len(unlabeled)) / len(unlabeled)
    used = 0
    for _ in range(max(1, config.pseudo_rounds)):
        if should_stop is not None and should_stop():
            break  # cancelled: train_model would stop at once anyway
        probs = predict_batch(result.model, unlabeled, window, aggregate="mean")["clip_probs"]
        if config.pseudo_align > 0:
            prior = project_prior(counts, probs, weight)
            probs = align_distribution(probs, prior, config.pseudo_align)
        confident = _confident(probs, threshold, cap, balanced=config.pseudo_balanced)
        if not len(confident):
            break
        parts, targets = [], []
        for i in confident:
            w = cut_windows(np.asarray(unlabeled[i], np.float32), *window)
            parts.append(w)
            targets.extend([int(probs[i].argmax())] * len(w))
        result = train_model(
            x,
            y,
            groups=groups,
            # The last epoch, not the best on validation: validation holds human labels of
            # the known data only, blind to what the pseudo-labels teach about the new data.
            config=dataclasses.replace(config, epochs=PSEUDO_EPOCHS, lr=PSEUDO_LR, keep_best=False),
            init_state=result.model.state_dict(),
            progress=progress,
            should_stop=should_stop,
            extra=(np.concatenate(parts), np.asarray(targets, dtype=np.int64)),
        )
        result.config = config  # the next round and the caller see the settings asked for
        used = len(confident)
        if adapt is not None:
            adapt(result.model)
    return result, used


def _confident(probs: np.ndarray, threshold: float, cap: int, *, balanced: bool) -> np.ndarray:
    """Indices of the clips to pseudo-label: confidence >= ``threshold``, most confident first,
    at most ``cap``; ``balanced``: at most ``cap / classes`` per predicted class."""
    confidence = probs.max(axis=1)
    ranked = np.flatnonzero(confidence >= threshold)
    ranked = ranked[np.argsort(-confidence[ranked], kind="stable")]
    if not balanced:
        return ranked[:cap]
    per_class = max(1, cap // probs.shape[1])
    predicted = probs[ranked].argmax(axis=1)
    keep = np.zeros(len(ranked), dtype=bool)
    for c in np.unique(predicted):
        keep[np.flatnonzero(predicted == c)[:per_class]] = True
    return ranked[keep][:cap]


def _class_counts(y: np.ndarray, groups: Sequence[Any] | None, n_classes: int) -> np.ndarray:
    """Labeled clips per class (one vote per group when rows are windows)."""
    if groups is not None:
        _, first = np.unique(np.asarray(groups), return_index=True)
        y = y[first]
    return np.bincount(y.astype(np.int64), minlength=n_classes).astype(np.float64)


def project_prior(counts: np.ndarray, probs: np.ndarray, weight: float = 1.0) -> np.ndarray:
    """The project's class frequencies as best known: each labeled clip's label, plus each
    unlabeled clip's predicted probabilities (``probs``, a sample standing for ``weight``
    clips each). Labels an active-learning strategy picked are not a sample of the project:
    it asks most about the classes it confuses, so their frequencies alone would drag the
    pseudo-labels that way (FSDD, lucas held out, 244 hybrid labels: 45 "nine", 16 "six").
    So the labels count in proportion to the clips they cover: with a few hundred labels
    among thousands of clips the model's own estimate leads; with most clips labeled (the
    case of a new voice among a labeled project), the labels do. Non-finite rows are left
    out."""
    finite = np.isfinite(probs).all(axis=1)
    total = counts + weight * probs[finite].sum(axis=0)
    return total / max(float(total.sum()), 1e-12)


def align_distribution(
    probs: np.ndarray, prior: np.ndarray, rounds: int, max_scale: float = ALIGN_MAX_SCALE
) -> np.ndarray:
    """Rescale (N, C) class probabilities so their mean over the N clips matches ``prior``
    (Sinkhorn balancing: alternately scale columns to the prior and rows to sum 1).

    Distribution alignment (Berthelot et al., ReMixMatch, 2020) with ``rounds`` iterations:
    one round is ReMixMatch's step, many approach an exact match. Each class's scale stays
    within [1 / max_scale, max_scale], so a class the unlabeled clips lack (all its clips
    labeled already) or a class the model never predicts cannot pull every clip its way.
    Classes with a zero prior stay at zero; a row's ranking of its own classes changes only by
    the columns' scales. Rows that are not finite are left as they are and kept out of the
    means (they never pass a confidence threshold).
    """
    p0 = np.asarray(probs, dtype=np.float64)
    target = np.asarray(prior, dtype=np.float64)
    if len(p0) == 0 or target.sum() <= 0:
        return p0.astype(np.float32)
    finite = np.isfinite(p0).all(axis=1)
    if not finite.any():
        return p0.astype(np.float32)
    target = target / target.sum()
    scale = np.ones(p0.shape[1])
    p = p0
    for _ in range(rounds):
        scale = scale * target / np.maximum(p[finite].mean(axis=0), 1e-12)
        scale = np.where(target > 0, np.clip(scale, 1.0 / max_scale, max_scale), 0.0)
        p = p0 * scale[None, :]
        p = p / np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    return p.astype(np.float32)
