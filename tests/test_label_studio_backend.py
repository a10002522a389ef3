"""The Label Studio ML-backend endpoints, with the payloads Label Studio sends."""

from __future__ import annotations

import base64

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from ml_backend.models import ModelVersion, Prediction
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db

CONFIG = """<View>
  <Audio name="audio" value="$audio"/>
  <Choices name="kind" toName="audio"><Choice value="crow"/><Choice value="dog"/></Choices>
  <Labels name="events" toName="audio"><Label value="crow"/></Labels>
</View>"""


def _clip_row(project, name: str, content: str) -> Clip:
    """A ready clip's row (no audio behind it: the model's answers are stored ones)."""
    return Clip.objects.create(
        project=project,
        file=f"{content}.wav",
        sha256=content * 64,
        original_name=name,
        duration=10,
        sample_rate=16000,
        channels=1,
        status="ready",
    )


@pytest.fixture
def predicted_clip(project):
    crow, _ = label_get_or_create_path(ontology=project.ontology, path="bird/crow")
    dog, _ = label_get_or_create_path(ontology=project.ontology, path="dog")
    clip = _clip_row(project, "park.wav", "a")
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    Prediction.objects.create(
        clip=clip,
        model_version=version,
        clip_scores={str(crow.pk): 0.9, str(dog.pk): 0.2},
        segments=[{"start": 1.0, "end": 2.5, "channel": None, "label": crow.pk, "score": 0.8}],
        score=0.9,
    )
    return clip


def _predict_offering_dog(lead, project, clip) -> list[dict]:
    """/ml/predict's results for `clip` under CONFIG with "dog" among the segment labels."""
    config = CONFIG.replace('<Label value="crow"/>', '<Label value="crow"/><Label value="dog"/>')
    body = {"tasks": [{"id": 1, "data": {"earmark_clip_id": clip.pk}}], "label_config": config}
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", body, format="json"
    )
    return res.json()["results"][0]["result"]


