"""A lead who tightens a labeled project's rules (single-label, clip labels or segments only,
leaves only) is told which saved annotations break them, and saves only when they say so:
those annotations used to be kept silently and then refused at their next edit."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation, Project
from labelapp.services.annotations import annotation_input_build, annotation_save
from labelapp.services.projects import rules_conflicts
from ontology.services import label_create
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def labeled(project, annotator):
    """A multi-label project of both modes: one annotation with two clip labels, one with a
    segment, one tagged with a parent label."""
    Project.objects.filter(pk=project.pk).update(label_mode="multi", annotation_mode="both")
    project.refresh_from_db()
    birds = label_create(ontology=project.ontology, name="birds")
    sparrow = label_create(ontology=project.ontology, name="sparrow", parent=birds)
    noise = label_create(ontology=project.ontology, name="noise")
    a, b, c = ready_clips(project, 3)
    for clip, body in (
        (a, {"clip_labels": ["birds/sparrow", "noise"]}),
        (b, {"segments": [{"start": 0.5, "end": 1.0, "labels": ["noise"]}]}),
        (c, {"clip_labels": ["birds"]}),
    ):
        data = annotation_input_build(project, clip, **body)
        annotation_save(clip=clip, user=annotator, data=data)
    return {"clips": (a, b, c), "sparrow": sparrow, "noise": noise}


def test_only_rules_that_tighten_are_checked(project, labeled):
    a, b, c = labeled["clips"]
    assert rules_conflicts(project, label_mode="multi", annotation_mode="both") == []
    single = rules_conflicts(project, label_mode="single")
    assert single == [
        "1 annotation with more than one clip label, which a single-label project refuses "
        "and its training and manifest count as a tie (saved anyway, a clip with no other "
        f"answer is left out of both until it is edited) (e.g. clip 'c0.wav', #{a.pk})"
    ]
    clip_only = rules_conflicts(project, annotation_mode="clip")
    assert len(clip_only) == 1 and clip_only[0].startswith("1 annotation with segments")
    assert f"#{b.pk}" in clip_only[0]
    segments_only = rules_conflicts(project, annotation_mode="segments")
    assert segments_only[0].startswith("2 annotations with clip labels")
    leaves = rules_conflicts(project, leaves_only=True)
    assert len(leaves) == 1 and leaves[0].startswith("1 annotation using a label that has")
    assert f"#{c.pk}" in leaves[0]


def test_a_segment_with_two_labels_breaks_single_label(project, annotator, labeled):
    (clip,) = ready_clips(project, 1, offset=10)
    segment = {"start": 0.1, "end": 0.4, "labels": ["noise", "birds/sparrow"]}
    annotation_save(
        clip=clip, user=annotator, data=annotation_input_build(project, clip, segments=[segment])
    )
    lines = rules_conflicts(project, label_mode="single")
    assert any(
        line.startswith("1 annotation with a segment of more than one label") for line in lines
    )


def test_the_api_refuses_with_409_and_saves_with_force(client_for, lead, project, labeled):
    client = client_for(lead)
    url = f"/api/projects/{project.pk}/"
    refused = client.patch(url, {"label_mode": "single", "annotation_mode": "clip"}, format="json")
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "rules_conflict" and len(body["conflicts"]) == 2
    assert "save anyway (force)" in body["detail"]
    project.refresh_from_db()
    assert (project.label_mode, project.annotation_mode) == ("multi", "both")
    forced = client.patch(
        url, {"label_mode": "single", "annotation_mode": "clip", "force": True}, format="json"
    )
    assert forced.status_code == 200, forced.json()
    project.refresh_from_db()
    assert (project.label_mode, project.annotation_mode) == ("single", "clip")
    assert Annotation.objects.filter(clip__project=project).count() == 3  # kept as they were
    loosened = client.patch(url, {"label_mode": "multi", "name": "Renamed"}, format="json")
    assert loosened.status_code == 200


def test_a_project_without_annotations_changes_freely(client_for, lead, project):
    res = client_for(lead).patch(
        f"/api/projects/{project.pk}/",
        {"label_mode": "single", "annotation_mode": "segments", "leaves_only": True},
        format="json",
    )
    assert res.status_code == 200


@pytest.mark.parametrize(
    ("mode", "give"),
    [("segments", "a segment"), ("clip", "a clip label"), ("both", "a clip label or a segment")],
)
def test_an_empty_submission_is_told_what_this_project_takes(
    client_for, annotator, project, mode, give
):
    Project.objects.filter(pk=project.pk).update(annotation_mode=mode)
    (clip,) = ready_clips(project, 1)
    res = client_for(annotator).post(f"/api/clips/{clip.pk}/annotations/", {}, format="json")
    assert res.status_code == 400
    assert res.json()["detail"] == f"nothing to save: give {give} (to pass over the clip, skip it)"
