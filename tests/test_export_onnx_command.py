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
    assert None not in sidecar["features"].values()  # "n_fft": null said nothing


def test_the_sidecars_recipe_rebuilds_the_features_outside_earmark():
    """From the recipe alone, with librosa rather than Earmark's torchaudio code: the same
    log-mel to float precision (the sidecar had left the mel scale, norm and padding out)."""
    import librosa

    from ml_backend.feature_config import FeatureConfig
    from ml_backend.features import compute_logmel, feature_recipe

    config = FeatureConfig(sample_rate=16000, n_mels=40)
    recipe = json.loads(json.dumps(feature_recipe(config)))  # as read back from the file
    rng = np.random.default_rng(0)
    wave = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    wave += 0.01 * rng.standard_normal(16000).astype(np.float32)
    pad = recipe["n_fft"] // 2
    mel = librosa.feature.melspectrogram(
        y=np.pad(wave, pad),
        sr=recipe["sample_rate"],
        n_fft=recipe["n_fft"],
        hop_length=recipe["hop_length"],
        win_length=recipe["win_length"],
        window="hann",
        center=False,
        power=recipe["power"],
        n_mels=recipe["n_mels"],
        fmin=recipe["f_min"],
        fmax=recipe["f_max"],
        htk=recipe["mel_scale"] != "slaney",
        norm="slaney" if recipe["mel_norm"] == "slaney" else None,
    )
    rebuilt = np.log(np.maximum(mel, config.log_floor))
    ours = compute_logmel(wave, 16000, config)
    assert rebuilt.shape == ours.shape
    np.testing.assert_allclose(rebuilt, ours, atol=2e-3)


@pytest.mark.parametrize("frames", [37, 100, 251])
def test_the_sidecars_recipe_rebuilds_the_models_windows(frames):
    """The sidecar said how a long clip is cut but not that a short one (every FSDD clip)
    is filled to a whole window with its quietest value: windows built from the recipe's
    words and numbers alone are the model's input."""
    import math

    from ml_backend.feature_config import FeatureConfig
    from ml_backend.features import cut_windows, feature_recipe

    config = FeatureConfig(sample_rate=16000, n_mels=8)
    recipe = json.loads(json.dumps(feature_recipe(config)))
    size, hop = recipe["window_frames"], recipe["window_hop_frames"]
    assert recipe["window_padding"] == "the clip's minimum log-mel value"
    features = np.random.default_rng(frames).normal(size=(8, frames)).astype(np.float32)
    count = 1 if frames <= size else 1 + math.ceil((frames - size) / hop)
    rebuilt = np.full((count, 8, size), features.min(), np.float32)
    for k in range(count):
        part = features[:, k * hop : k * hop + size]
        rebuilt[k, :, : part.shape[1]] = part
    np.testing.assert_array_equal(
        rebuilt, cut_windows(features, config.window_frames, config.window_hop_frames)
    )


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
