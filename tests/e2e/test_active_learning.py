"""The active-learning loop with a real worker on real recordings (FSDD): annotations arrive,
a training starts by itself, a new version becomes active, unlabeled clips get predictions
and priorities, and the queue order changes. A training killed mid-way leaves the previous
version active."""

from __future__ import annotations

import io
import os
import signal

import pytest
from django.core.management import call_command
from django.utils import timezone

from labelapp.models import Clip
from labelapp.services.imports import ImportItem, import_job_create, import_run
from labelapp.services.projects import project_create
from ml_backend.models import MLConfig, ModelVersion, Prediction, PrelabelRun, TrainingRun
from ml_backend.training import training_request, trainings_sweep_stale
from ontology.services import label_get_or_create_path
from tests.conftest import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DIGITS = [str(d) for d in range(10)]


@pytest.fixture
def digits_project(fsdd, lead, annotator):
    from labelapp.services.projects import membership_set

    project = project_create(
        name="Digits",
        created_by=lead,
        label_mode="single",
        annotation_mode="clip",
        target_sample_rate=8000,
    )
    membership_set(project=project, user=annotator, role="annotator")
    for d in DIGITS:
        label_get_or_create_path(ontology=project.ontology, path=f"digit/{d}")
    MLConfig.objects.create(
        project=project, min_labels=40, retrain_every=1000, epochs=25, strategy="margin"
    )
    # 8 recordings per digit from two speakers: 80 clips
    files = [
        f
        for f in fsdd()
        if f.stem.split("_")[1] in ("jackson", "theo") and int(f.stem.split("_")[2]) < 4
    ]
    items = [ImportItem(name=f.name, path=f, metadata={"digit": f.stem[0]}) for f in files]
    import_run(project=project, items=items, job=import_job_create(project=project, source="cli"))
    wait_for(
        lambda: Clip.objects.filter(project=project, status="ready").count() == len(items),
        timeout=120,
        message="the worker did not process the FSDD clips",
    )
    return project


def _label(project, annotator, clips):
    from labelapp.services.annotations import annotation_submit

    for clip in clips:
        annotation_submit(
            clip=clip, user=annotator, clip_labels=[f"digit/{clip.metadata['digit']}"]
        )


def _first_of_each_digit(project, per_digit):
    """`per_digit` clips of each digit, half from each speaker (the rest stay unlabeled)."""
    chosen, seen = [], {}
    for clip in Clip.objects.filter(project=project).order_by("id"):
        key = (clip.metadata["digit"], clip.original_name.split("_")[1])
        if seen.get(key, 0) < per_digit // 2:
            seen[key] = seen.get(key, 0) + 1
            chosen.append(clip)
    return chosen


def test_labels_trigger_training_then_predictions_and_ranking(
    celery_worker_process, digits_project, annotator
):
    project = digits_project
    before = list(
        Clip.objects.filter(project=project)
        .order_by("-priority", "id")
        .values_list("pk", flat=True)
    )
    _label(project, annotator, _first_of_each_digit(project, 4))  # 40 labels: the threshold
    run = wait_for(
        lambda: TrainingRun.objects.filter(project=project).first(),
        timeout=10,
        message="no training started by itself after 40 labels",
    )
    assert run.trigger == "auto"
    run = wait_for(
        lambda: TrainingRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(),
        timeout=240,
        message="the training did not finish",
    )
    assert run.status == "succeeded", run.error
    assert "@" in run.worker, run.worker  # the node that ran it ("name@host")
    version = ModelVersion.objects.get(project=project, status="active")
    assert version.training_run_id == run.pk and version.training_size == 40
    assert len(version.classes) == 10
    # the 40 unlabeled clips: batch norm adapted to them, the confident ones self-trained on
    assert version.metrics["adapted_on_clips"] == 40
    assert 0 <= version.metrics["pseudo_labeled_clips"] <= 40
    prelabel = wait_for(
        lambda: PrelabelRun.objects.filter(
            project=project, model_version=version, status__in=["succeeded", "failed"]
        ).first(),
        timeout=120,
        message="pre-labeling did not run after activation",
    )
    assert prelabel.status == "succeeded", prelabel.error
    unlabeled = Clip.objects.filter(project=project, annotation_count=0)
    assert Prediction.objects.filter(model_version=version, clip__in=unlabeled).count() == 40
    assert unlabeled.exclude(priority=0).exists()
    after = list(
        Clip.objects.filter(project=project)
        .order_by("-priority", "id")
        .values_list("pk", flat=True)
    )
    assert after != before, "the queue order did not change"
    # the model learned something real from 40 labels: far above chance (4 of 40) on the
    # unlabeled clips (the FSDD benchmark measures how good; this guards that it learns)
    right = 0
    paths = {lb.pk: lb.path for lb in project.ontology.labels.all()}
    for pred in Prediction.objects.filter(model_version=version).select_related("clip"):
        best = max(pred.clip_scores.items(), key=lambda kv: kv[1])[0]
        right += paths[int(best)] == f"digit/{pred.clip.metadata['digit']}"
    assert right >= 16, f"only {right}/40 unlabeled clips predicted right (chance: 4)"
    out = io.StringIO()
    call_command("export_predictions", project.name, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "clip_id,original_name,model_version,label,score"
    assert len(lines) == 1 + 40 * 10


def test_a_killed_training_leaves_the_previous_version_active(
    celery_worker_process, digits_project, annotator
):
    import psutil

    project = digits_project
    _label(project, annotator, _first_of_each_digit(project, 4))
    first = wait_for(
        lambda: TrainingRun.objects.filter(project=project, status="succeeded").first(),
        timeout=240,
        message="the first training did not succeed",
    )
    active = ModelVersion.objects.get(project=project, status="active")
    wait_for(
        lambda: (
            not PrelabelRun.objects.filter(
                project=project, status__in=["queued", "running"]
            ).exists()
        ),
        timeout=120,
    )
    MLConfig.objects.filter(project=project).update(epochs=200)  # long enough to kill mid-way
    run = training_request(project=project)
    wait_for(
        lambda: TrainingRun.objects.filter(pk=run.pk, status="running", progress__gt=0.25).exists(),
        timeout=120,
        message="the second training never got going",
    )
    worker = psutil.Process(celery_worker_process.pid)
    for child in worker.children(recursive=True):  # the pool process doing the training
        os.kill(child.pid, signal.SIGKILL)
    assert ModelVersion.objects.get(project=project, status="active").pk == active.pk
    # no heartbeat any more: the sweep marks it failed with the reason
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timezone.timedelta(minutes=10)
    )
    assert trainings_sweep_stale() == 1
    run.refresh_from_db()
    assert run.status == "failed" and "stopped responding" in run.error
    assert ModelVersion.objects.filter(project=project, status="active").get().pk == active.pk
    assert ModelVersion.objects.filter(project=project).count() == 1
    assert first.pk != run.pk
    # a retry succeeds
    MLConfig.objects.filter(project=project).update(epochs=5)
    retry = training_request(project=project)
    retry = wait_for(
        lambda: TrainingRun.objects.filter(pk=retry.pk, status__in=["succeeded", "failed"]).first(),
        timeout=240,
    )
    assert retry.status == "succeeded", retry.error
    assert ModelVersion.objects.get(project=project, status="active").version == 2
