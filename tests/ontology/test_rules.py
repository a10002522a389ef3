"""Project rules on every annotation and import, and "a child implies its ancestors"."""

from __future__ import annotations

import pytest

from labelapp.errors import DomainError
from labelapp.services.annotations import annotation_input_build
from labelapp.services.projects import project_create
from ontology.services import label_deprecate
from ontology.tree import (
    labels_collapse,
    labels_with_ancestors,
    paths_with_ancestors,
    tree_for_ontology_id,
    tree_get,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tree(labels):
    return labels("animal/bird/corvid", "animal/bird/finch", "animal/dog", "noise")


def build(project, clip, **data):
    return annotation_input_build(project, clip, **data)


def test_a_single_label_project_takes_one_clip_label(project, tree, make_clip):
    project.label_mode = "single"
    project.save()
    clip = make_clip(project)
    build(project, clip, clip_labels=["animal/dog"])
    with pytest.raises(DomainError, match="single-label"):
        build(project, clip, clip_labels=["animal/dog", "noise"])
    with pytest.raises(DomainError, match="single-label"):
        build(project, clip, segments=[{"start": 0, "end": 1, "labels": ["noise", "animal"]}])


def test_a_multi_label_project_takes_several(project, tree, make_clip):
    data = build(project, make_clip(project), clip_labels=["animal/dog", "noise"])
    assert [lb.path for lb in data.clip_labels] == ["animal/dog", "noise"]


def test_a_leaves_only_project_refuses_inner_labels(project, tree, make_clip):
    project.leaves_only = True
    project.save()
    clip = make_clip(project)
    build(project, clip, clip_labels=["animal/bird/corvid"])
    with pytest.raises(DomainError, match="'animal/bird' is not a leaf"):
        build(project, clip, clip_labels=["animal/bird"])
    with pytest.raises(DomainError, match="not a leaf"):
        build(project, clip, segments=[{"start": 0, "end": 1, "labels": ["animal"]}])


def test_deprecated_labels_cannot_be_chosen(project, tree, make_clip):
    label_deprecate(label=tree["animal/dog"])
    with pytest.raises(DomainError, match="'animal/dog' is deprecated"):
        build(project, make_clip(project), clip_labels=["animal/dog"])


def test_labels_under_a_deprecated_label_cannot_be_chosen_nor_are_offered(
    project, tree, make_clip, client_for, annotator
):
    """A lead deprecated "animal/bird": its kinds were still accepted, and the picker showed
    them straight under "animal" (their parent left out)."""
    from labelapp.models import Project

    label_deprecate(label=tree["animal/bird"])
    clip = make_clip(project)
    for path in ("animal/bird/corvid", "animal/bird/finch"):
        with pytest.raises(DomainError, match=f"'{path}' cannot be chosen: 'animal/bird' is"):
            build(project, clip, clip_labels=[path])
        with pytest.raises(DomainError, match="'animal/bird' is deprecated"):
            build(project, clip, segments=[{"start": 0, "end": 1, "labels": [path]}])
    build(project, clip, clip_labels=["animal/dog"])  # a sibling branch is untouched
    body = client_for(annotator).get(f"/api/projects/{project.pk}/ontology/").json()
    offered = {lb["path"]: lb["available"] for lb in body["labels"]}
    assert offered["animal/bird/corvid"] is offered["animal/bird"] is False
    assert offered["animal"] is offered["animal/dog"] is True
    # restored, its kinds are offered again (none was deprecated on its own)
    label_deprecate(label=tree["animal/bird"], deprecated=False)
    project = Project.objects.get(pk=project.pk)  # as a request reads it
    assert not tree_get(project.ontology).retired
    build(project, clip, clip_labels=["animal/bird/corvid"])


def test_a_deprecated_label_an_annotation_has_may_stay_when_it_is_edited(
    project, tree, make_clip, annotator, reviewer
):
    """Deprecated means not chosen anew: an annotator fixing their annotation, or a reviewer
    correcting it, keeps the deprecated label it had; adding it elsewhere is refused."""
    from labelapp.models import Membership
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.projects import membership_set
    from labelapp.services.review import annotation_review

    membership_set(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    clip, other = make_clip(project), make_clip(project)
    annotation = annotation_submit(clip=clip, user=annotator, clip_labels=["animal/dog"])
    label_deprecate(label=tree["animal/dog"])

    corrected = annotation_review(
        annotation=annotation,
        reviewer=reviewer,
        action="correct",
        expected_version=annotation.version,
        segments=[{"start": 0, "end": 1, "labels": ["noise"]}],
    )
    assert [cl.label.path for cl in corrected.clip_labels.all()] == ["animal/dog"]
    again = annotation_submit(
        clip=clip, user=annotator, clip_labels=["animal/dog"], segments=[], replace_reviewed=True
    )
    assert [cl.label.path for cl in again.clip_labels.all()] == ["animal/dog"]
    with pytest.raises(DomainError, match="'animal/dog' is deprecated"):
        annotation_submit(clip=other, user=annotator, clip_labels=["animal/dog"])


def test_an_ontology_shared_by_two_projects_applies_each_projects_rules(project, tree, make_clip):
    strict = project_create(
        name="Strict", ontology=project.ontology, label_mode="single", leaves_only=True
    )
    build(project, make_clip(project), clip_labels=["animal", "noise"])
    with pytest.raises(DomainError):
        build(strict, make_clip(strict), clip_labels=["animal"])
    build(strict, make_clip(strict), clip_labels=["animal/dog"])


def test_paths_with_ancestors_expands_without_queries(tree, django_assert_num_queries):
    chosen = [tree["animal/bird/corvid"], tree["animal/dog"], tree["noise"]]
    with django_assert_num_queries(0):
        assert paths_with_ancestors(chosen) == [
            "animal",
            "animal/bird",
            "animal/bird/corvid",
            "animal/dog",
            "noise",
        ]


def test_labels_with_ancestors_reads_the_ancestors_in_one_query(tree, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = labels_with_ancestors([tree["animal/bird/corvid"], tree["animal/bird/finch"]])
    assert [lb.path for lb in rows] == [
        "animal",
        "animal/bird",
        "animal/bird/corvid",
        "animal/bird/finch",
    ]


def test_labels_collapse_keeps_the_most_specific_once(tree):
    chosen = [
        tree["animal"],
        tree["animal/bird/corvid"],
        tree["animal/bird"],
        tree["noise"],
        tree["animal/bird/corvid"],
    ]
    assert [lb.path for lb in labels_collapse(chosen)] == ["animal/bird/corvid", "noise"]


def test_the_tree_answers_ancestors_and_descendants_from_memory(
    project, tree, django_assert_num_queries
):
    cached = tree_for_ontology_id(project.ontology_id)
    with django_assert_num_queries(0):
        bird = cached.by_path("ANIMAL/bird")
        assert [n.path for n in cached.ancestors(tree["animal/bird/corvid"].pk)] == [
            "animal",
            "animal/bird",
        ]
        assert [n.path for n in cached.descendants(bird.id)] == [
            "animal/bird/corvid",
            "animal/bird/finch",
        ]
        assert cached.is_leaf(tree["noise"].pk) and not cached.is_leaf(bird.id)
        ids, parents = cached.parent_indices()
    assert parents[ids.index(bird.id)] == ids.index(tree["animal"].pk)


def test_the_cached_tree_follows_the_version(project, tree):
    from ontology.services import label_rename

    first = tree_for_ontology_id(project.ontology_id)
    assert tree_for_ontology_id(project.ontology_id) is first
    label_rename(label=tree["noise"], name="static")
    second = tree_for_ontology_id(project.ontology_id)
    assert second is not first and second.by_path("static") is not None
    project.ontology.refresh_from_db()
    assert tree_get(project.ontology) is second


def test_annotations_record_the_ontology_version_they_saw(project, tree, annotate, annotator):
    from ontology.services import label_rename

    first = annotate(project, annotator, clip_labels=["noise"])
    label_rename(label=tree["noise"], name="static")
    project.ontology.refresh_from_db()
    second = annotate(project, annotator, clip_labels=["static"])
    assert second.ontology_version == project.ontology.version == first.ontology_version + 1
