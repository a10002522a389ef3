"""The ontology API and the editor page: leads edit, every member reads, strangers see 404."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from labelapp.models import ClipLabel
from ontology.models import Label

pytestmark = pytest.mark.django_db


@pytest.fixture
def url(project):
    base = f"/api/projects/{project.pk}/ontology/"

    def make(suffix: str = "") -> str:
        return base + suffix

    return make


@pytest.fixture
def lead_api(client_for, lead):
    return client_for(lead)


# --- reading the tree ------------------------------------------------------------------------


def test_every_member_reads_the_whole_tree_in_one_request(
    project, labels, url, client_for, lead, reviewer, annotator, django_assert_max_num_queries
):
    labels("animal/bird/corvid", "animal/dog", "noise")
    for user in (lead, reviewer, annotator):
        client = client_for(user)
        with django_assert_max_num_queries(6):
            response = client.get(url())
        assert response.status_code == 200
        body = response.json()
        assert body["can_edit"] is (user == lead)
    assert [lb["path"] for lb in body["labels"]] == [
        "animal",
        "animal/bird",
        "animal/bird/corvid",
        "animal/dog",
        "noise",
    ]
    corvid = body["labels"][2]
    assert set(corvid) == {
        "id",
        "name",
        "path",
        "parent",
        "depth",
        "order",
        "color",
        "hotkey",
        "description",
        "external_id",
        "deprecated",
        "available",
        "leaf",
    }
    assert corvid["parent"] == body["labels"][1]["id"] and corvid["leaf"] is True
    assert (
        body["ontology"]["version"]
        == project.ontology.__class__.objects.get(pk=project.ontology_id).version
    )
    assert body["project"] == {
        "id": project.pk,
        "label_mode": "multi",
        "leaves_only": False,
        "annotation_mode": "both",
    }


def test_strangers_get_404_and_anonymous_users_are_refused(url, client_for, outsider):
    assert client_for(outsider).get(url()).status_code == 404
    assert client_for(None).get(url()).status_code in (401, 403)


def test_an_unchanged_tree_answers_304_to_its_etag(url, lead_api, labels):
    labels("a")
    first = lead_api.get(url())
    etag = first["ETag"]
    assert lead_api.get(url(), HTTP_IF_NONE_MATCH=etag).status_code == 304
    lead_api.post(url("labels/"), {"name": "b"}, format="json")
    second = lead_api.get(url(), HTTP_IF_NONE_MATCH=etag)
    assert second.status_code == 200 and second["ETag"] != etag
    assert [lb["path"] for lb in second.json()["labels"]] == ["a", "b"]


def test_usage_counts_come_with_usage_1(project, url, lead_api, labels, annotate, annotator):
    labels("a", "b")
    annotate(
        project, annotator, clip_labels=["a"], segments=[{"start": 0, "end": 1, "labels": ["a"]}]
    )
    rows = {lb["path"]: lb for lb in lead_api.get(url("?usage=1")).json()["labels"]}
    assert rows["a"]["uses"] == {"clip": 1, "segment": 1}
    assert rows["b"]["uses"] == {"clip": 0, "segment": 0}


# --- editing -----------------------------------------------------------------------------------


def test_a_lead_creates_renames_moves_reorders_and_deprecates(project, url, lead_api, labels):
    tree = labels("animal/bird", "sound")
    response = lead_api.post(
        url("labels/"),
        {"name": "corvid", "parent": tree["animal/bird"].pk, "hotkey": "c", "color": "#123456"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    corvid = response.json()
    assert (corvid["path"], corvid["hotkey"], corvid["depth"]) == ("animal/bird/corvid", "c", 2)

    bird = f"labels/{tree['animal/bird'].pk}/"
    assert (
        lead_api.patch(url(bird), {"name": "Aves"}, format="json").json()["path"] == "animal/Aves"
    )
    moved = lead_api.patch(url(bird), {"parent": tree["sound"].pk}, format="json").json()
    assert moved["path"] == "sound/Aves"
    assert Label.objects.get(pk=corvid["id"]).path == "sound/Aves/corvid"
    top = lead_api.patch(url(bird), {"parent": None, "position": 0}, format="json").json()
    assert (top["path"], top["order"]) == ("Aves", 0)
    out = lead_api.patch(
        url(bird), {"deprecated": True, "color": "#abcdef", "description": "birds"}, format="json"
    ).json()
    assert (out["deprecated"], out["color"], out["description"]) == (True, "#abcdef", "birds")
    # a label added (or moved) under a deprecated one cannot be chosen: said (201, no word)
    under = lead_api.post(url("labels/"), {"name": "jay", "parent": corvid["id"]}, format="json")
    assert under.status_code == 201
    assert under.json()["warnings"] == [
        "Aves/corvid/jay is under the deprecated Aves: annotators cannot choose it until Aves "
        "is restored"
    ]
    sound = lead_api.post(url("labels/"), {"name": "hum", "parent": tree["sound"].pk}, "json")
    assert sound.json()["warnings"] == []
    moved = lead_api.patch(url(f"labels/{sound.json()['id']}/"), {"parent": corvid["id"]}, "json")
    assert "is under the deprecated Aves" in moved.json()["warnings"][0]


def test_annotators_and_reviewers_cannot_edit(
    project, url, client_for, annotator, reviewer, labels
):
    tree = labels("a")
    for user in (annotator, reviewer):
        client = client_for(user)
        assert client.post(url("labels/"), {"name": "x"}, format="json").status_code == 403
        assert (
            client.patch(url(f"labels/{tree['a'].pk}/"), {"name": "y"}, format="json").status_code
            == 403
        )
        assert client.delete(url(f"labels/{tree['a'].pk}/")).status_code == 403
        assert client.post(url("import/"), {"content": "z"}, format="json").status_code == 403
    assert sorted(Label.objects.values_list("path", flat=True)) == ["a"]


@pytest.mark.parametrize(
    "payload, match, label",
    [
        ({"name": ""}, "non-empty name", None),
        ({"name": "Dog"}, "already exists", "Dog"),
        ({"name": "x", "parent": 987654}, "the parent label (id 987654) is not in", "987654"),
        ({"name": "x", "hotkey": "D"}, "already used by 'dog'", "x"),
        ({"name": "x", "color": "#12"}, "#rrggbb", "x"),
    ],
)
def test_bad_creates_are_400_naming_the_label(url, lead_api, labels, payload, match, label):
    tree = labels("dog")
    lead_api.patch(url(f"labels/{tree['dog'].pk}/"), {"hotkey": "d"}, format="json")
    response = lead_api.post(url("labels/"), payload, format="json")
    assert response.status_code == 400
    assert match in response.json()["detail"]
    if label:
        assert response.json()["label"] == label


def test_moving_a_label_under_its_descendant_is_400(url, lead_api, labels):
    tree = labels("a/b/c")
    response = lead_api.patch(
        url(f"labels/{tree['a'].pk}/"), {"parent": tree["a/b/c"].pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "cycle" and response.json()["label"] == "a"


def test_labels_of_another_project_are_404(url, lead_api, other_project):
    from ontology.services import label_create

    foreign = label_create(ontology=other_project.ontology, name="theirs")
    assert lead_api.get(url(f"labels/{foreign.pk}/")).status_code == 404
    assert (
        lead_api.patch(url(f"labels/{foreign.pk}/"), {"name": "mine"}, format="json").status_code
        == 404
    )


def test_delete_in_use_is_409_and_unused_is_200(
    project, url, lead_api, labels, annotate, annotator
):
    tree = labels("used", "spare/child")
    annotate(project, annotator, clip_labels=["used"])
    refused = lead_api.delete(url(f"labels/{tree['used'].pk}/"))
    assert refused.status_code == 409 and "deprecate it instead" in refused.json()["detail"]
    done = lead_api.delete(url(f"labels/{tree['spare'].pk}/"))
    assert done.status_code == 200 and done.json()["deleted"] == 2


def test_merge_through_the_api_reports_counts(project, url, lead_api, labels, annotate, annotator):
    tree = labels("crow", "raven")
    annotate(project, annotator, clip_labels=["crow"])
    annotate(project, annotator, clip_labels=["crow", "raven"])
    response = lead_api.post(
        url(f"labels/{tree['crow'].pk}/merge/"), {"into": tree["raven"].pk}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["annotations_changed"],
        body["clip_labels_moved"],
        body["clip_labels_deduplicated"],
    ) == (2, 1, 1)
    assert ClipLabel.objects.filter(label=tree["raven"]).count() == 2
    missing = lead_api.post(
        url(f"labels/{tree['raven'].pk}/merge/"), {"into": 123456}, format="json"
    )
    assert missing.status_code == 404


# --- import, export, change log ---------------------------------------------------------------


def test_import_a_file_upload(project, url, lead_api):
    upload = SimpleUploadedFile("tree.txt", b"animal/bird\nanimal/dog\n", "text/plain")
    response = lead_api.post(url("import/"), {"file": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["created"] == 3 and response.json()["format"] == "paths"


def test_import_json_content_and_a_raw_document(project, url, lead_api):
    response = lead_api.post(url("import/"), {"content": "a/b\n", "dry_run": True}, format="json")
    assert response.json()["dry_run"] is True and not Label.objects.exists()
    document = [
        {"id": "/m/1", "name": "Music", "child_ids": ["/m/2"]},
        {"id": "/m/2", "name": "Guitar", "child_ids": []},
    ]
    response = lead_api.post(url("import/"), document, format="json")
    assert response.status_code == 200 and response.json()["format"] == "audioset"
    assert sorted(Label.objects.values_list("path", flat=True)) == ["Music", "Music/Guitar"]
    # content is text: a number made a label "5"
    for content in (5, ["a/b"], True):
        response = lead_api.post(url("import/"), {"content": content}, format="json")
        assert response.status_code == 400, (content, response.json())
        assert "content" in str(response.json())
    assert Label.objects.count() == 2


def test_a_dry_run_in_the_query_holds_for_every_body_and_unknown_fields_are_400(url, lead_api):
    """`?dry_run=1` with a file upload or `content` changed the tree (it was read for a raw
    document only); a misspelt `dryrun` imported for real."""
    upload = SimpleUploadedFile("tree.txt", b"bird/eagle\n", "text/plain")
    for body, fmt in (({"file": upload}, "multipart"), ({"content": "bird/owl\n"}, "json")):
        response = lead_api.post(url("import/") + "?dry_run=1", body, format=fmt)
        assert response.status_code == 200, response.json()
        assert response.json()["dry_run"] is True and response.json()["created"] == 2
    assert not Label.objects.exists()
    response = lead_api.post(
        url("import/"), {"content": "bird/crow\n", "dryrun": True}, format="json"
    )
    assert response.status_code == 400 and "unknown field(s) dryrun" in json.dumps(response.json())
    assert not Label.objects.exists()
    response = lead_api.post(url("import/") + "?dry_run=maybe", {"content": "a\n"}, format="json")
    assert response.status_code == 400 and not Label.objects.exists()


def test_an_import_without_a_file_is_400(url, lead_api):
    response = lead_api.post(url("import/"), {"dry_run": "true"}, format="multipart")
    assert response.status_code == 400
    assert "file upload or as content" in json.dumps(response.json())


def test_reorder_through_the_api(url, lead_api, labels):
    tree = labels("p/a", "p/b", "p/c")
    response = lead_api.patch(url(f"labels/{tree['p/c'].pk}/"), {"position": 0}, format="json")
    assert response.status_code == 200 and response.json()["order"] == 0
    names = [lb["name"] for lb in lead_api.get(url()).json()["labels"] if lb["depth"] == 1]
    assert names == ["c", "a", "b"]


def test_a_rejected_import_is_400_and_imports_nothing(url, lead_api):
    document = [
        {"id": "/m/1", "name": "Music", "child_ids": ["/m/2", "/m/404"]},
        {"id": "/m/2", "name": "Guitar", "child_ids": []},
    ]
    response = lead_api.post(url("import/"), {"content": json.dumps(document)}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "dangling_child" and response.json()["label"] == "Music"
    assert "'/m/404'" in response.json()["detail"]
    assert not Label.objects.exists()


@pytest.mark.parametrize(
    "fmt, content_type",
    [
        ("earmark", "application/json"),
        ("audioset", "application/json"),
        ("paths", "text/plain; charset=utf-8"),
    ],
)
def test_every_member_exports_each_format(url, client_for, annotator, labels, fmt, content_type):
    labels("animal/bird", "noise")
    response = client_for(annotator).get(url(f"export?format={fmt}"))
    assert response.status_code == 200
    assert response["Content-Type"] == content_type
    assert "attachment" in response["Content-Disposition"]
    if fmt == "paths":
        assert response.content.decode().splitlines() == ["animal", "animal/bird", "noise"]


def test_an_export_of_a_project_named_past_ascii_is_an_attachment(
    url, client_for, annotator, labels, project
):
    """A name such as "名前 Ünï" went out as an RFC 2047 word, which Chromium does not
    read: the export opened as a page instead of downloading."""
    from ontology.models import Ontology

    Ontology.objects.filter(pk=project.ontology_id).update(name='名前 Ünï "quoted" / x')
    labels("noise")
    header = client_for(annotator).get(url("export?format=paths"))["Content-Disposition"]
    assert header.startswith("attachment; filename*=utf-8''"), header
    assert "=?utf-8?" not in header


def test_export_of_an_unknown_format_is_400(url, lead_api):
    assert lead_api.get(url("export?format=xml")).status_code == 400


def test_the_change_log_says_who_did_what(url, lead_api, lead):
    lead_api.post(url("labels/"), {"name": "a"}, format="json")
    label_id = Label.objects.get().pk
    lead_api.patch(url(f"labels/{label_id}/"), {"name": "b"}, format="json")
    results = lead_api.get(url("changes/")).json()["results"]
    assert [(c["action"], c["user"]) for c in results] == [
        ("rename", lead.username),
        ("create", lead.username),
    ]
    assert results[0]["details"] == {"label": label_id, "from": "a", "to": "b"}


# --- the annotation API expands ancestors ------------------------------------------------------


def test_annotations_are_read_with_their_ancestors_expanded(
    project, labels, annotate, annotator, client_for
):
    labels("animal/bird/corvid")
    annotation = annotate(project, annotator, clip_labels=["animal/bird/corvid"])
    rows = client_for(annotator).get(f"/api/clips/{annotation.clip_id}/annotations/").json()
    assert rows[0]["clip_labels"] == ["animal/bird/corvid"]
    assert rows[0]["clip_labels_expanded"] == ["animal", "animal/bird", "animal/bird/corvid"]


# --- the page ----------------------------------------------------------------------------------


def test_the_editor_page_is_editable_for_leads_and_read_only_for_others(
    project, client, lead, annotator, outsider
):
    page = f"/projects/{project.pk}/ontology/"
    client.force_login(lead)
    html = client.get(page).content.decode()
    assert 'data-can-edit="true"' in html and 'data-testid="add-form"' in html
    client.force_login(annotator)
    html = client.get(page).content.decode()
    assert 'data-can-edit="false"' in html and 'data-testid="add-form"' not in html
    client.force_login(outsider)
    assert client.get(page).status_code == 404
    client.logout()
    assert client.get(page).status_code == 302


def test_an_edit_that_expected_what_another_lead_changed_is_a_409(url, lead_api, labels):
    """Two leads' tabs: A changed the description, B's stale page saved its own over it."""
    cricket = labels("insects/cricket")["insects/cricket"]
    first = lead_api.patch(
        url(f"labels/{cricket.pk}/"),
        {"description": "A: chirps", "expected": {"description": ""}},
        format="json",
    )
    assert first.status_code == 200, first.content
    stale = lead_api.patch(
        url(f"labels/{cricket.pk}/"),
        {"description": "B: nocturnal", "expected": {"description": ""}},
        format="json",
    )
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "label_changed" and body["fields"] == ["description"]
    assert "description is now 'A: chirps'" in body["detail"]
    cricket.refresh_from_db()
    assert cricket.description == "A: chirps"
    # a field nobody else touched goes through; without `expected` the last save wins
    other = lead_api.patch(
        url(f"labels/{cricket.pk}/"),
        {"hotkey": "c", "expected": {"hotkey": "", "parent": cricket.parent_id}},
        format="json",
    )
    assert other.status_code == 200, other.content
    bad = lead_api.patch(
        url(f"labels/{cricket.pk}/"), {"hotkey": "k", "expected": {"uses": 1}}, format="json"
    )
    assert bad.status_code == 400 and "unknown field(s) uses" in str(bad.json())
