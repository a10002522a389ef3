"""Input the API does not take is refused with a 400 naming it, before anything is written:
a misspelt key used to be dropped silently (a submission saved without its segments, a setting
answered 200 and left as it was)."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from labelapp.models import Annotation
from labelapp.strict import StrictInput
from ml_backend.models import MLConfig
from ontology.services import label_create
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


class _Point(StrictInput, serializers.Serializer):
    x = serializers.FloatField()
    made = serializers.CharField(read_only=True)


class _Shape(StrictInput, serializers.Serializer):
    points = _Point(many=True)


def test_unknown_and_read_only_keys_are_named_also_in_nested_items():
    ok = _Shape(data={"points": [{"x": 1}]})
    assert ok.is_valid(), ok.errors
    bad = _Shape(data={"points": [{"x": 1}, {"x": 2, "y": 3}], "colour": "red"})
    assert not bad.is_valid()
    assert "unknown field(s) colour" in str(bad.errors["non_field_errors"][0])
    nested = _Shape(data={"points": [{"x": 1}, {"x": 2, "y": 3, "made": "z"}]})
    assert not nested.is_valid()
    message = str(nested.errors["points"][1]["non_field_errors"][0])
    assert "unknown field(s) y" in message and "read-only field(s) made" in message
    assert message.endswith("the fields taken are x")


@pytest.fixture
def sparrow(project):
    return label_create(ontology=project.ontology, name="sparrow")


def test_a_misspelt_segments_key_saves_nothing(client_for, annotator, project, sparrow):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    url = f"/api/clips/{clip.pk}/annotations/"
    typo = client.post(
        url,
        {"clip_labels": ["sparrow"], "segment": [{"start": 0, "end": 1, "labels": ["sparrow"]}]},
        format="json",
    )
    assert typo.status_code == 400
    assert "unknown field(s) segment" in typo.json()["detail"]
    inner = client.post(
        url,
        {"segments": [{"start": 0, "end": 1, "labels": ["sparrow"], "lable": "x"}]},
        format="json",
    )
    assert (
        inner.status_code == 400 and "segments.0: unknown field(s) lable" in inner.json()["detail"]
    )
    assert not Annotation.objects.filter(clip=clip).exists()
    good = client.post(
        url, {"segments": [{"start": 0, "end": 1, "labels": ["sparrow"]}]}, format="json"
    )
    assert good.status_code == 201, good.json()


def test_settings_endpoints_refuse_keys_they_do_not_change(client_for, lead, project, sparrow):
    client = client_for(lead)
    model = client.patch(
        f"/api/projects/{project.pk}/model/",
        {"retrain_every": 7, "labels_since_training": 0},
        format="json",
    )
    assert model.status_code == 400
    assert "read-only field(s) labels_since_training" in model.json()["detail"]
    assert MLConfig.objects.filter(project=project, retrain_every=7).count() == 0
    label_url = f"/api/projects/{project.pk}/ontology/labels/{sparrow.pk}/"
    label = client.patch(label_url, {"nmae": "finch"}, format="json")
    assert label.status_code == 400 and "unknown field(s) nmae" in label.json()["detail"]
    sparrow.refresh_from_db()
    assert sparrow.name == "sparrow"
    member = project.memberships.exclude(user=lead).first()
    role = client.patch(
        f"/api/projects/{project.pk}/members/{member.user_id}/", {"rol": "lead"}, format="json"
    )
    assert role.status_code == 400 and "unknown field(s) rol" in role.json()["detail"]
    export = client.post(
        f"/api/projects/{project.pk}/exports/", {"format": "csv", "filter": {}}, format="json"
    )
    assert export.status_code == 400 and "unknown field(s) filter" in export.json()["detail"]


def test_a_description_of_megabytes_is_refused(client_for, lead, project):
    """A 2 MB project or label description was accepted, and carried by every page and API
    answer that shows it."""
    long = "x" * 10_001
    client = client_for(lead)
    res = client.patch(f"/api/projects/{project.pk}/", {"description": long}, format="json")
    assert res.status_code == 400 and "10000 characters" in str(res.json())
    res = client.post(
        f"/api/projects/{project.pk}/ontology/labels/",
        {"name": "x", "description": long},
        format="json",
    )
    assert res.status_code == 400 and "10000 characters" in str(res.json())


def test_endpoints_that_take_nothing_refuse_fields_and_write_nothing(client_for, lead, project):
    """`{"epochs": 3}` on train answered 201 as if per-run epochs were honoured, and
    `{"needs_adjudication": false}` on adjudication set it to true."""
    from ml_backend.models import PrelabelRun, TrainingRun

    clip = ready_clips(project, 1)[0]
    api = client_for(lead)
    for url, body, field in (
        (f"/api/projects/{project.pk}/train/", {"epochs": 3}, "epochs"),
        (f"/api/projects/{project.pk}/prelabel/", {"model_version": 1}, "model_version"),
        (f"/api/projects/{project.pk}/next/", {"claim": True}, "claim"),
        (
            f"/api/clips/{clip.pk}/adjudication/",
            {"needs_adjudication": False},
            "needs_adjudication",
        ),
    ):
        res = api.post(url, body, format="json")
        assert res.status_code == 400, (url, res.content)
        assert f"takes no fields; got field(s) {field}" in res.json()["detail"]
    clip.refresh_from_db()
    assert not clip.needs_adjudication
    assert not TrainingRun.objects.exists() and not PrelabelRun.objects.exists()
    assert api.post(f"/api/projects/{project.pk}/next/", {}, format="json").status_code == 200
