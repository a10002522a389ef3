"""Merging A into B: every use of A becomes a use of B, once, in one transaction."""

from __future__ import annotations

from unittest import mock

import pytest

from labelapp.errors import DomainError
from labelapp.models import Annotation, ClipLabel, SegmentLabel
from ml_backend.models import ModelVersion, Prediction
from ontology.merge import label_merge
from ontology.models import Label, OntologyChange
from ontology.services import label_attributes_set

pytestmark = pytest.mark.django_db


def uses(label) -> tuple[int, int]:
    return (
        ClipLabel.objects.filter(label_id=label.pk).count(),
        SegmentLabel.objects.filter(label_id=label.pk).count(),
    )


def test_merge_moves_every_use_and_reports_counts(project, labels, annotate, annotator, reviewer):
    tree = labels("animal/crow", "animal/raven", "animal/dog")
    crow, raven = tree["animal/crow"], tree["animal/raven"]
    annotate(project, annotator, clip_labels=["animal/crow"])  # crow only
    annotate(project, annotator, clip_labels=["animal/crow", "animal/raven"])  # both
    annotate(project, annotator, clip_labels=["animal/raven", "animal/dog"])  # raven only
    annotate(
        project,
        reviewer,
        segments=[
            {"start": 0, "end": 1, "labels": ["animal/crow"]},
            {"start": 1, "end": 2, "labels": ["animal/crow", "animal/raven"]},
            {"start": 2, "end": 3, "labels": ["animal/dog"]},
        ],
    )
    annotations_before = Annotation.objects.count()
    assert uses(crow) == (2, 2) and uses(raven) == (2, 1)

    report = label_merge(source=crow, target=raven)

    assert report["annotations_changed"] == 3
    assert report["clip_labels_moved"] == 1
    assert report["clip_labels_deduplicated"] == 1
    assert report["segment_labels_moved"] == 1
    assert report["segment_labels_deduplicated"] == 1
    assert uses(raven) == (3, 2)  # one use per annotation / segment: no duplicates
    assert not Label.objects.filter(pk=crow.pk).exists()
    assert Annotation.objects.count() == annotations_before  # nothing lost
    assert ClipLabel.objects.count() == 5 - 1 and SegmentLabel.objects.count() == 4 - 1
    change = OntologyChange.objects.filter(ontology=project.ontology).first()
    assert change.action == "merge" and change.details["source_path"] == "animal/crow"
    assert change.details["annotations_changed"] == 3


def test_merge_of_a_label_used_by_many_annotations(project, labels, annotate, annotator):
    tree = labels("a", "b")
    for i in range(30):
        annotate(project, annotator, clip_labels=["a", "b"] if i % 3 == 0 else ["a"])
    report = label_merge(source=tree["a"], target=tree["b"])
    assert (
        report["annotations_changed"],
        report["clip_labels_moved"],
        report["clip_labels_deduplicated"],
    ) == (30, 20, 10)
    assert uses(tree["b"]) == (30, 0)


