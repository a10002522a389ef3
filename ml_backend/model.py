"""Compact CNN over log-mel windows, with augmentation inside the module.

Input is raw log-mel (batch, n_mels, frames) as produced by ``features.compute_logmel``;
the module normalises levels (peak, dynamic range) and bands (per-band mean/std learned
from training data, stored in buffers), so a checkpoint carries everything needed to go
from features to scores. Pure PyTorch, no Django.

Architecture: a small 2-D conv front end (local filters along frequency; on FSDD's
leave-one-speaker-out folds it raised accuracy from ~0.83 to ~0.88 over full-band 1-D
filters) -> 1-D residual blocks along time with the remaining frequency rows as
channels (TC-ResNet style, cheap on CPU) -> frame head and attention head
(decision-level attention pooling, so clip labels alone train meaningful frame scores).
The defaults are the configuration tuned with ``benchmarks/ml_fsdd.py``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from ml_backend.augment import LN_PER_DB, Augment, freq_mixstyle, spec_masks

CHECKPOINT_FORMAT = 1
# Bands whose spread in the training features is under this fraction of the median band's are
# left out of the network's input (`AudioCNN.set_normalization`), by this divisor.
DEAD_BAND_FRACTION = 0.05
DEAD_BAND_STD = 1e4


@dataclass
class ModelConfig:
    """Architecture and augmentation settings; stored as a plain dict in checkpoints.

    Attributes:
        n_mels: input mel bands.
        n_classes: output classes.
        width: channels of the first stage; later stages use ``width * channel_mult[i]``.
        channel_mult: per-block channel multipliers.
        strides: per-block time stride (product = time downsampling of frame outputs).
        kernel_size: temporal kernel of the block convolutions, frames.
        frontend_channels: if > 0, a small 2-D conv front end (3 conv layers, frequency
            pooled by 8, time by 2) runs before the 1-D blocks; local filters along
            frequency generalise better across speakers than full-band 1-D filters.
        dropout: dropout before the heads (the MC-dropout source).
        block_dropout: dropout inside residual blocks (0 skips the layer: dropout's random
            masks cost as much as a convolution at these sizes on CPU).
        multi_label: sigmoid/BCE outputs when true, softmax/cross-entropy otherwise.
        peak_norm: subtract each example's peak log-mel value first, so scores do not
            depend on recording level (levels differ by ~20 dB between FSDD speakers).
        dynamic_range_db: after peak_norm, clamp values more than this many dB below the
            peak, hiding noise-floor differences between recordings (None = no clamp).
        pooling: "attention" (decision-level attention over frames) or "mean".
        band_center: subtract each example's per-band mean over time after the level
            normalisation (cepstral mean normalisation in the log-mel domain): removes a
            recording's fixed spectral colouring (microphone, room, a voice's formant tilt).
        aug_*: training-only augmentation (see ``Augment``); aug_mixstyle_* control
            frequency-wise MixStyle (``_freq_mixstyle``).
    """

    n_mels: int = 64
    n_classes: int = 2
    width: int = 32
    channel_mult: tuple[int, ...] = (1, 2, 4)
    strides: tuple[int, ...] = (1, 2, 2)
    kernel_size: int = 7
    frontend_channels: int = 16
    dropout: float = 0.2
    block_dropout: float = 0.0
    multi_label: bool = False
    peak_norm: bool = True
    dynamic_range_db: float | None = 35.0
    pooling: str = "attention"
    band_center: bool = False
    aug_gain_db: float = 6.0
    aug_shift_frames: int = 10
    aug_noise_prob: float = 0.3
    aug_noise_snr_db: tuple[float, float] = (15.0, 40.0)
    aug_eq_db: float = 0.0
    aug_freq_warp: float = 0.0
    aug_time_stretch: float = 0.0
    aug_mixstyle_p: float = 0.6
    aug_mixstyle_alpha: float = 0.3
    aug_time_masks: int = 2
    aug_time_mask_frames: int = 8
    aug_freq_masks: int = 2
    aug_freq_mask_bands: int = 8
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def embedding_dim(self) -> int:
        return self.width * self.channel_mult[-1]

    @property
    def time_downsample(self) -> int:
        return int(np.prod(self.strides)) * (2 if self.frontend_channels > 0 else 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        # Lists, not tuples: checkpoints hold only plain containers.
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        kinds = {f.name: f for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in data.items():
            if k not in kinds:
                continue
            kw[k] = tuple(v) if isinstance(v, list) and "tuple" in str(kinds[k].type) else v
        return cls(**kw)


class ResBlock1d(nn.Module):
    """conv-BN-ReLU-dropout-conv-BN plus (projected) skip, then ReLU.

    (B, Cin, T) -> (B, Cout, T/s)."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int, dropout: float) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm1d(c_out)
        self.drop: nn.Module = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm1d(c_out)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(
                nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm1d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(torch.relu(self.bn1(self.conv1(x))))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + self.skip(x))


