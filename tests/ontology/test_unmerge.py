"""Undoing a merge: the label comes back with its id, place, attributes, children and every use
the merge moved, and the change log says so."""

from __future__ import annotations

import pytest

from labelapp.errors import DomainError
from labelapp.models import ClipLabel, SegmentLabel
from ml_backend.models import ModelVersion, PrelabelRun
from ontology.merge import label_merge, labels_now
from ontology.models import Label, OntologyChange
from ontology.services import (
    label_attributes_set,
    label_create,
    label_resolve,
)
from ontology.unmerge import merge_undo

pytestmark = pytest.mark.django_db


def uses() -> tuple[set, set]:
    """Every use as (annotation or segment id, label id): what undo must give back exactly."""
    return (
        set(ClipLabel.objects.values_list("annotation_id", "label_id")),
        set(SegmentLabel.objects.values_list("segment_id", "label_id")),
    )


@pytest.fixture
def crows(project, labels, annotate, annotator, reviewer):
    """crow (with children and a hotkey) and raven, used alone and together."""
    tree = labels("animal/crow/hooded", "animal/crow/carrion", "animal/raven", "animal/dog")
    label_attributes_set(label=tree["animal/crow"], hotkey="c", color="#112233")
    annotate(project, annotator, clip_labels=["animal/crow"])
    annotate(project, annotator, clip_labels=["animal/crow", "animal/raven"])
    annotate(project, annotator, clip_labels=["animal/raven", "animal/dog"])
    annotate(
        project,
        reviewer,
        segments=[
            {"start": 0, "end": 1, "labels": ["animal/crow"]},
            {"start": 1, "end": 2, "labels": ["animal/crow", "animal/raven"]},
            {"start": 2, "end": 3, "labels": ["animal/crow/hooded"]},
        ],
    )
    return {path: Label.objects.get(pk=label.pk) for path, label in tree.items()}


def test_undo_gives_back_the_label_and_every_use_exactly(project, crows):
    crow, raven = crows["animal/crow"], crows["animal/raven"]
    before = uses()
    report = label_merge(source=crow, target=raven)
    assert report["undoable"] and uses() != before
    assert Label.objects.get(pk=raven.pk).hotkey == "c"  # passed on by the merge

    out = merge_undo(ontology=project.ontology, change_id=report["change"])

    assert uses() == before
    back = Label.objects.get(pk=crow.pk)  # the same id
    assert (back.path, back.parent_id, back.depth) == ("animal/crow", crow.parent_id, 1)
    assert (back.hotkey, back.color) == ("c", "#112233")
    raven.refresh_from_db()
    assert (raven.hotkey, raven.color) == ("", "")  # taken back from the target
    assert sorted(Label.objects.filter(parent=back).values_list("path", flat=True)) == [
        "animal/crow/carrion",
        "animal/crow/hooded",
    ]
    assert out["clip_labels_moved_back"] == 1 and out["clip_labels_restored"] == 1
    assert out["segment_labels_moved_back"] == 1 and out["segment_labels_restored"] == 1
    assert out["children_moved_back"] == 2 and out["uses_kept_as_edited"] == 0
    log = list(OntologyChange.objects.filter(ontology=project.ontology).order_by("version"))
    merge, unmerge = log[-2], log[-1]
    assert unmerge.action == "unmerge" and unmerge.details["merge"] == merge.pk
    assert merge.details["undone_by"] == unmerge.pk


def test_paths_and_model_classes_follow_the_undo(project, crows):
    crow, raven = crows["animal/crow"], crows["animal/raven"]
    report = label_merge(source=crow, target=raven)
    assert labels_now(ontology=project.ontology, ids=[crow.pk]) == [raven.pk]
    merge_undo(ontology=project.ontology, change_id=report["change"])
    assert labels_now(ontology=project.ontology, ids=[crow.pk]) == [crow.pk]
    onto = project.ontology
    assert label_resolve(ontology=onto, ref="animal/crow").pk == crow.pk
    # a child's path while it was under the target names it where it is now
    hooded = crows["animal/crow/hooded"]
    assert label_resolve(ontology=onto, ref="animal/raven/hooded").pk == hooded.pk


