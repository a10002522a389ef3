"""Inference on clips of any length: fixed windows, clip/frame aggregation, MC dropout.

Pure PyTorch/NumPy. Frame probabilities come out at the feature frame rate (one row per
log-mel frame), so ``segments.extract_segments`` can use ``FeatureConfig.hop_s``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ml_backend import hierarchy
from ml_backend.features import FeatureConfig, cut_windows
from ml_backend.model import AudioCNN, enable_mc_dropout, probabilities

Aggregate = str  # "max" | "mean"
WindowSpec = FeatureConfig | tuple[int, int]


def _window_frames(window: WindowSpec) -> tuple[int, int]:
    """(frames per window, hop frames) from a FeatureConfig or an explicit pair."""
    if isinstance(window, FeatureConfig):
        return window.window_frames, window.window_hop_frames
    frames, hop = window
    return int(frames), int(hop)


def _aggregate(p: np.ndarray, how: Aggregate, axis: int = 0) -> np.ndarray:
    if how == "max":
        return p.max(axis=axis)
    if how == "mean":
        return p.mean(axis=axis)
    raise ValueError(f"aggregate must be 'max' or 'mean', got {how!r}")


def _run(model: AudioCNN, windows: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """Model outputs for (W, M, F) windows as probabilities: clip (W, C), frame (W, T', C),
    embedding (W, D)."""
    multi = model.config.multi_label
    clip, frame, emb = [], [], []
    with torch.inference_mode():
        for i in range(0, len(windows), batch_size):
            out = model(torch.from_numpy(np.ascontiguousarray(windows[i : i + batch_size])))
            clip.append(probabilities(out["clip_logits"], multi))
            frame.append(probabilities(out["frame_logits"], multi))
            emb.append(out["embedding"])
    return {
        "clip": torch.cat(clip).numpy(),
        "frame": torch.cat(frame).numpy(),
        "embedding": torch.cat(emb).numpy(),
    }


def _frames_to_timeline(
    frame_probs: np.ndarray, n_frames: int, frames_per_window: int, hop: int
) -> np.ndarray:
    """Window frame outputs (W, T', C) -> (n_frames, C) at the feature frame rate.

    Each downsampled output is repeated to cover its input frames, then overlapping
    windows are averaged frame by frame.
    """
    w, t_out, c = frame_probs.shape
    factor = -(-frames_per_window // t_out)  # ceil division: input frames per output frame
    up = np.repeat(frame_probs, factor, axis=1)[:, :frames_per_window]
    total = (w - 1) * hop + frames_per_window
    acc = np.zeros((total, c), dtype=np.float64)
    count = np.zeros((total, 1), dtype=np.float64)
    for k in range(w):
        acc[k * hop : k * hop + frames_per_window] += up[k]
        count[k * hop : k * hop + frames_per_window] += 1
    return (acc / np.maximum(count, 1))[:n_frames].astype(np.float32)


def predict(
    model: AudioCNN,
    features: np.ndarray,
    window: WindowSpec,
    aggregate: Aggregate = "max",
    mc_dropout_passes: int = 0,
    parents: Sequence[int] | None = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Scores for one clip of any length.

    Args:
        model: trained model (switched to eval mode here).
        features: (n_mels, T) raw log-mel.
        window: FeatureConfig (uses window_s / window_hop_s) or (frames, hop_frames).
        aggregate: how window clip scores combine: "max" (an event anywhere) or "mean".
        mc_dropout_passes: if > 0, extra stochastic passes with dropout on.
        parents: label hierarchy; scores are made consistent (child <= parent).
        batch_size: windows per forward pass.

    Returns:
        clip_probs (C,); frame_probs (T, C) at the feature frame rate; embedding (D,)
        averaged over windows; mc_probs (passes, C) or None.
    """
    frames, hop = _window_frames(window)
    windows = cut_windows(np.asarray(features, dtype=np.float32), frames, hop)
    model.eval()
    out = _run(model, windows, batch_size)
    result: dict[str, Any] = {
        "clip_probs": _aggregate(out["clip"], aggregate),
        "frame_probs": _frames_to_timeline(out["frame"], features.shape[1], frames, hop),
        "embedding": out["embedding"].mean(axis=0),
        "mc_probs": None,
    }
    if mc_dropout_passes > 0:
        result["mc_probs"] = mc_dropout_probs(model, windows, mc_dropout_passes, aggregate)[:, 0]
    if parents is not None:
        for key in ("clip_probs", "frame_probs", "mc_probs"):
            if result[key] is not None:
                result[key] = hierarchy.make_consistent(result[key], parents)
    return result


def mc_dropout_probs(
    model: AudioCNN,
    windows: np.ndarray,
    passes: int,
    aggregate: Aggregate = "max",
    counts: Sequence[int] | None = None,
    batch_size: int = 256,
) -> np.ndarray:
    """Clip probabilities with dropout active: (passes, N_clips, C).

    ``counts`` gives the number of consecutive windows per clip (default: all windows
    belong to one clip). The model is left in eval mode.
    """
    counts = list(counts) if counts is not None else [len(windows)]
    bounds = np.cumsum([0, *counts])
    enable_mc_dropout(model)
    try:
        passes_out = []
        for _ in range(passes):
            clip = _run(model, windows, batch_size)["clip"]
            passes_out.append(
                np.stack(
                    [
                        _aggregate(clip[a:b], aggregate)
                        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
                    ]
                )
            )
    finally:
        model.eval()
    return np.stack(passes_out)


def predict_batch(
    model: AudioCNN,
    features_list: Sequence[np.ndarray],
    window: WindowSpec,
    aggregate: Aggregate = "max",
    mc_dropout_passes: int = 0,
    parents: Sequence[int] | None = None,
    batch_size: int = 256,
    return_frames: bool = False,
) -> dict[str, Any]:
    """Scores for many clips, windows of all clips batched together for throughput.

    Returns:
        clip_probs (N, C); embeddings (N, D); mc_probs (passes, N, C) or None;
        frame_probs: list of (T_i, C) if ``return_frames`` else None.
    """
    frames, hop = _window_frames(window)
    per_clip = [cut_windows(np.asarray(f, dtype=np.float32), frames, hop) for f in features_list]
    counts = [len(w) for w in per_clip]
    c = model.config.n_classes
    if not per_clip:
        empty = np.zeros((0, c), dtype=np.float32)
        return {
            "clip_probs": empty,
            "embeddings": np.zeros((0, model.config.embedding_dim)),
            "mc_probs": None,
            "frame_probs": [] if return_frames else None,
        }
    windows = np.concatenate(per_clip)
    model.eval()
    out = _run(model, windows, batch_size)
    bounds = np.cumsum([0, *counts])
    spans = list(zip(bounds[:-1], bounds[1:], strict=True))
    clip_probs = np.stack([_aggregate(out["clip"][a:b], aggregate) for a, b in spans])
    embeddings = np.stack([out["embedding"][a:b].mean(axis=0) for a, b in spans])
    frame_probs = None
    if return_frames:
        frame_probs = [
            _frames_to_timeline(out["frame"][a:b], f.shape[1], frames, hop)
            for (a, b), f in zip(spans, features_list, strict=True)
        ]
    mc = None
    if mc_dropout_passes > 0:
        mc = mc_dropout_probs(model, windows, mc_dropout_passes, aggregate, counts, batch_size)
    if parents is not None:
        clip_probs = hierarchy.make_consistent(clip_probs, parents)
        mc = hierarchy.make_consistent(mc, parents) if mc is not None else None
        if frame_probs is not None:
            frame_probs = [hierarchy.make_consistent(f, parents) for f in frame_probs]
    return {
        "clip_probs": clip_probs,
        "embeddings": embeddings,
        "mc_probs": mc,
        "frame_probs": frame_probs,
    }
