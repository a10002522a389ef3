"""The REST API of the foundation: projects, clips, uploads, audio, peaks, spectrograms."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labelapp.models import Clip, ImportJob
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, clip_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_clip(project, wav_factory):
    outcome = clip_import(
        project=project, item=ImportItem(name="ready.wav", path=wav_factory(seconds=3.0, sr=8000))
    )
    assert clip_process(outcome.clip_id) == "ready"
    return Clip.objects.get(pk=outcome.clip_id)


def _upload(client, project_id, *files, **fields):
    return client.post(
        f"/api/projects/{project_id}/clips/", {"files": list(files), **fields}, format="multipart"
    )


def test_anonymous_users_are_refused(project):
    assert APIClient().get("/api/projects/").status_code in (401, 403)


def test_projects_list_shows_only_my_projects_with_my_role(
    client_for, project, other_project, annotator
):
    body = client_for(annotator).get("/api/projects/").json()
    assert [(p["id"], p["name"], p["role"]) for p in body] == [(project.pk, "Birds", "annotator")]


def test_token_auth_works(project, lead):
    token = Token.objects.create(user=lead)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/projects/").json()[0]["name"] == "Birds"


def test_site_admins_create_projects_and_a_taken_name_is_said_as_typed(
    client_for, lead, admin_user
):
    assert client_for(lead).post("/api/projects/", {"name": "X"}).status_code == 403
    res = client_for(admin_user).post("/api/projects/", {"name": "X", "label_mode": "multi"})
    assert res.status_code == 201 and res.json()["label_mode"] == "multi"
    assert res.json()["clip_count"] == 0  # as the schema says (it was left out)
    dup = client_for(admin_user).post("/api/projects/", {"name": "x"})
    assert dup.status_code == 400
    # as typed: the other project's own spelling told a lead the name of one they are not in
    assert dup.json()["detail"] == (
        "a project named 'x' already exists (names are compared ignoring case)"
    )
    # the case of any letter, not only ASCII's (SQLite's own match folds ASCII only)
    assert client_for(admin_user).post("/api/projects/", {"name": "Ärger"}).status_code == 201
    umlaut = client_for(admin_user).post("/api/projects/", {"name": "ärger"})
    assert umlaut.status_code == 400 and "already exists" in umlaut.json()["detail"]
    from labelapp.services.projects import project_resolve  # as the commands name a project

    assert project_resolve("ärger").name == "Ärger"


def test_a_project_named_by_a_number_is_refused_and_an_old_one_is_ambiguous(
    client_for, admin_user, project
):
    """A project named "11" beside project 11: `add_member 11 ...` added to project 11.
    New names that are numbers are refused; one from before is said to be ambiguous."""
    from labelapp.errors import DomainError
    from labelapp.models import Project
    from labelapp.services.projects import project_resolve

    res = client_for(admin_user).post("/api/projects/", {"name": str(project.pk)})
    assert res.status_code == 400 and "cannot be a number" in res.json()["detail"]
    rename = client_for(admin_user).patch(f"/api/projects/{project.pk}/", {"name": " 42 "})
    assert rename.status_code == 400
    assert client_for(admin_user).post("/api/projects/", {"name": "Batch 11"}).status_code == 201
    old = Project.objects.create(name=str(project.pk), ontology=project.ontology)
    with pytest.raises(DomainError, match=f"project {old.pk}'s name"):
        project_resolve(str(project.pk))
    assert project_resolve(str(old.pk)) == old


def test_more_files_in_one_upload_than_allowed_is_a_400_with_a_detail(
    client_for, lead, project, wav_factory, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    audio = wav_factory().read_bytes()
    files = [SimpleUploadedFile(f"c{i}.wav", audio) for i in range(3)]
    res = _upload(client_for(lead), project.pk, *files)
    assert res.status_code == 400 and res["Content-Type"] == "application/json"
    assert res.json()["code"] == "too_many_files"
    assert "more than 2 files in one request" in res.json()["detail"]
    assert not Clip.objects.filter(project=project).exists()


def test_upload_reports_each_file_and_goes_on_after_a_bad_one(
    client_for, lead, project, wav_factory
):
    good = wav_factory().read_bytes()
    res = _upload(
        client_for(lead),
        project.pk,
        SimpleUploadedFile("good.wav", good),
        SimpleUploadedFile("bad.wav", b"definitely not audio" * 10),
        SimpleUploadedFile("empty.wav", b""),
    )
    assert res.status_code == 201
    files = {f["name"]: f for f in res.json()["files"]}
    assert files["good.wav"]["status"] == "imported"
    assert files["bad.wav"]["status"] == "rejected" and files["bad.wav"]["error"]
    assert files["empty.wav"]["error"] == "file is empty"
    job = ImportJob.objects.get(pk=res.json()["id"])
    assert (job.status, job.imported, job.rejected) == ("done", 1, 2)
    assert Clip.objects.filter(project=project).count() == 1


def test_upload_of_only_bad_files_is_a_400_with_the_report(client_for, lead, project):
    res = _upload(client_for(lead), project.pk, SimpleUploadedFile("x.wav", b"nope"))
    assert res.status_code == 400
    assert res.json()["files"][0]["status"] == "rejected"


def test_upload_keeps_the_sent_name_to_refuse_traversal(client_for, lead, project, wav_factory):
    data = wav_factory().read_bytes()
    boundary = "XyZ"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="../../evil.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    res = client_for(lead).generic(
        "POST",
        f"/api/projects/{project.pk}/clips/",
        body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert res.status_code == 400
    (entry,) = res.json()["files"]
    assert entry["name"] == "../../evil.wav"
    assert "slashes" in entry["error"]


def test_upload_without_files_is_a_clear_400(client_for, lead, project):
    res = client_for(lead).post(f"/api/projects/{project.pk}/clips/", {}, format="multipart")
    assert res.status_code == 400 and "no files" in res.json()["detail"]


def test_annotators_cannot_upload_and_outsiders_do_not_see_the_project(
    client_for, annotator, outsider, project, wav_factory
):
    f = SimpleUploadedFile("a.wav", wav_factory().read_bytes())
    assert _upload(client_for(annotator), project.pk, f).status_code == 403
    assert _upload(client_for(outsider), project.pk, f).status_code == 404


def test_browser_uploads_share_one_import_job(client_for, lead, project, wav_factory):
    client = client_for(lead)
    job = client.post(f"/api/projects/{project.pk}/imports/", {"total": 2}, format="json").json()
    for _ in range(2):
        res = _upload(
            client,
            project.pk,
            SimpleUploadedFile("a.wav", wav_factory().read_bytes()),
            import_job=job["id"],
        )
        assert res.status_code == 201
    job = client.get(f"/api/imports/{job['id']}/").json()
    assert (job["status"], job["imported"], job["progress"]) == ("done", 2, 1.0)
    # a job of no files would stay running for ever
    empty = client.post(f"/api/projects/{project.pk}/imports/", {"total": 0}, format="json")
    assert empty.status_code == 400 and "at least 1" in str(empty.json())


def test_files_a_browser_could_not_send_finish_their_job(
    client_for, lead, annotator, project, wav_factory
):
    """A dropped connection left the job "running" 24 hours, waiting for a file that never
    came."""
    client = client_for(lead)
    job = client.post(f"/api/projects/{project.pk}/imports/", {"total": 3}, format="json").json()
    _upload(
        client,
        project.pk,
        SimpleUploadedFile("a.wav", wav_factory().read_bytes()),
        import_job=job["id"],
    )
    url = f"/api/imports/{job['id']}/not-sent/"
    assert (
        client_for(annotator).post(url, {"files": [{"name": "b.wav"}]}, format="json").status_code
        == 403
    )
    # a.wav was recorded, but its answer was lost: reported too, it is not counted twice
    # (the whole list was refused, and the job stayed running)
    body = {
        "files": [
            {"name": "a.wav", "reason": "the connection failed"},
            {"name": "b.wav", "reason": "Authentication credentials were not provided."},
            {"name": "c.wav"},
        ]
    }
    res = client.post(url, body, format="json")
    assert res.status_code == 200, res.json()
    done = res.json()
    assert (done["status"], done["imported"], done["rejected"]) == ("done", 1, 2)
    assert done["not_sent"] == 2  # of the rejected: told apart from files refused for what they are
    from django.test import Client

    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/projects/{project.pk}/").content.decode()
    assert "1 imported, 0 duplicates, 0 rejected, 2 not sent of 3" in page
    assert "Which files were not sent, and why" in page
    errors = {r["name"]: r["error"] for r in done["report"]}
    assert errors["b.wav"] == (
        "not sent: Authentication credentials were not provided; choose it again to upload it"
    )
    again = client.post(url, {"files": [{"name": "d.wav"}]}, format="json")
    assert again.status_code == 409 and "nothing is waited for" in again.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_to_one_job_lose_no_file(client_for, lead, project, wav_factory):
    """The browser sends a job's files a few at a time; requests that overlap must each
    count, or the job never reaches its total and shows as running with a partial report."""
    from django.db import connection

    n = 6
    client = client_for(lead)
    job = client.post(f"/api/projects/{project.pk}/imports/", {"total": n}, format="json").json()
    payloads = [wav_factory(f"f{i}.wav").read_bytes() for i in range(n - 1)] + [b"not audio" * 50]
    start = threading.Barrier(n)
    codes = []

    def upload(i: int) -> None:
        try:
            start.wait()
            res = _upload(
                client_for(lead),
                project.pk,
                SimpleUploadedFile(f"f{i}.wav", payloads[i]),
                import_job=job["id"],
            )
            codes.append(res.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [201] * (n - 1) + [400]
    saved = ImportJob.objects.get(pk=job["id"])
    assert (saved.status, saved.processed, saved.imported, saved.rejected) == ("done", n, n - 1, 1)
    assert sorted(e["name"] for e in saved.report) == sorted(f"f{i}.wav" for i in range(n))


def test_clip_list_is_paginated_and_filtered_by_project(
    client_for, annotator, project, other_project, wav_factory
):
    for p in (project, project, other_project):
        clip_import(project=p, item=ImportItem(name="c.wav", path=wav_factory()))
    body = client_for(annotator).get(f"/api/clips/?project={project.pk}").json()
    assert body["count"] == 2 and "next" in body
    assert set(body["results"][0]) >= {
        "id",
        "original_name",
        "duration",
        "sample_rate",
        "channels",
        "status",
    }
    assert client_for(annotator).get(f"/api/clips/?project={other_project.pk}").status_code == 404
    assert client_for(annotator).get("/api/clips/").json()["count"] == 2


def test_audio_is_streamed_with_range_requests(client_for, annotator, ready_clip):
    client = client_for(annotator)
    url = f"/api/clips/{ready_clip.pk}/audio"
    full = client.get(url)
    body = b"".join(full.streaming_content)
    assert full.status_code == 200 and full["Accept-Ranges"] == "bytes"
    assert full["Content-Type"] == "audio/wav" and len(body) == ready_clip.size_bytes
    part = client.get(url, HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{ready_clip.size_bytes}"
    assert b"".join(part.streaming_content) == body[100:200]
    tail = client.get(url, HTTP_RANGE="bytes=-10")
    assert b"".join(tail.streaming_content) == body[-10:]
    open_end = client.get(url, HTTP_RANGE=f"bytes={ready_clip.size_bytes - 5}-")
    assert b"".join(open_end.streaming_content) == body[-5:]
    bad = client.get(url, HTTP_RANGE=f"bytes={ready_clip.size_bytes + 10}-")
    assert bad.status_code == 416 and bad["Content-Range"] == f"bytes */{ready_clip.size_bytes}"
    for junk in ("bytes=abc", "bytes=-", "items=0-10"):  # not a byte range: ignored, as HTTP says
        whole = client.get(url, HTTP_RANGE=junk)
        assert whole.status_code == 200, junk
        assert b"".join(whole.streaming_content) == body
    cached = client.get(url, HTTP_IF_NONE_MATCH=full["ETag"])
    assert cached.status_code == 304
    assert "max-age" in full["Cache-Control"] and full["X-Content-Type-Options"] == "nosniff"
    # If-Range: the range while the validator matches, else the whole file
    same = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=full["ETag"])
    assert same.status_code == 206
    for other in ('"nope"', "Wed, 21 Oct 2015 07:28:00 GMT"):
        whole = client.get(url, HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=other)
        assert whole.status_code == 200 and b"".join(whole.streaming_content) == body


def test_members_of_another_project_get_404_not_the_file(client_for, outsider, ready_clip):
    client = client_for(outsider)
    for suffix in ("", "audio", "peaks", "spectrogram", "annotations/"):
        assert client.get(f"/api/clips/{ready_clip.pk}/{suffix}").status_code == 404, suffix


def test_peaks_of_a_window_have_the_width_asked_for(client_for, annotator, ready_clip):
    res = client_for(annotator).get(f"/api/clips/{ready_clip.pk}/peaks?start=0.5&end=2.5&width=300")
    assert res.status_code == 200
    body = res.json()
    assert len(body["min"]) == len(body["max"]) == 300
    assert all(lo <= hi for lo, hi in zip(body["min"], body["max"], strict=True))
    assert max(body["max"]) == pytest.approx(0.5, abs=0.05)  # the fixture's sine amplitude


def test_deep_zoom_reads_samples(client_for, annotator, ready_clip):
    res = client_for(annotator).get(f"/api/clips/{ready_clip.pk}/peaks?start=1&end=1.01&width=500")
    body = res.json()
    assert res.status_code == 200 and body["level"] == -1
    assert len(body["min"]) == 80  # 10 ms at 8 kHz: one bucket per sample


@pytest.mark.parametrize(
    "query", ["start=2&end=1", "width=0", "width=abc", "start=-1", "start=99&end=100"]
)
def test_bad_peak_windows_are_400(client_for, annotator, ready_clip, query):
    res = client_for(annotator).get(f"/api/clips/{ready_clip.pk}/peaks?{query}")
    assert res.status_code == 400


def test_peaks_of_an_unprocessed_clip_are_409(client_for, annotator, project, wav_factory):
    outcome = clip_import(project=project, item=ImportItem(name="p.wav", path=wav_factory()))
    res = client_for(annotator).get(f"/api/clips/{outcome.clip_id}/peaks")
    assert res.status_code == 409 and "pending" in res.json()["detail"]


def test_a_clip_whose_original_is_lost_answers_404_for_its_audio_and_views(
    client_for, annotator, ready_clip
):
    """The spectrogram's was a 500 page, two a clip opened, with a traceback logged each."""
    from django.core.files.storage import default_storage

    default_storage.delete(ready_clip.file.name)
    client = client_for(annotator)
    for what in ("audio", "spectrogram?start=0&end=1&width=100&height=50", "peaks?width=10"):
        res = client.get(f"/api/clips/{ready_clip.pk}/{what}")
        assert res.status_code == 404, (what, res.status_code)
        assert "missing from the media store" in res.json()["detail"]


