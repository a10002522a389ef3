"""A lead deletes a project: it is gone for everyone at once, its jobs stop, and the purge
removes every row and stored file of it; a live project is never purged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from labelapp.errors import NotFound
from labelapp.models import Annotation, Clip, ExportJob, Project
from labelapp.services.annotations import annotation_submit
from labelapp.services.imports import ImportItem, clip_import
from labelapp.services.project_removal import (
    PURGE_CLAIM,
    PURGE_GRACE,
    project_delete_request,
    project_purge,
    projects_to_purge,
)
from labelapp.services.projects import project_create, project_resolve
from ml_backend.models import ModelVersion, PrelabelRun, TrainingRun
from ontology.models import Label, Ontology
from ontology.services import label_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def filled(project, annotator, wav_factory, django_capture_on_commit_callbacks):
    """The project with two processed clips (one annotated), a model artifact and an export
    file in the media store."""
    clips = []
    for seed in (1, 2):
        path = wav_factory(seconds=0.5, sr=8000, seed=seed)
        with django_capture_on_commit_callbacks(execute=True):
            outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        clips.append(Clip.objects.get(pk=outcome.clip_id))
    bird = label_create(ontology=project.ontology, name="bird")
    robin = label_create(ontology=project.ontology, name="robin", parent=bird)
    annotation_submit(clip=clips[0], user=annotator, clip_labels=[robin.pk])
    artifact = default_storage.save(f"models/{project.pk}/v1.pt", ContentFile(b"weights"))
    ModelVersion.objects.create(project=project, version=1, name="v1", artifact_path=artifact)
    export = default_storage.save(f"exports/{project.pk}/e.csv", ContentFile(b"clip,label\n"))
    ExportJob.objects.create(project=project, format="csv", status="done", file=export)
    names = [n for c in clips for n in (c.file.name, c.peaks_file)] + [artifact, export]
    assert all(default_storage.exists(n) for n in names)
    return {"clips": clips, "names": names}


def test_a_wrong_confirmation_is_a_400_and_deletes_nothing(project, lead, client_for):
    for confirm in ("", "birds", "Birds%20", "%20Birds", "Bird"):
        response = client_for(lead).delete(f"/api/projects/{project.pk}/?confirm={confirm}")
        assert response.status_code == 400
        assert "type the project's name" in response.json()["detail"]
    project.refresh_from_db()
    assert project.deleted_at is None and project.name == "Birds"


def test_deleting_removes_every_row_and_file(
    project, lead, client_for, filled, django_capture_on_commit_callbacks
):
    ontology_id = project.ontology_id
    with django_capture_on_commit_callbacks(execute=True):  # the purge task runs (eager)
        response = client_for(lead).delete(f"/api/projects/{project.pk}/?confirm=Birds")
    assert response.status_code == 202, response.content
    assert "Birds" in response.json()["detail"]
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Clip.objects.filter(pk__in=[c.pk for c in filled["clips"]]).exists()
    assert not Annotation.objects.exists()
    assert not ModelVersion.objects.exists() and not ExportJob.objects.exists()
    assert not Ontology.objects.filter(pk=ontology_id).exists()
    assert not Label.objects.filter(ontology_id=ontology_id).exists()
    assert not any(default_storage.exists(n) for n in filled["names"])
    # the name is free again
    assert project_create(name="Birds").name == "Birds"


def test_a_deleted_project_is_gone_for_everyone_before_its_purge(
    project, lead, annotator, admin_user, client_for, filled, django_capture_on_commit_callbacks
):
    queued = TrainingRun.objects.create(project=project)
    prelabel = PrelabelRun.objects.create(project=project)
    with django_capture_on_commit_callbacks(execute=False):  # no worker has purged it yet
        project_delete_request(project=project, confirm="Birds")
    clip = filled["clips"][0]
    for user in (lead, annotator, admin_user):
        client = client_for(user)
        assert client.get(f"/api/projects/{project.pk}/").status_code == 404
        assert project.pk not in [p["id"] for p in client.get("/api/projects/").json()]
        assert client.get(f"/api/clips/{clip.pk}/").status_code == 404
        assert client.get(f"/api/clips/{clip.pk}/audio").status_code == 404
        assert client.post(f"/api/projects/{project.pk}/next/").status_code == 404
    with pytest.raises(NotFound):
        project_resolve("Birds")  # the commands do not find it either
    with pytest.raises(NotFound):
        project_resolve(str(project.pk))
    assert project_create(name="Birds").pk != project.pk  # its name is free at once
    queued.refresh_from_db()
    prelabel.refresh_from_db()
    assert queued.status == "cancelled" and prelabel.status == "cancelled"
    # the files stay until the purge
    assert all(default_storage.exists(n) for n in filled["names"])
    assert project_purge(project_id=project.pk) == "purged"
    assert project_purge(project_id=project.pk) == "gone"  # again: nothing left, no error
    assert not any(default_storage.exists(n) for n in filled["names"])


def test_a_live_project_is_never_purged(project, filled):
    assert project_purge(project_id=project.pk) == "live"
    assert Clip.objects.filter(project=project).count() == 2
    assert all(default_storage.exists(n) for n in filled["names"])


def test_the_purge_waits_for_a_training_that_is_still_stopping(project):
    run = TrainingRun.objects.create(project=project, status="running", heartbeat_at=timezone.now())
    project_delete_request(project=project, confirm="Birds")
    run.refresh_from_db()
    assert run.cancel_requested
    assert project_purge(project_id=project.pk) == "waiting"
    TrainingRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(minutes=10)  # its worker died
    )
    assert project_purge(project_id=project.pk) == "purged"


def test_a_second_purge_leaves_the_project_to_the_first_until_its_claim_is_stale(project, filled):
    """Beat's sweep beside a retry: the purge that started first owns the project; a later
    one deletes nothing while that claim is fresh, and takes over once it is stale (the first
    purge's worker died)."""
    project_delete_request(project=project, confirm="Birds")
    started = timezone.now() - timedelta(seconds=5)
    Project.objects.filter(pk=project.pk).update(purge_started_at=started)  # a purge at work
    assert project_purge(project_id=project.pk) == "busy"
    assert Clip.objects.filter(project=project).count() == 2
    assert all(default_storage.exists(n) for n in filled["names"])
    Project.objects.filter(pk=project.pk).update(
        purge_started_at=timezone.now() - PURGE_CLAIM - timedelta(seconds=1)
    )
    assert project_purge(project_id=project.pk) == "purged"
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not any(default_storage.exists(n) for n in filled["names"])


def test_a_purge_keeps_its_claim_fresh_and_stops_when_another_takes_it_over(
    project, filled, monkeypatch
):
    from labelapp.services import project_removal

    project_delete_request(project=project, confirm="Birds")
    real_delete_tree, seen = project_removal._delete_tree, []

    def delete_tree(folder):
        if folder.count("/") == 1:  # a project's folder, not one nested in it
            seen.append(Project.objects.get(pk=project.pk).purge_started_at)
            if len(seen) == 3:  # a slow store: another purge's claim replaces this one's
                Project.objects.filter(pk=project.pk).update(purge_started_at=timezone.now())
        real_delete_tree(folder)

    monkeypatch.setattr(project_removal, "_delete_tree", delete_tree)
    assert project_purge(project_id=project.pk) == "busy"  # it lost the claim: it stops
    assert len(seen) == 3 and seen[0] < seen[1] < seen[2]  # renewed before each step
    assert Clip.objects.filter(project=project).count() == 2  # the other purge's to finish


def test_a_failed_purge_frees_its_claim_for_the_retry(project, filled, monkeypatch):
    from labelapp.services import project_removal

    project_delete_request(project=project, confirm="Birds")

    def store_down(folder):
        raise OSError("the store is down")

    monkeypatch.setattr(project_removal, "_delete_tree", store_down)
    with pytest.raises(OSError):
        project_purge(project_id=project.pk)
    assert Project.objects.get(pk=project.pk).purge_started_at is None
    monkeypatch.undo()
    assert project_purge(project_id=project.pk) == "purged"  # at once, not in 10 minutes
    assert not any(default_storage.exists(n) for n in filled["names"])


def test_the_sweep_finds_deleted_projects_whose_purge_was_lost(project, other_project):
    project_delete_request(project=project, confirm="Birds")
    assert projects_to_purge() == []  # within the grace: its message is still on its way
    Project.objects.filter(pk=project.pk).update(
        deleted_at=timezone.now() - PURGE_GRACE - timedelta(seconds=1)
    )
    assert projects_to_purge() == [project.pk]  # never the live one


def test_an_ontology_shared_with_another_project_stays(project, lead):
    label_create(ontology=project.ontology, name="bird")
    sibling = project_create(name="Birds 2", ontology=project.ontology, created_by=lead)
    project_delete_request(project=project, confirm="Birds")
    assert project_purge(project_id=project.pk) == "purged"
    assert Ontology.objects.filter(pk=sibling.ontology_id).exists()
    assert Label.objects.filter(ontology=sibling.ontology, name="bird").exists()


def test_other_roles_cannot_delete_a_project(project, reviewer, annotator, outsider, client_for):
    for user, expected in ((reviewer, 403), (annotator, 403), (outsider, 404)):
        response = client_for(user).delete(f"/api/projects/{project.pk}/?confirm=Birds")
        assert response.status_code == expected
    project.refresh_from_db()
    assert project.deleted_at is None


def test_the_purge_takes_files_no_row_names_and_only_the_projects(project, other_project):
    orphans = [
        default_storage.save(f"models/{project.pk}/run-7.pt", ContentFile(b"cancelled run")),
        default_storage.save(f"peaks/{project.pk}/999.peaks", ContentFile(b"late peaks")),
        default_storage.save(f"exports/{project.pk}/3.csv", ContentFile(b"late export")),
    ]
    other = default_storage.save(f"models/{other_project.pk}/run-1.pt", ContentFile(b"keep"))
    project_delete_request(project=project, confirm="Birds")
    assert project_purge(project_id=project.pk) == "purged"
    assert not any(default_storage.exists(n) for n in orphans)
    assert default_storage.exists(other)


def test_no_new_work_starts_on_a_deleted_project(project, lead, django_capture_on_commit_callbacks):
    from labelapp.errors import Conflict
    from labelapp.exports import export_run
    from labelapp.services.clips import clip_process
    from ml_backend.prelabel import prelabel_new_clips
    from ml_backend.training import training_request

    (clip,) = [
        Clip.objects.create(
            project=project, file="clips/x.wav", sha256="a" * 64, original_name="x.wav"
        )
    ]
    export = ExportJob.objects.create(project=project, format="csv")
    project_delete_request(project=project, confirm="Birds")
    project.refresh_from_db()
    with pytest.raises(Conflict, match="deleted"):
        training_request(project=project)
    export_run(export.pk)
    export.refresh_from_db()
    assert export.status == "pending" and not export.file  # never claimed
    Clip.objects.filter(pk=clip.pk).update(status="ready")
    prelabel_new_clips([clip.pk])
    assert not PrelabelRun.objects.filter(project=project).exists()
    Clip.objects.filter(pk=clip.pk).update(status="pending")
    assert clip_process(clip.pk) == "skipped"  # its processing message arrives: not claimed
    clip.refresh_from_db()
    assert clip.status == "pending"


def test_a_prelabeling_cancelled_while_it_runs_stays_cancelled(project, monkeypatch):
    from ml_backend import prelabel

    run = PrelabelRun.objects.create(project=project)

    def deleted_meanwhile(run, run_id):
        project_delete_request(project=project, confirm="Birds")

    monkeypatch.setattr(prelabel, "_prelabel", deleted_meanwhile)
    prelabel.prelabel_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "cancelled" and "deleted" in run.error


def test_deleting_in_the_admin_purges_as_the_project_page_does(
    project, admin_user, client, filled, django_capture_on_commit_callbacks
):
    """The admin's own delete removed the rows and left the audio files and the label tree
    behind (an operator's exploratory test)."""
    ontology_id = project.ontology_id
    client.force_login(admin_user)
    url = f"/admin/labelapp/project/{project.pk}/delete/"
    with django_capture_on_commit_callbacks(execute=True):  # the purge task runs (eager)
        response = client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Ontology.objects.filter(pk=ontology_id).exists()
    assert not any(default_storage.exists(n) for n in filled["names"])


def test_deleting_clips_in_the_admin_deletes_their_files(
    project, admin_user, client, filled, django_capture_on_commit_callbacks
):
    first, second = filled["clips"]
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks(execute=True):  # the files go once committed
        response = client.post(
            "/admin/labelapp/clip/",
            {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Clip.objects.filter(project=project).exists()
    assert not any(default_storage.exists(c.file.name) for c in (first, second))
    assert Annotation.objects.filter(clip_id=first.pk).count() == 0
