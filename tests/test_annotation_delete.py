"""Deleting an annotation (Label Studio's DELETE /api/annotations/<id>/): an annotator's own
until a reviewer accepts it, any as the project's lead; the clip's history says so. A rule
change refused for existing annotations said "change or delete them first", and nothing could
delete one."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation, Clip, ClipEvent
from labelapp.services.annotations import annotation_submit
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def answered(project, annotator, lead):
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip, other = ready_clips(project, 2)
    mine = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    leads = annotation_submit(clip=clip, user=lead, clip_labels=["birds/robin"])
    return clip, mine, leads, other


def test_an_annotator_deletes_their_own_and_the_clip_history_says_so(
    answered, annotator, reviewer, client_for
):
    clip, mine, _leads, _ = answered
    assert Clip.objects.get(pk=clip.pk).annotation_count == 2
    url = f"/api/annotations/{mine.pk}/"
    got = client_for(annotator).get(url)
    assert got.status_code == 200 and got.json()["clip_labels"] == ["birds/robin"]
    assert client_for(annotator).delete(url).status_code == 204
    assert not Annotation.objects.filter(pk=mine.pk).exists()
    assert Clip.objects.get(pk=clip.pk).annotation_count == 1
    event = ClipEvent.objects.get(clip=clip, action="ann-deleted")
    assert event.author == annotator
    assert event.note == (
        f"{annotator.username} deleted their own annotation (submitted: birds/robin, version 1)"
    )
    assert client_for(annotator).delete(url).status_code == 404  # gone


def test_another_members_annotation_is_a_leads_to_delete(
    answered, annotator, reviewer, lead, outsider, client_for
):
    _clip, mine, leads, _ = answered
    # an annotator does not see another's; a reviewer sees it and may not delete it
    assert client_for(annotator).delete(f"/api/annotations/{leads.pk}/").status_code == 404
    assert client_for(outsider).get(f"/api/annotations/{mine.pk}/").status_code == 404
    assert client_for(reviewer).get(f"/api/annotations/{mine.pk}/").status_code == 200
    refused = client_for(reviewer).delete(f"/api/annotations/{mine.pk}/")
    assert refused.status_code == 403 and "only a lead" in refused.json()["detail"]
    assert client_for(lead).delete(f"/api/annotations/{mine.pk}/").status_code == 204
    note = ClipEvent.objects.get(action="ann-deleted").note
    assert note.startswith(f"{lead.username} deleted {annotator.username}'s annotation")


def test_an_accepted_annotation_is_the_leads_to_delete(answered, annotator, lead, client_for):
    _clip, mine, _leads, _ = answered
    Annotation.objects.filter(pk=mine.pk).update(status="accepted")
    refused = client_for(annotator).delete(f"/api/annotations/{mine.pk}/")
    assert refused.status_code == 409 and refused.json()["code"] == "accepted"
    assert Annotation.objects.filter(pk=mine.pk).exists()
    assert client_for(lead).delete(f"/api/annotations/{mine.pk}/").status_code == 204


def test_the_history_keeps_a_deleted_annotation_whole(project, annotator, lead, client_for):
    """Its revisions go with it; the history's line said whose it was and its first labels
    only. Now the history holds it as it was: segments with their times and band, its note,
    and the clip's history page shows them removed."""
    from django.test import Client

    from ontology.services import label_get_or_create_path

    for path in ("birds/robin", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    (clip,) = ready_clips(project, 1)
    made = annotation_submit(
        clip=clip,
        user=annotator,
        clip_labels=["noise"],
        segments=[
            {"start": 1, "end": 2, "labels": ["birds/robin"], "low_freq": 2000, "high_freq": 6000},
            {"start": 3, "end": 3.5, "labels": ["noise"]},
        ],
        note="two robins?",
    )
    assert client_for(lead).delete(f"/api/annotations/{made.pk}/").status_code == 204
    history = client_for(lead).get(f"/api/clips/{clip.pk}/history/").json()
    (gone,) = [h for h in history if h["action"] == "ann-deleted"]
    assert (gone["annotation"], gone["annotator"], gone["version"]) == (
        made.pk,
        annotator.username,
        1,
    )
    assert gone["before"]["note"] == "two robins?"
    removed = gone["changes"]["segments"]["removed"]
    assert sorted((s["start"], s.get("low_freq"), tuple(s["labels"])) for s in removed) == [
        (1.0, 2000.0, ("birds/robin",)),
        (3.0, None, ("noise",)),
    ]
    assert gone["changes"]["clip_labels"] == {"added": [], "removed": ["noise"]}
    assert "status" not in gone["changes"] and "note" not in gone["changes"]
    page = Client()
    page.force_login(lead)
    text = page.get(f"/clips/{clip.pk}/history/").content.decode()
    assert "−1.0–2.0 2–6 kHz birds/robin" in text
    assert "their note “two robins?”" in text


def test_a_deleted_annotations_revisions_stay_in_the_history_for_who_could_see_it(
    project, annotator, reviewer, lead, make_user, client_for
):
    """Revisions go with their annotation: what the annotator first said, the reviewer's
    correction and its comment vanished with a deletion. The history keeps them, shows them
    to those who could see the annotation (its annotator too, not another annotator of a
    blind project), and in today's label names."""
    from labelapp.models import Membership
    from labelapp.services.projects import membership_set
    from labelapp.services.review import annotation_review
    from ontology.services import label_get_or_create_path

    for path in ("birds/robin", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    (clip,) = ready_clips(project, 1)
    made = annotation_submit(clip=clip, user=annotator, clip_labels=["noise"])
    annotation_review(
        annotation=made,
        reviewer=reviewer,
        action="correct",
        comment="it is a robin",
        expected_version=1,
        clip_labels=["birds/robin"],
    )
    assert client_for(lead).delete(f"/api/annotations/{made.pk}/").status_code == 204
    history = client_for(lead).get(f"/api/clips/{clip.pk}/history/").json()
    assert [(h["action"], h["version"], h["author"]) for h in history] == [
        ("submitted", 1, annotator.username),
        ("correct", 2, reviewer.username),
        ("ann-deleted", 2, lead.username),
    ]
    assert history[0]["after"]["clip_labels"] == ["noise"]
    assert history[1]["comment"] == "it is a robin"
    assert history[1]["changes"]["clip_labels"] == {"added": ["birds/robin"], "removed": ["noise"]}
    # its annotator sees it; another annotator of this (blind) project does not
    mine = client_for(annotator).get(f"/api/clips/{clip.pk}/history/").json()
    assert [h["action"] for h in mine] == ["submitted", "correct", "ann-deleted"]
    other = make_user("other-annotator")
    membership_set(project=project, user=other, role=Membership.Role.ANNOTATOR)
    assert client_for(other).get(f"/api/clips/{clip.pk}/history/").json() == []
    # a rename since: the page names the deleted labels as they are called today
    from django.test import Client

    from ontology.services import label_rename

    robin = project.ontology.labels.get(path="birds/robin")
    label_rename(label=robin, name="european robin")
    page = Client()
    page.force_login(lead)
    text = page.get(f"/clips/{clip.pk}/history/").content.decode()
    assert "−birds/european robin (was birds/robin)" in text
