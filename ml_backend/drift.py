"""Feature drift between two sets of clips, per mel band: has the audio coming in changed?

Pure NumPy; never imports Django. Inputs are log-mel matrices of shape (n_mels, frames) as
``ml_backend.features`` computes them (natural log of mel power).

Statistics (``band_stats``): per band, the mean and standard deviation of the log-mel values
of a set of clips, each clip weighted equally whatever its length (a single long recording
should not stand for the whole set). Comparison (``band_drift``): per band,

- the standardized mean difference ``smd = (mean_current - mean_reference) / pooled_std``
  with ``pooled_std = sqrt((std_reference**2 + std_current**2) / 2)`` (Cohen's d), and
- the spread ratio ``std_current / std_reference``.

A band is *shifted* when ``|smd| >= SMD_THRESHOLD`` (0.5: a "medium" effect in Cohen's
terms; in log-mel energy that is roughly a 6-10 dB level change for speech-like audio) or
when its spread ratio leaves ``[1 / SPREAD_RATIO_THRESHOLD, SPREAD_RATIO_THRESHOLD]`` (1.5).
The set is *flagged* when at least ``BAND_FRACTION_THRESHOLD`` (10 %) of the bands are
shifted (a change of microphone, gain, noise floor or source moves many bands at once; one
odd band is noise) and both sides have at least ``MIN_CLIPS`` clips (5); with fewer clips
the report says there is not enough data and never flags.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

SMD_THRESHOLD = 0.5
SPREAD_RATIO_THRESHOLD = 1.5
BAND_FRACTION_THRESHOLD = 0.10
MIN_CLIPS = 5
# Keeps a silent band (std 0 in both sets) from dividing by zero.
_EPS = 1e-6


@dataclass(frozen=True)
class BandStats:
    """Per-band statistics of a set of clips.

    Attributes:
        mean: (n_mels,) mean log-mel value per band.
        std: (n_mels,) standard deviation per band (over frames, clips weighted equally).
        n_clips: clips that went in.
        n_frames: frames that went in, all clips together.
    """

    mean: np.ndarray
    std: np.ndarray
    n_clips: int
    n_frames: int

    @property
    def n_mels(self) -> int:
        return int(self.mean.shape[0])


@dataclass(frozen=True)
class DriftReport:
    """Per-band comparison of a current set of clips against a reference set.

    Attributes:
        reference, current: the two sets' statistics.
        smd: (n_mels,) standardized mean difference, current minus reference.
        spread_ratio: (n_mels,) std of current / std of reference.
        shifted: (n_mels,) bool, the band passes a threshold.
        shifted_fraction: fraction of bands shifted.
        enough_data: both sides have at least ``MIN_CLIPS`` clips.
        flagged: enough data and ``shifted_fraction >= BAND_FRACTION_THRESHOLD``.
    """

    reference: BandStats
    current: BandStats
    smd: np.ndarray
    spread_ratio: np.ndarray
    shifted: np.ndarray
    shifted_fraction: float
    enough_data: bool
    flagged: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: lists of floats rounded to 4 places, plus the thresholds used."""

        def r(a: np.ndarray) -> list[float]:
            return [round(float(v), 4) for v in a]

        return {
            "n_mels": self.reference.n_mels,
            "reference": {
                "mean": r(self.reference.mean),
                "std": r(self.reference.std),
                "n_clips": self.reference.n_clips,
                "n_frames": self.reference.n_frames,
            },
            "current": {
                "mean": r(self.current.mean),
                "std": r(self.current.std),
                "n_clips": self.current.n_clips,
                "n_frames": self.current.n_frames,
            },
            "smd": r(self.smd),
            "spread_ratio": r(self.spread_ratio),
            "shifted": [bool(v) for v in self.shifted],
            "shifted_bands": int(self.shifted.sum()),
            "shifted_fraction": round(self.shifted_fraction, 4),
            "max_abs_smd": round(float(np.abs(self.smd).max()), 4) if self.smd.size else 0.0,
            "enough_data": self.enough_data,
            "flagged": self.flagged,
            "thresholds": {
                "smd": SMD_THRESHOLD,
                "spread_ratio": SPREAD_RATIO_THRESHOLD,
                "band_fraction": BAND_FRACTION_THRESHOLD,
                "min_clips": MIN_CLIPS,
            },
        }


def band_stats(features: Iterable[np.ndarray]) -> BandStats:
    """Mean and standard deviation per mel band of a set of clips, each clip weighted equally.

    Streams: only per-clip sums are kept, so the set may be larger than memory.

    Args:
        features: log-mel matrices (n_mels, frames_i), all with the same n_mels. Clips with
            no frames are skipped.

    Returns:
        BandStats; with no clips at all, ``n_mels`` is 0.

    Raises:
        ValueError: a matrix is not 2-D or has a different number of bands.
    """
    sum_mean: np.ndarray | None = None
    sum_sq: np.ndarray | None = None
    n_clips = n_frames = 0
    for feats in features:
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"features must be (n_mels, frames), got shape {x.shape}")
        if x.shape[1] == 0:
            continue
        if sum_mean is None:
            sum_mean = np.zeros(x.shape[0])
            sum_sq = np.zeros(x.shape[0])
        elif x.shape[0] != sum_mean.shape[0]:
            raise ValueError(f"expected {sum_mean.shape[0]} mel bands, got {x.shape[0]}")
        sum_mean += x.mean(axis=1)
        sum_sq += np.square(x).mean(axis=1)
        n_clips += 1
        n_frames += x.shape[1]
    if sum_mean is None or sum_sq is None:
        return BandStats(mean=np.zeros(0), std=np.zeros(0), n_clips=0, n_frames=0)
    mean = sum_mean / n_clips
    # E[x^2] - E[x]^2 over an equal-weight mixture of clips; rounding can make it a hair < 0.
    var = np.maximum(sum_sq / n_clips - np.square(mean), 0.0)
    return BandStats(mean=mean, std=np.sqrt(var), n_clips=n_clips, n_frames=n_frames)


def band_drift(
    reference: BandStats,
    current: BandStats,
    *,
    smd_threshold: float = SMD_THRESHOLD,
    spread_ratio_threshold: float = SPREAD_RATIO_THRESHOLD,
    band_fraction_threshold: float = BAND_FRACTION_THRESHOLD,
    min_clips: int = MIN_CLIPS,
) -> DriftReport:
    """Compare ``current`` against ``reference`` band by band (see the module docstring).

    Raises:
        ValueError: the two sets have different numbers of bands (different feature settings).
    """
    if reference.n_mels != current.n_mels:
        raise ValueError(
            f"the sets have different mel bands ({reference.n_mels} and {current.n_mels}); "
            "compare features computed with the same settings"
        )
    pooled = np.sqrt((np.square(reference.std) + np.square(current.std)) / 2.0)
    smd = (current.mean - reference.mean) / np.maximum(pooled, _EPS)
    ratio = np.maximum(current.std, _EPS) / np.maximum(reference.std, _EPS)
    shifted = (
        (np.abs(smd) >= smd_threshold)
        | (ratio >= spread_ratio_threshold)
        | (ratio <= 1.0 / spread_ratio_threshold)
    )
    fraction = float(shifted.mean()) if shifted.size else 0.0
    enough = reference.n_clips >= min_clips and current.n_clips >= min_clips and shifted.size > 0
    return DriftReport(
        reference=reference,
        current=current,
        smd=smd,
        spread_ratio=ratio,
        shifted=shifted,
        shifted_fraction=fraction,
        enough_data=enough,
        flagged=bool(enough and fraction >= band_fraction_threshold),
    )
