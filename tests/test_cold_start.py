"""A project without a model ranks its clips for a cold start as they become ready: diverse
clips head the queue before the first training, with no one asking for it."""

from __future__ import annotations

import pytest

from labelapp.models import Clip
from labelapp.services.imports import ImportItem, import_job_create, import_run
from ml_backend import prelabel
from ml_backend.models import MLConfig, PrelabelRun

# Real commits: an import enqueues processing as each clip commits (eager tasks run it here).
pytestmark = pytest.mark.django_db(transaction=True)


def _import(project, wav_factory, n: int) -> list[int]:
    items = [
        ImportItem(name=f"c{i}.wav", path=wav_factory(freq=200.0 + 150 * i, seconds=1.0))
        for i in range(n)
    ]
    import_run(project=project, items=items, job=import_job_create(project=project, source="cli"))
    return list(Clip.objects.filter(project=project).order_by("id").values_list("pk", flat=True))


def test_ready_clips_of_a_project_without_a_model_get_a_cold_start_ranking(project, wav_factory):
    ids = _import(project, wav_factory, 5)
    assert Clip.objects.filter(pk__in=ids, status="ready").count() == 5
    runs = PrelabelRun.objects.filter(project=project)
    assert [(r.model_version, r.status) for r in runs] == [(None, "succeeded")]
    assert runs[0].total == 5
    priorities = sorted(Clip.objects.filter(pk__in=ids).values_list("priority", flat=True))
    assert priorities[0] > prelabel.PICKED_BASE  # every clip is a pick: 5 < DIVERSE_PICKS
    assert len(set(priorities)) == 5  # a strict order, not ties broken by id


def test_no_second_cold_start_while_one_waits_and_none_when_the_loop_is_off(
    project, other_project, wav_factory
):
    ids = _import(project, wav_factory, 2)
    PrelabelRun.objects.filter(project=project).delete()
    waiting = PrelabelRun.objects.create(project=project)  # queued, not yet run
    prelabel.prelabel_new_clips(ids)  # more clips ready: the waiting run will rank them
    assert list(PrelabelRun.objects.filter(project=project, status="queued")) == [waiting]

    MLConfig.objects.update_or_create(project=other_project, defaults={"enabled": False})
    ids = _import(other_project, wav_factory, 2)
    assert Clip.objects.filter(pk__in=ids, status="ready").count() == 2
    assert not PrelabelRun.objects.filter(project=other_project).exists()
    assert set(Clip.objects.filter(project=other_project).values_list("priority", flat=True)) == {
        0.0
    }


def test_a_cold_start_of_one_clip_ends_done_and_presses_while_queued_make_one_run(
    project, wav_factory, client_for, lead
):
    """It said "0 of 1 clips" after succeeding; seven quick presses queued seven runs."""
    _import(project, wav_factory, 1)
    run = PrelabelRun.objects.get(project=project)
    assert (run.status, run.done, run.total) == ("succeeded", 1, 1)
    from django.db import transaction

    api = client_for(lead)
    with transaction.atomic():  # nothing commits, so nothing runs: the first stays queued
        answers = [api.post(f"/api/projects/{project.pk}/prelabel/") for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 200, 200]
        assert len({a.json()["id"] for a in answers}) == 1
        assert PrelabelRun.objects.filter(project=project, status="queued").count() == 1
        transaction.set_rollback(True)


def test_pre_label_with_a_model_active_is_a_run_of_that_version(
    project, wav_factory, client_for, lead
):
    """It was queued without a version and listed as a "cold-start ranking"."""
    from django.db import transaction

    from ml_backend.models import ModelVersion

    _import(project, wav_factory, 2)
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    with transaction.atomic():  # nothing commits, nothing runs
        answer = client_for(lead).post(f"/api/projects/{project.pk}/prelabel/")
        assert answer.status_code == 201
        run = PrelabelRun.objects.get(pk=answer.json()["id"])
        assert run.model_version == version and "cold-start" not in run.job_name
        transaction.set_rollback(True)
