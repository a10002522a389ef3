"""A lead removes clips: one by the API, many by ids or status. Someone's work (annotations,
a draft, a live lock) is only removed when the lead forces it; the stored files go after the
commit; the ML layer's writes survive a clip deleted under them."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage

from labelapp.errors import NotFound
from labelapp.models import Annotation, AnnotationDraft, AnnotationRevision, Clip
from labelapp.services.annotations import annotation_draft_save, annotation_submit
from labelapp.services.clip_removal import MAX_CLIPS, clips_delete, media_delete
from labelapp.services.imports import ImportItem, clip_import
from ml_backend.models import ModelVersion, Prediction
from ontology.services import label_create
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


def _imported(project, wav_factory, seed: int, capture) -> Clip:
    """A clip through the real import and processing (eager), with its original and peaks."""
    path = wav_factory(seconds=0.5, sr=8000, seed=seed)
    with capture(execute=True):
        outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
    assert outcome.status == "imported", outcome.error
    clip = Clip.objects.get(pk=outcome.clip_id)
    assert clip.status == "ready" and default_storage.exists(clip.peaks_file)
    return clip


@pytest.fixture
def bird(project):
    return label_create(ontology=project.ontology, name="bird")


def test_a_lead_deletes_a_clip_and_its_files_go_after_the_commit(
    project, lead, client_for, wav_factory, django_capture_on_commit_callbacks
):
    clip = _imported(project, wav_factory, 1, django_capture_on_commit_callbacks)
    keep = _imported(project, wav_factory, 2, django_capture_on_commit_callbacks)
    names = [clip.file.name, clip.peaks_file]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client_for(lead).delete(f"/api/clips/{clip.pk}/")
    assert response.status_code == 204, response.content
    assert not Clip.objects.filter(pk=clip.pk).exists()
    # the files are still there until the transaction's callbacks run (the commit)
    assert all(default_storage.exists(n) for n in names)
    for callback in callbacks:
        callback()
    assert not any(default_storage.exists(n) for n in names)
    # the other clip and its files are untouched
    assert default_storage.exists(keep.file.name) and default_storage.exists(keep.peaks_file)
    assert client_for(lead).get(f"/api/clips/{clip.pk}/").status_code == 404


def test_a_clip_with_annotations_is_refused_unless_forced(
    project, lead, annotator, bird, client_for
):
    (clip,) = ready_clips(project, 1)
    annotation = annotation_submit(clip=clip, user=annotator, clip_labels=[bird.pk])
    response = client_for(lead).delete(f"/api/clips/{clip.pk}/")
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "clip_has_work"
    assert "1 annotation" in body["detail"] and "force" in body["detail"]
    assert Annotation.objects.filter(pk=annotation.pk).exists()

    response = client_for(lead).delete(f"/api/clips/{clip.pk}/?force=true")
    assert response.status_code == 204
    assert not Annotation.objects.filter(pk=annotation.pk).exists()
    assert not AnnotationRevision.objects.filter(annotation_id=annotation.pk).exists()


def test_a_bad_force_value_is_a_400_and_deletes_nothing(project, lead, client_for):
    (clip,) = ready_clips(project, 1)
    response = client_for(lead).delete(f"/api/clips/{clip.pk}/?force=maybe")
    assert response.status_code == 400
    assert "force" in response.json()["detail"]
    assert Clip.objects.filter(pk=clip.pk).exists()


def test_drafts_and_live_locks_hold_a_clip_but_a_skip_does_not(
    project, lead, reviewer, annotator, client_for
):
    drafted, locked, skipped = ready_clips(project, 3)
    Clip.objects.filter(pk=locked.pk).update(priority=10.0)  # the queue hands it out first
    response = client_for(annotator).post(f"/api/projects/{project.pk}/next/")
    assert response.status_code == 200, response.content
    assert response.json()["clip"]["id"] == locked.pk
    AnnotationDraft.objects.create(clip=drafted, user=reviewer, data={"clip_labels": []})
    Annotation.objects.create(clip=skipped, annotator=lead, status=Annotation.Status.SKIPPED)

    removal = clips_delete(project=project, ids=[drafted.pk, locked.pk, skipped.pk])
    reasons = {r["id"]: r["reason"] for r in removal.refused}
    assert set(reasons) == {drafted.pk, locked.pk}
    assert "1 unsaved draft" in reasons[drafted.pk]
    assert "being labeled by 1 annotator now" in reasons[locked.pk]
    assert removal.deleted == [skipped.pk]


def test_many_clips_by_status_and_ids_each_reported(
    project, other_project, lead, annotator, bird, client_for
):
    failed = ready_clips(project, 3, status=Clip.Status.FAILED, offset=0)
    ready = ready_clips(project, 2, offset=10)
    annotation_submit(clip=ready[0], user=annotator, clip_labels=[bird.pk])
    (foreign,) = ready_clips(other_project, 1, offset=20)

    response = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/delete/", {"status": "failed"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert sorted(response.json()["deleted"]) == sorted(c.pk for c in failed)
    assert response.json()["refused"] == []
    assert Clip.objects.filter(project=project).count() == 2

    response = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/delete/",
        {"ids": [ready[0].pk, ready[1].pk, foreign.pk]},
        format="json",
    )
    body = response.json()
    assert body["deleted"] == [ready[1].pk]
    refused = {r["id"]: r for r in body["refused"]}
    assert refused[ready[0].pk]["code"] == "has_work"
    assert refused[ready[0].pk]["name"] == ready[0].original_name
    assert refused[foreign.pk]["code"] == "not_found"
    assert Clip.objects.filter(pk=foreign.pk).exists()  # another project's clip is untouched

    response = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/delete/",
        {"ids": [ready[0].pk], "force": True},
        format="json",
    )
    assert response.json()["deleted"] == [ready[0].pk]
    assert not Annotation.objects.filter(clip__project=project).exists()


@pytest.mark.parametrize(
    "payload, message",
    [
        ({}, "name the clips"),
        ({"status": "gone"}, "status"),
        ({"ids": ["x"]}, "ids"),
        ({"ids": list(range(1, MAX_CLIPS + 2))}, "ids"),
        ({"ids": [10**30]}, "ids"),
        ({"ids": [1], "force": "maybe"}, "force"),
    ],
)
def test_bad_requests_are_400s_that_delete_nothing(project, lead, client_for, payload, message):
    ready_clips(project, 2)
    response = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/delete/", payload, format="json"
    )
    assert response.status_code == 400
    assert message in str(response.json())
    assert Clip.objects.filter(project=project).count() == 2


def test_other_roles_cannot_delete(project, reviewer, annotator, outsider, client_for):
    (clip,) = ready_clips(project, 1)
    assert client_for(reviewer).delete(f"/api/clips/{clip.pk}/").status_code == 403
    assert client_for(annotator).delete(f"/api/clips/{clip.pk}/").status_code == 403
    assert client_for(outsider).delete(f"/api/clips/{clip.pk}/").status_code == 404
    response = client_for(annotator).post(
        f"/api/projects/{project.pk}/clips/delete/", {"status": "ready"}, format="json"
    )
    assert response.status_code == 403
    assert Clip.objects.filter(pk=clip.pk).exists()


def test_with_the_broker_down_the_files_are_deleted_in_the_request(
    project, lead, client_for, wav_factory, django_capture_on_commit_callbacks, monkeypatch
):
    import labelapp.queueing

    clip = _imported(project, wav_factory, 3, django_capture_on_commit_callbacks)
    names = [clip.file.name, clip.peaks_file]
    monkeypatch.setattr(labelapp.queueing, "enqueue", lambda task, *a, **k: False)
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(lead).delete(f"/api/clips/{clip.pk}/").status_code == 204
    assert not any(default_storage.exists(n) for n in names)


def test_the_same_file_imported_again_keeps_its_original(
    project, wav_factory, django_capture_on_commit_callbacks
):
    """Each import stores its own original: a late deletion of the old clip's files (the
    worker runs after the commit) never takes the new clip's file with it."""
    path = wav_factory(seconds=0.5, sr=8000, seed=4)
    with django_capture_on_commit_callbacks(execute=True):
        first = clip_import(project=project, item=ImportItem(name="a.wav", path=path))
    old = Clip.objects.get(pk=first.clip_id)
    names = [old.file.name, old.peaks_file]
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not run yet
        clips_delete(project=project, ids=[old.pk])
    with django_capture_on_commit_callbacks(execute=True):
        again = clip_import(project=project, item=ImportItem(name="a.wav", path=path))
    assert again.status == "imported", again.error
    new = Clip.objects.get(pk=again.clip_id)
    assert new.sha256 == old.sha256 and new.file.name != old.file.name
    assert media_delete(names=names) == 2  # the old original and peaks
    assert default_storage.exists(new.file.name) and default_storage.exists(new.peaks_file)
    assert not any(default_storage.exists(n) for n in names)
    media_delete(names=names)  # again (a redelivered message): no error
    assert default_storage.exists(new.file.name)