def _basic(user, secret):
    client = APIClient()
    raw = base64.b64encode(f"{user.username}:{secret}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


@pytest.mark.parametrize("choice, expected", [("", ["crow"]), ('choice="multiple"', None)])
def test_a_single_choice_control_gets_one_choice(project, predicted_clip, lead, choice, expected):
    """A multi-label project behind a config whose Choices take one answer (Label Studio's
    default) was sent two, and Label Studio kept one of them."""
    from ml_backend.models import Prediction

    dog = label_get_or_create_path(ontology=project.ontology, path="dog")[0]
    crow = label_get_or_create_path(ontology=project.ontology, path="bird/crow")[0]
    Prediction.objects.filter(clip=predicted_clip).update(
        clip_scores={str(crow.pk): 0.9, str(dog.pk): 0.8}
    )
    config = CONFIG.replace('<Choices name="kind"', f'<Choices name="kind" {choice}')
    body = {"tasks": [{"id": 1, "data": {"earmark_clip_id": predicted_clip.pk}}]}
    res = APIClient()
    res.force_authenticate(lead)
    answer = res.post(f"/ml/{project.pk}/predict", {**body, "label_config": config}, format="json")
    (choices,) = [r for r in answer.json()["results"][0]["result"] if r["type"] == "choices"]
    assert choices["value"]["choices"] == (expected or ["crow", "dog"])


def test_health_answers_without_credentials(project):
    res = APIClient().get(f"/ml/{project.pk}/health")
    assert res.status_code == 200 and res.json()["status"] == "UP"


def test_setup_names_the_active_model_version(project, predicted_clip, annotator):
    res = _basic(annotator, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/setup", {"project": "3.1700000000", "schema": CONFIG}, format="json"
    )
    assert res.status_code == 200 and res.json() == {"model_version": "v1"}


def test_predict_returns_label_studio_results_per_task(project, predicted_clip, annotator):
    token = Token.objects.create(user=annotator)
    tasks = [
        {"id": 1, "data": {"audio": "/data/upload/3/5f1c2a-park.wav"}},
        {"id": 2, "data": {"audio": "/data/upload/3/unknown.wav"}},
    ]
    res = _basic(annotator, token.key).post(
        f"/ml/predict?project={project.pk}",
        {"tasks": tasks, "label_config": CONFIG, "project": "3.1700000000"},
        format="json",
    )
    assert res.status_code == 200
    first, second = res.json()["results"]
    assert first["model_version"] == "v1" and first["score"] == pytest.approx(0.9)
    choices = [r for r in first["result"] if r["type"] == "choices"][0]
    assert (choices["from_name"], choices["to_name"]) == ("kind", "audio")
    assert choices["value"]["choices"] == ["crow"]  # multi-label: only scores >= 0.5
    (segment,) = [r for r in first["result"] if r["type"] == "labels"]
    assert segment["from_name"] == "events"
    assert segment["value"] == {"start": 1.0, "end": 2.5, "labels": ["crow"]}
    assert {k: second[k] for k in ("result", "score", "model_version")} == {
        "result": [],
        "score": 0.0,
        "model_version": "v1",
    }
    assert "unknown.wav" in second["earmark_reason"]  # why no prediction, in the answer


def test_predict_refuses_outsiders_bad_bodies_and_projects_without_a_model(
    project, other_project, outsider, annotator, predicted_clip
):
    body = {"tasks": [], "label_config": CONFIG}
    client = _basic(outsider, "correct-horse-battery-staple")
    assert client.post(f"/ml/{project.pk}/predict", body, format="json").status_code == 404
    ours = _basic(annotator, "correct-horse-battery-staple")
    assert ours.post(f"/ml/{project.pk}/predict", {"tasks": "x"}, format="json").status_code == 400
    bad_xml = ours.post(
        f"/ml/{project.pk}/predict", {"tasks": [], "label_config": "<View"}, format="json"
    )
    assert bad_xml.status_code == 400 and "not valid XML" in bad_xml.json()["detail"]
    ModelVersion.objects.update(status="retired")
    assert ours.post(f"/ml/{project.pk}/predict", body, format="json").status_code == 409
    assert APIClient().post(f"/ml/{project.pk}/predict", body, format="json").status_code in (
        401,
        403,
    )


def test_webhook_counts_label_studio_annotations_from_a_lead_only(project, annotator, lead):
    from ml_backend.models import MLConfig
    from tests.conftest import ready_clips

    ready_clips(project, 3)  # a bulk event counts no more than the project has clips
    url = f"/ml/{project.pk}/webhook"
    client = _basic(lead, "correct-horse-battery-staple")
    res = client.post(url, {"action": "ANNOTATION_CREATED"}, format="json")
    assert res.status_code == 201
    assert MLConfig.objects.get(project=project).labels_since_training == 1
    # a bulk event (a list under "annotation", as Label Studio sends it) counts each one
    bulk = {"action": "ANNOTATIONS_CREATED", "annotation": [{"id": i} for i in range(3)]}
    res = client.post(url, bulk, format="json")
    assert res.status_code == 201 and res.json()["count"] == 3
    assert MLConfig.objects.get(project=project).labels_since_training == 4
    res = client.post(url, {"action": "PROJECT_UPDATED"}, format="json")
    assert res.json()["status"] == "ignored"
    # An annotator's calls would bring trainings nearer (or start them) at will.
    theirs = _basic(annotator, "correct-horse-battery-staple")
    for action in ("ANNOTATION_CREATED", "START_TRAINING"):
        assert theirs.post(url, {"action": action}, format="json").status_code == 403, action
    assert MLConfig.objects.get(project=project).labels_since_training == 4


def _event(action, clip, choices, *, ann_id=7, by=None, **extra):
    """A webhook body as Label Studio sends it for one annotation: `completed_by` is the
    Label Studio user's id (its webhook serializer gives ids, not objects)."""
    return {
        "action": action,
        "task": {
            "id": 40 + clip.pk,
            "data": {"audio": f"/data/upload/3/ab12cd-{clip.original_name}"},
        },
        "annotation": {
            "id": ann_id,
            "task": 40 + clip.pk,
            "completed_by": by if by is not None else 1,
            "lead_time": 12.5,
            "result": [
                {
                    "from_name": "kind",
                    "to_name": "audio",
                    "type": "choices",
                    "value": {"choices": choices},
                }
            ],
            **extra,
        },
        "project": {"id": 3},
    }


@pytest.fixture
def hook(project, lead, django_capture_on_commit_callbacks):
    """Posts to the project's webhook as Label Studio does (a lead's credentials), running
    what the worker runs after each answer (the count is taken on commit)."""
    for path in ("bird/crow", "dog"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    api = _basic(lead, "correct-horse-battery-staple")

    def post(body):
        with django_capture_on_commit_callbacks(execute=True):
            return api.post(f"/ml/{project.pk}/webhook", body, format="json")

    return post


def _since(project) -> int:
    from ml_backend.models import MLConfig

    return MLConfig.objects.get(project=project).labels_since_training


def _labels(annotation) -> list[str]:
    return [cl.label.path for cl in annotation.clip_labels.all()]


def test_label_studio_annotations_are_saved_per_annotator_and_train(project, annotator, lead, hook):
    """Annotations made in Label Studio counted towards a training that never saw them. Then,
    saved under the calling account, two Label Studio users' labels replaced each other's and
    the lead's own; ten identical updates started a training on unchanged data."""
    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    first, second = ready_clips(project, 2)
    mine = annotation_submit(clip=first, user=lead, clip_labels=["dog"])  # the lead's own work

    res = hook(_event("ANNOTATION_CREATED", first, ["crow"], ann_id=901, by=3))
    assert res.status_code == 201, res.content
    assert res.json()["status"] == "saved" and res.json()["annotator"] == "label-studio-3"
    theirs = Annotation.objects.get(clip=first, annotator__username="label-studio-3")
    assert _labels(theirs) == ["bird/crow"] and theirs.lead_time == 12.5
    assert (theirs.external_id, theirs.source) == ("label-studio:901", "imported")
    assert not theirs.annotator.has_usable_password()  # an account nobody signs in to
    count = _since(project)
    hook(_event("ANNOTATION_CREATED", first, ["dog"], ann_id=902, by=4))
    assert _labels(Annotation.objects.get(clip=first, annotator__username="label-studio-4")) == [
        "dog"
    ]
    assert _labels(theirs) == ["bird/crow"] and _labels(mine) == ["dog"]  # nobody overwritten
    assert _since(project) == count + 1
    for _ in range(3):  # the same labels again: nothing new to learn
        res = hook(_event("ANNOTATION_UPDATED", first, ["crow"], ann_id=901, by=3))
        assert res.json()["labels_changed"] is False
    assert _since(project) == count + 1
    hook(_event("ANNOTATION_UPDATED", first, ["dog"], ann_id=901, by=3))
    assert _labels(Annotation.objects.get(pk=theirs.pk)) == ["dog"] and _since(project) == count + 2
    # the annotator's email, when a payload gives it, names a member
    annotator.email = "ann@example.org"
    annotator.save(update_fields=["email"])
    by = {"id": 9, "email": "ANN@example.org"}
    hook(_event("ANNOTATION_CREATED", second, ["dog"], ann_id=903, by=by))
    assert Annotation.objects.get(clip=second).annotator == annotator
    # a cancelled (skipped) annotation is a skip
    res = hook(_event("ANNOTATION_UPDATED", second, [], ann_id=903, by=by, was_cancelled=True))
    assert res.json()["status"] == "skipped"


def test_bulk_created_deleted_and_cleared_annotations_follow_label_studio(project, hook):
    """Bulk ANNOTATIONS_CREATED was only counted; ANNOTATIONS_DELETED and an update that
    cleared every result left the labels training the model."""
    from labelapp.models import Annotation, Clip
    from tests.conftest import ready_clips

    clips = ready_clips(project, 3)
    events = [
        _event("ANNOTATION_CREATED", c, ["crow"], ann_id=910 + i, by=5) for i, c in enumerate(clips)
    ]
    bulk = {
        "action": "ANNOTATIONS_CREATED",
        "task": [e["task"] for e in events],
        "annotation": [e["annotation"] for e in events],
    }
    res = hook(bulk)
    assert res.status_code == 201, res.content
    assert [a["status"] for a in res.json()["annotations"]] == ["saved"] * 3
    assert Annotation.objects.filter(external_id__startswith="label-studio:91").count() == 3
    assert Clip.objects.get(pk=clips[0].pk).annotation_count == 1

    res = hook({"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 910}, {"id": 404}]})
    assert res.json() == {"status": "removed", "count": 1}
    assert not Annotation.objects.filter(clip=clips[0]).exists()
    assert Clip.objects.get(pk=clips[0].pk).annotation_count == 0

    cleared = _event("ANNOTATION_UPDATED", clips[1], [], ann_id=911, by=5)
    cleared["annotation"]["result"] = []
    assert hook(cleared).json()["status"] == "removed"
    assert not Annotation.objects.filter(clip=clips[1]).exists()
    assert Annotation.objects.filter(clip=clips[2]).exists()
    # each deletion is said in its clip's history, with what it held (it vanished unsaid)
    from labelapp.models import ClipEvent

    gone = {e.clip_id: e for e in ClipEvent.objects.filter(action="ann-deleted")}
    assert set(gone) == {clips[0].pk, clips[1].pk}
    assert "annotation in Label Studio (submitted: bird/crow, version 1)" in gone[clips[0].pk].note
    assert gone[clips[0].pk].author is not None  # whose credentials sent the event
    assert gone[clips[1].pk].data["clip_labels"] == ["bird/crow"]


def test_a_second_control_is_left_out_and_an_unknown_label_among_known_ones_is_a_400(project, hook):
    """A config with a "quality" Choices beside the labels lost every annotation: "unknown
    label 'noisy'"."""
    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    (clip,) = ready_clips(project, 1)
    event = _event("ANNOTATION_CREATED", clip, ["crow"], ann_id=920, by=6)
    event["annotation"]["result"].append(
        {"from_name": "quality", "type": "choices", "value": {"choices": ["noisy"]}}
    )
    event["annotation"]["result"].append(
        {"from_name": "stars", "type": "rating", "value": {"rating": 4}}
    )
    assert hook(event).status_code == 201
    assert _labels(Annotation.objects.get(clip=clip)) == ["bird/crow"]
    event = _event("ANNOTATION_UPDATED", clip, ["crow", "owl"], ann_id=920, by=6)
    res = hook(event)
    assert res.status_code == 400 and "unknown label 'owl'" in res.json()["detail"]
    assert _labels(Annotation.objects.get(clip=clip)) == ["bird/crow"]  # kept as it was


def test_an_event_for_no_clip_or_a_shared_name_is_ignored_and_says_why(
    project, predicted_clip, hook
):
    stray = _event("ANNOTATION_CREATED", predicted_clip, ["crow"])
    stray["task"]["data"]["audio"] = "/data/upload/3/ab12cd-elsewhere.wav"
    res = hook(stray)
    assert res.status_code == 200 and res.json()["status"] == "ignored"
    assert (
        "no clip of project" in res.json()["reason"] and "'elsewhere.wav'" in res.json()["reason"]
    )
    _clip_row(project, "park.wav", "b")
    res = hook(_event("ANNOTATION_CREATED", predicted_clip, ["crow"]))
    assert "more than one clip" in res.json()["reason"]
    res = hook({**_event("ANNOTATION_CREATED", predicted_clip, []), "annotation": 5})
    assert res.status_code == 400 and "'annotation' object" in res.json()["detail"]


def test_a_task_whose_audio_is_under_another_key_is_found(project, predicted_clip, hook):
    """A config's <Audio value="$url"> keeps the audio under "url": ignored before."""
    from labelapp.models import Annotation

    event = _event("ANNOTATION_CREATED", predicted_clip, ["crow"], ann_id=930, by=7)
    event["task"]["data"] = {"url": "/data/local-files/?d=site%2Fpark.wav", "site": "north"}
    assert hook(event).status_code == 201
    assert Annotation.objects.filter(clip=predicted_clip, external_id="label-studio:930").exists()
    # a value that is no URL at all among the data is passed over, not a 500
    event["task"]["data"] = {"url": "/data/upload/3/ab12cd-park.wav", "note": "http://[::1"}
    assert hook(event).status_code == 201


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("predict", {"tasks": [{"data": {"earmark_clip_id": "abc"}}]}, "earmark_clip_id"),
        ("predict", {"tasks": [{"data": {"earmark_clip_id": [1]}}]}, "earmark_clip_id"),
        ("predict", {"tasks": [{"data": {"earmark_clip_id": "\u00b2"}}]}, "earmark_clip_id"),
        ("predict", {"tasks": [{"data": {"earmark_clip_id": 1.5}}]}, "earmark_clip_id"),
        ("predict", {"tasks": [{"id": 7, "data": "x"}]}, "task 7: 'data' must be an object"),
        # urlparse raises on a broken IPv6 host: it was a 500
        ("predict", {"tasks": [{"id": 8, "data": {"audio": "http://[::1"}}]}, "task 8: 'audio'"),
        ("predict", {"tasks": [], "label_config": 5}, "labeling config must be its XML"),
        ("setup", {"schema": 5}, "labeling config must be its XML"),
        ("setup", {"schema": "<View><Choices"}, "schema is not valid XML"),
        ("predict", {"tasks": [], "label_config": "<View"}, "label_config is not valid XML"),
        ("setup", [1, 2], "expected a JSON object"),
        ("webhook", [1, 2], "expected a JSON object"),
    ],
)
def test_malformed_label_studio_payloads_are_400s_with_a_reason(
    project, predicted_clip, annotator, path, body, words
):
    client = _basic(annotator, "correct-horse-battery-staple")
    res = client.post(f"/ml/{project.pk}/{path}", body, format="json")
    assert res.status_code == 400 and words in res.json()["detail"], res.content


def test_params_that_are_not_an_object_leave_the_project_to_name(project, annotator):
    client = _basic(annotator, "correct-horse-battery-staple")
    res = client.post("/ml/setup", {"params": "x", "schema": CONFIG}, format="json")
    assert res.status_code == 400 and "name the Earmark project" in res.json()["detail"]


def test_predictions_answer_in_the_configs_words_and_skip_labels_merged_away(
    project, predicted_clip, annotator
):
    """Earmark's own Label Studio export offers full paths as values: the answer uses them.
    A label merged away since the version trained (its id still in the scores) is skipped."""
    config = CONFIG.replace('"crow"', '"bird/crow"')
    pred = Prediction.objects.get(clip=predicted_clip)
    pred.clip_scores = {**pred.clip_scores, "999999": 0.95}  # a label no longer in the ontology
    pred.save()
    client = _basic(annotator, "correct-horse-battery-staple")
    res = client.post(
        f"/ml/{project.pk}/predict",
        {"tasks": [{"data": {"earmark_clip_id": predicted_clip.pk}}], "label_config": config},
        format="json",
    )
    assert res.status_code == 200, res.content
    (first,) = res.json()["results"]
    choices = [r for r in first["result"] if r["type"] == "choices"][0]
    assert choices["value"]["choices"] == ["bird/crow"]
    (segment,) = [r for r in first["result"] if r["type"] == "labels"]
    assert segment["value"]["labels"] == ["bird/crow"]


def test_a_clip_id_may_come_as_a_number_a_string_or_an_integral_float(
    project, predicted_clip, annotator
):
    client = _basic(annotator, "correct-horse-battery-staple")
    for ref in (predicted_clip.pk, str(predicted_clip.pk), float(predicted_clip.pk)):
        res = client.post(
            f"/ml/{project.pk}/predict",
            {"tasks": [{"data": {"earmark_clip_id": ref}}], "label_config": CONFIG},
            format="json",
        )
        assert res.status_code == 200 and res.json()["results"][0]["result"], ref


def test_predict_answers_only_with_labels_the_config_offers_and_not_deprecated_ones(
    project, predicted_clip, annotator
):
    """A config whose Choices offer dog only and whose Labels offer nothing Earmark predicts:
    the answer named crow in both, which Label Studio cannot show. A deprecated label is left
    out as the workspace leaves it out. Without a config, the controls are named as in
    Earmark's own Label Studio export."""
    from ontology.models import Label
    from ontology.services import label_deprecate

    config = """<View><Audio name="audio" value="$audio"/>
      <Choices name="kind" toName="audio"><Choice value="dog"/></Choices>
      <Labels name="events" toName="audio"><Label value="owl"/></Labels></View>"""
    client = _basic(annotator, "correct-horse-battery-staple")
    tasks = [{"data": {"earmark_clip_id": predicted_clip.pk}}]
    url = f"/ml/{project.pk}/predict"
    pred = Prediction.objects.get(clip=predicted_clip)
    crow_id, dog_id = sorted(pred.clip_scores, key=lambda pk: -pred.clip_scores[pk])
    Prediction.objects.filter(pk=pred.pk).update(clip_scores={crow_id: 0.9, dog_id: 0.6})
    res = client.post(url, {"tasks": tasks, "label_config": config}, format="json")
    assert res.status_code == 200, res.content
    (result,) = res.json()["results"]
    assert [r["value"] for r in result["result"]] == [{"choices": ["dog"]}]  # no segment

    crow = Label.objects.get(ontology=project.ontology, path="bird/crow")
    label_deprecate(label=crow)
    res = client.post(url, {"tasks": tasks, "label_config": CONFIG}, format="json")
    (result,) = res.json()["results"]
    assert [r["value"] for r in result["result"]] == [{"choices": ["dog"]}]
    # and a label under a deprecated one, as the workspace leaves it out too
    label_deprecate(label=crow, deprecated=False)
    label_deprecate(label=Label.objects.get(ontology=project.ontology, path="bird"))
    res = client.post(url, {"tasks": tasks, "label_config": CONFIG}, format="json")
    (result,) = res.json()["results"]
    assert [r["value"] for r in result["result"]] == [{"choices": ["dog"]}]

    label_deprecate(
        label=Label.objects.get(ontology=project.ontology, path="bird"), deprecated=False
    )
    # a leaves-only project's label given kinds since the model learned it: not offered
    project.leaves_only = True
    project.save(update_fields=["leaves_only"])
    label_get_or_create_path(ontology=project.ontology, path="bird/crow/carrion")
    res = client.post(url, {"tasks": tasks, "label_config": CONFIG}, format="json")
    (result,) = res.json()["results"]
    assert [r["value"] for r in result["result"]] == [{"choices": ["dog"]}]
    project.leaves_only = False
    project.save(update_fields=["leaves_only"])
    res = client.post(url, {"tasks": tasks}, format="json")
    names = {(r["type"], r["from_name"]) for r in res.json()["results"][0]["result"]}
    assert names == {("choices", "clip_label"), ("labels", "label")}


def test_a_label_the_model_barely_scores_is_no_pre_annotation(project, predicted_clip, lead):
    """A config offering only dog, which the model scores 0.2 (crow 0.9): Label Studio showed
    "dog" pre-filled. Below the workspace's 0.5 there is no choice, as there is no
    suggestion; the segment the config offers is still given."""
    config = CONFIG.replace('<Choice value="crow"/>', "")
    body = {"tasks": [{"data": {"earmark_clip_id": predicted_clip.pk}}], "label_config": config}
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", body, format="json"
    )
    assert res.status_code == 200, res.content
    assert [r["type"] for r in res.json()["results"][0]["result"]] == ["labels"]


def test_two_recordings_of_one_name_get_no_prediction_rather_than_the_others(
    project, predicted_clip, lead
):
    """Recorders reuse names (REC001.WAV): a task for the second file got the first's
    prediction. Which clip it is cannot be told from the name: no pre-annotation."""
    _clip_row(project, "park.wav", "b")
    body = {
        "tasks": [{"data": {"audio": "/data/local-files/?d=b/park.wav"}}],
        "label_config": CONFIG,
    }
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", body, format="json"
    )
    (answer,) = res.json()["results"]
    assert (answer["result"], answer["score"]) == ([], 0.0)
    assert "more than one clip" in answer["earmark_reason"]