def test_merge_rewrites_predictions_keeping_the_higher_score(
    project, labels, make_clip, django_capture_on_commit_callbacks
):
    """Once the merge has committed (a task of the worker's: inside the merge's transaction
    the rewrite of every prediction held the database for everyone); a second run changes
    nothing."""
    tree = labels("a", "b", "c")
    a, b, c = tree["a"].pk, tree["b"].pk, tree["c"].pk
    version = ModelVersion.objects.create(project=project, version=1, name="m1")
    both = Prediction.objects.create(
        clip=make_clip(project),
        model_version=version,
        clip_scores={str(a): 0.9, str(b): 0.2, str(c): 0.1},
        segments=[{"start": 0, "end": 1, "channel": None, "label": a, "score": 0.8}],
    )
    only_a = Prediction.objects.create(
        clip=make_clip(project), model_version=version, clip_scores={str(a): 0.3}, segments=[]
    )
    untouched = Prediction.objects.create(
        clip=make_clip(project),
        model_version=version,
        clip_scores={str(c): 0.5},
        segments=[{"start": 0, "end": 1, "channel": None, "label": c, "score": 0.5}],
    )
    with django_capture_on_commit_callbacks() as callbacks:
        label_merge(source=tree["a"], target=tree["b"])
    both.refresh_from_db()
    assert both.clip_scores[str(a)] == 0.9  # not yet: after the commit
    for callback in callbacks:
        callback()
    both.refresh_from_db()
    only_a.refresh_from_db()
    untouched.refresh_from_db()
    assert both.clip_scores == {str(b): 0.9, str(c): 0.1}
    assert both.segments[0]["label"] == b
    assert only_a.clip_scores == {str(b): 0.3}
    assert untouched.clip_scores == {str(c): 0.5}
    from ontology.merge import predictions_relabel

    assert predictions_relabel(ontology_id=project.ontology_id, mapping={a: b}) == 0


def test_merge_moves_the_source_children_under_the_target(project, labels, annotate, annotator):
    tree = labels("bird/corvid/crow", "bird/corvid/raven", "animal/bird/finch")
    annotate(project, annotator, clip_labels=["bird/corvid/crow"])
    report = label_merge(source=tree["bird"], target=tree["animal/bird"])
    assert report["children_moved"] == 1
    assert sorted(
        Label.objects.filter(ontology=project.ontology).values_list("path", flat=True)
    ) == [
        "animal",
        "animal/bird",
        "animal/bird/corvid",
        "animal/bird/corvid/crow",
        "animal/bird/corvid/raven",
        "animal/bird/finch",
    ]
    crow = Label.objects.get(pk=tree["bird/corvid/crow"].pk)
    assert crow.depth == 3 and uses(crow) == (1, 0)


def test_merge_into_the_parent(project, labels, annotate, annotator):
    tree = labels("bird/corvid/crow", "bird/finch")
    annotate(project, annotator, clip_labels=["bird/corvid"])
    label_merge(source=tree["bird/corvid"], target=tree["bird"])
    assert Label.objects.get(pk=tree["bird/corvid/crow"].pk).path == "bird/crow"
    assert uses(tree["bird"]) == (1, 0)


def test_merge_passes_the_source_hotkey_and_colour_to_a_target_without_them(project, labels):
    tree = labels("a", "b", "c", "d")
    label_attributes_set(label=tree["a"], hotkey="a", color="#ff0000")
    label_merge(source=tree["a"], target=tree["b"])
    b = Label.objects.get(pk=tree["b"].pk)
    assert (b.hotkey, b.color) == ("a", "#ff0000")
    # a target's own colour stays
    label_attributes_set(label=tree["c"], color="#00ff00")
    label_attributes_set(label=tree["d"], color="#0000ff")
    label_merge(source=tree["c"], target=tree["d"])
    assert Label.objects.get(pk=tree["d"].pk).color == "#0000ff"


def test_merge_refuses_a_child_name_collision(project, labels):
    tree = labels("x/dup", "y/Dup")
    with pytest.raises(DomainError, match="its child 'x/dup' would collide with y/Dup") as exc:
        label_merge(source=tree["x"], target=tree["y"])
    assert exc.value.extra["label"] == "x/dup"


def test_merge_refuses_itself_a_descendant_and_another_ontology(project, other_project, labels):
    tree = labels("a/b")
    with pytest.raises(DomainError, match="into itself"):
        label_merge(source=tree["a"], target=tree["a"])
    with pytest.raises(DomainError, match="own descendant 'a/b'"):
        label_merge(source=tree["a"], target=tree["a/b"])
    from ontology.services import label_create

    foreign = label_create(ontology=other_project.ontology, name="z")
    with pytest.raises(DomainError, match="different ontologies"):
        label_merge(source=tree["a"], target=foreign)


