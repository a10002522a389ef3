"""ONNX export matches PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ml_backend.export import export_onnx, onnx_session, verify_onnx
from ml_backend.model import AudioCNN, ModelConfig

pytest.importorskip("onnxruntime")


def test_onnx_matches_pytorch_with_dynamic_axes(tmp_path) -> None:
    torch.manual_seed(0)
    model = AudioCNN(ModelConfig(n_mels=32, n_classes=4, width=16))
    model.set_normalization(np.full(32, -6.0), np.full(32, 2.0))
    model.train()  # export must switch augmentation off without touching the original
    path = export_onnx(model, tmp_path / "model.onnx", frames=100)
    assert model.training
    model.eval()
    rng = np.random.default_rng(0)
    for batch, frames in [(1, 100), (3, 57), (2, 240)]:
        x = rng.normal(-6, 2, size=(batch, 32, frames)).astype(np.float32)
        assert verify_onnx(path, model, x) < 1e-4
    outputs = [o.name for o in onnx_session(path).get_outputs()]
    assert outputs == ["clip_logits", "frame_logits", "embedding"]