def test_a_multi_label_taxonomy_names_each_sure_label_at_its_depth(project, lead):
    """Only the top-level parent came back ([["even"]]): a parent scores at least as high
    as its children and only the first was taken."""
    ids = {}
    for path in ("even", "even/two", "even/four", "odd", "odd/three"):
        ids[path] = label_get_or_create_path(ontology=project.ontology, path=path)[0].pk
    clip = _clip_row(project, "m.wav", "c")
    version = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    scores = {"even": 0.97, "even/two": 0.9, "even/four": 0.7, "odd": 0.6, "odd/three": 0.2}
    Prediction.objects.create(
        clip=clip,
        model_version=version,
        clip_scores={str(ids[p]): s for p, s in scores.items()},
        score=0.97,
    )
    config = """<View><Audio name="audio" value="$audio"/>
      <Taxonomy name="tax" toName="audio"><Choice value="even"><Choice value="two"/>
      <Choice value="four"/></Choice><Choice value="odd"><Choice value="three"/></Choice>
      </Taxonomy></View>"""
    body = {"tasks": [{"data": {"earmark_clip_id": clip.pk}}], "label_config": config}
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", body, format="json"
    )
    (result,) = res.json()["results"][0]["result"]
    assert result["value"]["taxonomy"] == [["even", "two"], ["even", "four"], ["odd"]]
    # A Taxonomy that takes one path (maxUsages="1"): the best one.
    body["label_config"] = config.replace('toName="audio">', 'toName="audio" maxUsages="1">', 1)
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", body, format="json"
    )
    (result,) = res.json()["results"][0]["result"]
    assert result["value"]["taxonomy"] == [["even", "two"]]


