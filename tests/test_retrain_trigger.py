"""When a training starts by itself: after `min_labels` labeled clips, then after
max(retrain_every, retrain_growth x the last training's labeled clips) new annotations."""

from __future__ import annotations

import numpy as np
import pytest
from django.db.models import F

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from ml_backend import training
from ml_backend.models import MLConfig, ModelVersion, TrainingRun
from ml_backend.training import training_maybe_start
from ontology.services import label_create
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


def _label(project, annotator, clips, label) -> None:
    for clip in clips:
        annotation_submit(clip=clip, user=annotator, clip_labels=[label.pk])


def test_the_first_training_waits_for_min_labels(project, annotator):
    MLConfig.objects.create(project=project, min_labels=3, retrain_every=1)
    bird, frog = (label_create(ontology=project.ontology, name=n) for n in ("bird", "frog"))
    clips = ready_clips(project, 3)
    _label(project, annotator, clips[:1], bird)
    _label(project, annotator, clips[1:2], frog)
    assert training_maybe_start(project_id=project.pk) is None
    _label(project, annotator, clips[2:], bird)
    run = training_maybe_start(project_id=project.pk)
    assert run is not None and run.trigger == "auto"
    assert training_maybe_start(project_id=project.pk) is None  # never two at once


@pytest.mark.parametrize(
    "retrain_every, labeled, starts_at",
    [(10, 0, 10), (10, 100, 25), (30, 100, 30)],
)
def test_a_retraining_waits_for_the_larger_of_every_and_growth(
    project, annotator, retrain_every, labeled, starts_at
):
    MLConfig.objects.create(
        project=project,
        min_labels=1,
        retrain_every=retrain_every,
        retrain_growth=0.25,
        last_training_labels=labeled,
    )
    ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    for clip, name in zip(ready_clips(project, 2), ("bird", "frog"), strict=True):
        _label(project, annotator, [clip], label_create(ontology=project.ontology, name=name))
    MLConfig.objects.filter(project=project).update(labels_since_training=0)
    for count in range(1, starts_at):
        assert training_maybe_start(project_id=project.pk) is None, count
    assert training_maybe_start(project_id=project.pk) is not None


def _labeled_tones(project, annotator, wav_factory, capture, count: int, **ml_config) -> None:
    """`count` half-second tones imported into `project` and labeled low or high by turns,
    with an MLConfig of `ml_config`."""
    from labelapp.services.imports import ImportItem, clip_import

    project.label_mode, project.annotation_mode, project.target_sample_rate = "single", "clip", 8000
    project.save()
    MLConfig.objects.create(project=project, **ml_config)
    low, high = (label_create(ontology=project.ontology, name=n) for n in ("low", "high"))
    for i in range(count):
        path = wav_factory(f"t{i}.wav", seconds=0.5, sr=8000, freq=300.0 if i % 2 else 2500.0)
        with capture(execute=True):
            outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        clip = Clip.objects.get(pk=outcome.clip_id)
        annotation_submit(clip=clip, user=annotator, clip_labels=[(low if i % 2 else high).pk])


def test_a_training_sets_the_next_threshold_from_its_labeled_clips(
    project, annotator, wav_factory, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(training, "MIN_STEPS", 10)  # seconds, not a real training
    _labeled_tones(
        project,
        annotator,
        wav_factory,
        django_capture_on_commit_callbacks,
        10,
        min_labels=1000,
        epochs=1,
        retrain_growth=0.25,
    )
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "succeeded", TrainingRun.objects.get(
        pk=run.pk
    ).error
    config = MLConfig.objects.get(project=project)
    assert config.labels_since_training == 0
    assert config.last_training_labels == 10
    # a lead's new growth counts at once, not after the next training
    config.retrain_every, config.retrain_growth, config.min_labels = 1, 0.5, 1
    config.save()
    for count in range(1, 5):
        assert training_maybe_start(project_id=project.pk) is None, count
    assert training_maybe_start(project_id=project.pk) is not None  # 5 = 0.5 x 10


@pytest.fixture
def eight_labeled(project, annotator, wav_factory, monkeypatch, django_capture_on_commit_callbacks):
    """8 labeled tones (two labels), a training after every 10 new labels."""
    monkeypatch.setattr(training, "MIN_STEPS", 10)
    _labeled_tones(
        project,
        annotator,
        wav_factory,
        django_capture_on_commit_callbacks,
        8,
        min_labels=1,
        epochs=1,
        retrain_every=10,
    )
    return project


def _labels_arrive_mid_training(monkeypatch, project, count: int) -> None:
    real = training._unlabeled_sample

    def labels_arrive(*args, **kwargs):  # mid-training: what each submission's hook does
        for _ in range(count):
            assert training_maybe_start(project_id=project.pk) is None
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "_unlabeled_sample", labels_arrive)


