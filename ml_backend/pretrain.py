"""Self-supervised pretraining of the CNN's feature extractor on a project's own clips.

Before the first labels, a project already holds what it will be labeled on: its unlabeled
clips. A contrastive objective (SimCLR, Chen et al. 2020) teaches the front end and the
residual blocks to tell clips apart under the training augmentations (gain, noise, time
shift, equaliser, frequency warp, MixStyle, SpecAugment masks): two augmented views of one
window must embed close together and far from every other window of the batch. What survives
those augmentations is what a clip says, not how loud or through which microphone or voice it
was recorded. The first training then starts from these weights instead of random ones, so its
few labels tune a feature extractor rather than build one.

Pure PyTorch, no Django; deterministic for a seed and thread count.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ml_backend.model import AudioCNN, ModelConfig
from ml_backend.train import TrainingCancelled, _band_stats, seed_everything

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]

# The heads are what labels train; everything else is the feature extractor shared with them.
HEAD_PREFIXES = ("frame_head.", "att_head.", "clip_head.")


@dataclass
class PretrainConfig:
    """Settings of the contrastive pretraining.

    Attributes:
        steps: optimizer steps in all (the epochs follow from the windows at hand): the cost
            is bounded whatever the project's size. 240 steps of 256 windows is 30 passes
            over FSDD's 2,000 clips, ~150 s on one thread of a 2-core Intel Xeon.
        batch_size: windows per step; every other window of the batch is a negative.
        lr: peak learning rate (one-cycle, AdamW).
        temperature: of the NT-Xent loss.
        projection_dim: size of the projection head the loss is computed on (dropped after).
        freq_warp, eq_db: augmentations stronger than the supervised training's, applied
            to the views only: vocal-tract-length and microphone changes are what the
            embedding must ignore.
        seed: seeds the initialisation, the order and the augmentations.
        num_threads: torch intra-op threads (0: keep torch's setting).
    """

    steps: int = 240
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 0.2
    projection_dim: int = 64
    freq_warp: float = 0.1
    eq_db: float = 6.0
    seed: int = 0
    num_threads: int = 1


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss: each view must pick its partner out of the batch's 2N - 1 other views.

    z1, z2: (N, D) projections of two views of the same N windows."""
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.t() / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, partner)


def backbone_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's weights less its heads (their shape depends on the labels)."""
    return {
        k: v.detach().clone()
        for k, v in model.state_dict().items()
        if not k.startswith(HEAD_PREFIXES)
    }


def contrastive_pretrain(
    windows: np.ndarray,
    model_config: ModelConfig,
    config: PretrainConfig | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[dict[str, torch.Tensor], dict]:
    """Pretrain an ``AudioCNN``'s feature extractor on unlabeled windows.

    Args:
        windows: (N, n_mels, frames) raw log-mel windows, N >= 2.
        model_config: the architecture the trainings will use (its heads are not trained).
        progress: called as ``progress(fraction, message)`` every few steps.
        should_stop: polled every step; true raises ``TrainingCancelled``.

    Returns:
        (the backbone's state dict, for ``load_matching_state``; a summary: steps, windows,
        first and last loss, seconds)
    """
    config = config or PretrainConfig()
    if len(windows) < 2:
        raise ValueError("pretraining needs at least two windows")
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(config.num_threads or prev_threads)
    try:
        return _pretrain(windows, model_config, config, progress, should_stop)
    finally:
        torch.set_num_threads(prev_threads)


def _pretrain(windows, model_config, config, progress, should_stop):  # noqa: ANN001, ANN202
    seed_everything(config.seed)
    started = time.perf_counter()
    mcfg = dataclasses.replace(
        model_config,
        n_mels=windows.shape[1],
        aug_freq_warp=max(model_config.aug_freq_warp, config.freq_warp),
        aug_eq_db=max(model_config.aug_eq_db, config.eq_db),
    )
    model = AudioCNN(mcfg)
    x = torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))
    model.set_normalization(*_band_stats(model, windows))
    dim = mcfg.embedding_dim
    projection = nn.Sequential(
        nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, config.projection_dim)
    )
    params = [p for n, p in model.named_parameters() if not n.startswith(HEAD_PREFIXES)]
    params += list(projection.parameters())
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=max(8, config.steps), pct_start=0.1
    )
    bs = min(config.batch_size, len(x))
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(x))
    cursor = 0
    losses: list[float] = []
    model.train()
    for step in range(config.steps):
        if should_stop is not None and should_stop():
            raise TrainingCancelled(f"cancelled at pretraining step {step + 1}")
        if cursor + bs > len(x):
            order, cursor = rng.permutation(len(x)), 0
        idx = torch.from_numpy(order[cursor : cursor + bs])
        cursor += bs
        xb = x[idx]
        # Two passes in training mode: two draws of every augmentation, one per view.
        loss = nt_xent(
            projection(model(xb)["embedding"]),
            projection(model(xb)["embedding"]),
            config.temperature,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if sched.last_epoch + 1 < max(8, config.steps):
            sched.step()
        losses.append(float(loss.detach()))
        if progress is not None and (step + 1) % 10 == 0:
            recent = float(np.mean(losses[-10:]))
            progress((step + 1) / config.steps, f"step {step + 1}/{config.steps} loss {recent:.3f}")
    model.eval()
    summary = {
        "steps": config.steps,
        "windows": len(x),
        "first_loss": round(float(np.mean(losses[:10])), 4),
        "last_loss": round(float(np.mean(losses[-10:])), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return backbone_state(model), summary