def test_versions_unknown_routes_and_a_bulk_event_bounded_by_the_clips(
    project, predicted_clip, lead
):
    """Label Studio asks /versions (it was Django's HTML 404, as was any unknown route), and
    a bulk event of 100,000 ids started a training at once."""
    from ml_backend.models import MLConfig

    client = _basic(lead, "correct-horse-battery-staple")
    versions = client.get(f"/ml/{project.pk}/versions")
    assert versions.status_code == 200
    active = ModelVersion.objects.get(status="active")
    assert versions.json() == {"versions": [active.name], "active": active.name}
    for url in (f"/ml/{project.pk}/validate", f"/ml/{project.pk}/", "/ml/nope"):
        res = client.get(url)
        assert res.status_code == 404 and res["Content-Type"] == "application/json", url
        assert "no such ML-backend route" in res.json()["detail"]
    clips = project.clips.count()
    bulk = {"action": "ANNOTATIONS_CREATED", "annotation": list(range(100_000))}
    res = client.post(f"/ml/{project.pk}/webhook", bulk, format="json")
    assert res.json()["count"] == clips
    empty = client.post(f"/ml/{project.pk}/webhook", {**bulk, "annotation": []}, format="json")
    assert empty.json()["count"] == 0
    assert MLConfig.objects.get(project=project).labels_since_training == clips