@pytest.mark.django_db(transaction=True)  # the foreign key is checked at a real commit
def test_predictions_for_a_clip_deleted_meanwhile_are_dropped_not_fatal(project):
    from ml_backend.prelabel import _write_predictions

    kept, gone = ready_clips(project, 2)
    version = ModelVersion.objects.create(project=project, version=1, name="v1")
    rows = [Prediction(clip_id=c.pk, model_version=version, score=0.5) for c in (kept, gone)]
    Clip.objects.filter(pk=gone.pk).delete()
    _write_predictions(rows)
    assert list(Prediction.objects.values_list("clip_id", flat=True)) == [kept.pk]


def test_by_status_many_clips_go_in_calls_of_at_most_max(project, lead, client_for, monkeypatch):
    import labelapp.services.clip_removal as removal

    monkeypatch.setattr(removal, "MAX_CLIPS", 2)
    failed = ready_clips(project, 5, status=Clip.Status.FAILED)
    AnnotationDraft.objects.create(clip=failed[0], user=lead, data={})  # held on every pass
    deleted, calls, after = [], 0, 0
    while True:
        calls += 1
        body = (
            client_for(lead)
            .post(
                f"/api/projects/{project.pk}/clips/delete/",
                {"status": "failed", "after": after},
                format="json",
            )
            .json()
        )
        deleted += body["deleted"]
        if not body["more"]:
            break
        after = body["last_id"]
    assert calls == 3
    assert sorted(deleted) == [c.pk for c in failed[1:]]
    assert list(Clip.objects.values_list("pk", flat=True)) == [failed[0].pk]


