"""The annotation workspace's API: the queue (order, locks, overlap), submissions (409 on
stale writes, feedback on suggestions, the ML hook), skips, drafts and the OpenAPI bodies."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from labelapp.models import Annotation, AnnotationDraft, Clip, ClipAssignment
from labelapp.services.annotations import annotation_input_build, annotation_save
from labelapp.services.queue import clip_next_claim
from ontology.services import label_create
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


@pytest.fixture
def labels(project):
    birds = label_create(ontology=project.ontology, name="birds")
    sparrow = label_create(ontology=project.ontology, name="sparrow", parent=birds, hotkey="s")
    crow = label_create(ontology=project.ontology, name="crow", parent=birds, hotkey="c")
    noise = label_create(ontology=project.ontology, name="noise", hotkey="n")
    return {"birds": birds, "sparrow": sparrow, "crow": crow, "noise": noise}


def correct(client, annotation_id: int, clip_labels: list[str], comment: str, version: int = 1):
    """A reviewer's correction of version `version` of an annotation."""
    body = {"action": "correct", "clip_labels": clip_labels, "expected_version": version}
    return client.post(
        f"/api/annotations/{annotation_id}/review/", {**body, "comment": comment}, format="json"
    )


def next_clip(client, project):
    return client.post(f"/api/projects/{project.pk}/next/")


def submit(client, clip, **body):
    return client.post(f"/api/clips/{clip.pk}/annotations/", body, format="json")


def test_next_hands_out_clips_in_priority_then_import_order(client_for, annotator, project):
    a, b, c = ready_clips(project, 3)
    Clip.objects.filter(pk=b.pk).update(priority=0.9)
    Clip.objects.create(
        project=project, file="p.wav", sha256="f" * 64, original_name="p.wav", status="pending"
    )
    response = next_clip(client_for(annotator), project)
    assert response.status_code == 200
    assert response.json()["clip"]["id"] == b.pk
    lock = ClipAssignment.objects.get(user=annotator)
    assert lock.clip_id == b.pk and lock.expires_at > timezone.now() + timedelta(seconds=800)


def test_asking_again_returns_the_clip_you_hold(client_for, annotator, project):
    ready_clips(project, 2)
    client = client_for(annotator)
    first = next_clip(client, project).json()["clip"]["id"]
    assert next_clip(client, project).json()["clip"]["id"] == first
    assert ClipAssignment.objects.filter(user=annotator).count() == 1


def test_two_annotators_never_share_a_clip(client_for, annotator, make_user, project):
    from labelapp.services.projects import membership_set

    other = make_user("bob-annotator")
    membership_set(project=project, user=other, role="annotator")
    a, b = ready_clips(project, 2)
    got = {next_clip(client_for(u), project).json()["clip"]["id"] for u in (annotator, other)}
    assert got == {a.pk, b.pk}
    third = make_user("cy")
    membership_set(project=project, user=third, role="annotator")
    assert next_clip(client_for(third), project).status_code == 204


def test_an_expired_lock_frees_the_clip(client_for, annotator, reviewer, project):
    (clip,) = ready_clips(project, 1)
    assert next_clip(client_for(annotator), project).json()["clip"]["id"] == clip.pk
    assert next_clip(client_for(reviewer), project).status_code == 204
    ClipAssignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_clip(client_for(reviewer), project).json()["clip"]["id"] == clip.pk


def test_the_project_lock_time_is_used(client_for, annotator, project):
    project.lock_seconds = 60
    project.save()
    ready_clips(project, 1)
    next_clip(client_for(annotator), project)
    expires = ClipAssignment.objects.get().expires_at
    assert timezone.now() + timedelta(seconds=50) < expires < timezone.now() + timedelta(seconds=61)


def test_overlap_hands_a_clip_to_as_many_annotators_as_wanted(
    client_for, annotator, reviewer, lead, project, labels
):
    project.annotations_per_clip = 2
    project.save()
    (clip,) = ready_clips(project, 1)
    assert next_clip(client_for(annotator), project).json()["clip"]["id"] == clip.pk
    assert next_clip(client_for(reviewer), project).json()["clip"]["id"] == clip.pk
    assert next_clip(client_for(lead), project).status_code == 204
    # one submits: the clip still wants one annotation, which the reviewer holds
    assert submit(client_for(annotator), clip, clip_labels=["birds/crow"]).status_code == 201
    assert next_clip(client_for(lead), project).status_code == 204
    assert submit(client_for(reviewer), clip, clip_labels=["noise"]).status_code == 201
    assert Clip.objects.get(pk=clip.pk).annotation_count == 2
    assert next_clip(client_for(lead), project).status_code == 204


def test_a_clip_you_annotated_or_skipped_does_not_come_back(client_for, annotator, project, labels):
    a, b, c = ready_clips(project, 3)
    client = client_for(annotator)
    assert next_clip(client, project).json()["clip"]["id"] == a.pk
    assert submit(client, a, clip_labels=["noise"]).status_code == 201
    assert next_clip(client, project).json()["clip"]["id"] == b.pk
    response = client.post(f"/api/clips/{b.pk}/skip/", {"claim_next": True}, format="json")
    assert response.json()["next"]["clip"]["id"] == c.pk
    assert Annotation.objects.get(clip=b).status == "skipped"
    assert Clip.objects.get(pk=b.pk).annotation_count == 0
    assert submit(client, c, clip_labels=["noise"], claim_next=True).json()["next"] is None
    assert next_clip(client, project).status_code == 204


def test_outsiders_get_404_from_the_queue_and_the_clip(client_for, outsider, project):
    (clip,) = ready_clips(project, 1)
    assert next_clip(client_for(outsider), project).status_code == 404
    assert submit(client_for(outsider), clip, clip_labels=["x"]).status_code == 404
    assert client_for(outsider).get(f"/api/clips/{clip.pk}/workspace/").status_code == 404
    assert client_for().post(f"/api/projects/{project.pk}/next/").status_code in (401, 403)


