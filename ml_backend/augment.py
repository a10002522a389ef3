"""Training-time augmentation for log-mel windows (active only in training mode).

Operates on raw log-mel (natural-log power), so gains are additions and mixing
sounds is ``logaddexp``. Pure PyTorch; all randomness comes from torch's global
generator, which ``train.seed_everything`` seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from ml_backend.model import ModelConfig

# Natural-log power units per decibel of power: ln(10) / 10.
LN_PER_DB = float(np.log(10.0) / 10.0)


class Augment(nn.Module):
    """Training-time augmentation on raw log-mel; identity unless ``self.training``.

    Random gain (whole-clip shift in log power), noise mixed in at a random SNR below the
    clip's peak (``logaddexp`` = adding powers), and time shift filling with the clip's
    quietest value. SpecAugment masks are applied later, after normalisation.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, M, T) log-mel -> same shape."""
        if not self.training:
            return x
        cfg = self.config
        b, m, t = x.shape
        if cfg.aug_gain_db > 0:
            gain = (torch.rand(b, 1, 1) * 2 - 1) * cfg.aug_gain_db * LN_PER_DB
            x = x + gain
        if cfg.aug_noise_prob > 0:
            lo, hi = cfg.aug_noise_snr_db
            snr = (lo + (hi - lo) * torch.rand(b, 1, 1)) * LN_PER_DB
            peak = x.amax(dim=(1, 2), keepdim=True)
            noise = peak - snr + 0.5 * torch.randn(b, m, t)
            mixed = torch.logaddexp(x, noise)
            use = (torch.rand(b, 1, 1) < cfg.aug_noise_prob).to(x.dtype)
            x = use * mixed + (1 - use) * x
        if cfg.aug_eq_db > 0:
            # Smooth random equaliser (microphone/channel colouring): a few cosines over
            # the mel axis with random amplitudes, at most aug_eq_db in total.
            basis = torch.cos(
                torch.pi * torch.arange(1, 4)[:, None] * torch.linspace(0, 1, m)[None, :]
            )
            amp = (torch.rand(b, 3) * 2 - 1) * (cfg.aug_eq_db / 3) * LN_PER_DB
            x = x + (amp @ basis)[:, :, None]
        if cfg.aug_freq_warp > 0 or cfg.aug_time_stretch > 0:
            x = _warp(x, cfg.aug_freq_warp, cfg.aug_time_stretch)
        if cfg.aug_shift_frames > 0:
            shift = torch.randint(-cfg.aug_shift_frames, cfg.aug_shift_frames + 1, (b, 1))
            src = torch.arange(t)[None, :] - shift
            valid = ((src >= 0) & (src < t))[:, None, :]
            moved = x.gather(2, src.clamp(0, t - 1)[:, None, :].expand(b, m, t))
            floor = x.amin(dim=(1, 2), keepdim=True)
            x = torch.where(valid, moved, floor)
        return x


def _warp(x: torch.Tensor, freq_warp: float, time_stretch: float) -> torch.Tensor:
    """Random per-example linear stretch of the mel axis (a crude vocal-tract-length
    perturbation, factor 1 +- freq_warp) and of the time axis (speaking rate, factor
    between 1 / (1 + time_stretch) and 1 + time_stretch), both anchored at index 0.

    x: (B, M, T) log-mel; regions pulled in from outside are filled with the example's
    minimum (silence).
    """
    b = x.shape[0]
    floor = x.amin(dim=(1, 2), keepdim=True)
    a_f = 1 + (torch.rand(b) * 2 - 1) * freq_warp
    # Log-uniform, so stretching by k and compressing by k are equally likely.
    a_t = torch.exp((torch.rand(b) * 2 - 1) * np.log1p(time_stretch))
    theta = torch.zeros(b, 2, 3)
    # grid_sample coordinates are in [-1, 1]; x_src = a * x_out + (a - 1) keeps -1 fixed.
    theta[:, 0, 0], theta[:, 0, 2] = a_t, a_t - 1
    theta[:, 1, 1], theta[:, 1, 2] = a_f, a_f - 1
    grid = nn.functional.affine_grid(theta, [b, 1, x.shape[1], x.shape[2]], align_corners=False)
    out = nn.functional.grid_sample(
        (x - floor)[:, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False
    )
    return out[:, 0] + floor


def freq_mixstyle(x: torch.Tensor, p: float, alpha: float) -> torch.Tensor:
    """Frequency-wise MixStyle (Kim et al., 2022): swap part of each example's per-band
    mean/std over time with another example's, simulating unseen channels and voices.

    x: (B, M, T) normalised log-mel; applied to each example with probability p.
    """
    b = x.shape[0]
    if p <= 0 or b < 2:
        return x
    mu = x.mean(dim=2, keepdim=True)
    sig = (x.var(dim=2, keepdim=True) + 1e-6).sqrt()
    lam = torch.distributions.Beta(alpha, alpha).sample((b, 1, 1))
    perm = torch.randperm(b)
    mu_mix = lam * mu + (1 - lam) * mu[perm]
    sig_mix = lam * sig + (1 - lam) * sig[perm]
    mixed = (x - mu) / sig * sig_mix + mu_mix
    use = (torch.rand(b, 1, 1) < p).to(x.dtype)
    return use * mixed + (1 - use) * x


def spec_masks(x: torch.Tensor, n: int, width: int, dim: int) -> torch.Tensor:
    """Zero ``n`` random bands of up to ``width`` along ``dim`` per example (SpecAugment)."""
    if n <= 0 or width <= 0:
        return x
    b, size = x.shape[0], x.shape[dim]
    pos = torch.arange(size)[None, :]
    keep = torch.ones(b, size, dtype=torch.bool)
    for _ in range(n):
        w = torch.randint(0, min(width, size) + 1, (b, 1))
        start = (torch.rand(b, 1) * (size - w + 1)).long()
        keep &= ~((pos >= start) & (pos < start + w))
    shape = [b, 1, 1]
    shape[dim] = size
    return x * keep.view(shape).to(x.dtype)
