"""`manage.py export_onnx`: the active version as ONNX, checked against PyTorch."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from ml_backend.model import AudioCNN, ModelConfig, save_checkpoint
from ml_backend.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_it_exports_the_active_version_and_onnxruntime_agrees(project, tmp_path):
    import onnxruntime as ort

    model = AudioCNN(
        ModelConfig(n_mels=16, n_classes=3, width=8, channel_mult=(1, 2), strides=(2, 2))
    ).eval()
    local = tmp_path / "m.pt"
    save_checkpoint(local, model, extra={"paths": ["a", "b", "c"], "multi_label": False})
    name = default_storage.save(f"models/{project.pk}/test.pt", ContentFile(local.read_bytes()))
    ModelVersion.objects.create(
        project=project,
        version=1,
        name="v1",
        status="active",
        artifact_path=name,
        classes=[1, 2, 3],
        feature_config={"n_mels": 16},
    )
    out = tmp_path / "model.onnx"
    stdout = io.StringIO()
    call_command("export_onnx", project.name, "--out", str(out), stdout=stdout)
    assert "onnxruntime matches PyTorch" in stdout.getvalue()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(["clip_logits"], {"features": np.zeros((1, 16, 120), np.float32)})[0]
    assert logits.shape == (1, 3)
    sidecar = json.loads(out.with_suffix(".json").read_text())
    assert sidecar["classes"] == ["a", "b", "c"] and sidecar["model_version"] == "v1"


def test_a_project_without_a_model_is_a_clear_error(project, tmp_path):
    with pytest.raises(CommandError, match="no active model version"):
        call_command("export_onnx", project.name, "--out", str(tmp_path / "x.onnx"))


@pytest.mark.parametrize("command", ["export_onnx", "export_predictions"])
def test_an_out_path_that_cannot_be_written_is_a_clear_error_before_any_work(
    command, project, tmp_path
):
    with pytest.raises(CommandError, match=r"cannot write .*nope/x\.out: .* is not a folder"):
        call_command(command, project.name, "--out", str(tmp_path / "nope" / "x.out"))
    with pytest.raises(CommandError, match="it is a folder; name a file in it"):
        call_command(command, project.name, "--out", str(tmp_path))
    # a folder not there yet, named with its slash: a file called "new" was written
    with pytest.raises(CommandError, match="it is a folder; name a file in it"):
        call_command(command, project.name, "--out", f"{tmp_path}/new/")


def test_an_out_file_named_json_is_refused_before_its_settings_overwrite_it(project, tmp_path):
    """The settings go beside the model as <name>.json: --out m.json wrote the model, then its
    settings over it, and said both were written."""
    with pytest.raises(CommandError, match=r"--out m\.json: name the \.onnx file"):
        call_command("export_onnx", project.name, "--out", str(tmp_path / "m.json"))
    assert not (tmp_path / "m.json").exists()
