"""Classic audio-classification baselines: hand-made clip features + scikit-learn.

Features (librosa): MFCC mean/std, chroma mean/std and log-mel band mean/std, each
computed with a 32 ms window and 10 ms hop whatever the sample rate. Classifiers (with
standard scaling): MLP, RBF SVM, random forest. Single-label only. No Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from ml_backend.metrics import compute_metrics

BASELINE_KINDS = ("mlp", "svm", "rf")
N_MFCC = 20
N_MELS_BASELINE = 40
WINDOW_S = 0.032  # analysis window, seconds
HOP_S = 0.010  # analysis hop, seconds


def classic_features(audio: np.ndarray, sr: int) -> np.ndarray:
    """One clip -> (2 * (N_MFCC + 12 + N_MELS_BASELINE),) float32 vector.

    Args:
        audio: mono samples (samples,), float in [-1, 1].
        sr: sample rate in Hz.
    """
    import librosa  # Imported lazily: librosa (numba) takes seconds to import.

    y = np.asarray(audio, dtype=np.float32)
    n_fft = 1 << math.ceil(math.log2(WINDOW_S * sr))
    hop = round(HOP_S * sr)
    if len(y) < n_fft:
        y = np.pad(y, (0, n_fft - len(y)))
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=N_MELS_BASELINE, fmax=sr / 2)
    log_mel = librosa.power_to_db(mel)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=N_MFCC)
    # tuning=0: no pitch-tuning estimate (it fails on silent clips and costs time).
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_fft=n_fft, tuning=0.0)
    parts = [m for f in (mfcc, chroma, log_mel) for m in (f.mean(axis=1), f.std(axis=1))]
    return np.concatenate(parts).astype(np.float32)


def features_matrix(audio_list: Sequence[np.ndarray], sr: int) -> np.ndarray:
    """(N, F) classic features for a list of clips at one sample rate."""
    return np.stack([classic_features(a, sr) for a in audio_list])


def make_classifier(kind: str, seed: int = 0) -> Pipeline:
    """Standard scaling + the named classifier ("mlp", "svm" or "rf")."""
    if kind == "mlp":
        clf: Any = MLPClassifier(
            hidden_layer_sizes=(256,), alpha=1e-3, max_iter=600, random_state=seed
        )
    elif kind == "svm":
        # Platt-calibrated probabilities (needed for mAP) from a cross-validated fit;
        # SVC(probability=True) is deprecated in scikit-learn 1.9.
        clf = CalibratedClassifierCV(SVC(C=10.0, gamma="scale", random_state=seed), ensemble=False)
    elif kind == "rf":
        clf = RandomForestClassifier(n_estimators=300, n_jobs=2, random_state=seed)
    else:
        raise ValueError(f"unknown baseline {kind!r}; choose from {BASELINE_KINDS}")
    return make_pipeline(StandardScaler(), clf)


@dataclass
class Baseline:
    kind: str
    pipeline: Pipeline
    n_classes: int

    def predict_proba_features(self, feats: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N, n_classes) probabilities (classes unseen in training get 0)."""
        p = self.pipeline.predict_proba(feats)
        out = np.zeros((len(feats), self.n_classes), dtype=np.float64)
        out[:, self.pipeline.classes_.astype(np.int64)] = p
        return out

    def predict_proba(self, audio_list: Sequence[np.ndarray], sr: int) -> np.ndarray:
        return self.predict_proba_features(features_matrix(audio_list, sr))


def fit_baseline_features(
    kind: str, feats: np.ndarray, y: np.ndarray, n_classes: int | None = None, seed: int = 0
) -> Baseline:
    """Fit on precomputed (N, F) classic features and (N,) class indices."""
    y = np.asarray(y, dtype=np.int64)
    pipe = make_classifier(kind, seed).fit(feats, y)
    return Baseline(kind=kind, pipeline=pipe, n_classes=n_classes or int(y.max()) + 1)


def fit_baseline(
    kind: str,
    x_audio_list: Sequence[np.ndarray],
    sr: int,
    y: np.ndarray,
    n_classes: int | None = None,
    seed: int = 0,
) -> Baseline:
    """Extract classic features from raw clips and fit the named baseline."""
    return fit_baseline_features(kind, features_matrix(x_audio_list, sr), y, n_classes, seed)


def evaluate_features(model: Baseline, feats: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Same metrics dict as ``metrics.compute_metrics`` on precomputed features."""
    return compute_metrics(np.asarray(y, dtype=np.int64), model.predict_proba_features(feats))


def evaluate(
    model: Baseline, x_audio_list: Sequence[np.ndarray], sr: int, y: np.ndarray
) -> dict[str, Any]:
    """Metrics of a fitted baseline on raw clips."""
    return evaluate_features(model, features_matrix(x_audio_list, sr), y)
