"""A lead cancels a pre-labeling or ranking (the model page's button, the API): a queued one
never starts, a running one stops at its next batch and keeps the reason the lead's cancel
wrote, and a finished one is a 409."""

from __future__ import annotations

import pytest

from labelapp.models import Clip
from labelapp.services.imports import ImportItem, clip_import
from ml_backend import prelabel
from ml_backend.models import ModelVersion, PrelabelRun

pytestmark = pytest.mark.django_db


def _cancel(client, run):
    return client.post(f"/api/prelabel-runs/{run.pk}/cancel/")


def test_a_queued_run_cancelled_by_a_lead_never_starts(project, lead, client_for, monkeypatch):
    run = PrelabelRun.objects.create(project=project)
    response = _cancel(client_for(lead), run)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "cancelled"
    assert body["error"].startswith(f"by {lead.username};")  # the status says "cancelled"
    assert body["finished_at"] is not None
    monkeypatch.setattr(prelabel, "_prelabel", lambda *a: pytest.fail("a cancelled run ran"))
    assert prelabel.prelabel_execute(run.pk) == "skipped"
    # what the model page and the CLI read: the same row
    shown = client_for(lead).get(f"/api/prelabel-runs/{run.pk}/").json()
    assert shown["status"] == "cancelled" and shown["job_name"] == "cold-start ranking"


def test_a_run_that_has_ended_is_a_409_and_stays_as_it_ended(project, lead, client_for):
    run = PrelabelRun.objects.create(project=project, status="succeeded", done=3, total=3)
    response = _cancel(client_for(lead), run)
    assert response.status_code == 409
    assert response.json()["detail"] == "this cold-start ranking has already ended (succeeded)"
    run.refresh_from_db()
    assert run.status == "succeeded" and run.error == ""


def test_another_projects_run_is_not_found(other_project, lead, client_for):
    run = PrelabelRun.objects.create(project=other_project)
    client = client_for(lead)
    for response in (
        client.get(f"/api/prelabel-runs/{run.pk}/"),
        client.post(f"/api/prelabel-runs/{run.pk}/cancel/"),
    ):
        assert response.status_code == 404
        assert response.json()["detail"] == "pre-labeling run not found"
    run.refresh_from_db()
    assert run.status == "queued"


def test_a_running_scoring_stops_at_its_next_batch_and_keeps_the_leads_reason(
    project, lead, client_for, monkeypatch
):
    """The scoring asks at each batch whether it still runs; the cancel's reason is not
    overwritten by the worker's own "stopped" as it gives up."""
    from tests.conftest import ready_clips

    ready_clips(project, 4)
    version = ModelVersion.objects.create(
        project=project, version=1, name="v1", status="active", artifact_path="models/v1.pt"
    )
    run = PrelabelRun.objects.create(project=project, model_version=version)
    batches = []

    def scoring(project, active, ids, *, progress, seed, before_priorities):
        for done in range(0, len(ids), 2):  # batches of two clips
            progress(done)
            batches.append(done)
            if done == 0:
                assert _cancel(client_for(lead), run).status_code == 200
        before_priorities()
        pytest.fail("the priorities of a cancelled run were about to be written")

    monkeypatch.setattr(prelabel, "score_clips", scoring)
    assert prelabel.prelabel_execute(run.pk) == "cancelled"
    assert batches == [0]  # the second batch was not scored
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.done == 2  # what was written before it stopped is counted
    assert run.error == (
        f"by {lead.username}; the queue keeps its order until the next pre-labeling"
    )


def test_a_cold_start_cancelled_between_batches_writes_no_order(
    project, lead, wav_factory, django_capture_on_commit_callbacks, monkeypatch
):
    from ml_backend import dataset

    for seed in (1, 2, 3):
        path = wav_factory(seconds=0.5, sr=8000, seed=seed)
        with django_capture_on_commit_callbacks(execute=True):
            clip_import(project=project, item=ImportItem(name=path.name, path=path))
    Clip.objects.filter(project=project).update(priority=-1.0)
    PrelabelRun.objects.filter(project=project).delete()  # the imports' own cold start
    run = PrelabelRun.objects.create(project=project)
    monkeypatch.setattr(prelabel, "BATCH", 1)
    real = dataset.clips_features
    read = []

    def features_then_cancel(clips, *args, **kwargs):
        read.append(len(clips))
        prelabel.prelabel_cancel(run=PrelabelRun.objects.get(pk=run.pk), user=lead)
        return real(clips, *args, **kwargs)

    monkeypatch.setattr(dataset, "clips_features", features_then_cancel)
    assert prelabel.prelabel_execute(run.pk) == "cancelled"
    assert read == [1]  # one batch read, then it stopped
    assert set(Clip.objects.filter(project=project).values_list("priority", flat=True)) == {-1.0}
    run.refresh_from_db()
    assert run.status == "cancelled" and run.error.startswith(f"by {lead.username};")


def test_the_command_says_how_to_cancel_and_what_a_cancel_did(project, lead, monkeypatch):
    """`prelabel --wait` names the cancel URL for the Ctrl-C message, and reports a cancel
    made elsewhere with its reason."""
    import io

    from django.core.management import call_command

    from ml_backend.management.commands import prelabel as command

    told = {}

    def cancelled_meanwhile(cmd, fetch, *, describe, done, goes_on="", **kwargs):
        told["goes_on"] = goes_on
        prelabel.prelabel_cancel(run=fetch(), user=lead)
        row = fetch()
        assert done(row)
        told["line"] = describe(row)
        return row

    monkeypatch.setattr(command, "wait_for_row", cancelled_meanwhile)
    out = io.StringIO()
    call_command("prelabel", str(project.pk), "--wait", stdout=out)
    run = PrelabelRun.objects.get(project=project)
    assert told["goes_on"].endswith(f"POST /api/prelabel-runs/{run.pk}/cancel/")
    assert told["line"] == "cold-start ranking cancelled 0/0"
    assert f"cold-start ranking cancelled by {lead.username};" in out.getvalue()
