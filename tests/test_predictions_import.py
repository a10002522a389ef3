"""Predictions of a model run elsewhere (BirdNET, a team's own) imported by REST: they came in
only with Label Studio tasks, by the command line. Each item is imported or refused with its
reason; the workspace suggests them until the project's own model is active."""

from __future__ import annotations

import pytest

from ml_backend.models import ModelVersion, Prediction
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled_tree(project):
    from ontology.services import label_get_or_create_path

    return {
        p: label_get_or_create_path(ontology=project.ontology, path=p)[0]
        for p in ("birds/robin", "noise")
    }


def _post(client, project, body):
    return client.post(f"/api/projects/{project.pk}/predictions/", body, format="json")


def test_a_lead_imports_scores_and_segments_and_the_workspace_suggests_them(
    project, labeled_tree, lead, annotator, client_for
):
    a, b = ready_clips(project, 2)  # 10 s each
    body = {
        "model_version": "birdnet-2.4",
        "predictions": [
            {
                "clip": a.pk,
                "clip_labels": [{"label": "birds/robin", "score": 0.91}],
                "segments": [{"start": 1.2, "end": 2.0, "label": "birds/robin", "score": 0.8}],
            },
            {"original_name": b.original_name, "clip_labels": [{"label": "noise", "score": 0.7}]},
            {"clip": a.pk, "clip_labels": [{"label": "birds/owl", "score": 0.5}]},
            {"clip": b.pk, "segments": [{"start": 9, "end": 12, "label": "noise", "score": 0.5}]},
            {"clip": b.pk, "clip_labels": [{"label": "noise", "score": 1.5}]},
            {"clip": 999999, "clip_labels": [{"label": "noise", "score": 0.5}]},
            {"clip": b.pk},
        ],
    }
    assert _post(client_for(annotator), project, body).status_code == 403
    res = _post(client_for(lead), project, body)
    assert res.status_code == 200, res.content
    out = res.json()
    assert out["imported"] == 2 and out["model_version"] == "birdnet-2.4"
    reasons = {r["index"]: r["reason"] for r in out["rejected"]}
    assert "birds/owl" in reasons[2]
    assert "not within the clip" in reasons[3]
    assert "from 0 to 1" in reasons[4]
    assert "no clip 999999" in reasons[5]
    assert "clip labels or segments" in reasons[6]
    version = ModelVersion.objects.get(project=project, name="birdnet-2.4")
    assert version.status == "external"
    pred = Prediction.objects.get(clip=a, model_version=version)
    assert pred.clip_scores == {str(labeled_tree["birds/robin"].pk): 0.91}
    assert pred.segments[0]["label"] == labeled_tree["birds/robin"].pk
    # no labels were made for the unknown one
    from ontology.models import Label

    assert not Label.objects.filter(ontology=project.ontology, name="owl").exists()
    # the annotator's workspace suggests them (no model of the project's own yet)
    ws = client_for(annotator).get(f"/api/clips/{a.pk}/workspace/").json()
    assert ws["suggestions"]["model_version"]["name"] == "birdnet-2.4"
    assert [s["label"] for s in ws["suggestions"]["clip_labels"]] == ["birds/robin"]
    # the same source again replaces the clip's prediction
    again = {
        "model_version": "birdnet-2.4",
        "predictions": [{"clip": a.pk, "clip_labels": [{"label": "noise", "score": 0.6}]}],
    }
    assert _post(client_for(lead), project, again).json()["imported"] == 1
    pred = Prediction.objects.get(clip=a, model_version=version)
    assert pred.clip_scores == {str(labeled_tree["noise"].pk): 0.6}


@pytest.mark.parametrize(
    "body, words",
    [
        ({"predictions": [{"clip": 1}]}, "model_version"),
        ({"model_version": "x", "predictions": []}, "at least one"),
        ({"model_version": "x", "predictions": [{}] * 1001}, "at most 1000"),
        ({"model_version": "x", "predictions": [], "extra": 1}, "unknown field(s) extra"),
        ({"model_version": "v1", "predictions": [{"clip": 1}]}, "project's own versions"),
    ],
)
def test_a_bad_request_is_a_400_naming_what(project, lead, client_for, body, words):
    ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    res = _post(client_for(lead), project, body)
    assert res.status_code == 400 and words in res.json()["detail"], res.json()


def test_an_imported_source_never_takes_an_own_versions_name(project, lead, client_for):
    """Predictions imported as "v1" before the first training: two versions "v1"."""
    from ml_backend.services import external_model_version

    refused = _post(
        client_for(lead), project, {"model_version": "V1", "predictions": [{"clip": 1}]}
    )
    assert refused.status_code == 400 and "own versions" in refused.json()["detail"]
    # Label Studio's tasks name theirs freely: kept apart.
    assert external_model_version(project=project, name="v1").name == "v1 (imported)"