def test_a_failing_merge_changes_nothing(project, labels, annotate, annotator):
    tree = labels("a", "b")
    annotate(project, annotator, clip_labels=["a"])
    with (
        mock.patch("ontology.merge.predictions_relabel_soon", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        label_merge(source=tree["a"], target=tree["b"])
    assert uses(tree["a"]) == (1, 0) and uses(tree["b"]) == (0, 0)
    assert Label.objects.filter(pk=tree["a"].pk).exists()


def test_merge_into_an_inner_label_warns_leaves_only_projects(project, labels, annotate, annotator):
    project.leaves_only = True
    project.save()
    tree = labels("bird/crow", "corvid", "unused")
    # with no annotation moved, there is nothing to warn about
    assert label_merge(source=tree["unused"], target=tree["bird"])["warnings"] == []
    annotate(project, annotator, clip_labels=["corvid"])
    report = label_merge(source=tree["corvid"], target=tree["bird"])
    assert report["warnings"] == [
        "project 'Birds' takes leaves only, and 'bird' has children: its merged annotations "
        "now use a label that is not a leaf"
    ]
    assert label_merge(source=tree["bird/crow"], target=labels("raven")["raven"])["warnings"] == []


def test_labels_now_follows_merges_and_drops_deleted_labels(project, labels):
    """A model version's classes in today's labels: a merged label is its target (through a
    merge of the target too), a deleted one is None, the rest are themselves."""
    from ontology.merge import labels_now
    from ontology.services import label_delete

    tree = labels("a", "b", "c", "d", "e")
    ids = [tree[p].pk for p in ("a", "b", "c", "d", "e")]
    assert labels_now(ontology=project.ontology, ids=ids) == ids
    label_merge(source=tree["a"], target=tree["b"])
    label_merge(source=tree["b"], target=tree["c"])
    label_delete(label=tree["d"])
    c, e = tree["c"].pk, tree["e"].pk
    assert labels_now(ontology=project.ontology, ids=ids) == [c, c, c, None, e]


def test_new_predictions_name_todays_labels():
    """Two classes merged into one label keep the higher score; a deleted label's class and
    its segments are left out."""
    import numpy as np

    from ml_backend.prelabel import _clip_scores, suggested_segments

    assert _clip_scores(np.array([0.2, 0.7, 0.1]), [5, 5, None]) == {"5": 0.7}
    frames = np.zeros((50, 2))
    frames[10:40, 0] = 0.9
    frames[10:40, 1] = 0.9
    (seg,) = suggested_segments(frames, 0.01, [None, 7], 0.5)
    assert seg["label"] == 7


def test_a_deleted_labels_scores_leave_the_predictions_after_the_commit(
    project, labels, make_clip, django_capture_on_commit_callbacks
):
    from ontology.services import label_delete

    tree = labels("a", "b")
    a, b = tree["a"].pk, tree["b"].pk
    version = ModelVersion.objects.create(project=project, version=1, name="m1")
    prediction = Prediction.objects.create(
        clip=make_clip(project),
        model_version=version,
        clip_scores={str(a): 0.7, str(b): 0.2},
        segments=[{"start": 0, "end": 1, "channel": None, "label": a, "score": 0.8}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        report = label_delete(label=tree["a"])
    assert report["deleted"] == 1 and "predictions_changed" not in report
    prediction.refresh_from_db()
    assert prediction.clip_scores == {str(b): 0.2} and prediction.segments == []


def test_merging_into_a_deprecated_label_is_refused_unless_both_are(project, labels):
    from ontology.services import label_deprecate

    tree = labels("noise/wind", "noise/rain", "noise/hail")
    label_deprecate(label=tree["noise/wind"])
    with pytest.raises(DomainError, match="is deprecated and cannot be chosen") as refused:
        label_merge(source=tree["noise/rain"], target=Label.objects.get(pk=tree["noise/wind"].pk))
    assert refused.value.code == "deprecated"
    assert Label.objects.filter(pk=tree["noise/rain"].pk).exists()
    # two deprecated labels: nothing becomes unchoosable that was choosable
    label_deprecate(label=tree["noise/hail"])
    label_merge(
        source=Label.objects.get(pk=tree["noise/hail"].pk),
        target=Label.objects.get(pk=tree["noise/wind"].pk),
    )
    assert not Label.objects.filter(pk=tree["noise/hail"].pk).exists()


def test_a_deep_merge_merges_namesake_children_on_down_and_each_undoes(
    project, labels, annotate, annotator, client_for, lead
):
    """ "finch" into "sparrow" when both have song and call (song with male and female): the
    plain merge refuses the collision, so each child had to be merged by hand, bottom up."""

    tree = labels(
        "birds/finch/song/male",
        "birds/finch/call",
        "birds/finch/alarm",
        "birds/sparrow/song/male",
        "birds/sparrow/song/female",
        "birds/sparrow/call",
    )
    annotate(project, annotator, clip_labels=["birds/finch/song/male", "birds/finch/alarm"])
    annotate(project, annotator, clip_labels=["birds/finch/call", "birds/sparrow/call"])
    url = f"/api/projects/{project.pk}/ontology/labels/{tree['birds/finch'].pk}/merge/"
    client = client_for(lead)
    refused = client.post(url, {"into": tree["birds/sparrow"].pk}, format="json")
    assert refused.status_code == 400 and "collide" in refused.json()["detail"]
    out = client.post(url, {"into": tree["birds/sparrow"].pk, "children": "merge"}, format="json")
    assert out.status_code == 200, out.content
    body = out.json()
    assert body["target_path"] == "birds/sparrow"
    assert sorted(body["children_merged"]) == [
        "birds/finch/call",
        "birds/finch/song",
        "birds/finch/song/male",
    ]
    assert body["children_moved"] == 1  # alarm, which sparrow had not
    assert body["annotations_changed"] == 2 and body["clip_labels_deduplicated"] == 1
    paths = set(Label.objects.filter(ontology=project.ontology).values_list("path", flat=True))
    assert paths == {
        "birds",
        "birds/sparrow",
        "birds/sparrow/song",
        "birds/sparrow/song/male",
        "birds/sparrow/song/female",
        "birds/sparrow/call",
        "birds/sparrow/alarm",
    }
    assert uses(tree["birds/sparrow/song/male"]) == (1, 0)
    assert uses(tree["birds/sparrow/call"]) == (1, 0)  # the clip that had both keeps one
    # one change-log entry per merge; undoing the top one undoes them all (it brought finch
    # back alone, its song and call left merged, and said nothing)
    merges = list(
        OntologyChange.objects.filter(ontology=project.ontology, action="merge").order_by("id")
    )
    assert [c.details["source_path"] for c in merges][-1] == "birds/finch"
    assert len(merges) == 4
    # the top entry counts the whole merge; a child's entry is undone with it, not alone
    assert merges[-1].details["annotations_changed"] == 2
    log = client.get(f"/api/projects/{project.pk}/ontology/changes/").json()["results"]
    assert [c["undoable"] for c in log if c["action"] == "merge"] == [True, False, False, False]
    alone = client.post(
        f"/api/projects/{project.pk}/ontology/changes/{merges[0].pk}/undo/", format="json"
    )
    assert alone.status_code == 409
    assert "part of the merge of 'birds/finch' into 'birds/sparrow'" in alone.json()["detail"]
    undone = client.post(
        f"/api/projects/{project.pk}/ontology/changes/{merges[-1].pk}/undo/", format="json"
    )
    assert undone.status_code == 200, undone.content
    assert sorted(undone.json()["children_unmerged"]) == [
        "birds/finch/call",
        "birds/finch/song",
        "birds/finch/song/male",
    ]
    paths = set(Label.objects.filter(ontology=project.ontology).values_list("path", flat=True))
    assert paths == {
        "birds",
        "birds/finch",
        "birds/finch/song",
        "birds/finch/song/male",
        "birds/finch/call",
        "birds/finch/alarm",
        "birds/sparrow",
        "birds/sparrow/song",
        "birds/sparrow/song/male",
        "birds/sparrow/song/female",
        "birds/sparrow/call",
    }
    finch = {lb.path: lb for lb in Label.objects.filter(path__startswith="birds/finch")}
    assert uses(finch["birds/finch/song/male"]) == (1, 0)
    assert uses(finch["birds/finch/alarm"]) == (1, 0)
    assert uses(finch["birds/finch/call"]) == (1, 0)
    assert uses(tree["birds/sparrow/call"]) == (1, 0)
    assert uses(tree["birds/sparrow/song/male"]) == (0, 0)
    assert all(
        c.details.get("undone_by")
        for c in OntologyChange.objects.filter(ontology=project.ontology, action="merge")
    )


def test_a_merge_and_its_undo_are_in_the_history_of_each_clip_they_rewrote(
    project, labels, annotate, annotator, client_for, lead
):
    """Clip 407's segment label was merged into another: its history (which says "every
    change to the annotations of this clip") showed only the old submission."""
    from django.test import Client

    tree = labels("pumps/piston/cavitation", "pumps/centrifugal/cavitation", "noise")
    hit = annotate(project, annotator, clip_labels=["pumps/piston/cavitation"])
    missed = annotate(project, annotator, clip_labels=["noise"])
    url = f"/api/projects/{project.pk}/ontology/labels/{tree['pumps/piston/cavitation'].pk}/merge/"
    client = client_for(lead)
    out = client.post(url, {"into": tree["pumps/centrifugal/cavitation"].pk}, format="json")
    assert out.status_code == 200, out.content

    def tree_lines(clip, user=lead):
        history = client_for(user).get(f"/api/clips/{clip.pk}/history/").json()
        return [(h["action"], h.get("note"), h["author"]) for h in history if h["kind"] == "clip"]

    note = "pumps/piston/cavitation merged into pumps/centrifugal/cavitation"
    assert tree_lines(hit.clip) == [("label-merged", note, lead.username)]
    assert tree_lines(missed.clip) == []
    # not to an annotator: it names labels of annotations they may not see (a blind project)
    assert tree_lines(hit.clip, annotator) == []
    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/clips/{hit.clip.pk}/history/").content.decode()
    assert f'data-testid="history-tree-note">{note}<' in page

    change = OntologyChange.objects.get(ontology=project.ontology, action="merge")
    undone = client.post(
        f"/api/projects/{project.pk}/ontology/changes/{change.pk}/undo/", format="json"
    )
    assert undone.status_code == 200, undone.content
    assert tree_lines(hit.clip, lead)[-1] == (
        "label-unmerged",
        "the merge of pumps/piston/cavitation into pumps/centrifugal/cavitation undone",
        lead.username,
    )


def test_a_merge_into_a_label_under_a_deprecated_one_is_refused(project, labels):
    """A merge into a label under a deprecated parent left the uses on a label no one could
    choose (into the deprecated label itself it was refused)."""
    from ontology.merge import label_merge
    from ontology.services import label_deprecate

    tree = labels("animals/amphibians/toad/call", "animals/birds/starling/call")
    label_deprecate(label=tree["animals/amphibians"])
    with pytest.raises(DomainError, match="under the deprecated 'animals/amphibians'") as err:
        label_merge(
            source=tree["animals/birds/starling/call"],
            target=Label.objects.get(pk=tree["animals/amphibians/toad/call"].pk),
        )
    assert err.value.code == "deprecated"
    assert Label.objects.filter(pk=tree["animals/birds/starling/call"].pk).exists()