def test_an_annotation_edited_since_the_merge_keeps_its_choice(project, crows, annotate, annotator):
    crow, raven = crows["animal/crow"], crows["animal/raven"]
    first = ClipLabel.objects.filter(label=crow).order_by("annotation_id").first().annotation
    report = label_merge(source=crow, target=raven)
    # its annotator replaced raven (was crow) by dog after the merge
    annotate(project, annotator, clip_labels=["animal/dog"], clip=first.clip)
    out = merge_undo(ontology=project.ontology, change_id=report["change"])
    assert set(first.clip_labels.values_list("label__path", flat=True)) == {"animal/dog"}
    assert out["uses_kept_as_edited"] == 1


def test_undo_is_refused_when_it_has_nowhere_to_go(project, crows, lead):
    crow, raven = crows["animal/crow"], crows["animal/raven"]
    onto = project.ontology
    first = label_merge(source=crow, target=raven)
    merge_undo(ontology=onto, change_id=first["change"])
    with pytest.raises(DomainError, match="undone already") as twice:
        merge_undo(ontology=onto, change_id=first["change"])
    assert twice.value.status == 409

    again = label_merge(source=Label.objects.get(pk=crow.pk), target=raven)
    label_create(ontology=onto, name="crow", parent=crow.parent_id)  # its name, taken
    with pytest.raises(DomainError, match="already exists") as taken:
        merge_undo(ontology=onto, change_id=again["change"])
    assert taken.value.status == 409

    dog = Label.objects.get(path="animal/dog")
    third = label_merge(source=Label.objects.get(path="animal/crow"), target=dog)
    label_merge(source=Label.objects.get(path="animal/dog"), target=raven)
    with pytest.raises(DomainError, match="'animal/dog' has been deleted or merged away"):
        merge_undo(ontology=onto, change_id=third["change"])

    rename = OntologyChange.objects.filter(ontology=onto, action="create").first()
    with pytest.raises(DomainError, match="only a merge can be undone"):
        merge_undo(ontology=onto, change_id=rename.pk)
    with pytest.raises(DomainError) as missing:
        merge_undo(ontology=onto, change_id=987654)
    assert missing.value.status == 404


def test_a_merge_logged_without_a_record_is_refused_clearly(project, crows):
    report = label_merge(source=crows["animal/crow"], target=crows["animal/raven"])
    change = OntologyChange.objects.get(pk=report["change"])
    change.details = {k: v for k, v in change.details.items() if k != "undo"}  # an old merge
    change.save()
    with pytest.raises(DomainError, match="made before merges recorded"):
        merge_undo(ontology=project.ontology, change_id=change.pk)


def test_undo_rescores_projects_with_a_model(project, crows, django_capture_on_commit_callbacks):
    ModelVersion.objects.create(project=project, version=1, name="m1", status="active")
    report = label_merge(source=crows["animal/crow"], target=crows["animal/raven"])
    before = PrelabelRun.objects.filter(project=project).count()
    out = merge_undo(ontology=project.ontology, change_id=report["change"])
    assert out["projects_rescored"] == 1
    assert PrelabelRun.objects.filter(project=project).count() == before + 1


def test_the_api_undoes_for_leads_and_the_log_says_what_can_be_undone(
    project, crows, client_for, lead, annotator
):
    base = f"/api/projects/{project.pk}/ontology/"
    lead_api = client_for(lead)
    merged = lead_api.post(
        f"{base}labels/{crows['animal/crow'].pk}/merge/",
        {"into": crows["animal/raven"].pk},
        format="json",
    ).json()
    assert merged["undoable"] is True
    entry = lead_api.get(f"{base}changes/").json()["results"][0]
    assert entry["id"] == merged["change"] and entry["undoable"] is True
    assert "undo" not in entry["details"]  # the record stays server-side

    url = f"{base}changes/{merged['change']}/undo/"
    assert client_for(annotator).post(url).status_code == 403
    response = lead_api.post(url)
    assert response.status_code == 200
    assert response.json()["source_path"] == "animal/crow"
    entries = lead_api.get(f"{base}changes/").json()["results"]
    assert entries[0]["action"] == "unmerge" and entries[1]["undoable"] is False
    again = lead_api.post(url)
    assert again.status_code == 409 and again.json()["code"] == "already_undone"
    tree = lead_api.get(base).json()["labels"]
    assert "animal/crow" in [row["path"] for row in tree]
