"""The `rank` job: a new strategy re-orders the queue from stored predictions, no model run."""

from __future__ import annotations

import numpy as np
import pytest

from labelapp.models import Clip, Project
from ml_backend.models import MLConfig, ModelVersion, Prediction, PrelabelRun
from ml_backend.uncertainty import get_strategy

pytestmark = pytest.mark.django_db

PROBS = np.array(
    [
        [0.98, 0.01, 0.01],  # sure
        [0.50, 0.49, 0.01],  # two-way tie: smallest margin
        [0.34, 0.33, 0.33],  # flat: highest entropy
        [0.70, 0.20, 0.10],
    ]
)


@pytest.fixture
def scored(project):
    Project.objects.filter(pk=project.pk).update(label_mode="single")
    project.refresh_from_db()
    version = ModelVersion.objects.create(
        project=project, version=1, name="v1", status="active", classes=[11, 12, 13]
    )
    MLConfig.objects.update_or_create(project=project, defaults={"strategy": "margin"})
    clips = []
    for i, p in enumerate(PROBS):
        clip = Clip.objects.create(
            project=project,
            file=f"clips/x/{i}.wav",
            sha256=f"{i:064x}",
            original_name=f"{i}.wav",
            status=Clip.Status.READY,
        )
        Prediction.objects.create(
            clip=clip,
            model_version=version,
            clip_scores={"11": p[0], "12": p[1], "13": p[2]},
            score=float(p.max()),
            uncertainty=0.0,
            embedding=np.eye(4, 8, k=i, dtype=np.float16)[i].tobytes(),
        )
        clips.append(clip)
    return project, version, clips


def _queue_order(project) -> list[int]:
    return list(
        Clip.objects.filter(project=project)
        .order_by("-priority", "id")
        .values_list("pk", flat=True)
    )


def test_changing_the_strategy_re_ranks_from_stored_predictions(
    client_for, lead, scored, django_capture_on_commit_callbacks
):
    project, version, clips = scored
    predictions_before = Prediction.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).patch(
            f"/api/projects/{project.pk}/model/", {"strategy": "entropy"}, format="json"
        )
    assert response.status_code == 200, response.content
    run = PrelabelRun.objects.get(project=project)
    assert (run.kind, run.status, run.total, run.done) == ("rank", "succeeded", 4, 4)
    expected = get_strategy("entropy").score(PROBS, multi_label=False)
    got = dict(Clip.objects.filter(project=project).values_list("pk", "priority"))
    for clip, value in zip(clips, expected, strict=True):
        assert got[clip.pk] == pytest.approx(float(value), rel=1e-6)
    assert _queue_order(project)[0] == clips[2].pk  # the flattest clip first
    assert Prediction.objects.count() == predictions_before  # nothing re-scored

    with django_capture_on_commit_callbacks(execute=True):
        client_for(lead).patch(
            f"/api/projects/{project.pk}/model/", {"strategy": "margin"}, format="json"
        )
    assert _queue_order(project)[0] == clips[1].pk  # the two-way tie first
    assert _queue_order(project)[-1] == clips[0].pk


def test_the_same_strategy_queues_no_rank(client_for, lead, scored):
    project, _version, _clips = scored
    client_for(lead).patch(f"/api/projects/{project.pk}/model/", {"strategy": "margin"}, "json")
    client_for(lead).patch(f"/api/projects/{project.pk}/model/", {"retrain_every": 30}, "json")
    assert not PrelabelRun.objects.filter(project=project).exists()


def test_without_an_active_model_there_is_nothing_to_rank(client_for, lead, project):
    response = client_for(lead).patch(
        f"/api/projects/{project.pk}/model/", {"strategy": "entropy"}, format="json"
    )
    assert response.status_code == 200
    assert not PrelabelRun.objects.filter(project=project).exists()


def test_an_annotator_cannot_change_the_strategy(client_for, annotator, scored):
    project, _version, _clips = scored
    response = client_for(annotator).patch(
        f"/api/projects/{project.pk}/model/", {"strategy": "entropy"}, format="json"
    )
    assert response.status_code == 403
    assert MLConfig.objects.get(project=project).strategy == "margin"


def test_hybrid_ranks_without_loading_a_model_when_nothing_is_labeled(
    client_for, lead, scored, django_capture_on_commit_callbacks, monkeypatch
):
    project, _version, clips = scored
    monkeypatch.setattr(
        "ml_backend.inference.load_version", lambda version: pytest.fail("model loaded")
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).patch(
            f"/api/projects/{project.pk}/model/", {"strategy": "hybrid"}, format="json"
        )
    assert response.status_code == 200, response.content
    run = PrelabelRun.objects.get(project=project)
    assert (run.status, run.done) == ("succeeded", 4)
    assert min(Clip.objects.filter(project=project).values_list("priority", flat=True)) >= 1e6


