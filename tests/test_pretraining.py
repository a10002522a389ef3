"""A project's first training starts from a feature extractor pretrained on its own clips
(ml_backend/pretrain.py), made once and kept in the media store; later trainings warm-start from
the active version as before."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from ml_backend import pretrain, training
from ml_backend.dataset import feature_config_for
from ml_backend.models import MLConfig, ModelVersion, TrainingRun
from ontology.services import label_create


@pytest.fixture
def small_project(project, annotator, wav_factory, monkeypatch, django_capture_on_commit_callbacks):
    """12 clips, 6 of them labeled (two labels); pretraining from 8 clips, in 4 steps."""
    from labelapp.services.imports import ImportItem, clip_import

    monkeypatch.setattr(training, "MIN_STEPS", 10)
    monkeypatch.setattr(training, "PRETRAIN", "on")
    monkeypatch.setattr(training, "PRETRAIN_MIN_CLIPS", 8)
    monkeypatch.setattr(training, "PRETRAIN_STEPS", 4)
    project.label_mode, project.annotation_mode, project.target_sample_rate = "single", "clip", 8000
    project.save()
    MLConfig.objects.create(project=project, min_labels=1000, epochs=1)
    low, high = (label_create(ontology=project.ontology, name=n) for n in ("low", "high"))
    for i in range(12):
        path = wav_factory(f"p{i}.wav", seconds=0.5, sr=8000, freq=300.0 + 180.0 * i)
        with django_capture_on_commit_callbacks(execute=True):
            outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        if i < 6:
            clip = Clip.objects.get(pk=outcome.clip_id)
            annotation_submit(clip=clip, user=annotator, clip_labels=[(low if i % 2 else high).pk])
    return project


@pytest.fixture
def pretrainings(monkeypatch):
    """Counts the pretrainings actually run (the real function runs)."""
    calls = []
    real = pretrain.contrastive_pretrain

    def counted(windows, *args, **kwargs):
        calls.append(len(windows))
        return real(windows, *args, **kwargs)

    monkeypatch.setattr(pretrain, "contrastive_pretrain", counted)
    return calls


def _train(project) -> ModelVersion:
    run = training.training_request(project=project)
    outcome = training.training_execute(run.pk)
    assert outcome == "succeeded", TrainingRun.objects.get(pk=run.pk).error
    return ModelVersion.objects.get(project=project, status=ModelVersion.Status.ACTIVE)


def test_the_first_training_pretrains_on_every_clip_and_later_ones_start_from_the_last_version(
    small_project, pretrainings
):
    name = training.backbone_name(small_project, feature_config_for(small_project))
    first = _train(small_project)
    assert first.metrics["started_from"] == "pretrained on the project's clips"
    # All 12 clips, labeled or not, one 1 s window each (0.5 s clips).
    assert pretrainings == [12]
    assert first.metrics["pretraining"]["windows"] == 12
    assert first.metrics["pretraining"]["steps"] == 4
    assert default_storage.exists(name)

    second = _train(small_project)
    assert second.metrics["started_from"] == first.name
    assert "pretraining" not in second.metrics
    assert pretrainings == [12]  # not made again


def test_a_first_training_again_reads_the_stored_backbone(small_project, pretrainings):
    _train(small_project)
    ModelVersion.objects.filter(project=small_project).update(status=ModelVersion.Status.RETIRED)
    again = _train(small_project)
    assert again.metrics["started_from"] == "pretrained on the project's clips"
    assert again.metrics["pretraining"]["windows"] == 12
    assert pretrainings == [12]


def test_an_unreadable_backbone_is_made_again(small_project, pretrainings):
    name = training.backbone_name(small_project, feature_config_for(small_project))
    default_storage.save(name, ContentFile(b"not a checkpoint"))
    version = _train(small_project)
    assert version.metrics["started_from"] == "pretrained on the project's clips"
    assert pretrainings == [12]
    with default_storage.open(name, "rb") as fh:
        assert fh.read(16) != b"not a checkpoint"[:16]


def test_too_few_clips_or_pretraining_off_start_from_random_weights(
    small_project, pretrainings, monkeypatch
):
    monkeypatch.setattr(training, "PRETRAIN_MIN_CLIPS", 13)
    version = _train(small_project)
    assert version.metrics["started_from"] == "random weights"
    ModelVersion.objects.filter(project=small_project).update(status=ModelVersion.Status.RETIRED)
    monkeypatch.setattr(training, "PRETRAIN_MIN_CLIPS", 8)
    monkeypatch.setattr(training, "PRETRAIN", "off")
    version = _train(small_project)
    assert version.metrics["started_from"] == "random weights"
    assert pretrainings == []
    assert not default_storage.exists(
        training.backbone_name(small_project, feature_config_for(small_project))
    )


def test_a_training_cancelled_while_pretraining_leaves_no_version_and_no_backbone(
    small_project, monkeypatch
):
    stops = []

    def stop_during_pretraining(self):
        stops.append(1)
        return len(stops) > 3  # past the features, inside the pretraining's steps

    monkeypatch.setattr(training._Reporter, "should_stop", stop_during_pretraining)
    run = training.training_request(project=small_project)
    assert training.training_execute(run.pk) == "cancelled"
    assert not ModelVersion.objects.filter(project=small_project).exists()
    assert not default_storage.exists(
        training.backbone_name(small_project, feature_config_for(small_project))
    )


def test_pretraining_takes_thirty_passes_over_the_windows_within_bounds(monkeypatch):
    monkeypatch.setattr(training, "PRETRAIN_STEPS", 240)
    assert training.pretrain_steps(300) == 60  # the demo's 300 clips: the floor
    assert training.pretrain_steps(2016) == 237  # FSDD's 2,000 clips: 30 passes
    assert training.pretrain_steps(100_000) == 240  # a large project: the ceiling
    monkeypatch.setattr(training, "PRETRAIN_STEPS", 4)  # a lower ceiling wins over the floor
    assert training.pretrain_steps(300) == 4


def test_a_long_recording_gives_windows_from_its_whole_length():
    from ml_backend.feature_config import FeatureConfig
    from ml_backend.features import spread_windows

    fc = FeatureConfig(sample_rate=8000, n_mels=4)  # 1 s windows: 100 frames
    frames = np.tile(np.arange(10_000, dtype=np.float32), (4, 1))  # each frame holds its index
    windows = spread_windows(frames, fc.window_frames, 4)
    assert windows.shape == (4, 4, 100)
    assert [int(w[0, 0]) for w in windows] == [0, 3300, 6600, 9900]
    short = spread_windows(frames[:, :30], fc.window_frames, 4)
    assert short.shape == (1, 4, 100)  # one window, padded
    assert np.array_equal(short[0, :, :30], frames[:, :30])


def test_auto_pretrains_a_first_training_that_starts_from_many_labels(
    small_project, pretrainings, monkeypatch
):
    """The default: a first training on fewer than PRETRAIN_MIN_LABELS labeled clips (the
    labeling loop's first, at 20) starts from random weights; one on as many or more (a
    labeled seed set imported at once) from the pretrained extractor."""
    monkeypatch.setattr(training, "PRETRAIN", "auto")
    monkeypatch.setattr(training, "PRETRAIN_MIN_LABELS", 7)  # the project has 6 labeled clips
    version = _train(small_project)
    assert version.metrics["started_from"] == "random weights"
    assert pretrainings == []
    ModelVersion.objects.filter(project=small_project).update(status=ModelVersion.Status.RETIRED)
    monkeypatch.setattr(training, "PRETRAIN_MIN_LABELS", 6)
    version = _train(small_project)
    assert version.metrics["started_from"] == "pretrained on the project's clips"
    assert pretrainings == [12]


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        (None, "auto"),
        ("", "auto"),
        ("auto", "auto"),
        ("0", "off"),
        ("false", "off"),
        ("1", "on"),
        (" Yes ", "on"),
    ],
)
def test_pretraining_mode_comes_from_the_environment(value, mode):
    """Auto unless the environment says otherwise; a value it does not know stops the start
    with the variable named."""
    out = _settings_in_a_new_process(value)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == mode


def test_an_unknown_pretraining_mode_fails_at_start_with_the_variable_named():
    out = _settings_in_a_new_process("sometimes")
    assert out.returncode != 0
    assert "EARMARK_PRETRAIN='sometimes': use one of auto, 1, true" in out.stderr


def _settings_in_a_new_process(value: str | None):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "EARMARK_PRETRAIN"}
    if value is not None:
        env["EARMARK_PRETRAIN"] = value
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'labelapp.settings');"
        "django.setup(); from ml_backend import training; print(training.PRETRAIN)"
    )
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("mode", "says"),
    [
        ("auto", "A first training on 40 labeled clips or more (a labeled set imported at once)"),
        (
            "on",
            "A first training starts from features learned without labels from the project's "
            "own clips, when the project holds 100 clips or more",
        ),
        ("off", None),
    ],
)
def test_the_model_page_says_what_a_first_training_starts_from(
    project, lead, client, monkeypatch, mode, says
):
    monkeypatch.setattr(training, "PRETRAIN", mode)
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/model/")
    assert page.status_code == 200
    text = page.content.decode()
    if says is None:
        assert 'data-testid="pretrain-note"' not in text
    else:
        assert says in text


def test_a_training_after_the_sample_rate_changed_does_not_warm_start_from_the_old_model(
    small_project, monkeypatch
):
    """A sample rate changed after a model existed moves every mel band: the next training
    warm-started from weights that learned other inputs, and said "started from v1". It
    starts afresh and says why."""
    monkeypatch.setattr(training, "PRETRAIN", "off")
    first = _train(small_project)
    assert first.feature_config["sample_rate"] == 8000
    small_project.target_sample_rate = 16000
    small_project.save()
    loads = []
    real = training._previous_state
    monkeypatch.setattr(training, "_previous_state", lambda *a: loads.append(a) or real(*a))
    second = _train(small_project)
    assert second.metrics["started_from"] == (
        f"random weights (the sample rate changed from 8000 to 16000 Hz since {first.name})"
    )
    assert loads == []  # the old weights were not read
    third = _train(small_project)
    assert third.metrics["started_from"] == second.name


def test_the_sample_rate_change_is_said_after_a_pretraining_too(small_project, monkeypatch):
    """With pretraining on (40 labels or more under "auto"), "pretrained on the project's
    clips" wrote over the reason the old weights were not used."""
    monkeypatch.setattr(training, "PRETRAIN", "off")
    first = _train(small_project)
    small_project.target_sample_rate = 16000
    small_project.save()
    monkeypatch.setattr(training, "PRETRAIN", "on")
    second = _train(small_project)
    assert second.metrics["started_from"] == (
        "pretrained on the project's clips (the sample rate changed from 8000 to 16000 Hz "
        f"since {first.name})"
    )


def test_a_versions_epochs_are_its_trainings_and_a_raised_floor_is_said(small_project, monkeypatch):
    """Every version said "epochs_run: 6" (self-training's second pass), and epochs=1 trained
    10 (the optimizer-step floor) without a word."""
    from ml_backend import train as train_module

    stages = []
    real = train_module.train_model

    def counted(*args, **kwargs):
        result = real(*args, **kwargs)
        stages.append(result.metrics["epochs_run"])
        return result

    monkeypatch.setattr(training, "PRETRAIN", "off")
    monkeypatch.setattr(train_module, "train_model", counted)
    monkeypatch.setattr(training, "train_model", counted, raising=False)
    m = _train(small_project).metrics
    assert m["epochs_run"] == stages[0]  # the first stage's
    assert m["epochs_planned"] == 10  # 6 windows, batches of 8: one step an epoch, 10 steps
    assert m["epochs_note"] == (
        "10 epochs, not the 1 set: a training takes at least 10 optimizer steps, and these "
        "labels make fewer per epoch"
    )
    if m["pseudo_labeled_clips"]:
        assert m["self_training_epochs"] == stages[-1]