def test_a_single_label_projects_predicted_segments_carry_the_clips_label(
    project, predicted_clip, lead
):
    """Label Studio got a "zero" clip choice with a "five" segment (the workspace already kept
    to the clip's label)."""
    from labelapp.models import Project

    Project.objects.filter(pk=project.pk).update(label_mode="single")
    pred = Prediction.objects.get(clip=predicted_clip)
    dog = project.ontology.labels.get(path="dog")
    pred.segments = [
        *pred.segments,
        {"start": 3, "end": 4, "channel": None, "label": dog.pk, "score": 0.95},
    ]
    pred.save()
    result = _predict_offering_dog(lead, project, predicted_clip)
    assert [r["value"]["labels"] for r in result if r["type"] == "labels"] == [["crow"]]


def test_single_label_suggestions_skip_a_label_merged_away_in_the_workspace_and_predict(
    project, predicted_clip, lead, annotator, client_for
):
    """The version scored "bird/crow" best, then a lead deprecated it: the workspace offered
    no label and none of the segments, /predict the next label; both now take the best label
    still offered, and its segments only."""
    from labelapp.models import Project
    from ontology.services import label_deprecate

    Project.objects.filter(pk=project.pk).update(label_mode="single", annotation_mode="both")
    pred = Prediction.objects.get(clip=predicted_clip)
    dog = project.ontology.labels.get(path="dog")
    crow = project.ontology.labels.get(path="bird/crow")
    pred.clip_scores = {str(crow.pk): 0.9, str(dog.pk): 0.6}
    pred.segments = [
        *pred.segments,
        {"start": 3, "end": 4, "channel": None, "label": dog.pk, "score": 0.95},
    ]
    pred.save()
    label_deprecate(label=crow)
    suggestions = client_for(annotator).get(f"/api/clips/{predicted_clip.pk}/workspace/").json()
    suggestions = suggestions["suggestions"]
    assert [s["label"] for s in suggestions["clip_labels"]] == ["dog"]
    assert [(s["label"], s["start"]) for s in suggestions["segments"]] == [("dog", 3.0)]
    result = _predict_offering_dog(lead, project, predicted_clip)
    assert [r["value"]["labels"] for r in result if r["type"] == "labels"] == [["dog"]]
    assert [r["value"]["choices"] for r in result if r["type"] == "choices"] == [["dog"]]