def test_submit_saves_labels_and_segments_snapped_to_10_ms(client_for, annotator, project, labels):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    next_clip(client, project)
    response = submit(
        client,
        clip,
        clip_labels=["noise"],
        segments=[
            {"start": 1.234, "end": 2.5061, "labels": ["birds/sparrow"]},
            {"start": 2.0, "end": 3.0, "labels": ["birds/crow", "birds/sparrow"]},
        ],
        expected_version=0,
        lead_time=12.5,
    )
    assert response.status_code == 201, response.json()
    body = response.json()["annotation"]
    assert body["version"] == 1 and body["clip_labels"] == ["noise"]
    assert [(s["start"], s["end"]) for s in body["segments"]] == [(1.23, 2.51), (2.0, 3.0)]
    assert body["lead_time"] == 12.5
    assert not ClipAssignment.objects.exists()
    listed = client.get(f"/api/clips/{clip.pk}/annotations/").json()
    assert sorted(listed[0]["segments"][1]["labels"]) == ["birds/crow", "birds/sparrow"]


def test_the_same_segment_sent_twice_is_stored_once(client_for, annotator, project, labels):
    """5,000 copies of one segment were stored and exported 5,000 times."""
    (clip,) = ready_clips(project, 1)
    same = {"start": 1.0, "end": 1.5, "labels": ["birds/crow"]}
    response = submit(
        client_for(annotator),
        clip,
        segments=[
            same,
            {**same, "start": 1.001},  # snaps to the same 10 ms
            {**same, "labels": ["birds", "birds/crow"]},  # the parent is implied
            {**same, "channel": 0},  # another channel: another segment
            {**same, "labels": ["noise"]},  # another label: another segment
        ]
        * 100,
    )
    assert response.status_code == 201, response.json()
    segments = response.json()["annotation"]["segments"]
    # A multi-label project: one span's labels are one segment's ("Accept all" made one a
    # label, and a label merge then left two identical segments).
    assert [(s["channel"], sorted(s["labels"])) for s in segments] == [
        (None, ["birds/crow", "noise"]),
        (0, ["birds/crow"]),
    ]
    # Single-label: a segment a label, one of each.
    project.label_mode = "single"
    project.save()
    (other,) = ready_clips(project, 1, offset=1)
    single = submit(
        client_for(annotator), other, segments=[same, same, {**same, "labels": ["noise"]}]
    )
    assert single.status_code == 201, single.json()
    assert [s["labels"] for s in single.json()["annotation"]["segments"]] == [
        ["birds/crow"],
        ["noise"],
    ]


def test_a_label_is_chosen_by_its_id_as_a_json_number(client_for, annotator, project, labels):
    """As the API says: paths or ids. A number is an id; text is a path or name, even "7"."""
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    sparrow, noise = labels["sparrow"], labels["noise"]
    by_id = submit(
        client,
        clip,
        clip_labels=[noise.pk],
        segments=[{"start": 1, "end": 2, "labels": [sparrow.pk]}],
    )
    assert by_id.status_code == 201, by_id.json()
    body = by_id.json()["annotation"]
    assert body["clip_labels"] == ["noise"] and body["segments"][0]["labels"] == ["birds/sparrow"]
    as_text = submit(client, clip, clip_labels=[str(noise.pk)], expected_version=1)
    assert as_text.status_code == 400 and f"'{noise.pk}'" in as_text.json()["detail"]
    wrong = submit(client, clip, clip_labels=[{"id": 1}], expected_version=1)
    assert wrong.status_code == 400
    assert wrong.json()["detail"].endswith("A label path (text) or id (integer) is required.")


def test_an_empty_submission_is_refused_and_replaces_nothing(
    client_for, annotator, project, labels
):
    """As the workspace does: a submission with no label and no segment would replace the
    annotator's work with nothing."""
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    assert submit(client, clip, clip_labels=["noise"]).status_code == 201
    empty = submit(client, clip, clip_labels=[], segments=[], expected_version=1)
    assert empty.status_code == 400 and empty.json()["code"] == "empty"
    assert "skip it" in empty.json()["detail"]
    kept = Annotation.objects.get(clip=clip)
    assert kept.version == 1 and [c.label.path for c in kept.clip_labels.all()] == ["noise"]


def test_a_stale_save_gets_409_and_changes_nothing(client_for, annotator, project, labels):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    assert submit(client, clip, clip_labels=["noise"], expected_version=0).status_code == 201
    # a second tab, loaded before the first save, still thinks there is no annotation
    stale = submit(client, clip, clip_labels=["birds/crow"], expected_version=0)
    assert stale.status_code == 409
    assert stale.json()["code"] == "stale" and "reload" in stale.json()["detail"]
    ok = submit(client, clip, clip_labels=["birds/crow"], expected_version=1)
    assert ok.status_code == 200 and ok.json()["annotation"]["version"] == 2
    again = submit(client, clip, clip_labels=["noise"], expected_version=1)
    assert again.status_code == 409 and again.json()["current_version"] == 2
    assert Annotation.objects.get().clip_labels.get().label.path == "birds/crow"


def test_submit_checks_the_project_rules(client_for, annotator, project, labels):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    late = submit(
        client,
        clip,
        segments=[
            {"start": 1, "end": 2, "labels": ["noise"]},
            {"start": 9.5, "end": 12, "labels": ["noise"]},
        ],
    )
    assert late.status_code == 400
    assert late.json()["detail"].startswith("segment 2: end 12 s is past the clip's end (10 s)")
    bare = submit(client, clip, segments=[{"start": 1, "end": 2, "labels": []}])
    assert bare.status_code == 400 and "no label" in bare.json()["detail"]
    assert submit(client, clip, clip_labels=["nope"]).status_code == 400
    # A field the serializer rejects answers in the same shape: one `detail` naming the field.
    typed = submit(client, clip, segments=[{"start": "soon", "end": 2, "labels": ["noise"]}])
    body = typed.json()
    assert typed.status_code == 400 and body["code"] == "invalid"
    assert body["detail"] == "segments.0.start: A valid number is required."
    assert body["segments"] == {"0": {"start": ["A valid number is required."]}}
    # A number too large to snap to 10 ms is refused as out of the clip, not a 500.
    for huge in (1e308, -1e308, 1e12):
        far = submit(client, clip, segments=[{"start": 1, "end": huge, "labels": ["noise"]}])
        assert far.status_code == 400, huge
        assert far.json()["detail"] == "segment 1: start and end must be within the clip (seconds)"
    assert not Annotation.objects.exists()