class Frontend2d(nn.Module):
    """(B, M, T) -> (B, c * ceil(M / 8), ceil(T / 2)): three 3x3 conv-BN-ReLU layers.

    Strided convolutions (not pooling) do the downsampling: the first by 2 in both axes,
    the next two by 2 in frequency only; stride in the first layer quarters the cost of
    the layer that runs at full resolution.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 1
        for stride in ((2, 2), (2, 1), (2, 1)):
            layers += [
                nn.Conv2d(c_in, channels, 3, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(),
            ]
            c_in = channels
        # Channels-last weights and inputs take oneDNN's faster 2-D conv path on CPU
        # (about a third off this block's forward + backward time).
        self.net = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.net(x[:, None].contiguous(memory_format=torch.channels_last))
        return h.flatten(1, 2)  # (B, c * M/8, T/2)


class AudioCNN(nn.Module):
    """Log-mel windows -> clip logits, frame logits and an embedding."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if len(config.channel_mult) != len(config.strides):
            raise ValueError("channel_mult and strides must have the same length")
        self.config = config
        m = config.n_mels
        self.register_buffer("norm_mean", torch.zeros(m))
        self.register_buffer("norm_std", torch.ones(m))
        self.augment = Augment(config)
        w = config.width
        self.frontend: nn.Module = nn.Identity()
        stem_in = m
        if config.frontend_channels > 0:
            self.frontend = Frontend2d(config.frontend_channels)
            freq = m
            for _ in range(3):  # three frequency poolings by 2, ceil mode
                freq = -(-freq // 2)
            stem_in = config.frontend_channels * freq
        self.stem = nn.Sequential(
            nn.Conv1d(stem_in, w, 3, padding=1, bias=False), nn.BatchNorm1d(w), nn.ReLU()
        )
        blocks = []
        c_in = w
        for mult, stride in zip(config.channel_mult, config.strides, strict=True):
            c_out = w * mult
            blocks.append(ResBlock1d(c_in, c_out, stride, config.kernel_size, config.block_dropout))
            c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.head_drop = nn.Dropout(config.dropout)
        self.frame_head = nn.Conv1d(c_in, config.n_classes, 1)
        self.att_head = nn.Conv1d(c_in, config.n_classes, 1)
        self.clip_head = nn.Linear(c_in, config.n_classes)

    def set_normalization(
        self, mean: np.ndarray | torch.Tensor, std: np.ndarray | torch.Tensor
    ) -> None:
        """Store per-band statistics (n_mels,) of the training features.

        A band that barely varies in them (std under DEAD_BAND_FRACTION of the median band's)
        is left out: divided by DEAD_BAND_STD, it reaches the network as ~0. Such bands carry
        nothing (8 kHz recordings in a 16 kHz project leave every band above 4 kHz empty);
        scaled up to unit variance they carried what augmentation's noise puts there in
        training only, and a project of 8 kHz digits at 16 kHz learned nothing (training
        accuracy 0.09 against 0.51 at 8 kHz; 0.69 with such bands left out)."""
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1).clamp_min(1e-3)
        dead = std_t < DEAD_BAND_FRACTION * std_t.median()
        std_t = torch.where(dead, torch.full_like(std_t, DEAD_BAND_STD), std_t)
        self.norm_mean.copy_(mean_t)
        self.norm_std.copy_(std_t)

    def level_normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Peak normalisation and dynamic-range clamp of (B, M, T) raw log-mel."""
        cfg = self.config
        if cfg.peak_norm:
            x = x - x.amax(dim=(1, 2), keepdim=True)
            if cfg.dynamic_range_db is not None:
                x = x.clamp_min(-cfg.dynamic_range_db * LN_PER_DB)
        if cfg.band_center:
            x = x - x.mean(dim=2, keepdim=True)
        return x

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (B, n_mels, T) raw log-mel.

        Returns:
            clip_logits (B, C); frame_logits (B, T', C) with T' = ceil(T / time_downsample);
            embedding (B, D), the time-averaged last-stage features.
        """
        cfg = self.config
        x = self.level_normalize(self.augment(x))
        x = (x - self.norm_mean[None, :, None]) / self.norm_std[None, :, None]
        if self.training:
            x = freq_mixstyle(x, cfg.aug_mixstyle_p, cfg.aug_mixstyle_alpha)
            x = spec_masks(x, cfg.aug_freq_masks, cfg.aug_freq_mask_bands, dim=1)
            x = spec_masks(x, cfg.aug_time_masks, cfg.aug_time_mask_frames, dim=2)
        h = self.blocks(self.stem(self.frontend(x)))  # (B, D, T')
        embedding = h.mean(dim=2)
        hd = self.head_drop(h)
        frame_logits = self.frame_head(hd)  # (B, C, T')
        if cfg.pooling == "attention":
            att = torch.softmax(self.att_head(hd), dim=2)
            clip_logits = (att * frame_logits).sum(dim=2)
        else:
            clip_logits = self.clip_head(self.head_drop(embedding))
        return {
            "clip_logits": clip_logits,
            "frame_logits": frame_logits.transpose(1, 2),
            "embedding": embedding,
        }