def test_hybrid_still_ranks_when_the_model_file_for_its_centers_is_gone(
    client_for, lead, scored, django_capture_on_commit_callbacks, caplog
):
    project, version, clips = scored  # the version has no artifact on disk
    labeled = Clip.objects.create(
        project=project,
        file="clips/x/labeled.wav",
        sha256=f"{99:064x}",
        original_name="labeled.wav",
        status=Clip.Status.READY,
        annotation_count=1,
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(lead).patch(
            f"/api/projects/{project.pk}/model/", {"strategy": "hybrid"}, format="json"
        )
    assert response.status_code == 200, response.content
    run = PrelabelRun.objects.get(project=project)
    assert (run.status, run.done, run.error) == ("succeeded", 4, "")
    assert "without labeled centers" in caplog.text
    got = dict(Clip.objects.filter(project=project).values_list("pk", "priority"))
    assert all(got[c.pk] >= 1e6 for c in clips) and labeled.pk in got


def test_the_model_overview_lists_headlines_and_a_version_has_every_figure(
    client_for, annotator, outsider, project
):
    """The model page polls the overview every few seconds: with per-class figures and the
    confusion matrix of 500 labels, 60 versions answered 37.7 MB a poll. The overview keeps
    the headlines; GET /api/model-versions/<id>/ has every figure."""
    from ml_backend.models import ModelVersion

    n = 500
    metrics = {
        "accuracy": 0.9,
        "macro_f1": 0.8,
        "evaluated_on": "validation",
        "pretraining": {"windows": 10, "steps": 2},
        "per_class": {str(i): {"precision": 0.5, "recall": 0.5, "f1": 0.5} for i in range(n)},
        "confusion": [[0] * n for _ in range(n)],
    }
    for v in range(1, 4):
        ModelVersion.objects.create(
            project=project,
            version=v,
            name=f"v{v}",
            status="active" if v == 3 else "archived",
            metrics=metrics,
            classes=list(range(n)),
        )
    client = client_for(annotator)
    res = client.get(f"/api/projects/{project.pk}/model/")
    assert res.status_code == 200 and len(res.content) < 20_000, len(res.content)
    body = res.json()
    assert body["active"]["metrics"] == {
        "accuracy": 0.9,
        "macro_f1": 0.8,
        "evaluated_on": "validation",
        "pretraining": {"windows": 10, "steps": 2},
    }
    assert [v["name"] for v in body["versions"]] == ["v3", "v2", "v1"]
    full = client.get(f"/api/model-versions/{body['active']['id']}/").json()
    assert len(full["metrics"]["confusion"]) == n and len(full["classes"]) == n
    assert (
        client_for(outsider).get(f"/api/model-versions/{body['active']['id']}/").status_code == 404
    )


def test_the_overview_lists_the_newest_50_versions_and_every_one_when_asked(
    client_for, annotator, project
):
    """Versions older than the 50 newest could not be reached from the page or the API."""
    from ml_backend.models import ModelVersion

    ModelVersion.objects.bulk_create(
        ModelVersion(project=project, version=v, name=f"v{v}", status="archived")
        for v in range(1, 56)
    )
    client = client_for(annotator)
    body = client.get(f"/api/projects/{project.pk}/model/").json()
    assert len(body["versions"]) == 50 and body["versions_total"] == 55
    assert body["versions"][-1]["name"] == "v6"
    every = client.get(f"/api/projects/{project.pk}/model/", {"versions": "all"}).json()
    assert [v["name"] for v in every["versions"]][-1] == "v1" and len(every["versions"]) == 55
    bad = client.get(f"/api/projects/{project.pk}/model/", {"versions": "some"})
    assert bad.status_code == 400


def test_choosing_bald_scores_the_clips_again_with_dropout_passes(client_for, lead, scored):
    """BALD's dropout passes are not stored: a switch to it ranked from the stored
    predictions, which kept their entropy (the same order as entropy's), and the page said
    BALD. It asks for a pre-labeling of the active version instead."""
    project, version, _clips = scored
    response = client_for(lead).patch(
        f"/api/projects/{project.pk}/model/", {"strategy": "bald"}, format="json"
    )
    assert response.status_code == 200, response.content
    run = PrelabelRun.objects.get(project=project)
    assert (run.kind, run.model_version_id, run.status) == ("prelabel", version.pk, "queued")


def test_a_versions_classes_are_named_as_the_tree_has_them_or_says_where_they_went(
    client_for, lead, project
):
    """The model page's per-class table named a class merged away "#89 (deleted or merged
    since)", where the dashboard said "… (merged into …)"."""
    from ontology.merge import label_merge
    from ontology.services import label_get_or_create_path

    robin, _ = label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    wren, _ = label_get_or_create_path(ontology=project.ontology, path="birds/wren")
    version = ModelVersion.objects.create(
        project=project, version=1, name="v1", status="active", classes=[robin.pk, wren.pk]
    )
    label_merge(source=wren, target=robin)
    body = client_for(lead).get(f"/api/model-versions/{version.pk}/").json()
    assert body["class_paths"] == ["birds/robin", "birds/wren (merged into birds/robin)"]
    # merged on into a label renamed since: where both classes are today
    from ontology.models import Label
    from ontology.services import label_edit

    thrush, _ = label_get_or_create_path(ontology=project.ontology, path="birds/thrush")
    label_merge(source=Label.objects.get(pk=robin.pk), target=thrush)
    label_edit(label=Label.objects.get(pk=thrush.pk), changes={"name": "song thrush"})
    body = client_for(lead).get(f"/api/model-versions/{version.pk}/").json()
    assert body["class_paths"] == [
        "birds/robin (merged into birds/song thrush)",
        "birds/wren (merged into birds/song thrush)",
    ]


def test_the_model_overview_sends_the_newest_run_of_each_kind(client_for, lead, scored):
    """Twelve strategy changes (a ranking each): the ten runs sent were all rankings, and the
    page could not list the last pre-labeling."""
    project, version, _clips = scored
    first = PrelabelRun.objects.create(
        project=project, model_version=version, kind="prelabel", status="succeeded"
    )
    for _ in range(12):
        PrelabelRun.objects.create(
            project=project, model_version=version, kind="rank", status="succeeded"
        )
    runs = client_for(lead).get(f"/api/projects/{project.pk}/model/").json()["prelabel_runs"]
    assert len(runs) == 11 and runs[-1]["id"] == first.pk
