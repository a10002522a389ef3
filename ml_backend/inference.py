"""Loading model versions for inference, cached per process by artifact name."""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from django.core.files.storage import default_storage

from ml_backend.features import FeatureConfig
from ml_backend.model import AudioCNN, ModelConfig, load_checkpoint


@lru_cache(maxsize=4)
def load_model(artifact_path: str) -> tuple[AudioCNN, ModelConfig, dict]:
    """(model in eval mode, its config, the checkpoint's extra dict) of a stored artifact.
    Artifacts are immutable (one name per training run), so caching by name is safe."""
    try:
        return load_checkpoint(default_storage.path(artifact_path))
    except NotImplementedError:  # remote storage
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "model.pt"
            with default_storage.open(artifact_path, "rb") as src, open(local, "wb") as dst:
                dst.write(src.read())
            return load_checkpoint(local)


def load_version(version) -> tuple[AudioCNN, dict, FeatureConfig]:
    """(model, the checkpoint's extra dict, the feature config) of a ModelVersion."""
    model, _config, extra = load_model(version.artifact_path)
    return model, extra, FeatureConfig.from_dict(version.feature_config or extra["feature"])
