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
