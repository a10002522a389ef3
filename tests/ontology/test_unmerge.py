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
    change.undo = None  # as a merge made before merges kept a record
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


def test_undo_says_when_the_active_model_was_trained_while_the_merge_stood(project, crows):
    """A model trained after the merge has no class for the source: the undo said the model
    scores the clips again, and its suggestions went on naming the target for every one of
    the source's sounds. One trained before the merge knows it (its old id comes back)."""
    crow, raven = crows["animal/crow"], crows["animal/raven"]
    before = ModelVersion.objects.create(
        project=project, version=1, name="m1", status="active", classes=[crow.pk, raven.pk]
    )
    report = label_merge(source=crow, target=raven)
    out = merge_undo(ontology=project.ontology, change_id=report["change"])
    assert out["source"] == crow.pk and out["warnings"] == []

    report = label_merge(source=Label.objects.get(pk=crow.pk), target=raven)
    ModelVersion.objects.filter(pk=before.pk).update(status="retired")
    ModelVersion.objects.create(
        project=project, version=2, name="m2", status="active", classes=[raven.pk, 999999]
    )
    out = merge_undo(ontology=project.ontology, change_id=report["change"])
    (warning,) = out["warnings"]
    assert "active model (m2) was trained without animal/crow" in warning
    assert "Train now" in warning


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
    assert "clips_both" not in str(entry)  # the record stays server-side

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


def test_a_later_merge_into_the_same_target_is_undone_first(project, labels, annotate, annotator):
    """a and c both merged into b: one annotation had a and c. Undoing a's merge while c's
    stands would take b from it (b now stands for c too), so it is refused; in reverse order
    both come back exactly."""
    tree = labels("x/a", "x/b", "x/c")
    annotate(project, annotator, clip_labels=["x/a", "x/c"])
    annotate(project, annotator, clip_labels=["x/a"])
    before = uses()
    first = label_merge(source=tree["x/a"], target=tree["x/b"])
    second = label_merge(source=tree["x/c"], target=tree["x/b"])
    with pytest.raises(DomainError, match="later merge of 'x/c' into 'x/b' stands") as refused:
        merge_undo(ontology=project.ontology, change_id=first["change"])
    assert refused.value.status == 409
    merge_undo(ontology=project.ontology, change_id=second["change"])
    merge_undo(ontology=project.ontology, change_id=first["change"])
    assert uses() == before


def test_annotations_written_since_keep_their_labels_but_reviews_do_not_count(
    project, labels, annotate, annotator, reviewer
):
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.review import annotation_review

    tree = labels("x/a", "x/b", "x/d")
    kept = annotate(project, annotator, clip_labels=["x/a"])
    both = annotate(project, annotator, clip_labels=["x/a", "x/b"])
    reviewed = annotation_submit(
        clip=annotate(project, annotator, clip_labels=["x/a"]).clip,
        user=annotator,
        clip_labels=["x/a"],
    )
    report = label_merge(source=tree["x/a"], target=tree["x/b"])
    # after the merge: one annotator keeps b and adds d, another sends b alone again (what
    # the merge left it: no write, so the undo gives it a back), and a reviewer accepts the
    # third (no label changes)
    annotate(project, annotator, clip_labels=["x/b", "x/d"], clip=kept.clip)
    annotate(project, annotator, clip_labels=["x/b"], clip=both.clip)
    annotation_review(
        annotation=reviewed, reviewer=reviewer, action="accept", expected_version=reviewed.version
    )
    out = merge_undo(ontology=project.ontology, change_id=report["change"])
    paths = lambda a: set(a.clip_labels.values_list("label__path", flat=True))  # noqa: E731
    assert paths(kept) == {"x/b", "x/d"}
    assert paths(both) == {"x/a", "x/b"} and both.revisions.count() == 1
    assert paths(reviewed) == {"x/a"}
    assert out["uses_kept_as_edited"] == 1 and out["clip_labels_moved_back"] == 1
    assert out["clip_labels_restored"] == 1  # both's a, deduplicated by the merge