@pytest.mark.parametrize(("during", "starts"), [(9, False), (10, True)])
def test_labels_that_arrive_during_a_training_start_the_next_when_it_ends(
    eight_labeled, monkeypatch, django_capture_on_commit_callbacks, during, starts
):
    """A label submitted while a training runs is counted but starts nothing (never two at
    once). When the training ends, the labels it did not see start the next one if they meet
    the threshold, sent to the broker once the new run is committed: before, they waited for
    one label more, and a burst that ended during a training was never trained on."""
    from ml_backend import tasks

    project = eight_labeled
    _labels_arrive_mid_training(monkeypatch, project, during)
    sent = []
    monkeypatch.setattr("labelapp.queueing.enqueue", lambda task, *a, **k: sent.append((task, a)))
    run = training.training_request(project=project)
    with django_capture_on_commit_callbacks(execute=True):
        assert training.training_execute(run.pk) == "succeeded"
    assert MLConfig.objects.get(project=project).labels_since_training == during
    after = TrainingRun.objects.exclude(pk=run.pk)
    if starts:
        assert [(r.trigger, r.status) for r in after] == [("auto", TrainingRun.Status.QUEUED)]
        assert (tasks.train, (after.get().pk,)) in sent
    else:
        assert not after.exists()
        assert not [a for task, a in sent if task is tasks.train]


def test_a_label_that_comes_while_the_training_reads_its_labels_stays_counted(
    eight_labeled, monkeypatch
):
    """A label submitted as the training reads the labeled clips may or may not be among
    them; either way it stays in the count (before, the count was set to 0 after the read and
    such a label was in neither)."""
    import ml_backend.dataset as dataset

    project = eight_labeled
    real = dataset.labeled_set

    def label_comes(*args, **kwargs):
        assert training_maybe_start(project_id=project.pk) is None  # a training runs
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "labeled_set", label_comes)
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "succeeded"
    assert MLConfig.objects.get(project=project).labels_since_training == 1