@pytest.mark.parametrize(("best", "chosen"), [(0.3, [["crow"]]), (0.15, [])])
def test_predict_offers_a_single_label_models_clear_best_under_one_half(
    project, predicted_clip, lead, best, chosen
):
    """As the workspace: ten labels share the model's 1, so its best at 0.3 (three times
    chance) is pre-filled; at 0.15 (under twice chance) nothing is, and the task says why."""
    from labelapp.models import Project

    Project.objects.filter(pk=project.pk).update(label_mode="single")
    more = [
        label_get_or_create_path(ontology=project.ontology, path=f"extra{i}")[0] for i in range(8)
    ]
    pred = Prediction.objects.get(clip=predicted_clip)
    crow = project.ontology.labels.get(path="bird/crow")
    dog = project.ontology.labels.get(path="dog")
    rest = (1 - best) / 9
    pred.clip_scores = {str(lab.pk): rest for lab in [dog, *more]} | {str(crow.pk): best}
    pred.segments = []
    pred.save()
    config = CONFIG.replace('<Label value="crow"/>', '<Label value="crow"/><Label value="dog"/>')
    body = {"tasks": [{"id": 1, "data": {"earmark_clip_id": predicted_clip.pk}}]}
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", {**body, "label_config": config}, format="json"
    )
    (answer,) = res.json()["results"]
    assert [r["value"]["choices"] for r in answer["result"] if r["type"] == "choices"] == chosen
    assert ("twice chance" in answer.get("earmark_reason", "")) == (not chosen)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"result": [{"type": "choices", "from_name": "kind", "value": "x"}]}, "not an object"),
        (
            {"result": [{"type": "choices", "from_name": "kind", "value": {"choices": {"a": 1}}}]},
            "'choices' is not a list",
        ),
        ({"completed_by": "x\u202eevil"}, "Label Studio user id"),
        ({"completed_by": "a\u0000b"}, "Label Studio user id"),
        ({"completed_by": 1.5}, "Label Studio user id"),
        ({"completed_by": ""}, "Label Studio user id"),
        ({"completed_by": {"id": "<script>"}}, "Label Studio user id"),
        ({"completed_by": {"email": "someone@example.org"}}, "'someone@example.org'"),
        ({"completed_by": {}}, "no email"),
    ],
)
def test_a_webhook_annotation_of_the_wrong_shape_is_a_400_and_makes_no_account(
    project, hook, change, words
):
    """A string `value` was a 500 (`'str' object has no attribute 'get'`); a `completed_by`
    of text made an account named with a NUL or a right-to-left override (which turned the
    review page's text around it), and 1.5 or "" filed the labels as the lead's own."""
    from django.contrib.auth import get_user_model

    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    (clip,) = ready_clips(project, 1)
    body = _event("ANNOTATION_CREATED", clip, ["crow"])
    body["annotation"].update(change)
    users = get_user_model().objects.count()
    res = hook(body)
    assert res.status_code == 400 and words in res.json()["detail"], res.content
    assert get_user_model().objects.count() == users
    assert not Annotation.objects.filter(clip=clip).exists()


def test_label_studio_names_given_as_one_string_are_that_name(project, hook):
    """`"choices": "crow"` read as the choices c, r, o, w (nothing saved, "no labels"); a
    taxonomy entry "dog" as d/o/g."""
    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    first, second = ready_clips(project, 2)
    body = _event("ANNOTATION_CREATED", first, "crow", ann_id=31, by=4)
    assert hook(body).status_code == 201
    body = _event("ANNOTATION_CREATED", second, [], ann_id=32, by=4)
    body["annotation"]["result"] = [
        {"type": "taxonomy", "from_name": "kind", "value": {"taxonomy": ["dog"]}}
    ]
    assert hook(body).status_code == 201, hook(body).content
    assert _labels(Annotation.objects.get(clip=first)) == ["bird/crow"]
    assert _labels(Annotation.objects.get(clip=second)) == ["dog"]


