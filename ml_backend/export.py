"""ONNX export of the inference graph and a check against PyTorch with onnxruntime.

The exported graph is the eval-mode forward pass (augmentation and dropout are off):
input ``features`` (batch, n_mels, frames) raw log-mel, outputs ``clip_logits``
(batch, C), ``frame_logits`` (batch, T', C) and ``embedding`` (batch, D), with dynamic
batch and time axes.

torch 2.11's default exporter (``dynamo=True``) needs the ``onnxscript`` package, which
Earmark does not depend on; the TorchScript-based exporter (``dynamo=False``) handles
this model fine, so it is used unless ``dynamo=True`` is asked for.
"""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ml_backend.model import AudioCNN

ONNX_OPSET = 17
OUTPUT_NAMES = ("clip_logits", "frame_logits", "embedding")


class InferenceGraph(nn.Module):
    """Eval-mode wrapper returning a tuple, which exporters handle better than a dict."""

    def __init__(self, model: AudioCNN) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(features)
        return out["clip_logits"], out["frame_logits"], out["embedding"]


def export_onnx(
    model: AudioCNN,
    path: str | os.PathLike[str],
    frames: int = 100,
    opset: int = ONNX_OPSET,
    dynamo: bool = False,
) -> Path:
    """Write the model's inference graph to ``path``.

    Args:
        model: trained model (not modified; a copy is exported in eval mode).
        path: output .onnx file.
        frames: time length of the example input used for tracing.
        opset: ONNX opset version.
        dynamo: use the torch.export-based exporter (needs onnxscript).

    Returns:
        The path written.
    """
    graph = InferenceGraph(model)
    example = torch.zeros(2, model.config.n_mels, frames)
    path = Path(path)
    dynamic = {
        "features": {0: "batch", 2: "frames"},
        "clip_logits": {0: "batch"},
        "frame_logits": {0: "batch", 1: "frames_out"},
        "embedding": {0: "batch"},
    }
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of dynamo; it still works.
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        torch.onnx.export(
            graph,
            (example,),
            str(path),
            input_names=["features"],
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=dynamo,
        )
    return path


def onnx_session(path: str | os.PathLike[str], threads: int = 2):  # noqa: ANN201 - ort type
    """An onnxruntime CPU session for an exported model."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def verify_onnx(path: str | os.PathLike[str], model: AudioCNN, sample: np.ndarray) -> float:
    """Largest absolute difference between onnxruntime and PyTorch over all outputs.

    Args:
        path: exported .onnx file.
        model: the PyTorch model it came from.
        sample: (batch, n_mels, frames) or (n_mels, frames) raw log-mel.
    """
    x = np.asarray(sample, dtype=np.float32)
    if x.ndim == 2:
        x = x[None]
    ort_out = onnx_session(path).run(list(OUTPUT_NAMES), {"features": x})
    ref = InferenceGraph(model)
    with torch.inference_mode():
        torch_out = ref(torch.from_numpy(x))
    return max(float(np.abs(o - t.numpy()).max()) for o, t in zip(ort_out, torch_out, strict=True))