def test_a_next_training_that_cannot_start_leaves_the_finished_one_succeeded(
    eight_labeled, monkeypatch
):
    project = eight_labeled
    _labels_arrive_mid_training(monkeypatch, project, 10)

    def broken(**kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(training, "training_start_if_due", broken)
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.error == ""
    assert ModelVersion.objects.get(project=project).status == ModelVersion.Status.ACTIVE
    assert MLConfig.objects.get(project=project).labels_since_training == 10  # the next label


def test_a_training_with_no_labels_after_it_starts_no_other_whatever_the_settings(eight_labeled):
    """retrain_every 0 (the ORM allows it): after a training, nothing new to train on, so no
    training follows (else each would start the next, for ever)."""
    project = eight_labeled
    MLConfig.objects.filter(project=project).update(retrain_every=0, retrain_growth=0.0)
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "succeeded"
    assert list(TrainingRun.objects.values_list("pk", flat=True)) == [run.pk]


def test_a_cancel_that_comes_as_the_version_is_saved_gives_the_labels_back(
    eight_labeled, monkeypatch
):
    """Cancelled between the model's file and its activation: no version, the file deleted,
    the run cancelled and its labels back in the count, as for a cancel mid-epoch."""
    from django.core.files.storage import default_storage

    project = eight_labeled
    MLConfig.objects.filter(project=project).update(labels_since_training=8)
    real = training._save_artifact
    saved = []

    def save_then_cancel(*args, **kwargs):
        saved.append(real(*args, **kwargs))
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
        return saved[-1]

    monkeypatch.setattr(training, "_save_artifact", save_then_cancel)
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.CANCELLED
    assert not ModelVersion.objects.filter(project=project).exists()
    assert saved and not default_storage.exists(saved[0])
    assert MLConfig.objects.get(project=project).labels_since_training == 8


def test_a_model_with_nan_weights_is_not_made_active_nor_warm_started_from(
    eight_labeled, monkeypatch
):
    """A clip of absurd samples put NaN in the batch-norm statistics: the version became
    active and scored every clip NaN, and every later training warm-started from it and
    failed. Such a model is refused; one already saved is not started from."""
    import torch

    project = eight_labeled
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "succeeded"
    good = ModelVersion.objects.get(project=project, status="active")
    from ml_backend import train as train_module

    real = train_module.self_train

    def poisoned(*args, **kwargs):
        result, pseudo = real(*args, **kwargs)
        with torch.no_grad():
            next(result.model.parameters()).fill_(float("nan"))
        return result, pseudo

    monkeypatch.setattr(train_module, "self_train", poisoned)
    run = training.training_request(project=project)
    assert training.training_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "NaN or infinite weights" in run.error and "failed" not in run.message
    assert ModelVersion.objects.get(project=project, status="active") == good
    # a version saved before the check: the next training starts from random weights
    from ml_backend.inference import load_model
    from ml_backend.model import save_checkpoint

    model, config, extra = load_model(good.artifact_path)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    from django.core.files.storage import default_storage

    with default_storage.open(good.artifact_path, "wb") as fh:
        save_checkpoint(fh, model, config, extra=extra)
    assert training._previous_state(good, good.classes) is None


def test_the_adaptation_sample_is_seeded_so_a_training_repeats(project, monkeypatch):
    """The unlabeled clips a training adapts to (batch norm, pseudo-labels) are a seeded
    sample of positions in id order: the same clips and seed give the same sample (the
    simulation's repeats are repeatable), another seed another one, labeled clips never."""
    monkeypatch.setattr(training, "ADAPT_CLIPS", 10)
    monkeypatch.setattr(
        "ml_backend.dataset.clips_features",
        lambda clips, fc: [np.full((2, 3), c.pk) for c in clips],  # a clip's id as its features
    )
    clips = ready_clips(project, 60)
    labeled = clips[1:6]
    for clip in labeled:
        Clip.objects.filter(pk=clip.pk).update(annotation_count=1)

    def sample(seed):
        features, total = training._unlabeled_sample(project, None, seed=seed)
        return [int(f[0, 0]) for f in features], total

    first, total = sample(7)
    again, _ = sample(7)
    other, _ = sample(8)
    unlabeled = {c.pk for c in clips} - {c.pk for c in labeled}
    assert total == len(unlabeled) == 55
    assert first == again and first != other
    assert len(first) == 10 and set(first) <= unlabeled and first == sorted(first)


def test_a_cancelled_training_gives_its_labels_back_to_the_count(eight_labeled, monkeypatch):
    """12 labels since the last training (of 40); the training starts (the count goes to 0),
    2 more labels come, and it is cancelled: the count is 14 and the threshold is the last
    completed training's again (it was 0 and the cancelled one's)."""
    project = eight_labeled
    MLConfig.objects.filter(project=project).update(
        labels_since_training=12, last_training_labels=40
    )
    run = training.training_request(project=project)

    came = []

    def cancel_after_two_labels():
        if not came:  # two labels arrive while it runs, then the lead cancels
            came.append(2)
            MLConfig.objects.filter(project=project).update(
                labels_since_training=F("labels_since_training") + 2
            )
        return True

    monkeypatch.setattr(training._Reporter, "should_stop", lambda self: cancel_after_two_labels())
    assert training.training_execute(run.pk) == "cancelled"
    config = MLConfig.objects.get(project=project)
    assert (config.labels_since_training, config.last_training_labels) == (14, 40)


def test_train_now_below_min_labels_says_the_model_will_be_weak(
    project, annotator, lead, client_for, capsys
):
    """On demand a training starts whatever the count, but a lead asking for it below the
    first automatic training's count is told, in the API (the model page shows it) and in
    the command; at or above it nothing is said."""
    from django.core.management import call_command

    MLConfig.objects.create(project=project, min_labels=4)
    bird, frog = (label_create(ontology=project.ontology, name=n) for n in ("bird", "frog"))
    clips = ready_clips(project, 4)
    _label(project, annotator, clips[:1], bird)
    _label(project, annotator, clips[1:2], frog)
    res = client_for(lead).post(f"/api/projects/{project.pk}/train/")
    assert res.status_code == 201, res.content
    assert res.json()["note"].startswith("Training on 2 labeled clips, fewer than the 4 ")
    TrainingRun.objects.filter(pk=res.json()["id"]).update(status="cancelled")
    call_command("train", str(project.pk))
    assert "Training on 2 labeled clips" in capsys.readouterr().out
    TrainingRun.objects.filter(project=project).update(status="cancelled")
    _label(project, annotator, clips[2:], bird)
    res = client_for(lead).post(f"/api/projects/{project.pk}/train/")
    assert res.status_code == 201 and res.json()["note"] == ""


def test_a_long_unlabeled_recording_is_adapted_to_by_its_middle_ten_seconds(
    project, wav_factory, monkeypatch, django_capture_on_commit_callbacks
):
    """Whole, a long recording would be hundreds of windows to score at every training and,
    pseudo-labeled, hundreds of training windows of one clip: a training reads its middle."""
    from labelapp.services.imports import ImportItem, clip_import
    from ml_backend.dataset import clip_features, feature_config_for

    monkeypatch.setattr(training, "ADAPT_MIN_CLIPS", 2)
    project.target_sample_rate = 8000
    project.save()
    ids = []
    for name, seconds in (("short.wav", 2.0), ("long.wav", 60.0)):
        path = wav_factory(name, seconds=seconds, sr=8000, freq=440.0)
        with django_capture_on_commit_callbacks(execute=True):
            ids.append(clip_import(project=project, item=ImportItem(name=name, path=path)).clip_id)
    features, total = training._unlabeled_sample(project, feature_config_for(project), seed=1)
    assert total == 2
    short, long = features  # id order
    whole = clip_features(Clip.objects.get(pk=ids[1]), feature_config_for(project))
    assert whole.shape[1] > 5000  # a minute: 6,000 frames of 10 ms
    assert long.shape[1] == training.MAX_UNLABELED_FRAMES
    middle = (whole.shape[1] - training.MAX_UNLABELED_FRAMES) // 2
    assert np.array_equal(long, whole[:, middle : middle + training.MAX_UNLABELED_FRAMES])
    assert short.shape[1] < training.MAX_UNLABELED_FRAMES  # a short clip stays whole


def test_features_are_read_in_batches_of_bounded_audio(monkeypatch):
    class C:
        def __init__(self, duration):
            self.duration = duration

    monkeypatch.setattr(training, "FEATURE_BATCH_SECONDS", 600.0)
    monkeypatch.setattr(training, "FEATURE_CHUNK", 64)
    clips = [C(d) for d in (1.0, 1.0, 500.0, 200.0, 3600.0, 2.0)]
    batches = [[c.duration for c in clips[part]] for part in training._feature_slices(clips)]
    assert batches == [[1.0, 1.0, 500.0], [200.0], [3600.0], [2.0]]
    many = [C(1.0)] * 130
    assert [len(many[part]) for part in training._feature_slices(many)] == [64, 64, 2]
    # the bounds are read when called (a benchmark's baseline sets them)
    monkeypatch.setattr(training, "FEATURE_BATCH_SECONDS", float("inf"))
    assert [len(clips[part]) for part in training._feature_slices(clips)] == [6]


def test_no_training_is_queued_while_the_labels_name_one_class(
    client_for, project, lead, annotator
):
    """Each label used to queue a training that failed at once ("at least two labels"), for
    as long as the project had no model: 11 failed runs in 2 s in an exploratory test."""
    MLConfig.objects.create(project=project, min_labels=2, retrain_every=1)
    bird, frog = (label_create(ontology=project.ontology, name=n) for n in ("bird", "frog"))
    clips = ready_clips(project, 5)
    for clip in clips[:4]:
        _label(project, annotator, [clip], bird)
        training_maybe_start(project_id=project.pk)
    assert not TrainingRun.objects.exists()
    res = client_for(lead).post(f"/api/projects/{project.pk}/train/")
    assert res.status_code == 400 and res.json()["code"] == "too_few_labels"
    assert (
        res.json()["detail"] == "training needs labeled examples of at least two labels (found 1)"
    )
    _label(project, annotator, clips[4:], frog)
    assert training_maybe_start(project_id=project.pk) is not None


def test_in_a_multi_label_project_a_label_and_its_parent_are_two_classes(project, annotator):
    from ml_backend.dataset import classes_in_use

    project.label_mode = "multi"
    project.save()
    birds = label_create(ontology=project.ontology, name="birds")
    crow = label_create(ontology=project.ontology, name="crow", parent=birds)
    (clip,) = ready_clips(project, 1)
    assert classes_in_use(project) == 0
    _label(project, annotator, [clip], crow)
    assert classes_in_use(project) == 2
    project.label_mode = "single"
    project.save()
    assert classes_in_use(project) == 1


def _import_tones(project, wav_factory, n: int, *, labeled: int) -> list[int]:
    """`n` tones imported (the first `labeled` with a label of two, low and high) into a
    project whose first training comes at 4 labels; their clip ids, not yet processed."""
    from labelapp.services.imports import ImportItem, import_job_create, import_run

    MLConfig.objects.create(project=project, min_labels=4)
    for name in ("low", "high"):
        label_create(ontology=project.ontology, name=name)
    items = [
        ImportItem(
            name=f"t{i}.wav",
            path=wav_factory(f"t{i}.wav", seconds=0.5, freq=300.0 + 200 * i),
            clip_labels=(["low" if i % 2 else "high"] if i < labeled else []),
        )
        for i in range(n)
    ]
    job = import_run(
        project=project, items=items, job=import_job_create(project=project, source="cli")
    )
    return [entry["clip_id"] for entry in job.report]


def test_clips_imported_with_labels_count_once_processed_and_start_a_training(project, wav_factory):
    """A labeled seed set imported with its clips used to count for nothing: no automatic
    training came until an annotator submitted a label in Earmark."""
    from labelapp.tasks import clips_process

    ids = _import_tones(project, wav_factory, 4, labeled=4)
    assert MLConfig.objects.get(project=project).labels_since_training == 0  # none ready yet
    assert not TrainingRun.objects.exists()
    clips_process(ids)  # as the worker does
    assert Clip.objects.filter(project=project, status="ready").count() == 4
    assert MLConfig.objects.get(project=project).labels_since_training == 4
    (run,) = TrainingRun.objects.filter(project=project)
    assert run.trigger == "auto"


def test_a_first_training_waits_for_the_import_being_processed(project, wav_factory):
    """It started when 25 of a labeled set's 110 clips were ready: 45 labels, no pretrained
    features (the project seemed small), nothing of the rest to adapt to. It now starts when
    the last clip is processed, unlabeled as that one may be."""
    from labelapp.tasks import clips_process

    ids = _import_tones(project, wav_factory, 6, labeled=4)
    clips_process(ids[:4])  # the labeled ones: due, but two clips wait for processing
    assert MLConfig.objects.get(project=project).labels_since_training == 4
    assert not TrainingRun.objects.exists()
    clips_process(ids[4:5])
    assert not TrainingRun.objects.exists()
    clips_process(ids[5:])  # the last one, unlabeled: the import is processed
    (run,) = TrainingRun.objects.filter(project=project)
    assert run.trigger == "auto"


def test_switching_the_loop_back_on_starts_a_training_that_came_due_meanwhile(
    client_for, project, lead, annotator
):
    MLConfig.objects.create(project=project, min_labels=2, enabled=False)
    bird, frog = (label_create(ontology=project.ontology, name=n) for n in ("bird", "frog"))
    a, b = ready_clips(project, 2)
    _label(project, annotator, [a], bird)
    _label(project, annotator, [b], frog)
    for _ in (a, b):
        training_maybe_start(project_id=project.pk)
    assert not TrainingRun.objects.exists()  # off
    res = client_for(lead).patch(
        f"/api/projects/{project.pk}/model/", {"enabled": True}, format="json"
    )
    assert res.status_code == 200
    (run,) = TrainingRun.objects.filter(project=project)
    assert run.trigger == "auto"


def test_the_same_labels_sent_again_count_for_nothing(
    project, annotator, django_capture_on_commit_callbacks
):
    """A client that re-syncs its labels submitted the same annotation again and again: each
    counted as a new label and retraining came round for nothing. A change counts, a
    resubmission after a skip counts, the same labels again do not."""
    MLConfig.objects.create(project=project, min_labels=100, retrain_every=100)
    bird, frog = (label_create(ontology=project.ontology, name=n) for n in ("bird", "frog"))
    first, second = ready_clips(project, 2)

    def count():
        return MLConfig.objects.get(project=project).labels_since_training

    def submit(clip, **content):
        with django_capture_on_commit_callbacks(execute=True):
            annotation_submit(clip=clip, user=annotator, **content)

    submit(first, clip_labels=[bird.pk])
    assert count() == 1
    for _ in range(3):
        submit(first, clip_labels=[bird.pk])
    assert count() == 1
    submit(first, clip_labels=[frog.pk])  # a change of mind: a new label
    assert count() == 2
    seg = {"start": 0.1, "end": 0.4, "labels": [bird.pk]}
    submit(second, segments=[seg])
    submit(second, segments=[dict(seg)])
    assert count() == 3
    submit(second, segments=[{**seg, "end": 0.5}])
    assert count() == 4


def test_a_lead_makes_an_earlier_version_active_again(
    eight_labeled, client_for, lead, annotator, django_capture_on_commit_callbacks
):
    """A rollback: a worse new version could only be trained over, not undone."""
    from ml_backend.models import PrelabelRun

    project = eight_labeled
    for _ in range(2):
        run = training.training_request(project=project)
        assert training.training_execute(run.pk) == "succeeded"
    v1, v2 = ModelVersion.objects.filter(project=project).order_by("version")
    assert (v1.status, v2.status) == ("retired", "active")
    url = f"/api/model-versions/{v1.pk}/activate/"
    assert client_for(annotator).post(url).status_code == 403
    PrelabelRun.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        res = client_for(lead).post(url)
    assert res.status_code == 200 and res.json()["status"] == "active", res.json()
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.status, v2.status) == ("active", "retired")
    for callback in callbacks:  # the queue is scored by it anew
        callback()
    assert PrelabelRun.objects.filter(project=project, model_version=v1).exists()
    assert training._previous_state(v1, v1.classes) is not None  # the next starts from it
    # refused: while a training runs, and for a version that is not retired
    running = training.training_request(project=project)
    res = client_for(lead).post(f"/api/model-versions/{v2.pk}/activate/")
    assert res.status_code == 409 and res.json()["code"] == "training_running"
    TrainingRun.objects.filter(pk=running.pk).update(status="cancelled")
    ModelVersion.objects.filter(pk=v2.pk).update(status="failed")
    res = client_for(lead).post(f"/api/model-versions/{v2.pk}/activate/")
    assert res.status_code == 409 and res.json()["code"] == "not_retired"
