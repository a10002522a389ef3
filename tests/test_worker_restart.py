"""A Celery node that starts again fails what it was running when its last process died: a
SIGKILLed worker's training showed "running" for 5 minutes after the restart, and "Train now"
was a 409 meanwhile (an operator's exploratory test). Another node's runs are left alone."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labelapp.celery import fail_what_this_node_was_running
from ml_backend.models import ModelVersion, PrelabelRun, TrainingRun

pytestmark = pytest.mark.django_db


def test_a_restarted_node_fails_its_own_running_runs_and_no_others(project, other_project):
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    mine = TrainingRun.objects.create(project=project, status="running", worker="celery@gpu1")
    # one running training a project: another node's is another project's
    theirs = TrainingRun.objects.create(
        project=other_project, status="running", worker="celery@gpu2"
    )
    scoring = PrelabelRun.objects.create(
        project=project, model_version=version, status="running", worker="celery@gpu1"
    )
    done = TrainingRun.objects.create(project=project, status="succeeded", worker="celery@gpu1")

    fail_what_this_node_was_running(sender=SimpleNamespace(hostname="celery@gpu1"))

    for run in (mine, theirs, scoring, done):
        run.refresh_from_db()
    assert (mine.status, theirs.status, scoring.status, done.status) == (
        "failed",
        "running",
        "failed",
        "succeeded",
    )
    assert mine.error == "the worker (celery@gpu1) was restarted while it ran"
    assert mine.finished_at is not None and scoring.error == mine.error
    assert ModelVersion.objects.get(pk=version.pk).status == "active"  # the model stays
    # a node without a name (an eager run) fails nothing
    fail_what_this_node_was_running(sender=SimpleNamespace(hostname=""))
    theirs.refresh_from_db()
    assert theirs.status == "running"
