"""Log-mel settings (`FeatureConfig`) and where a clip's cached features live, apart from
the code that computes features: the web side names settings and reads the cache without
importing torch (`ml_backend.features` re-exports all of this).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

# 2: one .npy per clip and config (the key is in the name); NPZ (1) cost ~0.5 ms per read.
CACHE_FORMAT_VERSION = 2


@dataclass(frozen=True)
class FeatureConfig:
    """Log-mel settings. Frozen so it can key caches; ``key()`` is stable across runs.

    Attributes:
        sample_rate: target rate in Hz; audio is resampled to it first.
        n_mels: number of mel bands.
        win_ms: STFT window length in milliseconds (25 ms).
        hop_ms: STFT hop in milliseconds (10 ms), rounded to whole samples (``hop_s``).
        f_min, f_max: mel filterbank range in Hz; ``f_max=None`` means Nyquist.
        log_floor: power floor before the natural log, avoids log(0).
        window_s, window_hop_s: model window length and hop in seconds for long clips.
        n_fft: FFT size; ``None`` means the next power of two >= the window length.
    """

    sample_rate: int = 16_000
    n_mels: int = 64
    win_ms: float = 25.0
    hop_ms: float = 10.0
    f_min: float = 0.0
    f_max: float | None = None
    log_floor: float = 1e-6
    window_s: float = 1.0
    window_hop_s: float = 0.5
    n_fft: int | None = None

    @property
    def win_length(self) -> int:
        """Window length in samples at ``sample_rate``."""
        return round(self.sample_rate * self.win_ms / 1000.0)

    @property
    def hop_length(self) -> int:
        """Hop in samples at ``sample_rate``."""
        return round(self.sample_rate * self.hop_ms / 1000.0)

    @property
    def fft_size(self) -> int:
        """FFT size in samples (also the frame span used for padding and streaming)."""
        if self.n_fft is not None:
            return self.n_fft
        return 1 << max(0, math.ceil(math.log2(self.win_length)))

    @property
    def hop_s(self) -> float:
        """The hop in seconds as the frames have it: ``hop_length`` samples, which is not
        ``hop_ms`` where the rate is no multiple of 100 Hz (220 samples at 22,050 Hz are
        9.977 ms: predicted segments of a 26-minute recording landed 3.6 s late)."""
        return self.hop_length / self.sample_rate

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    @property
    def window_frames(self) -> int:
        """Model window length in feature frames."""
        return max(1, round(self.window_s * self.frames_per_second))

    @property
    def window_hop_frames(self) -> int:
        """Hop between model windows in feature frames."""
        return max(1, round(self.window_hop_s * self.frames_per_second))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def key(self) -> str:
        """Short stable hash of the settings that change the features (not the windows)."""
        return _config_key(self)

    def _key_uncached(self) -> str:
        d = self.to_dict()
        # Window settings only affect cut_windows, not the cached log-mel matrix.
        d.pop("window_s")
        d.pop("window_hop_s")
        d["_v"] = CACHE_FORMAT_VERSION
        blob = json.dumps(d, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@lru_cache(maxsize=64)
def _config_key(config: FeatureConfig) -> str:
    # Called once per clip read from the cache; hashing the settings each time cost more
    # than reading a short clip's features.
    return config._key_uncached()


def cache_path(root: str | os.PathLike[str], clip_sha256: str, config: FeatureConfig) -> Path:
    """Where a clip's features live: ``root/ab/<sha256>_<config key>.npy``."""
    if len(clip_sha256) < 8:
        raise ValueError("clip_sha256 looks too short to be a SHA-256 hex digest")
    return Path(root) / clip_sha256[:2] / f"{clip_sha256}_{config.key()}.npy"


def load_cached(
    root: str | os.PathLike[str], clip_sha256: str, config: FeatureConfig
) -> np.ndarray | None:
    """A clip's cached (n_mels, frames) features, or None when missing or unreadable."""
    try:
        feats = np.load(cache_path(root, clip_sha256, config), allow_pickle=False)
    except (OSError, ValueError):
        return None
    if feats.ndim != 2 or feats.shape[0] != config.n_mels:
        return None  # a foreign or damaged file: the caller recomputes and overwrites it
    if not np.isfinite(feats).all():
        return None  # cached before non-finite samples were zeroed: computed again
    return feats.astype(np.float32, copy=False)