def test_submit_records_suggestion_feedback_and_tells_the_ml_layer(
    client_for, annotator, project, labels, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    monkeypatch.setattr(
        "ml_backend.hooks.annotation_submitted", lambda project_id: calls.append(project_id)
    )
    (clip,) = ready_clips(project, 1)
    feedback = [
        {"kind": "clip", "label": "birds/crow", "score": 0.9, "action": "accepted"},
        {"kind": "segment", "label": "noise", "action": "rejected", "start": 1, "end": 2},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = submit(
            client_for(annotator), clip, clip_labels=["birds/crow"], suggestion_feedback=feedback
        )
    assert response.status_code == 201
    stored = Annotation.objects.get().suggestion_feedback
    assert [(f["label"], f["action"]) for f in stored] == [
        ("birds/crow", "accepted"),
        ("noise", "rejected"),
    ]
    assert calls == [project.pk]


def test_the_workspace_shows_the_model_suggestions(client_for, annotator, project, labels):
    from ml_backend.models import ModelVersion, Prediction

    (clip,) = ready_clips(project, 1)
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    Prediction.objects.create(
        clip=clip,
        model_version=version,
        clip_scores={str(labels["sparrow"].pk): 0.91, str(labels["noise"].pk): 0.2},
        segments=[
            {"start": 1.0, "end": 2.0, "channel": None, "label": labels["crow"].pk, "score": 0.7}
        ],
    )
    body = client_for(annotator).get(f"/api/clips/{clip.pk}/workspace/").json()
    assert body["suggestions"]["model_version"]["name"] == "v1"
    assert body["suggestions"]["clip_labels"] == [
        {"label": "birds/sparrow", "label_id": labels["sparrow"].pk, "score": 0.91}
    ]
    assert body["suggestions"]["segments"][0]["label"] == "birds/crow"
    assert body["annotation"] is None and body["draft"] is None

    # The label names come from the cached tree of the ontology's current version: a rename
    # shows at once, a deprecated label is no longer suggested.
    from ontology.services import label_deprecate, label_rename

    label_rename(label=labels["sparrow"], name="finch")
    label_deprecate(label=labels["crow"])
    body = client_for(annotator).get(f"/api/clips/{clip.pk}/workspace/").json()
    assert [s["label"] for s in body["suggestions"]["clip_labels"]] == ["birds/finch"]
    assert body["suggestions"]["segments"] == []


def test_a_leaf_split_into_kinds_stays_on_its_annotations_and_leaves_the_suggestions(
    client_for, annotator, reviewer, lead, project, labels
):
    """A leaves-only project's lead adds kinds under "birds/crow", used and learned by the
    model. The editor said only "Added ..."; the workspace's top suggestion was crow and its
    Accept all + Submit a 400; an unchanged resubmit, and a reviewer's correction keeping
    crow, were 400s. Now: a warning at the add, crow no longer suggested (nor by /ml/predict),
    kept where it was, refused where chosen anew."""
    from ml_backend.models import ModelVersion, Prediction

    project.leaves_only = True
    project.save(update_fields=["leaves_only"])
    first, second = ready_clips(project, 2)
    mine = client_for(annotator)
    made = submit(mine, first, clip_labels=["birds/crow"]).json()["annotation"]
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    Prediction.objects.create(
        clip=second, model_version=version, clip_scores={str(labels["crow"].pk): 0.97}
    )
    url = f"/api/projects/{project.pk}/ontology/labels/"
    added = client_for(lead).post(url, {"name": "carrion", "parent": labels["crow"].pk})
    assert added.status_code == 201, added.content
    (warning,) = added.json()["warnings"]
    assert (
        "birds/crow was a leaf in use (1 use): its annotations keep it" in warning
        and "no longer suggests" in warning
    )
    second_kind = client_for(lead).post(url, {"name": "hooded", "parent": labels["crow"].pk})
    assert second_kind.json()["warnings"] == []  # said once, at the first kind
    # a label moved under a used leaf: the same warning (drag and drop is a PATCH of parent)
    submit(mine, second, clip_labels=["noise"])
    moved = client_for(lead).patch(
        f"{url}{labels['sparrow'].pk}/", {"parent": labels["noise"].pk}, format="json"
    )
    assert moved.status_code == 200, moved.content
    assert "noise was a leaf in use (1 use)" in moved.json()["warnings"][0]
    Annotation.objects.filter(clip=second).delete()
    Clip.objects.filter(pk=second.pk).update(annotation_count=0)

    body = mine.get(f"/api/clips/{second.pk}/workspace/").json()
    assert body["suggestions"]["clip_labels"] == []
    # kept on the annotation that had it: an unchanged resubmit, a correction keeping it
    again = submit(mine, first, clip_labels=["birds/crow"], expected_version=1)
    assert again.status_code == 200, again.content
    kept = correct(client_for(reviewer), made["id"], ["birds/crow"], "crow it is")
    assert kept.status_code == 200, kept.content
    # chosen anew: refused, saying what to do
    fresh = submit(mine, second, clip_labels=["birds/crow"])
    assert fresh.status_code == 400 and fresh.json()["code"] == "not_leaf"
    assert "choose one of its kinds" in fresh.json()["detail"]


def test_the_same_labels_sent_again_after_a_rename_or_merge_change_nothing(
    client_for, annotator, lead, project, labels
):
    """Resubmitting what the annotation holds after a lead merged (or renamed) its label made
    a version 2 "−birds/sparrow +birds/crow" by the annotator, and an undo of the merge then
    kept it as an edit. Compared with today's paths, not the last revision's."""
    from labelapp.models import AnnotationRevision
    from ontology.merge import label_merge
    from ontology.services import label_rename

    first, second = ready_clips(project, 2)
    mine = client_for(annotator)
    a = submit(mine, first, clip_labels=["birds/sparrow"]).json()["annotation"]
    b = submit(mine, second, clip_labels=["noise"]).json()["annotation"]
    label_merge(source=labels["sparrow"], target=labels["crow"], user=lead)
    label_rename(label=labels["noise"], name="static")
    for clip, path, made in ((first, "birds/crow", a), (second, "static", b)):
        again = submit(mine, clip, clip_labels=[path], expected_version=1)
        assert again.status_code == 200 and again.json()["annotation"]["version"] == 1, path
        assert AnnotationRevision.objects.filter(annotation_id=made["id"]).count() == 1
    changed = submit(mine, second, clip_labels=["birds/crow"], expected_version=1)
    assert changed.json()["annotation"]["version"] == 2


def test_a_multi_label_model_suggests_the_deepest_label_not_its_ancestors_too(
    client_for, annotator, project, labels
):
    """A multi-label model scores "birds" at least as high as "birds/sparrow": both were
    suggested, as clip labels and as segments over the same sound, and Accept all stored
    each (a new user's 30 segments on one noise clip). A segment of the ancestor elsewhere,
    or on another channel, stays."""
    from ml_backend.models import ModelVersion, Prediction

    (clip,) = ready_clips(project, 1)
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    b, sp, n = labels["birds"].pk, labels["sparrow"].pk, labels["noise"].pk

    def seg(start, end, label, channel=None):
        return {"start": start, "end": end, "channel": channel, "label": label, "score": 0.8}

    Prediction.objects.create(
        clip=clip,
        model_version=version,
        clip_scores={str(b): 0.95, str(sp): 0.9, str(n): 0.6},
        segments=[
            seg(1.0, 2.0, b),
            seg(1.1, 2.0, sp),  # the same sound, deeper
            seg(5.0, 6.0, b),  # a bird nobody named deeper
            seg(1.0, 2.0, b, channel=1),  # another channel
        ],
    )
    body = client_for(annotator).get(f"/api/clips/{clip.pk}/workspace/").json()["suggestions"]
    assert [s["label"] for s in body["clip_labels"]] == ["birds/sparrow", "noise"]
    assert [(s["label"], s["start"], s["channel"]) for s in body["segments"]] == [
        ("birds/sparrow", 1.1, None),
        ("birds", 5.0, None),
        ("birds", 1.0, 1),
    ]


def test_drafts_autosave_renew_the_lock_and_go_away_on_submit(
    client_for, annotator, project, labels
):
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    next_clip(client, project)
    ClipAssignment.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    state = {"segments": [{"start": 1, "end": 2, "labels": []}], "clip_labels": []}
    response = client.put(
        f"/api/clips/{clip.pk}/draft/", {"data": state, "lead_time": 3}, format="json"
    )
    assert response.status_code == 200
    assert ClipAssignment.objects.get().expires_at > timezone.now() + timedelta(seconds=800)
    assert client.get(f"/api/clips/{clip.pk}/draft/").json()["data"] == state
    assert client.get(f"/api/clips/{clip.pk}/workspace/").json()["draft"]["data"] == state
    submit(client, clip, clip_labels=["noise"])
    assert not AnnotationDraft.objects.exists()
    assert client.get(f"/api/clips/{clip.pk}/draft/").status_code == 204


def test_a_skip_takes_the_draft_with_it_and_a_late_autosave_is_not_kept(
    client_for, annotator, project, labels
):
    """A skipped clip's draft came back with it as unsaved work on version 0, and its submit
    met the skip's version 1 as a 409; an autosave sent before a submit and landing after it
    did the same."""
    first, second = ready_clips(project, 2)
    client = client_for(annotator)
    state = {"segments": [{"start": 1, "end": 2, "labels": ["noise"]}], "clip_labels": []}
    draft = f"/api/clips/{first.pk}/draft/"
    assert client.put(draft, {"data": state, "base_version": 0}, format="json").status_code == 200
    assert client.post(f"/api/clips/{first.pk}/skip/", {}, format="json").status_code == 200
    assert client.get(draft).status_code == 204
    again = submit(client, first, clip_labels=["noise"], expected_version=1)
    assert again.status_code == 200, again.json()

    assert submit(client, second, clip_labels=["noise"]).status_code == 201  # version 1
    late = client.put(
        f"/api/clips/{second.pk}/draft/", {"data": state, "base_version": 0}, format="json"
    )
    assert late.status_code == 200  # answered (the client stops retrying), not kept
    assert late.json()["stored"] is False and late.json()["updated_at"] is None
    assert not AnnotationDraft.objects.filter(clip=second).exists()
    # a draft of the saved version is kept, as ever
    current = client.put(
        f"/api/clips/{second.pk}/draft/", {"data": state, "base_version": 1}, format="json"
    )
    assert current.status_code == 200 and AnnotationDraft.objects.filter(clip=second).exists()
    assert current.json()["stored"] is True
    # a field the draft does not take is a 400, as on every JSON input
    bogus = client.put(f"/api/clips/{second.pk}/draft/", {"data": state, "bogus": 1}, format="json")
    assert bogus.status_code == 400 and "unknown field(s) bogus" in str(bogus.json())


def test_the_schema_documents_the_bodies(client_for, annotator):
    schema = client_for(annotator).get("/api/schema/?format=json").json()
    post = schema["paths"]["/api/clips/{clip_id}/annotations/"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    assert {"clip_labels", "segments", "expected_version", "suggestion_feedback"} <= set(
        body["properties"]
    )
    nxt = schema["paths"]["/api/projects/{project_id}/next/"]["post"]["responses"]
    assert {"200", "204"} <= set(nxt)


def test_the_next_query_is_one_query_before_the_claim(
    annotator, project, django_assert_max_num_queries
):
    ready_clips(project, 50)
    # savepoint, held-lock probe, the candidate query, then the claim under the row lock
    # (drop expired locks, recount, insert), release
    with django_assert_max_num_queries(7):
        assert clip_next_claim(project=project, user=annotator) is not None


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_never_hand_out_one_clip_twice(project, make_user):
    from labelapp.services.projects import membership_set

    users = [make_user(f"racer{i}") for i in range(6)]
    for u in users:
        membership_set(project=project, user=u, role="annotator")
    ready_clips(project, 4)
    results, errors = [], []
    barrier = threading.Barrier(len(users))

    def claim(user):
        try:
            barrier.wait()
            clip = clip_next_claim(project=project, user=user)
            results.append(clip.pk if clip else None)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    handed = [r for r in results if r is not None]
    assert len(handed) == 4 and len(set(handed)) == 4
    assert results.count(None) == 2


def test_imported_annotations_count_towards_the_wanted_number(annotator, project, labels, lead):
    a, b = ready_clips(project, 2)
    data = annotation_input_build(project, a, clip_labels=["noise"])
    annotation_save(clip=a, user=lead, data=data, source="imported")
    assert clip_next_claim(project=project, user=annotator) == b


def test_a_clip_and_the_askers_role_come_in_one_query(
    annotator, lead, project, django_assert_num_queries
):
    from labelapp import selectors

    (clip,) = ready_clips(project, 1)
    with django_assert_num_queries(1):
        got = selectors.clip_for_user(annotator, clip.pk)
        assert got.project.ontology.pk == project.ontology_id  # joined, not fetched again
        assert selectors.role_in_project(annotator, got.project) == "annotator"
    with django_assert_num_queries(1):
        assert selectors.project_for_user(annotator, project.pk).ontology.pk
    # the role read with the row is the asker's only: another user's is asked for
    other = selectors.project_for_user(annotator, project.pk)
    with django_assert_num_queries(1):
        assert selectors.role_in_project(lead, other) == "lead"


def test_next_and_submit_stay_within_their_statement_budgets(
    client_for, annotator, project, labels, django_assert_max_num_queries
):
    from ml_backend.models import MLConfig

    ready_clips(project, 5)
    MLConfig.objects.get_or_create(project=project)
    client = client_for(annotator)
    # project + role; held-lock probe, candidate, recount, lock upsert; annotation, draft,
    # prediction (and the transaction's own statements)
    with django_assert_max_num_queries(10):
        clip_id = next_clip(client, project).json()["clip"]["id"]
    clip = Clip.objects.get(pk=clip_id)
    # clip + project + ontology + role; labels; the row lock read, annotation, label,
    # revision, count; draft and lock released; the retraining counter
    with django_assert_max_num_queries(11):
        answer = submit(client, clip, clip_labels=["noise"], expected_version=0)
    assert answer.status_code == 201
    assert answer.json()["annotation"]["clip_labels"] == ["noise"]


def test_a_json_body_over_the_upload_limit_gets_413_with_a_detail(
    client_for, annotator, project, labels, settings
):
    """Django refuses a non-file body over DATA_UPLOAD_MAX_MEMORY_SIZE while it is read; the
    API answers that as every other error, JSON with a detail, and saves nothing."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    response = submit(client, clip, clip_labels=["x" * 2000], expected_version=0)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "too_large"
    assert "over the 1000 bytes limit" in body["detail"], body["detail"]
    assert not Annotation.objects.filter(clip=clip).exists()


def test_a_segment_to_the_clips_end_ends_there_even_on_a_clip_under_10_ms(
    client_for, annotator, project, labels
):
    short, odd, long = ready_clips(project, 3)
    Clip.objects.filter(pk=short.pk).update(duration=0.005)
    Clip.objects.filter(pk=odd.pk).update(duration=3.004)
    Clip.objects.filter(pk=long.pk).update(duration=3600.0)
    client = client_for(annotator)
    res = submit(client, short, segments=[{"start": 0, "end": 0.005, "labels": ["noise"]}])
    assert res.status_code == 201, res.json()
    assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [(0.0, 0.005)]
    # What the workspace sends, snapped to 10 ms, ends at the clip's end too.
    res = submit(client, odd, segments=[{"start": 2.5, "end": 3.0, "labels": ["noise"]}])
    assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [(2.5, 3.004)]
    past = submit(client, odd, segments=[{"start": 2.5, "end": 3.02, "labels": ["noise"]}])
    assert past.status_code == 400 and "past the clip's end" in past.json()["detail"]
    # 6-9 ms past the end rounds to the next 10 ms, past the clip: 3.01 was stored and exported
    for end in (3.0101, 3.012):
        res = submit(client, odd, segments=[{"start": 2.5, "end": end, "labels": ["noise"]}])
        assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [
            (2.5, 3.004)
        ], end
    # Shorter than 10 ms: the 10 ms from its start (was refused, "end 0.1 must be after 0.1");
    # 0.135-0.145 rounded to nothing and 0.125-0.135 to 20 ms (float halves went both ways).
    for sent, kept in (
        ((0.1, 0.101), (0.1, 0.11)),
        ((0.0, 0.005), (0.0, 0.01)),
        ((0.135, 0.145), (0.14, 0.15)),
        ((0.125, 0.135), (0.13, 0.14)),
        ((1234.565, 1234.575), (1234.57, 1234.58)),
    ):
        clip = odd if sent[1] < 3 else long
        res = submit(
            client, clip, segments=[{"start": sent[0], "end": sent[1], "labels": ["noise"]}]
        )
        assert res.status_code in (200, 201), (sent, res.json())
        assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [kept]
    last = submit(client, odd, segments=[{"start": 3.0035, "end": 3.004, "labels": ["noise"]}])
    assert [(s["start"], s["end"]) for s in last.json()["annotation"]["segments"]] == [
        (2.99, 3.004)  # 10 ms at least at the end too
    ]
    # judged as sent: 3.0139 is within 10 ms of 3.004 (rounded, 3.01 + 0.01 was "past")
    res = submit(client, odd, segments=[{"start": 2.9, "end": 3.0139, "labels": ["noise"]}])
    assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [(2.9, 3.004)]
    # a call in the last 10 ms whose start rounds past the end: the clip's last 10 ms
    Clip.objects.filter(pk=odd.pk).update(duration=0.36875)
    res = submit(client, odd, segments=[{"start": 0.3665, "end": 0.36875, "labels": ["noise"]}])
    assert res.status_code in (200, 201), res.json()
    assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [
        (0.35, 0.36875)  # 10 ms at least: the step at or before 10 ms from the end
    ]
    # wholly before the clip: refused (it was stored as 0-0.01)
    res = submit(client, odd, segments=[{"start": -0.004, "end": -0.001, "labels": ["noise"]}])
    assert res.status_code == 400 and "from -0.004 to -0.001 s is before" in res.json()["detail"]
    # up to 10 ms before the start is the start, as past the end; 4.9 ms rounds to 0, not 10
    for sent, kept in (((-0.006, 0.2), (0.0, 0.2)), ((0.0049, 0.2), (0.0, 0.2))):
        res = submit(
            client, odd, segments=[{"start": sent[0], "end": sent[1], "labels": ["noise"]}]
        )
        assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [kept]
    res = submit(client, odd, segments=[{"start": -0.02, "end": 0.2, "labels": ["noise"]}])
    assert res.status_code == 400 and "start -0.02 s is before" in res.json()["detail"]
    # the last 10 ms of a clip off the 10 ms grid: 10 ms at least (it was 5.5 ms)
    Clip.objects.filter(pk=odd.pk).update(duration=0.3955)
    res = submit(client, odd, segments=[{"start": 0.3945, "end": 0.3954, "labels": ["noise"]}])
    assert [(s["start"], s["end"]) for s in res.json()["annotation"]["segments"]] == [
        (0.38, 0.3955)
    ]


def test_a_clip_with_many_segments_costs_the_same_statements_as_one_with_one(
    client_for, annotator, project, labels, django_assert_max_num_queries
):
    """Saving wrote two statements per segment and opening read one per segment: a clip of
    5,000 took 10,000 round trips to submit and 4-6 s before its workspace page came."""
    from labelapp.selectors import clip_workspace

    many, one = ready_clips(project, 2)
    Clip.objects.filter(pk__in=[many.pk, one.pk]).update(duration=600.0)
    client = client_for(annotator)
    segments = [{"start": i * 0.1, "end": i * 0.1 + 0.05, "labels": ["noise"]} for i in range(600)]

    def statements(clip, body) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as saved:
            assert submit(client, clip, **body).status_code == 201
        with CaptureQueriesContext(connection) as opened:
            clip_workspace(Clip.objects.get(pk=clip.pk), annotator)
        return len(saved), len(opened)

    (saved_many, opened_many) = statements(many, {"segments": segments})
    (saved_one, opened_one) = statements(one, {"segments": segments[:1]})
    assert opened_many == opened_one
    # SQLite takes 999 parameters a statement: the inserts go in a few batches, not a row each
    assert saved_many <= saved_one + 4, (saved_many, saved_one)
    assert Annotation.objects.get(clip=many).segments.count() == 600


def test_the_heartbeat_keeps_a_place_and_says_when_the_clip_filled_without_it(
    client_for, annotator, reviewer, project, labels
):
    """An annotator's lock lapsed while they listened (only drafts renewed it), the queue gave
    the clip to someone else, and the first annotator's workspace never knew. The heartbeat
    renews a held lock, takes a lapsed one back while the clip has room, and says `full`
    when it has none; an annotator with an annotation of the clip needs no place."""
    (clip,) = ready_clips(project, 1)
    mine, theirs = client_for(annotator), client_for(reviewer)
    url = f"/api/clips/{clip.pk}/lock/"
    assert next_clip(mine, project).json()["clip"]["id"] == clip.pk
    ClipAssignment.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    kept = mine.post(url).json()
    assert kept["held"] and not kept["full"] and kept["wanted"] == 1
    assert ClipAssignment.objects.get().expires_at > timezone.now() + timedelta(seconds=800)

    ClipAssignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert mine.post(url).json()["held"]  # lapsed, nobody took it: taken back
    assert next_clip(theirs, project).status_code == 204

    ClipAssignment.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert next_clip(theirs, project).json()["clip"]["id"] == clip.pk
    answer = mine.post(url).json()
    assert answer["full"] and not answer["held"] and answer["annotations"] == 0  # held, not done
    assert submit(theirs, clip, clip_labels=["birds/crow"]).status_code == 201
    assert mine.post(url).json()["full"]
    assert mine.post(url).json()["annotations"] == 1
    assert theirs.post(url).json() == {**answer, "full": False, "needed": False, "annotations": 1}
    # only looking: a place is said, not taken
    ClipAssignment.objects.all().delete()
    Annotation.objects.all().delete()
    Clip.objects.filter(pk=clip.pk).update(annotation_count=0)
    looked = mine.post(url, {"take": False}, format="json").json()
    assert not looked["held"] and not looked["full"] and not ClipAssignment.objects.exists()
    assert mine.post(url, {"take": "maybe"}, format="json").status_code == 400
    # a skip holds no place: skipped, then opened again, the clip's place is taken as any
    assert mine.post(f"/api/clips/{clip.pk}/skip/", {}, format="json").status_code == 200
    again = mine.post(url).json()
    assert again["needed"] and again["held"]


def test_a_submission_only_if_needed_is_refused_when_others_filled_the_clip(
    client_for, annotator, reviewer, lead, project, labels
):
    """Its place lapsed (or released) and others filled the clip: the workspace's submission
    (`only_if_needed`) is a 409 `clip_full` and writes nothing; a place still held, the
    annotator's own earlier annotation, or a submission without the flag saves."""
    first, second, third = ready_clips(project, 3)
    mine, theirs = client_for(annotator), client_for(reviewer)
    assert next_clip(mine, project).json()["clip"]["id"] == first.pk
    ClipAssignment.objects.filter(user=annotator).delete()
    assert submit(theirs, first, clip_labels=["birds/crow"]).status_code == 201
    refused = submit(mine, first, clip_labels=["birds/sparrow"], only_if_needed=True)
    assert refused.status_code == 409 and refused.json()["code"] == "clip_full"
    assert "has the annotation the project wants without yours" in refused.json()["detail"]
    assert not Annotation.objects.filter(clip=first, annotator=annotator).exists()
    # as one more, on purpose
    assert submit(mine, first, clip_labels=["birds/sparrow"]).status_code == 201
    # now theirs: an edit of it needs no place
    edited = submit(mine, first, clip_labels=["birds/crow"], only_if_needed=True)
    assert edited.status_code == 200
    # a place held: saved, though another annotator's annotation came meanwhile via the API
    assert next_clip(mine, project).json()["clip"]["id"] == second.pk
    assert submit(client_for(lead), second, clip_labels=["noise"]).status_code == 201
    held = submit(mine, second, clip_labels=["noise"], only_if_needed=True)
    assert held.status_code == 201
    # a clip another annotator only holds (no annotation yet): said as such, not as done
    ClipAssignment.objects.all().delete()
    assert next_clip(theirs, project).json()["clip"]["id"] == third.pk
    waiting = submit(mine, third, clip_labels=["noise"], only_if_needed=True)
    assert waiting.status_code == 409
    assert "other annotators hold this clip's places (1 wanted, 0 done)" in waiting.json()["detail"]


def test_a_stale_save_after_a_correction_says_corrected_and_quotes_the_comment(
    client_for, annotator, reviewer, project, labels
):
    """ "reviewer accepted (or corrected) this annotation": the comment came only after "Save
    mine over it" met a second refusal; a rejection's first message already quoted it."""
    (clip,) = ready_clips(project, 1)
    mine = client_for(annotator)
    made = submit(mine, clip, clip_labels=["noise"]).json()["annotation"]
    corrected = correct(client_for(reviewer), made["id"], ["birds/sparrow"], "it's a sparrow")
    assert corrected.status_code == 200, corrected.content
    stale = submit(mine, clip, clip_labels=["birds/crow"], expected_version=1)
    assert stale.status_code == 409
    detail = stale.json()["detail"]
    assert "rita-reviewer corrected this annotation while you had it open: “it's a sparrow”" in (
        detail
    )
    assert stale.json()["review_comment"] == "it's a sparrow"
    accepted = client_for(reviewer).post(
        f"/api/annotations/{made['id']}/review/",
        {"action": "accept", "expected_version": 2},
        format="json",
    )
    assert accepted.status_code == 200, accepted.content
    again = submit(mine, clip, clip_labels=["birds/crow"], expected_version=1).json()["detail"]
    assert "rita-reviewer accepted this annotation while you had it open" in again


def test_a_change_to_an_accepted_annotation_needs_replace_reviewed(
    client_for, annotator, reviewer, project, labels
):
    """A reviewer's correction was overwritten without a word when its annotator opened the
    clip again and submitted. Now: 409 `reviewed` naming the reviewer; the same labels again
    change nothing (still accepted); with replace_reviewed the change goes back to review."""
    (clip,) = ready_clips(project, 1)
    mine = client_for(annotator)
    first = submit(mine, clip, clip_labels=["birds/crow"]).json()["annotation"]
    review = client_for(reviewer).post(
        f"/api/annotations/{first['id']}/review/",
        {"action": "correct", "clip_labels": ["birds/sparrow"], "expected_version": 1},
        format="json",
    )
    assert review.status_code == 200, review.content
    version = review.json()["version"]
    res = submit(mine, clip, clip_labels=["birds/crow"], expected_version=version)
    assert res.status_code == 409 and res.json()["code"] == "reviewed"
    assert "rita-reviewer corrected this annotation" in res.json()["detail"]
    again = submit(mine, clip, clip_labels=["birds/sparrow"], expected_version=version)
    assert again.status_code == 200
    assert again.json()["annotation"]["status"] == "accepted"
    assert again.json()["annotation"]["version"] == version
    res = submit(
        mine, clip, clip_labels=["birds/crow"], expected_version=version, replace_reviewed=True
    )
    assert res.status_code == 200, res.content
    body = res.json()["annotation"]
    assert body["status"] == "submitted" and body["clip_labels"] == ["birds/crow"]


def test_the_same_labels_sent_again_change_nothing_with_or_without_a_version(
    client_for, annotator, project, labels
):
    """Without expected_version the same labels made a new version with an empty revision
    (an accepted annotation went back to review), and at version 1 the no-op answered 201."""
    from labelapp.models import AnnotationRevision

    clip = ready_clips(project, 1)[0]
    client = client_for(annotator)
    first = submit(client, clip, clip_labels=["birds/crow"])
    assert first.status_code == 201
    for body in ({}, {"expected_version": 1}, {"expected_version": 0}):
        again = submit(client, clip, clip_labels=["birds/crow"], **body)
        assert again.status_code == 200, (body, again.json())
        assert again.json()["annotation"]["version"] == 1
    assert AnnotationRevision.objects.filter(annotation__clip=clip).count() == 1
    Annotation.objects.filter(clip=clip).update(status="accepted")
    submit(client, clip, clip_labels=["birds/crow"])
    assert Annotation.objects.get(clip=clip).status == "accepted"  # not sent back to review
    changed = submit(client, clip, clip_labels=["noise"], replace_reviewed=True)
    assert changed.status_code == 200 and changed.json()["annotation"]["version"] == 2


def test_expected_version_of_an_annotation_never_saved_and_one_too_big(
    client_for, annotator, project, labels
):
    clip = ready_clips(project, 1)[0]
    client = client_for(annotator)
    none = submit(client, clip, clip_labels=["noise"], expected_version=3)
    assert (
        none.status_code == 409 and "you have no annotation of this clip" in none.json()["detail"]
    )
    huge = submit(client, clip, clip_labels=["noise"], expected_version=10**30)
    assert huge.status_code == 400 and "expected_version" in huge.json()["detail"]
    assert not Annotation.objects.filter(clip=clip).exists()


def test_a_single_label_projects_segment_suggestions_carry_the_clips_label(
    client_for, annotator, project, labels
):
    """A clip suggested as "zero" came with "nine", "one" and "seven" segments from the frame
    outputs, and Accept all took them all."""
    from ml_backend.models import ModelVersion, Prediction

    project.label_mode = "single"
    project.save()
    (clip,) = ready_clips(project, 1)
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    seg = {"channel": None, "score": 0.7}
    Prediction.objects.create(
        clip=clip,
        model_version=version,
        clip_scores={str(labels["sparrow"].pk): 0.91, str(labels["crow"].pk): 0.05},
        segments=[
            {**seg, "start": 0.5, "end": 1.0, "label": labels["sparrow"].pk},
            {**seg, "start": 1.0, "end": 2.0, "label": labels["crow"].pk},
        ],
    )
    body = client_for(annotator).get(f"/api/clips/{clip.pk}/workspace/").json()
    assert [s["label"] for s in body["suggestions"]["segments"]] == ["birds/sparrow"]


@pytest.mark.parametrize(
    ("mode", "best", "suggested"),
    [("single", 0.35, True), ("single", 0.15, False), ("multi", 0.35, False)],
)
def test_a_single_label_models_clear_best_is_suggested_under_one_half(
    client_for, annotator, project, labels, mode, best, suggested
):
    """Ten labels share a single-label model's 1: a digit it is sure of scores 0.35 (3.5 times
    chance) and nothing was ever suggested. Its best is suggested from twice chance (0.2 here),
    a multi-label model's labels from 0.5 as before."""
    from ml_backend.models import ModelVersion, Prediction

    project.label_mode = mode
    project.save()
    more = [label_create(ontology=project.ontology, name=f"extra{i}") for i in range(6)]
    (clip,) = ready_clips(project, 1)
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    rest = (1 - best) / 9
    scores = {str(lab.pk): rest for lab in [*labels.values(), *more] if lab.name != "sparrow"}
    Prediction.objects.create(
        clip=clip,
        model_version=version,
        clip_scores={str(labels["sparrow"].pk): best, **scores},
        segments=[],
    )
    body = client_for(annotator).get(f"/api/clips/{clip.pk}/workspace/").json()
    shown = [(s["label"], s["score"]) for s in body["suggestions"]["clip_labels"]]
    assert shown == ([("birds/sparrow", best)] if suggested else [])


def test_a_draft_of_a_base_version_past_2_31_is_a_400(client_for, annotator, project):
    """2**63 was a 500; 2**31 was stored, then every submit of the restored draft refused."""
    (clip,) = ready_clips(project, 1)
    client = client_for(annotator)
    for big in (2**31, 2**63):
        res = client.put(
            f"/api/clips/{clip.pk}/draft/",
            {"data": {"segments": []}, "base_version": big},
            format="json",
        )
        assert res.status_code == 400 and "base_version" in res.json()["detail"], big
    assert not AnnotationDraft.objects.exists()


def test_one_member_holds_at_most_the_limit_and_the_queue_goes_on_for_others(
    client_for, annotator, reviewer, project, labels, settings
):
    """A lock sent for each of 305 clips held 301, and everyone else's queue said "nothing
    left" for as long as the locks were renewed."""
    settings.EARMARK_MAX_HELD_CLIPS = 3
    clips = ready_clips(project, 6)
    hog, other = client_for(annotator), client_for(reviewer)
    for clip in clips[:5]:
        assert hog.post(f"/api/clips/{clip.pk}/lock/").json()["held"]
    held = set(ClipAssignment.objects.filter(user=annotator).values_list("clip_id", flat=True))
    assert held == {c.pk for c in clips[2:5]}  # the newest three; the oldest went back
    got = {next_clip(other, project).json()["clip"]["id"]}
    assert got <= {clips[0].pk, clips[1].pk, clips[5].pk}
    # renewing a place it holds takes nothing from the others it holds
    assert hog.post(f"/api/clips/{clips[2].pk}/lock/").json()["held"]
    assert ClipAssignment.objects.filter(user=annotator).count() == 3
    # the clip at work, renewed by its heartbeat, is kept when another place is taken
    assert hog.post(f"/api/clips/{clips[5].pk}/lock/").json()["held"]
    held = set(ClipAssignment.objects.filter(user=annotator).values_list("clip_id", flat=True))
    assert clips[2].pk in held and clips[5].pk in held and len(held) == 3


def test_an_annotator_marks_a_clip_not_sure_with_a_note_for_the_reviewer(
    client_for, annotator, reviewer, project, labels, settings
):
    """Not sure, and a word to the reviewer: kept with the annotation (a new version when only
    they change, which gives a training nothing new), shown to the reviewer, filtered in their
    queue, exported; left out of a submission, they stay as they were."""
    from labelapp.services.review import review_queue

    clip, other = ready_clips(project, 2)
    client = client_for(annotator)
    res = submit(client, clip, clip_labels=["noise"], unsure=True, note="  a fox or a dog?  ")
    assert res.status_code == 201, res.content
    assert (res.json()["annotation"]["unsure"], res.json()["annotation"]["note"]) == (
        True,
        "a fox or a dog?",
    )
    submit(client, other, clip_labels=["noise"])
    ws = client.get(f"/api/clips/{clip.pk}/workspace/").json()["annotation"]
    assert ws["unsure"] is True and ws["note"] == "a fox or a dog?"

    # The labels as they were, only the doubt taken back: a new version, no new labels.
    res = submit(client, clip, clip_labels=["noise"], unsure=False, expected_version=1)
    saved = Annotation.objects.get(clip=clip, annotator=annotator)
    assert res.status_code == 200 and saved.version == 2 and not saved.unsure
    assert saved.note == "a fox or a dog?"  # not sent: as it was
    assert not getattr(saved, "labels_changed", False)
    assert saved.revisions.order_by("-version").first().data.get("note") == "a fox or a dog?"
    # Sent again as it is: nothing to save.
    submit(client, clip, clip_labels=["noise"], unsure=False, note="a fox or a dog?")
    assert Annotation.objects.get(pk=saved.pk).version == 2
    res = submit(client, clip, clip_labels=["noise"], note="x" * 2001, expected_version=2)
    assert res.status_code == 400 and "note" in res.json()["detail"]

    submit(client, clip, clip_labels=["noise"], unsure=True, expected_version=2)
    queue = review_queue(project, reviewer, unsure=True)
    assert [a.clip_id for a in queue] == [clip.pk]
    api = client_for(reviewer).get(f"/api/projects/{project.pk}/review-queue/?unsure=true").json()
    assert [a["clip"] for a in api["results"]] == [clip.pk]
    from django.test import Client

    browser = Client()
    browser.force_login(reviewer)
    page = browser.get(f"/projects/{project.pk}/review/?unsure=true")
    text = page.content.decode()
    assert page.status_code == 200 and "a fox or a dog?" in text and ">not sure<" in text
    assert other.original_name not in text
    review = browser.get(f"/clips/{clip.pk}/review/").content.decode()
    assert "“a fox or a dog?”" in review
    # The filter as the API reads it (yes, 1, false...), shown as applied.
    for given, shown in (("yes", "true"), ("false", "false")):
        text = browser.get(f"/projects/{project.pk}/review/?unsure={given}").content.decode()
        assert f'<option value="{shown}" selected>' in text
    assert (
        other.original_name
        in browser.get(f"/projects/{project.pk}/review/?unsure=false").content.decode()
    )
    # The history says what changed when only the doubt or the note did.
    history = browser.get(f"/clips/{clip.pk}/history/").content.decode()
    assert "no longer marked not sure" in history and "marked <strong>not sure</strong>" in history
    long = "x" * 2000
    submit(client, clip, clip_labels=["noise"], note=long, expected_version=3)
    queue = browser.get(f"/projects/{project.pk}/review/").content.decode()
    assert long not in queue and "x" * 150 in queue  # cut in the queue (its title has more)