def test_spectrogram_is_a_png_of_the_size_asked_for(client_for, annotator, ready_clip):
    from PIL import Image

    res = client_for(annotator).get(
        f"/api/clips/{ready_clip.pk}/spectrogram?start=0&end=3&width=320&height=120"
    )
    assert res.status_code == 200 and res["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(res.content)).size == (320, 120)
    assert (
        client_for(annotator).get(f"/api/clips/{ready_clip.pk}/spectrogram?width=99999").status_code
        == 400
    )


def test_the_spectrograms_top_frequency_is_the_one_asked_for(client_for, annotator, ready_clip):
    """The workspace's "top frequency" sent `max_freq`, and the picture ignored it: the axis
    and the boxes drawn over it moved, the picture did not (a box around a 2 kHz call saved
    as 1-1.4 kHz). The 440 Hz tone of this 8 kHz clip, on a linear axis 100 rows high: 11
    rows from the foot to 4 kHz, 44 to 1 kHz."""
    import numpy as np
    from PIL import Image

    def tone_row_from_foot(query: str) -> int:
        url = f"/api/clips/{ready_clip.pk}/spectrogram?start=0.5&end=2.5&width=64&height=100"
        res = client_for(annotator).get(f"{url}&scale=linear{query}")
        assert res.status_code == 200, res.content
        pixels = np.asarray(Image.open(io.BytesIO(res.content))).astype(float)
        return 99 - int(pixels.sum(axis=2).mean(axis=1).argmax())

    assert abs(tone_row_from_foot("") - 11) <= 1
    assert abs(tone_row_from_foot("&max_freq=1000") - 44) <= 1
    assert abs(tone_row_from_foot("&max_freq=99999") - 11) <= 1  # at most the Nyquist
    bad = client_for(annotator).get(f"/api/clips/{ready_clip.pk}/spectrogram?max_freq=abc")
    assert bad.status_code == 400
    # a bottom frequency: 200-1000 Hz over 100 rows puts 440 Hz 30 rows up
    assert abs(tone_row_from_foot("&min_freq=200&max_freq=1000") - 30) <= 1
    over = client_for(annotator).get(
        f"/api/clips/{ready_clip.pk}/spectrogram?min_freq=3000&max_freq=2000"
    )
    assert over.status_code == 400
    assert (
        "min_freq (3000 Hz) must be below the top of the picture (2000 Hz)"
        in (over.json()["detail"])
    )


def test_openapi_schema_and_docs_are_served(client_for, annotator):
    client = client_for(annotator)
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/projects/", "/api/clips/{clip_id}/peaks", "/api/clips/{clip_id}/audio"):
        assert path in text
    assert client.get("/api/docs/").status_code == 200
    # A 409's body is described (it was "No response body": a generated client lost `run`).
    paths = client.get("/api/schema/?format=json").json()["paths"]
    conflict = paths["/api/projects/{project_id}/train/"]["post"]["responses"]["409"]
    assert conflict["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_a_lead_renames_a_project_and_an_unknown_field_is_a_400(
    client_for, lead, admin_user, project
):
    client = client_for(lead)
    url = f"/api/projects/{project.pk}/"
    res = client.patch(url, {"name": "  Dawn chorus  ", "leaves_only": True}, format="json")
    assert res.status_code == 200 and res.json()["name"] == "Dawn chorus"
    project.refresh_from_db()
    assert (project.name, project.leaves_only) == ("Dawn chorus", True)
    client_for(admin_user).post("/api/projects/", {"name": "Other"})
    taken = client.patch(url, {"name": "OTHER"}, format="json")
    assert taken.status_code == 400 and "already exists" in taken.json()["detail"]
    unknown = client.patch(url, {"nmae": "x"}, format="json")
    assert unknown.status_code == 400 and "unknown field(s) nmae" in unknown.json()["detail"]
    project.refresh_from_db()
    assert project.name == "Dawn chorus"


def test_members_api_adds_by_username_for_leads_only(
    client_for, lead, annotator, make_user, project
):
    make_user("newbie")
    res = client_for(lead).post(
        f"/api/projects/{project.pk}/members/", {"username": "newbie", "role": "annotator"}
    )
    assert res.status_code == 201
    assert (
        client_for(annotator)
        .post(f"/api/projects/{project.pk}/members/", {"username": "newbie", "role": "lead"})
        .status_code
        == 403
    )
    res = client_for(lead).post(
        f"/api/projects/{project.pk}/members/", {"username": "ghost", "role": "annotator"}
    )
    assert res.status_code == 400 and "ghost" in res.json()["detail"]


def test_serializer_errors_get_the_detail_every_other_4xx_has():
    from labelapp.errors import _with_detail

    assert _with_detail(["x y"]) == {"detail": "x y", "code": "invalid", "errors": ["x y"]}
    both = _with_detail({"non_field_errors": ["bad pair"], "name": ["This field is required."]})
    assert both["detail"] == "bad pair; name: This field is required."
    assert both["name"] == ["This field is required."]
    # A list serializer reports {} for the items that were fine: only the bad one is named.
    assert _with_detail({"items": [{}, {"a": ["no"]}]})["detail"] == "items.1.a: no"
    assert _with_detail({"detail": "kept as is"}) == {"detail": "kept as is"}


def test_a_model_validation_error_reads_as_one_line_naming_each_field():
    from django.core.exceptions import ValidationError as DjangoValidationError

    from labelapp.errors import exception_handler

    by_field = DjangoValidationError({"name": ["Too long.", "Has a slash."], "parent": ["Gone."]})
    response = exception_handler(by_field, {})
    assert response.status_code == 400
    assert response.data == {
        "detail": "name: Too long. Has a slash.; parent: Gone.",
        "code": "invalid",
    }
    plain = exception_handler(DjangoValidationError(["One.", "Two."]), {})
    assert plain.data == {"detail": "One. Two.", "code": "invalid"}


def _admin_project_form(name: str, **fields) -> dict:
    """The admin's add-project form as a browser posts it, no members."""
    return {
        "name": name,
        "description": "",
        "label_mode": "single",
        "annotation_mode": "both",
        "annotations_per_clip": 1,
        "target_sample_rate": 16000,
        "memberships-TOTAL_FORMS": 0,
        "memberships-INITIAL_FORMS": 0,
        **fields,
    }


def test_a_project_added_in_the_admin_gets_a_label_tree_of_its_own(client, admin_user, project):
    """Offered the existing trees, a lead picked another project's and renamed its labels
    under that project's annotations."""
    from labelapp.models import Project

    client.force_login(admin_user)
    form = client.get("/admin/labelapp/project/add/")
    assert form.status_code == 200 and 'name="ontology"' not in form.content.decode()
    added = client.post("/admin/labelapp/project/add/", _admin_project_form("Field recordings"))
    assert added.status_code == 302, added.content.decode()[:3000]
    new = Project.objects.get(name="Field recordings")
    assert new.ontology_id != project.ontology_id and new.created_by == admin_user
    change = client.get(f"/admin/labelapp/project/{new.pk}/change/").content.decode()
    assert 'name="ontology"' not in change  # shown, not changeable


@pytest.mark.parametrize(
    ("field", "value", "least"), [("annotations_per_clip", -3, 1), ("lock_seconds", -5, 30)]
)
def test_the_admin_form_names_the_models_own_minimum(client, admin_user, field, value, least):
    """A positive integer's form field said "at least 0" for -3 where the model wants 1."""
    client.force_login(admin_user)
    body = _admin_project_form("Minimums", **{field: value})
    page = client.post("/admin/labelapp/project/add/", body).content.decode()
    assert f"Ensure this value is greater than or equal to {least}." in page
    assert "greater than or equal to 0." not in page


def test_a_bad_page_is_a_400_and_a_page_past_the_end_a_404_both_with_a_code(
    client_for, annotator, project
):
    """?page=abc, ?page=0 and a page past the end all answered 404 "Invalid page." without
    the `code` every other error has."""
    client = client_for(annotator)
    url = "/api/clips/"
    for bad in ("abc", "0", "-1", "1.5", "²", "١"):  # digits int() refuses, or reads
        res = client.get(url, {"page": bad})
        assert res.status_code == 400, bad
        assert (
            res.json()["code"] == "invalid_page" and "whole number from 1" in res.json()["detail"]
        )
    past = client.get(url, {"page": 9})
    assert past.status_code == 404 and past.json()["code"] == "not_found"
    assert "there is no page 9" in past.json()["detail"]
    assert client.get(url, {"page": "last"}).status_code == 200
    assert client.get(url, {"page": 1}).status_code == 200
    # DRF's own refusals carry a code too
    res = client.post("/api/tokens/", "{nope", content_type="application/json")
    assert res.status_code == 400 and res.json()["code"] == "parse_error"


def test_a_client_asks_for_larger_pages_up_to_a_thousand(client_for, annotator, project):
    """`page_size=500` was ignored: always 50 a page."""
    from tests.conftest import ready_clips

    ready_clips(project, 60)
    client = client_for(annotator)
    assert len(client.get("/api/clips/").json()["results"]) == 50
    big = client.get("/api/clips/", {"page_size": 500}).json()
    assert len(big["results"]) == 60 and big["next"] is None
    small = client.get("/api/clips/", {"page_size": 7}).json()
    assert len(small["results"]) == 7 and "page_size=7" in small["next"]
    for bad in ("0", "abc", "-3", "1001", "99999999999999999999"):
        res = client.get("/api/clips/", {"page_size": bad})
        assert res.status_code == 400 and "page_size" in res.json()["detail"], bad


def test_json_nested_too_deeply_is_a_400_not_a_500(client_for, lead, project):
    """50,000 brackets overflowed Python's JSON decoder: a RecursionError, a 500 (with DEBUG
    on, a traceback page) on every JSON endpoint and in the ontology import's file."""
    from django.core.files.uploadedfile import SimpleUploadedFile as Upload

    nested = "[" * 50_000 + "]" * 50_000
    client = client_for(lead)
    for url in (
        "/api/tokens/",
        f"/api/projects/{project.pk}/ontology/import/",
        f"/ml/{project.pk}/setup",
    ):
        res = client.post(url, nested, content_type="application/json")
        assert res.status_code == 400, (url, res.content[:200])
        assert "nested too deeply" in res.json()["detail"]
    upload = Upload("tree.json", nested.encode(), "application/json")
    res = client.post(
        f"/api/projects/{project.pk}/ontology/import/", {"file": upload}, format="multipart"
    )
    assert res.status_code == 400 and "nested too deeply" in res.json()["detail"]


def test_a_site_admin_is_answered_as_a_lead_whatever_their_membership(
    client_for, admin_user, project
):
    """Added as an annotator, a site admin was listed as "annotator" while acting as a lead."""
    from labelapp.models import Membership
    from labelapp.services.projects import membership_set

    membership_set(project=project, user=admin_user, role=Membership.Role.ANNOTATOR)
    listed = client_for(admin_user).get("/api/projects/").json()
    assert [p["role"] for p in listed if p["id"] == project.pk] == ["lead"]
    assert client_for(admin_user).get(f"/api/projects/{project.pk}/").json()["role"] == "lead"


def test_project_names_are_one_spelling_without_control_characters(client_for, admin_user):
    """ "Café" in NFC and in NFD made two projects; "a\\nb" was a name; a 200-character name
    was a 500 on PostgreSQL (its label tree's name, "<name> labels", was too long)."""
    import unicodedata

    client = client_for(admin_user)
    first = client.post("/api/projects/", {"name": "Café"}, format="json")
    assert first.status_code == 201
    again = client.post(
        "/api/projects/", {"name": unicodedata.normalize("NFD", "Café")}, format="json"
    )
    assert again.status_code == 400 and "already exists" in again.json()["detail"]
    for bad in ("a\nb", "Tab\there"):
        res = client.post("/api/projects/", {"name": bad}, format="json")
        assert res.status_code == 400 and "control characters" in res.json()["detail"], bad
    long = client.post("/api/projects/", {"name": "x" * 200}, format="json")
    assert long.status_code == 201, long.json()


def test_an_upload_that_lands_after_its_not_sent_report_is_counted_once(project, lead):
    """The page left as a file's bytes were all sent: it was reported not sent, then its upload
    landed too, and the job listed it both ways and grew by a file."""
    from labelapp.services.imports import (
        FileOutcome,
        import_job_add,
        import_job_create,
        import_job_not_sent,
    )

    job = import_job_create(project=project, user=lead, source="upload", total=2)
    job = import_job_not_sent(job, [{"name": "big.wav"}, {"name": "other.wav"}])
    assert (job.status, job.rejected) == ("done", 2)
    job = import_job_add(job, [FileOutcome(name="big.wav", status="imported", clip_id=None)])
    assert (job.processed, job.total, job.imported, job.rejected) == (2, 2, 1, 1)
    assert sorted((r["name"], r["status"]) for r in job.report) == [
        ("big.wav", "imported"),
        ("other.wav", "rejected"),
    ]


def test_an_unknown_api_route_is_a_json_404_naming_the_route_with_its_slash(client_for, lead):
    """Django's HTML (with DEBUG on, debug) page answered /api/model-versions/abc/activate/."""
    client = client_for(lead)
    response = client.get("/api/model-versions/abc/activate/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("no such API route: /api/model-versions/abc/")
    hint = client.post("/api/projects").json()["detail"]
    assert "did you mean /api/projects/ ?" in hint
    assert APIClient().get("/api/nothing/here").status_code == 404  # the same for strangers
    assert client.get("/api/projects/").status_code == 200
