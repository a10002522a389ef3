"""Which label a clip trains on when several people labeled it: as the manifest export reads
them (accepted annotations only once a reviewer accepted one; a tie waits for a reviewer)."""

from __future__ import annotations

import pytest

from labelapp.models import Membership
from labelapp.services.annotations import annotation_submit
from labelapp.services.projects import membership_set
from labelapp.services.review import annotation_review
from ml_backend.dataset import clip_label_ids
from ontology.services import label_get_or_create_path
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(project, make_user, reviewer):
    project.label_mode = "single"
    project.annotation_mode = "both"
    project.annotations_per_clip = 2
    project.save()
    membership_set(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    people = [make_user(f"t-{i}") for i in range(2)]
    for user in people:
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
    ids = {
        name: label_get_or_create_path(ontology=project.ontology, path=f"digit/{name}")[0].pk
        for name in ("one", "seven", "noise")
    }
    return people, ids


def test_a_tie_waits_for_a_reviewer_and_an_acceptance_settles_it(project, team, reviewer):
    """Ties took the earliest annotation's label: the model learned the labels in dispute."""
    (a, b), ids = team
    clip, agreed = ready_clips(project, 2)
    first = annotation_submit(clip=clip, user=a, clip_labels=["digit/one"])
    second = annotation_submit(clip=clip, user=b, clip_labels=["digit/seven"])
    for user in (a, b):
        annotation_submit(clip=agreed, user=user, clip_labels=["digit/one"])
    assert clip_label_ids(project) == {agreed.pk: [ids["one"]]}
    annotation_review(
        annotation=second, reviewer=reviewer, action="accept", expected_version=second.version
    )
    assert clip_label_ids(project)[clip.pk] == [ids["seven"]]  # only the accepted counts
    annotation_review(
        annotation=first, reviewer=reviewer, action="accept", expected_version=first.version
    )
    assert clip.pk not in clip_label_ids(project)  # both accepted: a tie again


def test_an_annotations_answer_is_its_clip_label_or_else_its_segments(project, team):
    """A clip label "one" with a "noise" segment tied with itself and could train as noise."""
    (a, b), ids = team
    with_noise, by_segment = ready_clips(project, 2)
    annotation_submit(
        clip=with_noise,
        user=a,
        clip_labels=["digit/one"],
        segments=[{"start": 0, "end": 1, "labels": ["digit/noise"]}],
    )
    annotation_submit(
        clip=by_segment, user=a, segments=[{"start": 0, "end": 1, "labels": ["digit/seven"]}]
    )
    assert clip_label_ids(project) == {
        with_noise.pk: [ids["one"]],
        by_segment.pk: [ids["seven"]],
    }


def test_a_clip_sent_to_adjudication_waits_for_its_reviewer(project, team, lead):
    from labelapp.models import Clip

    (a, b), ids = team
    (clip,) = ready_clips(project, 1)
    for user in (a, b):
        annotation_submit(clip=clip, user=user, clip_labels=["digit/one"])
    assert clip_label_ids(project) == {clip.pk: [ids["one"]]}
    Clip.objects.filter(pk=clip.pk).update(needs_adjudication=True)
    assert clip_label_ids(project) == {}


def test_the_note_before_a_training_counts_the_clips_it_will_take(project, team):
    """ "Training on 8 labeled clips" before a training that took 5 (two ties and a clip in
    adjudication waited for a reviewer)."""
    from labelapp.models import Clip
    from ml_backend.models import MLConfig
    from ml_backend.training import training_note

    MLConfig.objects.update_or_create(project=project, defaults={"min_labels": 20})
    (a, b), _ids = team
    agreed, tied, held = ready_clips(project, 3)
    for user in (a, b):
        annotation_submit(clip=agreed, user=user, clip_labels=["digit/one"])
        annotation_submit(clip=held, user=user, clip_labels=["digit/one"])
    annotation_submit(clip=tied, user=a, clip_labels=["digit/one"])
    annotation_submit(clip=tied, user=b, clip_labels=["digit/seven"])
    Clip.objects.filter(pk=held.pk).update(needs_adjudication=True)
    assert training_note(project).startswith("Training on 1 labeled clip, fewer than the 20")


def test_a_clip_whose_vote_is_a_segment_trains_on_that_segments_span(project, team, reviewer):
    """A gave the clip label "one" (not accepted), B only a 0.1-0.2 s segment "seven" (accepted):
    the clip trained as "one" on the whole recording, because A's clip label counted for
    where to read although it no longer voted."""
    from ml_backend.dataset import _label_votes, segment_spans

    (a, b), ids = team
    (clip,) = ready_clips(project, 1)
    annotation_submit(clip=clip, user=a, clip_labels=["digit/one"])
    mine = annotation_submit(
        clip=clip, user=b, segments=[{"start": 0.1, "end": 0.2, "labels": ["digit/seven"]}]
    )
    annotation_review(
        annotation=mine, reviewer=reviewer, action="accept", expected_version=mine.version
    )
    votes, with_clip_labels, reviewed = _label_votes(project)
    assert votes == {clip.pk: [ids["seven"]]}
    assert segment_spans(project, [clip.pk], with_clip_labels, reviewed) == [[(0.1, 0.2)]]
