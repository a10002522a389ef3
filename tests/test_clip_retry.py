"""Failed clips get another chance: a media folder that is briefly not there (unmounted, moved
away) leaves a clip waiting rather than failed for good, and a lead can send a project's
failed clips back to processing (only deleting and uploading them again did)."""

from __future__ import annotations

import pytest

from labelapp.models import Clip
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, clip_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def _imported(project, wav_factory, name="a.wav") -> Clip:
    outcome = clip_import(project=project, item=ImportItem(name=name, path=wav_factory(name)))
    return Clip.objects.get(pk=outcome.clip_id)


def test_a_media_folder_not_there_leaves_the_clip_waiting_not_failed(
    project, wav_factory, own_media
):
    clip = _imported(project, wav_factory)
    away = own_media.with_name("media.away")
    own_media.rename(away)
    assert clip_process(clip.pk) == "waiting"
    clip.refresh_from_db()
    assert clip.status == "pending" and clip.error == ""
    away.rename(own_media)
    assert clip_process(clip.pk) == "ready"


def test_while_the_media_folder_is_away_uploads_wait_and_reads_are_503s(
    project, wav_factory, own_media, lead, annotator, client_for
):
    """An upload during the outage made the folder anew with its one file, and the clips
    waiting for the real one then failed as lost; reads said "missing"."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    clip = _imported(project, wav_factory)
    assert clip_process(clip.pk) == "ready"
    away = own_media.with_name("media.away")
    own_media.rename(away)
    upload = SimpleUploadedFile("b.wav", wav_factory("b.wav", freq=900).read_bytes())
    res = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/", {"files": [upload]}, format="multipart"
    )
    assert res.status_code == 503, res.content  # nothing wrong with the file: try later
    assert res["Retry-After"] and "not answering" in str(res.json())
    assert not own_media.exists()  # not made anew
    for what in ("audio", "peaks?width=10"):
        read = client_for(annotator).get(f"/api/clips/{clip.pk}/{what}")
        assert read.status_code == 503 and read.json()["code"] == "media_unavailable", what
    away.rename(own_media)
    assert client_for(annotator).get(f"/api/clips/{clip.pk}/audio").status_code == 200


def test_a_file_lost_from_a_media_folder_that_is_there_fails_the_clip(
    project, wav_factory, own_media
):
    from django.core.files.storage import default_storage

    clip = _imported(project, wav_factory)
    default_storage.delete(clip.file.name)
    assert clip_process(clip.pk) == "failed"
    clip.refresh_from_db()
    assert clip.status == "failed" and "could not read or write media" in clip.error


def test_a_lead_retries_the_failed_clips(
    project, wav_factory, lead, annotator, client_for, django_capture_on_commit_callbacks
):
    broken = _imported(project, wav_factory, "b.wav")
    fine = _imported(project, wav_factory, "c.wav")
    Clip.objects.filter(pk=broken.pk).update(status="failed", error="could not read media")
    Clip.objects.filter(pk=fine.pk).update(status="ready")
    url = f"/api/projects/{project.pk}/clips/retry-failed/"
    assert client_for(annotator).post(url).status_code == 403
    assert client_for(lead).post(url, {"ids": [1]}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):  # tasks run eagerly here
        res = client_for(lead).post(url)
    assert res.status_code == 200 and res.json() == {"retried": 1}
    broken.refresh_from_db()
    assert (broken.status, broken.error) == ("ready", "")
    assert Clip.objects.get(pk=fine.pk).status == "ready"
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(lead).post(url).json() == {"retried": 0}


def test_no_save_makes_a_missing_media_folder_anew_and_deletes_wait_for_it(
    project, wav_factory, own_media
):
    """An export during the outage made the folder anew (a split store: reads then said
    "missing", and uploads went to the empty one); a clip deleted meanwhile left its file for
    good."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from labelapp.media import MediaUnavailable
    from labelapp.services.clip_removal import media_delete

    clip = _imported(project, wav_factory)
    away = own_media.with_name("media.away")
    own_media.rename(away)
    with pytest.raises(MediaUnavailable):
        default_storage.save("exports/1/x.csv", ContentFile(b"a,b\n"))
    assert not own_media.exists()
    with pytest.raises(MediaUnavailable):
        media_delete(names=[clip.file.name], checked=False)
    away.rename(own_media)
    assert default_storage.exists(clip.file.name)
    assert media_delete(names=[clip.file.name], checked=False) == 1


def test_an_empty_mount_point_is_an_outage_too(
    project, wav_factory, own_media, annotator, client_for
):
    """The volume not mounted leaves its mount point: the folder is there, empty. That read as
    every clip's file lost (a clip processed then failed for good), and a write went to the
    disk beneath. Health says so too."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from labelapp.media import MediaUnavailable
    from labelapp.services.health import _media

    clip = _imported(project, wav_factory)
    waiting = _imported(project, wav_factory, "b.wav")
    assert clip_process(clip.pk) == "ready"
    assert _media() == {"ok": True}
    volume = own_media.with_name("volume")
    own_media.rename(volume)
    own_media.mkdir()  # the bare mount point
    assert clip_process(waiting.pk) == "waiting"
    with pytest.raises(MediaUnavailable):
        default_storage.save("exports/1/x.csv", ContentFile(b"a,b\n"))
    assert list(own_media.iterdir()) == []  # nothing written beneath
    read = client_for(annotator).get(f"/api/clips/{clip.pk}/audio")
    assert read.status_code == 503 and read.json()["code"] == "media_unavailable"
    health = _media()
    assert not health["ok"] and "is its volume mounted?" in health["detail"]
    # an upload meanwhile: its job counts the file as not sent (send it again), not as a file
    # rejected for what it is (the upload page said "not sent", the project page "rejected")
    from django.core.files.uploadedfile import SimpleUploadedFile

    from labelapp.models import ImportJob

    lead = project.memberships.get(role="lead").user
    sent = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/",
        {"files": [SimpleUploadedFile("c.wav", wav_factory("c.wav").read_bytes())]},
        format="multipart",
    )
    assert sent.status_code == 503 and sent.json()["not_sent"] == 1
    job = ImportJob.objects.get(pk=sent.json()["id"])
    assert (job.rejected, job.not_sent, job.rejected_files) == (1, 1, 0)
    own_media.rmdir()
    volume.rename(own_media)  # mounted again
    assert clip_process(waiting.pk) == "ready"
    assert _media() == {"ok": True}
