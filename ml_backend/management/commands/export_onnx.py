"""Export the active model version to ONNX and check it against PyTorch with onnxruntime."""

from __future__ import annotations

import json

import numpy as np
from django.core.management.base import BaseCommand, CommandError

from labelapp.management import file_to_write, project_or_error
from ml_backend.export import export_onnx, verify_onnx
from ml_backend.feature_config import FeatureConfig
from ml_backend.features import feature_recipe
from ml_backend.inference import load_model
from ml_backend.selectors import active_model_version

MAX_ABS_DIFF = 1e-3  # logits; float32 graph rewrites stay far below this


class Command(BaseCommand):
    help = (
        "Write the active model version as ONNX (input: raw log-mel features (batch, "
        "n_mels, frames)), plus a JSON sidecar with its classes and feature settings."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or name")
        parser.add_argument("--out", required=True, help="the .onnx file to write")

    def handle(self, *args, project, out, **opts):
        proj = project_or_error(project)
        out = file_to_write(out)
        if out.suffix.lower() == ".json":
            # The model's settings go beside it as <name>.json: they overwrote the model, and
            # the command said both were written.
            raise CommandError(
                f"--out {out.name}: name the .onnx file (its settings are written beside it, "
                f"as {out.with_suffix('.json').name})"
            )
        version = active_model_version(proj)
        if version is None:
            raise CommandError(f"project {proj.name!r} has no active model version yet")
        model, config, extra = load_model(version.artifact_path)
        path = export_onnx(model, out)
        sample = np.random.default_rng(0).standard_normal((3, config.n_mels, 150)) - 8.0
        diff = verify_onnx(path, model, sample.astype(np.float32))
        if not diff < MAX_ABS_DIFF:
            path.unlink(missing_ok=True)
            raise CommandError(f"ONNX output differs from PyTorch by {diff:.2e}; not written")
        sidecar = path.with_suffix(".json")
        sidecar.write_text(
            json.dumps(
                {
                    "model_version": version.name,
                    "classes": extra.get("paths", []),
                    "label_ids": version.classes,
                    "multi_label": extra.get("multi_label", False),
                    "features": feature_recipe(FeatureConfig.from_dict(version.feature_config)),
                },
                indent=2,
            )
        )
        self.stdout.write(
            f"{version.name} written to {path} (and {sidecar.name}); "
            f"onnxruntime matches PyTorch to {diff:.1e}"
        )