def test_undo_refuses_a_child_now_above_its_place(project, labels):
    tree = labels("p/a/x", "t")
    report = label_merge(source=tree["p/a"], target=tree["t"])
    from ontology.services import label_move

    label_move(label=Label.objects.get(path="p"), parent=Label.objects.get(path="t/x"))
    with pytest.raises(DomainError, match="now under its child 't/x'") as refused:
        merge_undo(ontology=project.ontology, change_id=report["change"])
    assert refused.value.status == 409
    assert Label.objects.get(path="t/x/p")  # nothing changed


def test_merge_history_after_an_undo(project, labels):
    """Merged into b, undone, merged into c: a model's class a means c. Merged into b, undone,
    deleted: a's old path names nothing."""
    from ontology.services import label_delete

    tree = labels("a", "b", "c", "e", "f")
    a, b, c = tree["a"], tree["b"], tree["c"]
    merge_undo(ontology=project.ontology, change_id=label_merge(source=a, target=b)["change"])
    label_merge(source=Label.objects.get(pk=a.pk), target=c)
    assert labels_now(ontology=project.ontology, ids=[a.pk]) == [c.pk]

    e, f = tree["e"], tree["f"]
    merge_undo(ontology=project.ontology, change_id=label_merge(source=e, target=f)["change"])
    label_delete(label=Label.objects.get(pk=e.pk))
    assert labels_now(ontology=project.ontology, ids=[e.pk]) == [None]
    with pytest.raises(DomainError, match="unknown label"):
        label_resolve(ontology=project.ontology, ref="e")


def test_undo_takes_a_new_id_when_the_old_one_was_given_away(project, labels, annotate, annotator):
    tree = labels("a", "b")
    annotate(project, annotator, clip_labels=["a"])
    report = label_merge(source=tree["a"], target=tree["b"])
    squatter = Label.objects.create(  # as after a sequence reset (loaddata, sqlsequencereset)
        pk=tree["a"].pk, ontology=project.ontology, name="later", path="later"
    )
    out = merge_undo(ontology=project.ontology, change_id=report["change"])
    assert out["source"] != squatter.pk and out["clip_labels_moved_back"] == 1
    assert Label.objects.get(pk=out["source"]).path == "a"
    assert Label.objects.get(pk=squatter.pk).path == "later"


def test_undo_refuses_a_path_grown_too_long(project, lead):
    from ontology.rules import PATH_MAX
    from ontology.services import label_rename

    chain, parent = [], None
    for i in range(10):
        parent = label_create(ontology=project.ontology, name=f"{i}" * 185, parent=parent)
        chain.append(parent)
    source = label_create(ontology=project.ontology, name="s" * 80, parent=parent)
    other = label_create(ontology=project.ontology, name="other")
    report = label_merge(source=source, target=other)
    for i, label in enumerate(chain):
        label_rename(label=Label.objects.get(pk=label.pk), name=f"{i}" * 194)
    assert len(Label.objects.get(pk=chain[-1].pk).path) + 81 > PATH_MAX
    with pytest.raises(DomainError, match="longer than 2000 characters") as refused:
        merge_undo(ontology=project.ontology, change_id=report["change"])
    assert refused.value.status == 409


def test_the_change_log_does_not_read_the_records(project, crows):
    from ontology.selectors import ontology_changes

    label_merge(source=crows["animal/crow"], target=crows["animal/raven"])
    sql = str(ontology_changes(project.ontology).query)
    assert '"undo"' not in sql.replace('"undo" IS NOT NULL', "")


