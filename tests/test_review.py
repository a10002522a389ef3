"""Review: accept, reject with a comment, correct; 409 on stale decisions; the queue and
adjudication; the annotator sees rejections and resubmits; every change leaves history."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation, AnnotationRevision, Clip
from labelapp.services.annotations import annotation_submit
from labelapp.services.review import annotation_review, clip_history, review_queue
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db


def _ready_clip(project, name: str) -> Clip:
    """A ready 10 s clip row (review reads rows, never the audio)."""
    n = Clip.objects.count() + 1
    return Clip.objects.create(
        project=project,
        file=f"x/{n}.wav",
        sha256=f"{n:064d}",
        original_name=name,
        duration=10.0,
        sample_rate=16000,
        channels=1,
        status=Clip.Status.READY,
    )


@pytest.fixture
def clip(project):
    for path in ("birds/robin", "birds/crow", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    return _ready_clip(project, "dawn.wav")


@pytest.fixture
def submitted(clip, annotator):
    return annotation_submit(
        clip=clip,
        user=annotator,
        clip_labels=["birds/robin"],
        segments=[{"start": 1, "end": 2, "labels": ["birds/robin"]}],
    )


def review(client, annotation, **body):
    return client.post(f"/api/annotations/{annotation.pk}/review/", body, format="json")


def test_a_reviewer_accepts_and_the_decision_is_recorded(client_for, reviewer, submitted):
    res = review(client_for(reviewer), submitted, action="accept", expected_version=1)
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["status"] == "accepted" and body["version"] == 2
    assert body["reviewed_by"] == reviewer.username
    submitted.refresh_from_db()
    assert submitted.reviewed_by == reviewer and submitted.reviewed_at is not None
    rev = AnnotationRevision.objects.get(annotation=submitted, version=2)
    assert rev.action == "accept" and rev.author == reviewer
    assert rev.data["clip_labels"] == ["birds/robin"]


def test_a_rejection_needs_a_comment_and_changes_nothing_without_one(
    client_for, reviewer, submitted
):
    res = review(client_for(reviewer), submitted, action="reject", comment="  ", expected_version=1)
    assert res.status_code == 400
    assert res.json()["code"] == "comment_required"
    submitted.refresh_from_db()
    assert submitted.status == "submitted" and submitted.version == 1
    assert submitted.revisions.count() == 1


def test_the_annotator_sees_a_rejection_and_resubmits_into_the_queue(
    client_for, reviewer, annotator, project, clip, submitted
):
    res = review(
        client_for(reviewer),
        submitted,
        action="reject",
        comment="That is a crow, listen at 1.5 s",
        expected_version=1,
    )
    assert res.status_code == 200 and res.json()["status"] == "rejected"
    assert list(review_queue(project, reviewer)) == []

    mine = client_for(annotator).get(f"/api/projects/{project.pk}/rejected/").json()
    assert mine["count"] == 1
    assert mine["results"][0]["review_comment"] == "That is a crow, listen at 1.5 s"
    assert mine["results"][0]["reviewed_by"] == reviewer.username
    # Others' rejections are not in my list.
    assert client_for(reviewer).get(f"/api/projects/{project.pk}/rejected/").json()["count"] == 0

    res = client_for(annotator).post(
        f"/api/clips/{clip.pk}/annotations/",
        {"clip_labels": ["birds/crow"], "expected_version": 2},
        format="json",
    )
    assert res.status_code == 200, res.content
    assert client_for(annotator).get(f"/api/projects/{project.pk}/rejected/").json()["count"] == 0
    assert [a.pk for a in review_queue(project, reviewer)] == [submitted.pk]


def test_a_stale_decision_is_refused_with_409(client_for, reviewer, annotator, clip, submitted):
    annotation_submit(clip=clip, user=annotator, clip_labels=["noise"], expected_version=1)
    res = review(client_for(reviewer), submitted, action="accept", expected_version=1)
    assert res.status_code == 409
    assert res.json()["code"] == "stale" and res.json()["current_version"] == 2
    assert "it changed (version 2" in res.json()["detail"]
    submitted.refresh_from_db()
    assert submitted.status == "submitted" and submitted.reviewed_by is None


def test_the_same_decision_sent_again_is_answered_as_the_first(
    client_for, reviewer, lead, clip, submitted
):
    """A pipeline retrying an accept after a dropped connection got 409 "stale", its own
    decision named as a change; another decision on the old version still is one."""
    from labelapp.models import AnnotationRevision

    first = review(client_for(reviewer), submitted, action="accept", expected_version=1)
    again = review(client_for(reviewer), submitted, action="accept", expected_version=1)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["version"] == first.json()["version"] == 2
    assert AnnotationRevision.objects.filter(annotation=submitted, action="accept").count() == 1
    other = review(
        client_for(reviewer), submitted, action="reject", comment="no", expected_version=1
    )
    assert other.status_code == 409
    someone_else = review(client_for(lead), submitted, action="accept", expected_version=1)
    assert someone_else.status_code == 409


def test_the_same_correction_sent_again_is_answered_as_the_first(
    client_for, reviewer, lead, clip, submitted
):
    """A correction retried after a dropped connection was 409 "stale" (the accept and the
    reject were not): the same content again is answered as the first; another content, or
    another reviewer, on the old version is still a conflict."""
    from labelapp.models import AnnotationRevision

    body = {
        "action": "correct",
        "expected_version": 1,
        "clip_labels": ["birds/crow"],
        "segments": [
            {"start": 1, "end": 2, "labels": ["birds/crow"], "low_freq": 100, "high_freq": 900}
        ],
        "comment": "a crow",
    }
    first = review(client_for(reviewer), submitted, **body)
    again = review(client_for(reviewer), submitted, **body)
    assert (first.status_code, again.status_code) == (200, 200), again.json()
    assert again.json()["version"] == first.json()["version"] == 2
    assert again.json()["segments"] == first.json()["segments"]
    assert AnnotationRevision.objects.filter(annotation=submitted, action="correct").count() == 1
    moved = {**body, "segments": [{**body["segments"][0], "high_freq": 1000}]}
    refused = review(client_for(reviewer), submitted, **moved)
    assert refused.status_code == 409
    assert "you corrected it (version 2" in refused.json()["detail"]  # not "rita corrected it"
    assert (
        review(client_for(reviewer), submitted, **{**body, "comment": "other"}).status_code == 409
    )
    assert review(client_for(lead), submitted, **body).status_code == 409
    # an unchanged correction is kept as an acceptance: sent again, answered the same
    other = _ready_clip(clip.project, "dusk.wav")
    made = annotation_submit(clip=other, user=submitted.annotator, clip_labels=["birds/crow"])
    same = {"action": "correct", "expected_version": 1, "clip_labels": ["birds/crow"]}
    assert review(client_for(reviewer), made, **same).json()["status"] == "accepted"
    assert review(client_for(reviewer), made, **same).status_code == 200


def test_a_second_reviewer_is_told_who_decided_first(client_for, reviewer, lead, clip, submitted):
    """Two reviewers on one annotation: the second read "changed since you opened it", and
    the card still said submitted."""
    accepted = review(client_for(reviewer), submitted, action="accept", expected_version=1)
    assert accepted.status_code == 200
    res = review(client_for(lead), submitted, action="reject", comment="no", expected_version=1)
    assert res.status_code == 409
    assert "rita-reviewer accepted it (version 2, you reviewed version 1)" in res.json()["detail"]


def test_a_correction_keeps_the_annotators_row_and_names_the_reviewer(
    client_for, reviewer, annotator, clip, submitted
):
    res = review(
        client_for(reviewer),
        submitted,
        action="correct",
        expected_version=1,
        clip_labels=["birds/crow"],
        segments=[{"start": 1, "end": 2.5, "labels": ["birds/crow"]}],
        comment="crow, longer call",
    )
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["annotator"] == annotator.username and body["status"] == "accepted"
    assert body["clip_labels"] == ["birds/crow"]
    assert body["segments"] == [
        {
            "start": 1.0,
            "end": 2.5,
            "channel": None,
            "low_freq": None,
            "high_freq": None,
            "labels": ["birds/crow"],
        }
    ]
    assert Annotation.objects.filter(clip=clip).count() == 1
    rev = AnnotationRevision.objects.get(annotation=submitted, version=2)
    assert rev.author == reviewer and rev.action == "correct" and rev.comment == "crow, longer call"

    history = client_for(reviewer).get(f"/api/clips/{clip.pk}/history/").json()
    assert [h["action"] for h in history] == ["submitted", "correct"]
    last = history[-1]
    assert last["author"] == reviewer.username and last["annotator"] == annotator.username
    assert last["before"]["clip_labels"] == ["birds/robin"]
    assert last["after"]["clip_labels"] == ["birds/crow"]
    assert last["changes"]["status"] == ["submitted", "accepted"]
    assert last["changes"]["clip_labels"] == {"added": ["birds/crow"], "removed": ["birds/robin"]}
    assert last["changes"]["segments"]["removed"][0]["end"] == 2.0
    assert last["changes"]["segments"]["added"][0]["end"] == 2.5


def test_a_correction_with_a_bad_label_is_a_clear_400(client_for, reviewer, submitted):
    res = review(
        client_for(reviewer),
        submitted,
        action="correct",
        expected_version=1,
        clip_labels=["birds/eagle"],
    )
    assert res.status_code == 400 and "birds/eagle" in res.json()["detail"]
    res = review(client_for(reviewer), submitted, action="correct", expected_version=1)
    assert res.status_code == 400 and "correction needs" in res.json()["detail"]
    res = review(client_for(reviewer), submitted, action="approve", expected_version=1)
    assert res.status_code == 400


def test_labels_sent_with_accept_or_reject_are_refused_not_dropped(client_for, reviewer, submitted):
    client = client_for(reviewer)
    accept = review(client, submitted, action="accept", expected_version=1, clip_labels=["x"])
    assert accept.status_code == 400
    assert accept.json()["detail"] == "clip_labels apply to action 'correct' only, not 'accept'"
    segments = [{"start": 0, "end": 1, "labels": ["birds/robin"]}]
    reject = review(
        client, submitted, action="reject", expected_version=1, comment="no", segments=segments
    )
    assert (
        reject.status_code == 400
        and "segments apply to action 'correct' only" in (reject.json()["detail"])
    )
    submitted.refresh_from_db()
    assert (submitted.status, submitted.version) == ("submitted", 1)


def test_roles_annotators_cannot_review_outsiders_get_404(
    client_for, annotator, outsider, make_user, project, clip, submitted
):
    assert (
        review(client_for(annotator), submitted, action="accept", expected_version=1).status_code
        == 403
    )
    assert (
        review(client_for(outsider), submitted, action="accept", expected_version=1).status_code
        == 404
    )
    assert client_for(annotator).get(f"/api/projects/{project.pk}/review-queue/").status_code == 403
    assert client_for(outsider).get(f"/api/projects/{project.pk}/review-queue/").status_code == 404
    assert client_for(outsider).get(f"/api/clips/{clip.pk}/history/").status_code == 404
    assert client_for().get(f"/api/clips/{clip.pk}/history/").status_code in (401, 403)


def test_a_reviewer_cannot_review_their_own_annotation(client_for, reviewer, clip):
    own = annotation_submit(clip=clip, user=reviewer, clip_labels=["noise"])
    res = review(client_for(reviewer), own, action="accept", expected_version=1)
    assert res.status_code == 403


def test_the_queue_puts_adjudication_first_and_leaves_out_your_own_and_decided_work(
    client_for, project, reviewer, annotator, lead, make_user, clip
):
    from labelapp.services.projects import membership_set

    other = make_user("otto-annotator")
    membership_set(project=project, user=other, role="annotator")
    second = Clip.objects.create(
        project=project, file="x/b.wav", sha256="b" * 64, original_name="dusk.wav",
        duration=5.0, status=Clip.Status.READY,
    )  # fmt: skip
    first_submitted = annotation_submit(clip=clip, user=annotator, clip_labels=["noise"])
    on_second = annotation_submit(clip=second, user=other, clip_labels=["noise"])
    own = annotation_submit(clip=second, user=reviewer, clip_labels=["noise"])
    decided = annotation_submit(clip=clip, user=other, clip_labels=["noise"])
    annotation_review(annotation=decided, reviewer=lead, action="accept", expected_version=1)

    assert [a.pk for a in review_queue(project, reviewer)] == [first_submitted.pk, on_second.pk]

    res = client_for(reviewer).post(f"/api/clips/{second.pk}/adjudication/")
    assert res.status_code == 200 and res.json()["needs_adjudication"] is True
    body = client_for(reviewer).get(f"/api/projects/{project.pk}/review-queue/").json()
    assert [r["id"] for r in body["results"]] == [on_second.pk, first_submitted.pk]
    assert body["results"][0]["needs_adjudication"] is True
    assert own.pk not in [r["id"] for r in body["results"]]
    # The lead sees the reviewer's own annotation in their queue.
    assert own.pk in [a.pk for a in review_queue(project, lead)]


def test_adjudication_brings_back_decided_work_and_a_decision_settles_it(
    client_for, project, reviewer, lead, annotator, clip, submitted
):
    annotation_review(annotation=submitted, reviewer=reviewer, action="accept", expected_version=1)
    assert list(review_queue(project, lead)) == []
    assert client_for(annotator).post(f"/api/clips/{clip.pk}/adjudication/").status_code == 403
    assert client_for(lead).post(f"/api/clips/{clip.pk}/adjudication/").status_code == 200
    assert [a.pk for a in review_queue(project, lead)] == [submitted.pk]

    res = review(
        client_for(lead), submitted, action="reject", comment="not a robin", expected_version=2
    )
    assert res.status_code == 200
    clip.refresh_from_db()
    assert clip.needs_adjudication is False
    assert list(review_queue(project, lead)) == []


def test_an_annotator_sees_only_the_history_of_what_they_may_see(
    client_for, project, annotator, make_user, clip, submitted
):
    from labelapp.services.projects import membership_set

    other = make_user("otto-annotator")
    membership_set(project=project, user=other, role="annotator")
    annotation_submit(clip=clip, user=other, clip_labels=["noise"])
    mine = client_for(annotator).get(f"/api/clips/{clip.pk}/history/").json()
    assert {h["annotator"] for h in mine} == {annotator.username}
    assert len(clip_history(clip)) == 2
    project.show_others_annotations = True
    project.save()
    seen = client_for(annotator).get(f"/api/clips/{clip.pk}/history/").json()
    assert {h["annotator"] for h in seen} == {annotator.username, other.username}


def test_agreement_and_model_figures_are_for_reviewers_and_leads(
    client_for, project, reviewer, lead, annotator, outsider
):
    for path in ("agreement", "model-vs-humans"):
        url = f"/api/projects/{project.pk}/{path}/"
        assert client_for(reviewer).get(url).status_code == 200
        assert client_for(lead).get(url).status_code == 200
        assert client_for(annotator).get(url).status_code == 403
        assert client_for(outsider).get(url).status_code == 404
    res = client_for(lead).get(f"/api/projects/{project.pk}/agreement/?iou=2")
    assert res.status_code == 400
    res = client_for(lead).get(f"/api/projects/{project.pk}/model-vs-humans/?model_version=999")
    assert res.status_code == 404


# --- pages ---------------------------------------------------------------------------------


def test_review_pages_render_for_reviewers_and_hide_from_others(
    client, reviewer, annotator, project, clip, submitted
):
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/")
    assert page.status_code == 200 and b"dawn.wav" in page.content
    page = client.get(f"/clips/{clip.pk}/review/")
    assert page.status_code == 200
    assert b'data-testid="accept"' in page.content and b'data-testid="history"' in page.content
    assert b"(deprecated)" not in page.content
    # a label deprecated since is marked, so the reviewer moves the clip off it (it read as
    # any other label; a lead's tester)
    from ontology.models import Label
    from ontology.services import label_deprecate

    label_deprecate(label=Label.objects.get(ontology=project.ontology, path="birds/robin"))
    html = client.get(f"/clips/{clip.pk}/review/").content.decode()
    assert html.count("birds/robin (deprecated)") == 2  # the clip label and the segment's
    client.force_login(annotator)
    assert client.get(f"/projects/{project.pk}/review/").status_code == 403
    assert client.get(f"/clips/{clip.pk}/review/").status_code == 403
    assert client.get(f"/clips/{clip.pk}/history/").status_code == 200
    assert client.get(f"/projects/{project.pk}/my-reviews/").status_code == 200
    project_page = client.get(f"/projects/{project.pk}/")
    assert b"my-reviews-link" in project_page.content and b"review-link" not in project_page.content
    assert b"rejected-count" not in project_page.content
    # a rejection is said where work starts (it showed only under My reviews)
    submitted.status = "rejected"
    submitted.save(update_fields=["status"])
    project_page = client.get(f"/projects/{project.pk}/").content.decode()
    assert 'data-testid="rejected-count"' in project_page and "1 to fix" in project_page


def test_review_pages_name_channels_as_the_workspace_does(client, reviewer, annotator, clip):
    """A stereo clip's segment on channel 1 is "R" on the review card (it said "ch 1"), and a
    move from R to L shows in the history (it looked like no change)."""
    Clip.objects.filter(pk=clip.pk).update(channels=2)
    clip.refresh_from_db()
    seg = {"start": 5, "end": 9, "labels": ["noise"]}
    first = annotation_submit(clip=clip, user=annotator, segments=[{**seg, "channel": 1}])
    annotation_submit(
        clip=clip, user=annotator, segments=[{**seg, "channel": 0}], expected_version=first.version
    )
    client.force_login(reviewer)
    page = client.get(f"/clips/{clip.pk}/review/").content.decode()
    assert "5.00–9.00 s · L:" in page
    history = client.get(f"/clips/{clip.pk}/history/").content.decode()
    assert "−5.0–9.0 R noise" in history and "+5.0–9.0 L noise" in history
    Clip.objects.filter(pk=clip.pk).update(channels=4)
    assert "5.00–9.00 s · ch 1:" in client.get(f"/clips/{clip.pk}/review/").content.decode()


def test_an_annotation_of_many_segments_is_sent_as_data_and_listed_in_part(
    client, client_for, reviewer, annotator, project, clip
):
    """An annotation of 120 segments: the review page sends them as one JSON object for the
    lanes (not an element each from the template) and lists the first 50 with a count of the
    rest, on the clip's page and in the queue; a correction that moves them all lists 20 of
    each side in the history and says how many more."""
    segs = [
        {"start": round(i * 0.08, 2), "end": round(i * 0.08 + 0.05, 2), "labels": ["noise"]}
        for i in range(120)
    ]
    annotation = annotation_submit(clip=clip, user=annotator, segments=segs)
    client.force_login(reviewer)
    page = client.get(f"/clips/{clip.pk}/review/")
    html = page.content.decode()
    lanes = page.context["lane_segments"]
    assert list(lanes) == [str(annotation.pk)]
    assert len(lanes[str(annotation.pk)]) == 120
    noise = project.ontology.labels.get(path="noise")
    assert lanes[str(annotation.pk)][3] == [0.24, 0.29, None, "noise", [noise.pk, ""], None]
    assert 'id="review-lane-segments"' in html and 'data-testid="review-segment"' not in html
    assert html.count("rv-chip") == 50  # the list's first 50 (no clip labels)
    assert "… and 70 more (120 segments in all): every one is on" in html
    queue = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert "… and 70 more (120 segments in all): the clip’s review page shows them all" in queue

    moved = [{**s, "start": s["start"] + 0.01, "end": s["end"] + 0.01} for s in segs]
    res = review(
        client_for(reviewer),
        annotation,
        action="correct",
        segments=moved,
        expected_version=annotation.version,
    )
    assert res.status_code == 200, res.content
    history = client.get(f"/clips/{clip.pk}/history/").content.decode()
    assert "and 100 more removed" in history and "and 100 more added" in history
    assert history.count("rv-chip rv-removed") == 20 and history.count("rv-chip rv-added") == 20


def test_a_rejected_annotation_keeps_its_place_until_its_annotator_fixes_it(
    project, clip, annotator, reviewer, make_user
):
    """Two annotations wanted: after a rejection the clip went back to the queue, a third
    annotator took it, and the fix made three. The rejected annotation keeps its place while
    its annotator is a member; once fixed or once they have left, the places add up again."""
    from labelapp.services.projects import membership_remove, membership_set
    from labelapp.services.queue import clip_next_claim

    project.annotations_per_clip = 2
    project.save(update_fields=["annotations_per_clip"])
    second, third = make_user("bea-second"), make_user("cy-third")
    for user in (second, third):
        membership_set(project=project, user=user, role="annotator")
    annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    theirs = annotation_submit(clip=clip, user=second, clip_labels=["birds/crow"])
    annotation_review(
        annotation=theirs,
        reviewer=reviewer,
        action="reject",
        comment="listen",
        expected_version=theirs.version,
    )
    assert clip_next_claim(project=project, user=third) is None
    # fixed: the clip is full again, with its two annotations
    annotation_submit(
        clip=clip, user=second, clip_labels=["birds/robin"], expected_version=theirs.version + 1
    )
    assert clip_next_claim(project=project, user=third) is None
    clip.refresh_from_db()
    assert clip.annotation_count == 2
    # rejected again, and its annotator leaves the project: the place is free
    theirs.refresh_from_db()
    annotation_review(
        annotation=theirs,
        reviewer=reviewer,
        action="reject",
        comment="again",
        expected_version=theirs.version,
    )
    membership_remove(project=project, user=second)
    assert clip_next_claim(project=project, user=third) == clip


def test_an_empty_queue_names_the_members_rejected_work(client, project, clip, annotator, reviewer):
    """ "Nothing left to label here" with a rejected annotation waiting: only the project page
    said there was work to fix."""
    mine = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    client.force_login(annotator)
    page = client.get(f"/projects/{project.pk}/annotate/").content.decode()
    assert 'data-testid="queue-to-fix"' not in page
    annotation_review(
        annotation=mine, reviewer=reviewer, action="reject", comment="crow", expected_version=1
    )
    page = client.get(f"/projects/{project.pk}/annotate/").content.decode()
    to_fix = page.split('data-testid="queue-to-fix"')[1].split("</p>")[0]
    assert f"/projects/{project.pk}/my-reviews/" in to_fix
    assert "1 annotation of yours was rejected by a reviewer: fix it under My reviews" in to_fix


def test_next_in_queue_moves_on_past_a_clip_left_undecided(
    client, project, annotator, reviewer, clip
):
    """Three clips waiting: "Next in queue" from the first goes to the second, from the second
    to the third (it went back to the first: the queue's head other than the open clip), from
    the third around to the first."""
    clips = [clip] + [_ready_clip(project, f"{n}.wav") for n in (2, 3)]
    for c in clips:
        annotation_submit(clip=c, user=annotator, clip_labels=["birds/robin"])
    client.force_login(reviewer)

    def next_of(c):
        return client.get(f"/clips/{c.pk}/review/").context["next_clip_id"]

    assert [next_of(c) for c in clips] == [clips[1].pk, clips[2].pk, clips[0].pk]


def test_my_reviews_says_when_a_reviewer_corrected_the_labels(
    client, client_for, project, annotator, reviewer, clip
):
    """A correction was listed as "accepted" with the comment only: nothing said the labels
    had changed."""
    kept = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    review(client_for(reviewer), kept, action="accept", expected_version=1)
    other = _ready_clip(project, "dusk.wav")
    changed = annotation_submit(clip=other, user=annotator, clip_labels=["birds/robin"])
    res = review(
        client_for(reviewer),
        changed,
        action="correct",
        clip_labels=["birds/crow"],
        comment="a crow",
        expected_version=1,
    )
    assert res.status_code == 200, res.content
    client.force_login(annotator)
    html = client.get(f"/projects/{project.pk}/my-reviews/").content.decode()
    rows = html.split('data-testid="accepted-row"')[1:]
    assert len(rows) == 2
    (corrected,) = [r for r in rows if "dusk.wav" in r]
    (accepted,) = [r for r in rows if "dawn.wav" in r]
    assert 'data-testid="corrected"' in corrected and "birds/crow" in corrected
    assert 'data-testid="corrected"' not in accepted
    # accepted again after the correction: the labels are still the reviewer's (this page
    # and the workspace said plain "accepted", the exports "corrected")
    from labelapp.selectors import _review_of

    lead = project.memberships.get(role="lead").user
    assert review(client_for(lead), changed, action="accept", expected_version=2).status_code == 200
    html = client.get(f"/projects/{project.pk}/my-reviews/").content.decode()
    (corrected,) = [r for r in html.split('data-testid="accepted-row"')[1:] if "dusk.wav" in r]
    assert 'data-testid="corrected"' in corrected
    changed.refresh_from_db()
    assert _review_of(changed) == {"reviewed_by": lead.username, "corrected": True}


def test_a_save_from_before_a_rejection_says_who_rejected_it_and_why(
    client_for, reviewer, annotator, clip, submitted
):
    """The annotator had the clip open when the reviewer rejected it: the 409 said only
    "changed elsewhere", "Save mine over it" buried the comment, and it was never seen."""
    review(
        client_for(reviewer), submitted, action="reject", comment="Listen again", expected_version=1
    )
    res = client_for(annotator).post(
        f"/api/clips/{clip.pk}/annotations/",
        {"clip_labels": ["birds/crow"], "expected_version": 1},
        format="json",
    )
    assert res.status_code == 409
    body = res.json()
    assert body["code"] == "stale" and body["status"] == "rejected"
    assert body["review_comment"] == "Listen again" and body["reviewed_by"] == reviewer.username
    assert f"{reviewer.username} rejected this annotation" in body["detail"]
    assert "Listen again" in body["detail"]


def test_the_same_submit_sent_again_from_an_older_version_saves_nothing_and_is_no_conflict(
    client_for, annotator, clip, submitted
):
    """A submit whose answer was lost (or made in another tab): pressing Submit again met a
    409 "changed elsewhere" by the annotator's own save, on every try."""
    api = client_for(annotator)
    same = {
        "clip_labels": ["birds/robin"],
        "segments": [{"start": 1, "end": 2, "labels": ["birds/robin"]}],
        "expected_version": 0,
    }
    res = api.post(f"/api/clips/{clip.pk}/annotations/", same, format="json")
    assert res.status_code in (200, 201), res.content
    assert res.json()["annotation"]["version"] == 1
    submitted.refresh_from_db()
    assert submitted.version == 1 and submitted.revisions.count() == 1
    # Another content from the older version is still a conflict.
    res = api.post(
        f"/api/clips/{clip.pk}/annotations/",
        {**same, "clip_labels": ["noise"]},
        format="json",
    )
    assert res.status_code == 409 and res.json()["code"] == "stale"


def test_durations_read_as_a_clock():
    from labelapp.templatetags.earmark_audio import clock

    assert clock(4.25) == "4.25 s"
    assert clock(725.5) == "12:05.50"
    assert clock(7200) == "2:00:00.00"
    assert clock(None) == ""


def test_the_history_reads_in_todays_label_names_and_says_what_they_were(
    client, reviewer, annotator, clip, submitted
):
    from ontology.models import Label
    from ontology.services import label_delete, label_rename

    def robin_and_noise(robin: str, version: int):
        annotation_submit(
            clip=clip,
            user=annotator,
            clip_labels=["noise"],
            segments=[{"start": 1, "end": 2, "labels": [robin]}],
            expected_version=version,
        )

    robin_and_noise("birds/robin", 1)
    robin = Label.objects.get(ontology=clip.project.ontology, path="birds/robin")
    label_rename(label=robin, name="european robin")
    # The same labels again under the new name: nothing written, not "-robin +european robin".
    robin_and_noise("birds/european robin", 2)
    mine = clip.annotations.get(annotator=annotator)
    assert mine.version == 2 and mine.revisions.count() == 2
    crow = Label.objects.get(ontology=clip.project.ontology, path="birds/crow")
    other = annotation_submit(clip=clip, user=reviewer, clip_labels=["birds/crow"])
    other.clip_labels.all().delete()  # as if it had been merged away; the history keeps it
    label_delete(label=crow)
    client.force_login(reviewer)
    page = client.get(f"/clips/{clip.pk}/history/").content.decode()
    # the first row too (it lists what was created)
    assert "birds/european robin (was birds/robin)" in page
    assert "birds/crow (deleted since)" in page
    assert "−birds/robin" not in page and "-birds/robin" not in page


def test_a_segment_whose_labels_came_back_in_another_order_is_not_a_change():
    """A correction form loads a segment's labels in tree order: the history listed the
    untouched segment as removed and added again."""
    from labelapp.services.review import snapshot_diff

    seg = {"start": 1799.5, "end": 1800.0, "channel": None}
    before = {
        "status": "submitted",
        "segments": [{**seg, "labels": ["noise/rain", "insect/cricket"]}],
    }
    after = {
        "status": "submitted",
        "segments": [{**seg, "labels": ["insect/cricket", "noise/rain"]}],
    }
    assert snapshot_diff(before, after) == {}
    moved = {"status": "submitted", "segments": [{**seg, "end": 1799.9, "labels": ["noise/rain"]}]}
    assert set(snapshot_diff(before, moved)["segments"]) == {"added", "removed"}


def test_a_correction_that_changes_nothing_is_an_acceptance(client_for, reviewer, submitted):
    """It was kept as a correction, and the annotator was told "what you see is their
    version"."""
    from labelapp.models import AnnotationRevision

    res = client_for(reviewer).post(
        f"/api/annotations/{submitted.pk}/review/",
        {
            "action": "correct",
            "clip_labels": ["birds/robin"],
            "expected_version": submitted.version,
        },
        format="json",
    )
    assert res.status_code == 200, res.json()
    last = AnnotationRevision.objects.filter(annotation=submitted).order_by("-version").first()
    assert last.action == "accept" and res.json()["status"] == "accepted"


def test_a_review_of_a_version_past_2_31_is_a_400(client_for, reviewer, submitted):
    res = client_for(reviewer).post(
        f"/api/annotations/{submitted.pk}/review/",
        {"action": "accept", "expected_version": 2**70},
        format="json",
    )
    assert res.status_code == 400 and "expected_version" in res.json()["detail"]


def test_segment_times_show_as_stored():
    """A 0.39-0.3955 s segment read "0.39–0.40 s" on the review page: past the clip."""
    from labelapp.templatetags.earmark_audio import segtime

    assert [segtime(t) for t in (0.39, 0.3955, 1.0, 0.135 + 0.005)] == [
        "0.39",
        "0.395",
        "1.00",
        "0.14",
    ]


def test_accepting_answers_that_tie_says_so_and_keeps_the_clip_in_dispute(
    client_for, project, clip, annotator, reviewer, lead, make_user
):
    """Single-label, three annotators: robin, crow, noise. A reviewer accepted each: the clip
    left the disagreement list as settled, counted as labeled, and the training and the
    manifest left it out (a tie) without a word. The accept that makes the tie says so, and
    the clip stays a disagreement until one answer wins."""
    from labelapp.models import Project
    from labelapp.services.agreement import project_agreement
    from labelapp.services.projects import membership_set
    from ml_backend.dataset import clip_label_ids

    Project.objects.filter(pk=project.pk).update(
        label_mode=Project.LabelMode.SINGLE, annotations_per_clip=3
    )
    project.refresh_from_db()
    third = make_user("tess-annotator")
    membership_set(project=project, user=third, role="annotator")
    made = [
        annotation_submit(clip=clip, user=who, clip_labels=[path])
        for who, path in ((annotator, "birds/robin"), (lead, "birds/crow"), (third, "noise"))
    ]
    api = client_for(reviewer)

    def accept(annotation):
        url = f"/api/annotations/{annotation.pk}/review/"
        body = {"action": "accept", "expected_version": annotation.version}
        return api.post(url, body, format="json").json()

    def disputed() -> bool:
        (row,) = [c for c in project_agreement(project)["clips"] if c["id"] == clip.pk]
        return row["disagreement"] and not row["settled"]

    assert accept(made[0])["warning"] == ""
    assert not disputed()  # one accepted answer decides it
    assert clip_label_ids(project) != {}
    second = accept(made[1])
    tied = second["warning"]
    assert "accepted annotations now disagree (birds/crow, birds/robin)" in tied
    assert "left out of the training" in tied
    assert disputed() and clip.pk not in clip_label_ids(project)
    assert accept(made[2])["warning"]  # three ways: still a tie
    rejected = api.post(
        f"/api/annotations/{made[2].pk}/review/",
        {"action": "reject", "expected_version": made[2].version + 1, "comment": "a crow"},
        format="json",
    )
    assert rejected.status_code == 200 and rejected.json()["warning"]  # robin against crow


def test_an_annotation_fixed_after_a_rejection_counts_its_first_answer_in_agreement(
    project, clip, annotator, reviewer, lead
):
    """robin (annotator) against crow (lead); the reviewer rejects robin ("a crow") and the
    annotator fixes it to crow. Agreement rose to 100% and the wrong annotator's own figure
    with it: the fix was the reviewer's answer, not theirs. Their rejected answer counts,
    and the clip is not thereby settled."""
    from labelapp.services.agreement import project_agreement

    mine = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    annotation_submit(clip=clip, user=lead, clip_labels=["birds/crow"])
    annotation_review(
        annotation=mine, reviewer=reviewer, action="reject", comment="a crow", expected_version=1
    )
    annotation_submit(clip=clip, user=annotator, clip_labels=["birds/crow"], expected_version=2)
    (row,) = [c for c in project_agreement(project)["clips"] if c["id"] == clip.pk]
    assert row["agreement"] == 0.3333  # Jaccard of {birds, robin} and {birds, crow}; 1.0 before
    assert row["disagreement"] and not row["settled"]


def test_a_rejection_neither_raises_nor_lowers_its_annotators_agreement(
    project, clip, annotator, reviewer, lead, make_user
):
    """A lead's team tester: rejected answers left the figures until fixed, so an annotator
    looked better the more of their work was rejected (76% -> 84%) and worse once they fixed
    it. A rejected answer counts as given; the clip leaves the disagreements to look at while
    the answers that stand agree, and comes back when the fix waits for review."""
    from labelapp.services.agreement import project_agreement
    from labelapp.services.projects import membership_set

    project.label_mode = "single"
    project.save()
    third = make_user("third")
    membership_set(project=project, user=third, role="annotator")
    second = _ready_clip(project, "dusk.wav")
    wrong = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    annotation_submit(clip=clip, user=lead, clip_labels=["birds/crow"])
    annotation_submit(clip=clip, user=third, clip_labels=["birds/crow"])
    for user in (annotator, lead):
        annotation_submit(clip=second, user=user, clip_labels=["noise"])

    def figures():
        out = project_agreement(project)
        mine = next(a for a in out["annotators"] if a["username"] == annotator.username)
        row = next(c for c in out["clips"] if c["id"] == clip.pk)
        return mine["agreement"], out["overall"]["clip_labels"]["fleiss_kappa"], row["settled"]

    before = figures()
    assert before[0] == pytest.approx(1 / 3, abs=1e-3) and not before[2]  # 1 of 3 pairs
    annotation_review(
        annotation=wrong, reviewer=reviewer, action="reject", comment="a crow", expected_version=1
    )
    after = figures()
    assert after[:2] == before[:2] and after[2]  # settled: the answers that stand agree
    annotation_submit(clip=clip, user=annotator, clip_labels=["birds/crow"], expected_version=2)
    fixed = figures()
    assert fixed[:2] == before[:2] and not fixed[2]  # the fix waits for review


def test_a_clip_sent_to_adjudication_is_not_settled_by_one_decision(
    project, clip, annotator, reviewer, lead, make_user
):
    """Accepting one of three answers called the clip settled (it left the dashboard's
    disagreements) while the adjudication, and the manifest, waited for the other two."""
    from labelapp.services.agreement import project_agreement
    from labelapp.services.projects import membership_set
    from labelapp.services.review import clip_adjudication_request

    project.label_mode = "single"
    project.save()
    third = make_user("third")
    membership_set(project=project, user=third, role="annotator")
    odd = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    annotation_submit(clip=clip, user=lead, clip_labels=["birds/crow"])
    annotation_submit(clip=clip, user=third, clip_labels=["birds/crow"])
    clip_adjudication_request(clip=clip, by=reviewer)
    annotation_review(annotation=odd, reviewer=reviewer, action="accept", expected_version=1)
    (row,) = [c for c in project_agreement(project)["clips"] if c["id"] == clip.pk]
    assert row["needs_adjudication"] and not row["settled"]


def test_the_queue_filters_by_annotator_label_and_adjudication_and_next_keeps_them(
    client_for, project, reviewer, annotator, make_user, clip
):
    """A reviewer takes one annotator's work, or one label's (its kinds included, on the clip
    or a segment), or the adjudications alone; the pages carry the filter to Review, the
    pager and Next in queue; a name or label the project does not know is a 400 saying so."""
    from labelapp.services.projects import membership_set

    other = make_user("otto-annotator")
    membership_set(project=project, user=other, role="annotator")
    clips = [clip] + [_ready_clip(project, f"c{i}.wav") for i in range(3)]
    robin = annotation_submit(clip=clips[0], user=annotator, clip_labels=["birds/robin"])
    noise = annotation_submit(clip=clips[1], user=annotator, clip_labels=["noise"])
    crow_seg = annotation_submit(
        clip=clips[2], user=other, segments=[{"start": 1, "end": 2, "labels": ["birds/crow"]}]
    )
    otto_noise = annotation_submit(clip=clips[3], user=other, clip_labels=["noise"])
    client = client_for(reviewer)
    url = f"/api/projects/{project.pk}/review-queue/"

    def ids(**params):
        res = client.get(url, params)
        assert res.status_code == 200, res.content
        return [r["id"] for r in res.json()["results"]]

    assert ids() == [robin.pk, noise.pk, crow_seg.pk, otto_noise.pk]
    assert ids(annotator="otto-annotator") == [crow_seg.pk, otto_noise.pk]
    assert ids(label="Birds") == [robin.pk, crow_seg.pk]  # its kinds, a segment's too
    assert ids(label="birds/crow", annotator=annotator.username) == []
    assert ids(annotator="OTTO-annotator") == [crow_seg.pk, otto_noise.pk]  # case aside
    from ontology.models import Label
    from ontology.services import label_rename

    label_rename(
        label=Label.objects.get(ontology=project.ontology, path="birds/crow"), name="raven"
    )
    assert ids(label="birds/crow") == [crow_seg.pk]  # its path before the rename
    assert ids(label="birds/raven") == [crow_seg.pk]
    client.post(f"/api/clips/{clips[1].pk}/adjudication/")
    assert ids(adjudication="true") == [noise.pk]
    assert ids(adjudication="false", label="noise") == [otto_noise.pk]
    unknown = client.get(url, {"annotator": "nobody"})
    assert unknown.status_code == 400 and "nobody" in unknown.json()["detail"]
    assert client.get(url, {"label": "birds/owl"}).json()["code"] == "no_label"

    from django.test import Client

    client = Client()
    client.force_login(reviewer)
    page = client.get(f"/projects/{project.pk}/review/", {"annotator": "otto-annotator"})
    text = page.content.decode()
    assert page.status_code == 200 and "2 annotations waiting (filtered)" in text
    assert f'href="/clips/{clips[2].pk}/review/?annotator=otto-annotator"' in text
    assert 'value="otto-annotator" selected' in text
    review_page = client.get(
        f"/clips/{clips[2].pk}/review/", {"annotator": "otto-annotator"}
    ).content.decode()
    assert f'href="/clips/{clips[3].pk}/review/?annotator=otto-annotator"' in review_page
    # Unfiltered, the next clip after the third is the fourth as well, but from the fourth
    # the filtered queue goes round to the third, not to the annotator's first clip.
    last = client.get(f"/clips/{clips[3].pk}/review/", {"annotator": "otto-annotator"})
    assert f'href="/clips/{clips[2].pk}/review/?annotator=otto-annotator"' in last.content.decode()
    bad = client.get(f"/projects/{project.pk}/review/", {"label": "birds/owl"})
    assert bad.status_code == 400
    assert "no label &#x27;birds/owl&#x27;" in bad.content.decode()
    assert 'value="birds/owl"' in bad.content.decode()  # kept in the form to be fixed
    both = client.get(f"/projects/{project.pk}/review/", {"label": "x/y", "adjudication": "false"})
    assert '<option value="false" selected>' in both.content.decode()
    assert "4 annotations waiting<" in bad.content.decode()


def test_sending_to_adjudication_taking_it_off_and_settling_are_in_the_clips_history(
    client_for, project, reviewer, lead, annotator, clip, submitted
):
    """They left no trace: who sent a clip to adjudication, who took it off, and whose
    decision settled it are history rows (reviewers and leads see them; an annotator, whose
    history is their own annotations, does not)."""
    from django.test import Client

    annotation_review(annotation=submitted, reviewer=reviewer, action="accept", expected_version=1)
    url = f"/api/clips/{clip.pk}/adjudication/"
    assert client_for(lead).post(url).status_code == 200
    assert client_for(lead).post(url).status_code == 200  # sent twice: one row
    assert client_for(reviewer).delete(url).status_code == 200
    assert client_for(lead).post(url).status_code == 200
    review(client_for(lead), submitted, action="reject", comment="a crow", expected_version=2)
    history = client_for(reviewer).get(f"/api/clips/{clip.pk}/history/").json()
    assert [(h["kind"], h["action"], h["author"]) for h in history] == [
        ("revision", "submitted", annotator.username),
        ("revision", "accept", reviewer.username),
        ("clip", "adjudicate", lead.username),
        ("clip", "adjudicate-off", reviewer.username),
        ("clip", "adjudicate", lead.username),
        ("revision", "reject", lead.username),
        ("clip", "adjudicated", lead.username),
    ]
    assert history[2]["annotation"] is None and history[2]["version"] is None
    mine = client_for(annotator).get(f"/api/clips/{clip.pk}/history/").json()
    assert [h["kind"] for h in mine] == ["revision"] * 3
    page = Client()
    page.force_login(reviewer)
    text = page.get(f"/clips/{clip.pk}/history/").content.decode()
    assert text.count('class="rv-clip-event"') == 4
    assert "adjudication settled" in text and "taken off adjudication" in text


def test_the_clip_review_page_says_what_the_training_takes_of_the_clip(
    project, reviewer, annotator, lead, clip, make_user
):
    """Nowhere but the manifest showed a clip's final label: the review page says it, as
    the training and the manifest read it (a tie and an adjudication take nothing)."""
    from django.test import Client

    from labelapp.services.projects import membership_set

    project.label_mode = "single"
    project.save()
    page = Client()
    page.force_login(reviewer)

    def outcome() -> str:
        html = page.get(f"/clips/{clip.pk}/review/").content.decode()
        start = html.index('data-testid="clip-outcome"')
        return " ".join(html[start : html.index("</p>", start)].split())

    assert "<strong>nothing</strong>" in outcome() and "no submitted or accepted" in outcome()
    mine = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    assert "birds/robin</strong>" in outcome() and "from 1 answer)" in outcome()
    annotation_submit(clip=clip, user=lead, clip_labels=["birds/crow"])
    assert "<strong>nothing</strong>" in outcome() and "the answers tie" in outcome()
    third = make_user("third")
    membership_set(project=project, user=third, role="annotator")
    annotation_submit(clip=clip, user=third, clip_labels=["birds/robin"])
    assert "birds/robin</strong>" in outcome() and "from 2 of 3 answers)" in outcome()
    annotation_review(annotation=mine, reviewer=reviewer, action="accept", expected_version=1)
    assert "birds/robin</strong>" in outcome() and "from 1 accepted answer)" in outcome()
    Clip.objects.filter(pk=clip.pk).update(needs_adjudication=True)
    assert "sent to adjudication" in outcome() and "<strong>nothing</strong>" in outcome()
    # what is left before it is settled: the two answers not decided yet
    assert "until every answer has a decision; 2 answers still wait" in outcome()
    for a in Annotation.objects.filter(clip=clip, status="submitted"):
        annotation_review(
            annotation=a, reviewer=reviewer, action="accept", expected_version=a.version
        )
    Clip.objects.filter(pk=clip.pk).update(needs_adjudication=True)  # sent once all are decided
    assert "decides on one of its answers again" in outcome() and "))" not in outcome()


def test_an_annotator_filter_matching_two_names_by_case_says_so(
    client_for, project, reviewer, make_user, clip
):
    from labelapp.services.projects import membership_set

    other = _ready_clip(project, "b.wav")
    for name, c in (("bob", clip), ("Bob", other)):
        user = make_user(name)
        membership_set(project=project, user=user, role="annotator")
        annotation_submit(clip=c, user=user, clip_labels=["noise"])
    url = f"/api/projects/{project.pk}/review-queue/"
    res = client_for(reviewer).get(url, {"annotator": "BOB"})
    assert res.status_code == 400 and res.json()["code"] == "ambiguous_annotator"
    assert "Bob, bob" in res.json()["detail"]
    assert len(client_for(reviewer).get(url, {"annotator": "Bob"}).json()["results"]) == 1


def test_a_corrected_annotations_card_says_corrected(project, clip, annotator, reviewer):
    """Its card said "accepted", as if the annotator's labels had been taken."""
    from django.test import Client

    mine = annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    page = Client()
    page.force_login(reviewer)

    def status() -> str:
        html = page.get(f"/clips/{clip.pk}/review/").content.decode()
        start = html.index('data-testid="annotation-status">') + len(
            'data-testid="annotation-status">'
        )
        return html[start : html.index("</span>", start)]

    annotation_review(annotation=mine, reviewer=reviewer, action="accept", expected_version=1)
    assert status() == "accepted"
    annotation_review(
        annotation=mine,
        reviewer=reviewer,
        action="correct",
        clip_labels=["birds/crow"],
        expected_version=Annotation.objects.get(pk=mine.pk).version,
    )
    assert status() == "accepted · corrected"