def test_an_event_whose_task_or_annotation_is_no_object_is_a_400(project, hook):
    """`"task": "x", "annotation": 5` was counted towards a training (201 "counted")."""
    for body in (
        {"action": "ANNOTATION_CREATED", "task": "x", "annotation": 5},
        {"action": "ANNOTATION_CREATED", "annotation": 5},
    ):
        res = hook(body)
        assert res.status_code == 400 and "object" in res.json()["detail"], body
    # a task of the other shape (a list for one event, an object for a bulk one): the same
    for body in (
        {"action": "ANNOTATION_CREATED", "task": [{"id": 5}], "annotation": {"id": 1}},
        {"action": "ANNOTATIONS_CREATED", "task": {"id": 5}, "annotation": [{"id": 1}]},
    ):
        res = hook(body)
        assert res.status_code == 400 and "nothing was saved" in res.json()["detail"], body
    # an annotation with its results but no task: counted, its labels were lost unsaid
    result = [{"from_name": "kind", "type": "choices", "value": {"choices": ["crow"]}}]
    for made in ({"id": 9, "result": result}, [{"id": 9, "result": result}]):
        res = hook({"action": "ANNOTATION_CREATED", "annotation": made})
        assert res.status_code == 400, res.content
        assert "needs its 'task' object" in res.json()["detail"]
    from ml_backend.models import MLConfig

    assert not MLConfig.objects.filter(project=project, labels_since_training__gt=0).exists()


def test_a_lead_time_past_a_day_or_infinite_is_taken_as_a_day(project, hook, lead):
    """`"lead_time": 1e999` (infinity once read) was a 500 when its revision was written, and
    the annotator's account stayed behind."""
    import json

    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    (clip,) = ready_clips(project, 1)
    body = json.dumps(_event("ANNOTATION_CREATED", clip, ["crow"], by=42)).replace(
        '"lead_time": 12.5', '"lead_time": 1e999'
    )
    assert "1e999" in body
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/webhook", body, content_type="application/json"
    )
    assert res.status_code == 201, res.content
    assert Annotation.objects.get(clip=clip).lead_time == 86400


def test_an_update_naming_only_unknown_labels_is_a_400_and_deletes_nothing(project, hook):
    """An update whose only label was misspelt in Label Studio ("sero") was read as an
    annotation cleared of its labels: the saved one was deleted, history and all, with a
    201. It is a 400 naming the value; a create likewise (it was "ignored", unnamed); in a
    bulk event the one refused is named and the others are saved."""
    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    clips = ready_clips(project, 3)
    assert (
        hook(_event("ANNOTATION_CREATED", clips[0], ["crow"], ann_id=930, by=6)).status_code == 201
    )
    res = hook(_event("ANNOTATION_UPDATED", clips[0], ["sero"], ann_id=930, by=6))
    assert res.status_code == 400, res.content
    assert res.json()["code"] == "unknown_label" and "'sero'" in res.json()["detail"]
    assert _labels(Annotation.objects.get(clip=clips[0])) == ["bird/crow"]
    res = hook(_event("ANNOTATION_CREATED", clips[1], ["sero"], ann_id=931, by=6))
    assert res.status_code == 400 and not Annotation.objects.filter(clip=clips[1]).exists()
    events = [
        _event("ANNOTATION_CREATED", clips[1], ["owl-ish"], ann_id=932, by=6),
        _event("ANNOTATION_CREATED", clips[2], ["crow"], ann_id=933, by=6),
    ]
    bulk = {
        "action": "ANNOTATIONS_CREATED",
        "task": [e["task"] for e in events],
        "annotation": [e["annotation"] for e in events] + [5],
    }
    answers = hook(bulk).json()["annotations"]
    assert [a["status"] for a in answers] == ["rejected", "saved", "ignored"]
    assert "'owl-ish'" in answers[0]["reason"] and answers[0]["id"] == 932
    assert answers[2]["reason"] == "an annotation is not an object"
    assert _labels(Annotation.objects.get(clip=clips[2])) == ["bird/crow"]


def test_a_labeling_config_without_a_label_control_is_a_400(project, predicted_clip, lead):
    """A config of no Choices, Labels or Taxonomy was accepted, and predictions went to
    controls it does not have, which Label Studio never shows."""
    client = _basic(lead, "correct-horse-battery-staple")
    res = client.post(f"/ml/{project.pk}/setup", {"schema": "<View/>"}, format="json")
    assert res.status_code == 400 and res.json()["code"] == "no_label_control"
    body = {"tasks": [{"data": {"earmark_clip_id": predicted_clip.pk}}], "label_config": "<View/>"}
    res = client.post(f"/ml/{project.pk}/predict", body, format="json")
    assert res.status_code == 400 and "no Choices, Labels or Taxonomy" in res.json()["detail"]
    # No config at all: Earmark's own export's controls, as before.
    res = client.post(f"/ml/{project.pk}/predict", {"tasks": body["tasks"]}, format="json")
    assert res.status_code == 200 and res.json()["results"][0]["result"]