def test_the_label_goes_back_to_its_place_among_siblings_renumbered_since(project, labels):
    tree = labels("digit/zero", "digit/one", "digit/two", "digit/three")
    digit = tree["digit"]
    order = lambda: list(digit.children.order_by("order").values_list("name", flat=True))  # noqa: E731
    assert order() == ["zero", "one", "two", "three"]
    report = label_merge(source=tree["digit/zero"], target=tree["digit/one"])
    added = label_create(ontology=project.ontology, name="four", parent=digit)  # renumbers
    from ontology.services import label_delete

    label_delete(label=added)
    merge_undo(ontology=project.ontology, change_id=report["change"])
    assert order() == ["zero", "one", "two", "three"]
    # and a label whose next sibling is gone since goes back to its old index
    report = label_merge(source=Label.objects.get(path="digit/two"), target=tree["digit/one"])
    label_merge(
        source=Label.objects.get(path="digit/three"), target=Label.objects.get(path="digit/zero")
    )
    merge_undo(ontology=project.ontology, change_id=report["change"])
    assert order() == ["zero", "one", "two"]


def test_a_hotkey_another_label_took_since_however_spelled_is_left_to_it(project, labels):
    tree = labels("a", "b")
    label_attributes_set(label=tree["a"], hotkey="ctrl+s")
    report = label_merge(source=tree["a"], target=tree["b"])
    label_attributes_set(label=Label.objects.get(pk=tree["b"].pk), hotkey="g")
    other = label_create(ontology=project.ontology, name="other", hotkey="Control+S")
    undone = merge_undo(ontology=project.ontology, change_id=report["change"])
    assert Label.objects.get(pk=tree["a"].pk).hotkey == ""  # ctrl+s is other's key now
    assert Label.objects.get(pk=other.pk).hotkey == "Control+S"
    # ... and the lead is told, in the answer and in the change log.
    said = ["'a' comes back without its hotkey 'ctrl+s': 'other' has used it since the merge"]
    assert undone["warnings"] == said
    assert project.ontology.changes.get(action="unmerge").details["warnings"] == said


def test_an_undo_that_restores_everything_warns_of_nothing(project, labels):
    tree = labels("a", "b")
    label_attributes_set(label=tree["a"], hotkey="k")
    report = label_merge(source=tree["a"], target=tree["b"])
    assert merge_undo(ontology=project.ontology, change_id=report["change"])["warnings"] == []
    assert Label.objects.get(pk=tree["a"].pk).hotkey == "k"


def test_undo_scores_again_the_labeled_clips_whose_prediction_names_the_target(
    project, crows, monkeypatch, django_capture_on_commit_callbacks
):
    """The merge folded crow's scores into raven's in every stored prediction. The undo's
    pre-labeling scores the unlabeled clips; a clip labeled since kept a prediction without
    crow, which a second annotator's suggestions and the exported predictions show."""
    from labelapp.models import Clip
    from ml_backend import prelabel
    from ml_backend.models import Prediction
    from ontology.merge import predictions_relabel

    crow, raven, dog = crows["animal/crow"], crows["animal/raven"], crows["animal/dog"]
    labeled = list(Clip.objects.filter(project=project, annotation_count__gt=0).order_by("id"))
    assert len(labeled) >= 3
    old = ModelVersion.objects.create(project=project, version=1, name="m1", status="retired")
    active = ModelVersion.objects.create(project=project, version=2, name="m2", status="active")
    scores = {str(crow.pk): 0.9, str(raven.pk): 0.1}
    Prediction.objects.create(clip=labeled[0], model_version=active, clip_scores=scores)
    Prediction.objects.create(clip=labeled[1], model_version=active, clip_scores={str(dog.pk): 1})
    Prediction.objects.create(clip=labeled[2], model_version=old, clip_scores=scores)

    report = label_merge(source=crow, target=raven)
    predictions_relabel(ontology_id=project.ontology_id, mapping={crow.pk: raven.pk})
    assert Prediction.objects.get(clip=labeled[0]).clip_scores == {str(raven.pk): 0.9}

    scored = []
    monkeypatch.setattr(
        prelabel,
        "score_clips",
        lambda project_, version, ids, **kw: scored.append((version.pk, list(ids), kw)),
    )
    with django_capture_on_commit_callbacks(execute=True):
        merge_undo(ontology=project.ontology, change_id=report["change"])
    rescored = [(v, ids) for v, ids, kw in scored if kw.get("diversity") is False]
    # only the active version's prediction that names raven, on a labeled clip
    assert rescored == [(active.pk, [labeled[0].pk])]