def test_a_submission_to_a_clip_deleted_meanwhile_is_a_404_not_a_lost_write(
    project, annotator, bird
):
    """The clip was read before a lead deleted it (the API's check passed): the save finds
    the clip gone under its lock and says so, instead of failing at commit."""
    (clip,) = ready_clips(project, 1)
    clips_delete(project=project, ids=[clip.pk])
    with pytest.raises(NotFound, match="deleted"):
        annotation_submit(clip=clip, user=annotator, clip_labels=[bird.pk])
    assert not Annotation.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_an_autosave_to_a_clip_deleted_meanwhile_is_a_404_not_a_500(project, annotator, client_for):
    """The autosave read the clip, then a lead's forced removal committed: the draft's
    foreign key fails at its commit (both databases check it there), which answers 404."""
    from labelapp.services.annotations import annotation_draft_save

    (clip,) = ready_clips(project, 1)
    clips_delete(project=project, ids=[clip.pk], force=True)
    with pytest.raises(NotFound, match="deleted"):
        annotation_draft_save(clip=clip, user=annotator, data={"clip_labels": []})
    assert not AnnotationDraft.objects.exists()
    # Through the API the clip's absence is found first: also a 404.
    response = client_for(annotator).put(
        f"/api/clips/{clip.pk}/draft/", {"data": {}}, format="json"
    )
    assert response.status_code == 404


@pytest.mark.parametrize("save", ["submission", "autosave"])
@pytest.mark.django_db(transaction=True)
def test_a_save_racing_a_deletion_on_postgresql_is_a_clean_404(project, annotator, bird, save):
    """The lead's removal holds the clip's row lock while the annotator saves: the save waits
    for it (a submission at its recount, an autosave before its draft), finds the clip gone
    and is rolled back whole (PostgreSQL checks foreign keys at commit; without the lock the
    commit would fail with a 500)."""
    import threading
    import time

    from django.db import connection, connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("row locks and deferred foreign keys: PostgreSQL (CI runs it there)")
    (clip,) = ready_clips(project, 1)
    outcome = {}

    def annotate():
        try:
            if save == "submission":
                annotation_submit(clip=clip, user=annotator, clip_labels=[bird.pk])
            else:
                annotation_draft_save(clip=clip, user=annotator, data={"clip_labels": []})
            outcome["saved"] = True
        except Exception as exc:  # noqa: BLE001 - the test reports what was raised
            outcome["error"] = exc
        finally:
            connections.close_all()

    with transaction.atomic():
        clips_delete(project=project, ids=[clip.pk])  # the row lock is held to our commit
        worker = threading.Thread(target=annotate)
        worker.start()
        time.sleep(0.5)  # the save is now waiting on the clip's row
        assert worker.is_alive()
    worker.join(timeout=10)
    assert isinstance(outcome.get("error"), NotFound), outcome
    assert not Annotation.objects.exists() and not Clip.objects.exists()
    assert not AnnotationDraft.objects.exists()


@pytest.mark.parametrize("given", [["bird"], []], ids=["with-labels", "without-labels"])
def test_reimporting_a_file_whose_twin_is_deleted_meanwhile_imports_it(
    project, wav_factory, bird, given, monkeypatch, django_capture_on_commit_callbacks
):
    """The import found the file's twin (a duplicate, maybe labels to merge), then a lead
    deleted the twin: the file is new again and is imported, labels and all, instead of
    being reported as rejected (labels) or as a duplicate of a clip that is gone (none)."""
    from labelapp.services import imports

    path = wav_factory(seconds=0.5, sr=8000, seed=7)
    with django_capture_on_commit_callbacks(execute=True):
        first = clip_import(project=project, item=ImportItem(name=path.name, path=path))
    real_members, calls = imports._annotations_by_member, []

    def members_after_the_lead(project, item):
        if not calls:  # the lead's removal lands after the twin was looked up
            clips_delete(project=project, ids=[first.clip_id], force=True)
        calls.append(item.name)
        return real_members(project, item)

    monkeypatch.setattr(imports, "_annotations_by_member", members_after_the_lead)
    with django_capture_on_commit_callbacks(execute=True):
        again = clip_import(
            project=project, item=ImportItem(name=path.name, path=path, clip_labels=given)
        )
    assert again.status == "imported", again.error
    assert again.clip_id != first.clip_id and len(calls) == 2  # looked up twice
    clip = Clip.objects.get()
    assert clip.pk == again.clip_id and default_storage.exists(clip.file.name)
    labels = [cl.label.name for a in clip.annotations.all() for cl in a.clip_labels.all()]
    assert labels == given