def test_with_the_config_a_cleared_label_beside_another_question_removes_the_annotation(
    project, hook
):
    """Label Studio sends its project's labeling config with each event: the controls that
    carry labels are known, so an update keeping only a "quality" answer clears the labels
    (it was a 400 "names no label", the old labels kept), and a misspelt label in them is
    an unknown label."""
    from django.contrib.auth import get_user_model

    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    config = CONFIG.replace(
        "</View>", '<Choices name="quality" toName="audio"><Choice value="good"/></Choices></View>'
    )
    (clip,) = ready_clips(project, 1)
    made = _event("ANNOTATION_CREATED", clip, ["crow"], ann_id=940, by=8)
    made["project"]["label_config"] = config
    assert hook(made).status_code == 201
    misspelt = _event("ANNOTATION_UPDATED", clip, ["crw"], ann_id=940, by=8)
    misspelt["project"]["label_config"] = config
    res = hook(misspelt)
    assert res.status_code == 400 and res.json()["detail"] == "unknown label 'crw'"
    cleared = _event("ANNOTATION_UPDATED", clip, [], ann_id=940, by=8)
    cleared["annotation"]["result"] = [
        {"from_name": "quality", "type": "choices", "value": {"choices": ["good"]}}
    ]
    cleared["project"]["label_config"] = config
    assert hook(cleared).json()["status"] == "removed"
    assert not Annotation.objects.filter(clip=clip).exists()
    # A bulk item refused by the project's rules leaves no account behind, and a task id
    # that is an object is no 500.
    bulk = {
        "action": "ANNOTATIONS_CREATED",
        "task": [{"id": 9100, "data": {"earmark_clip_id": clip.pk}}],
        "annotation": [
            {
                "id": 941,
                "completed_by": 77,
                "result": made["annotation"]["result"],
            },
            {
                "id": 942,
                "task": 9100,
                "completed_by": 78,
                "result": [{"type": "choices", "value": {"choices": ["nope"]}}],
            },
        ],
    }
    answers = hook(bulk).json()["annotations"]
    assert [a["status"] for a in answers] == ["saved", "rejected"], answers
    # An annotation naming its task by an object is not given another task's clip.
    bulk["annotation"] = [{**bulk["annotation"][0], "id": 943, "task": {"id": 9100}}]
    assert hook(bulk).json()["annotations"][0]["status"] == "ignored"
    assert not get_user_model().objects.filter(username="label-studio-78").exists()
    res = hook(
        {"action": "ANNOTATIONS_CREATED", "task": [{"id": [1]}], "annotation": [{"task": [1]}]}
    )
    assert res.status_code == 201 and res.json()["annotations"][0]["status"] == "ignored"


def test_a_matched_task_without_a_sure_label_says_why(project, predicted_clip, lead):
    """A clip whose best label scores under 0.5 came back with an empty result and no
    reason (only tasks matching no clip said why)."""
    from ml_backend.models import Prediction

    Prediction.objects.filter(clip=predicted_clip).update(
        clip_scores={k: 0.3 for k in Prediction.objects.get(clip=predicted_clip).clip_scores},
        segments=[],
    )
    body = {"tasks": [{"data": {"earmark_clip_id": predicted_clip.pk}}], "label_config": CONFIG}
    res = _basic(lead, "correct-horse-battery-staple").post(
        f"/ml/{project.pk}/predict", body, format="json"
    )
    (answer,) = res.json()["results"]
    assert answer["result"] == [] and "scores 0.5 or more" in answer["earmark_reason"]


def test_a_config_is_read_without_a_query_per_value_and_long_names_are_400s(
    project, hook, monkeypatch
):
    """A config of 90,000 values cost 3.5 minutes (each value resolved by queries), for any
    member, whatever the action; a 60,000-character name was a 503 "safe to retry" (SQLite's
    LIKE refused it); an annotation id past the column's 100 characters, PostgreSQL's 500."""
    from ml_backend import label_studio_webhook
    from ontology import services
    from tests.conftest import ready_clips

    (clip,) = ready_clips(project, 1)
    values = "".join(f'<Choice value="zz{i}"/>' for i in range(500))
    config = (
        f'<View><Choices name="kind" toName="audio">{values}<Choice value="crow"/></Choices></View>'
    )
    calls = []
    real = services.label_resolve
    monkeypatch.setattr(services, "label_resolve", lambda **kw: calls.append(kw) or real(**kw))
    assert label_studio_webhook.label_controls(project, config) == {"kind"}
    assert calls == []
    long = _event("ANNOTATION_CREATED", clip, ["x" * 60000], ann_id=950, by=9)
    long["project"]["label_config"] = config
    res = hook(long)
    assert res.status_code == 400 and "(60000 characters)" in res.json()["detail"]
    res = hook(_event("ANNOTATION_CREATED", clip, ["crow"], ann_id="9" * 120, by=9))
    assert res.status_code == 400 and "too long" in res.json()["detail"]


def test_with_a_config_odd_controls_neither_crash_nor_clear(project, hook):
    """With the config: a from_name that is a list was a 500; labels under a control the
    config does not list read as cleared and deleted the annotation; a "value": null too."""
    from labelapp.models import Annotation
    from tests.conftest import ready_clips

    (clip,) = ready_clips(project, 1)
    made = _event("ANNOTATION_CREATED", clip, ["crow"], ann_id=960, by=10)
    made["project"]["label_config"] = CONFIG
    assert hook(made).status_code == 201

    def update(result):
        event = _event("ANNOTATION_UPDATED", clip, [], ann_id=960, by=10)
        event["annotation"]["result"] = result
        event["project"]["label_config"] = CONFIG
        return hook(event)

    odd = update([{"from_name": ["kind"], "type": "choices", "value": {"choices": ["dog"]}}])
    assert odd.status_code == 201 and odd.json()["status"] == "saved"  # read: it names dog
    other = update([{"from_name": "digit", "type": "choices", "value": {"choices": ["crow"]}}])
    assert other.json()["status"] == "saved"
    assert update([{"from_name": "kind", "type": "choices", "value": None}]).status_code == 400
    (ann,) = Annotation.objects.filter(clip=clip)
    assert _labels(ann) == ["bird/crow"]