def build_model(config: ModelConfig) -> AudioCNN:
    return AudioCNN(config)


def probabilities(logits: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Logits (..., C) -> probabilities: sigmoid if multi-label else softmax over C."""
    return torch.sigmoid(logits) if multi_label else torch.softmax(logits, dim=-1)


def enable_mc_dropout(model: nn.Module) -> None:
    """Eval mode everywhere except dropout layers (batch norm and augmentation stay off)."""
    model.eval()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.train()


def adapt_batchnorm(model: AudioCNN, windows: np.ndarray, batch_size: int = 256) -> None:
    """Re-estimate every batch-norm layer's statistics on unlabeled windows (AdaBN, Li et al.
    2016): the weights stay, the per-channel means and variances move to the new data's.

    New voices and microphones shift those statistics; unlabeled clips of the new data are
    always at hand when pre-labeling, so the model can meet them halfway without a label.
    windows: (N, n_mels, frames) raw log-mel. The model is left in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over all batches
        m.train()
    try:
        with torch.no_grad():
            for i in range(0, len(windows), batch_size):
                model(torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size])))
    finally:
        for m, momentum in zip(norms, saved, strict=True):
            m.momentum = momentum
        model.eval()


def save_checkpoint(
    path: str | os.PathLike[str],
    model: AudioCNN,
    config: ModelConfig | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Save weights, config (plain dict) and ``extra`` (plain values only) with torch.save."""
    config = config or model.config
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model_config": config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": extra or {},
    }
    torch.save(payload, path)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[AudioCNN, ModelConfig, dict[str, Any]]:
    """Load a checkpoint safely (``weights_only=True``).

    Returns (model in eval mode, config, extra)."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"unsupported checkpoint format {payload.get('format')!r}")
    config = ModelConfig.from_dict(payload["model_config"])
    model = AudioCNN(config)
    model.load_state_dict(payload["state_dict"])
    model.eval()
    return model, config, payload.get("extra", {})


def load_matching_state(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every entry of ``state`` whose name and shape match (warm start across class
    changes); returns the names copied."""
    own = model.state_dict()
    copied = [k for k, v in state.items() if k in own and own[k].shape == v.shape]
    own.update({k: state[k] for k in copied})
    model.load_state_dict(own)
    return copied
