"""Label Studio ML-backend endpoints, so a Label Studio project can use Earmark's model.

Label Studio calls `<backend url>/health`, `/setup`, `/predict` and `/webhook`. Connect it
with the backend URL `http://<earmark>/ml/<earmark project id>` and basic authentication
(an Earmark username and password, or a username and API token as the password); `/ml/health`
and friends also take `?project=<id>`.

Tasks are matched to Earmark clips by `data.earmark_clip_id` (present in tasks Earmark
exported) or by the audio file's name within the project; Label Studio's audio URLs are
never fetched. Predictions come from the active model version (computed on demand when a
clip has none yet) and are returned in Label Studio's result format, with `from_name` and
`to_name` taken from the project's labeling config.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - parses the labeling config the caller sent
from pathlib import PurePosixPath
from urllib.parse import parse_qs, unquote, urlparse

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import selectors
from labelapp.authentication import ApiTokenAuthentication, HeldSessionAuthentication
from labelapp.errors import DomainError
from labelapp.exports.label_studio import AUDIO, CLIP_FROM, SEGMENT_FROM
from labelapp.models import Clip
from labelapp.ratelimit import blocked_message, client_address, login_blocked
from labelapp.selectors import (
    CLIP_SUGGESTION_MIN_SCORE,
    clip_suggestion_floor,
    suggestions_withheld,
)
from labelapp.services.tokens import KEY_PREFIX, api_token_authenticate
from ml_backend.models import ModelVersion, Prediction
from ml_backend.selectors import (
    active_model_version,
    deepest_scores,
    deepest_segments,
    prediction_choice,
)
from ontology.tree import tree_for_ontology_id


class BasicTokenAuthentication(authentication.BasicAuthentication):
    """Basic auth where the password may also be the user's API token, a personal one or
    DRF's (Label Studio stores the backend's credentials in its database: a revocable token
    is the better secret)."""

    def authenticate_credentials(self, userid, password, request=None):
        if password.startswith(KEY_PREFIX):
            personal = api_token_authenticate(password)
            if personal is not None and personal.user.username == userid:
                return personal.user, personal
        token = Token.objects.select_related("user").filter(key=password).first()
        if token is not None and token.user.username == userid and token.user.is_active:
            return token.user, token
        if login_blocked(userid, client_address(request)):
            # The backend refuses the right password too, which DRF calls "Invalid
            # username/password.": an operator would change credentials instead of waiting.
            raise exceptions.Throttled(
                wait=settings.EARMARK_LOGIN_FAILURE_WINDOW_S, detail=blocked_message()
            )
        user, auth = super().authenticate_credentials(userid, password, request)
        from labelapp.passwords import first_password_pending

        if first_password_pending(user):
            # The password a lead chose and told: it opens nothing until its owner has chosen
            # their own (a page would take them to do so; this is no page).
            raise exceptions.AuthenticationFailed(
                "this account's first password was set by someone else: sign in on the web and "
                "choose your own before using it here"
            )
        return user, auth


# The API's personal tokens (`Authorization: Token em_...`) work here as everywhere else;
# without ApiTokenAuthentication DRF's TokenAuthentication would refuse them with a 401.
ML_AUTH = [
    BasicTokenAuthentication,
    ApiTokenAuthentication,
    authentication.TokenAuthentication,
    HeldSessionAuthentication,
]


def parse_label_config(config, field: str = "label_config") -> dict:
    """The control tags of a labeling config: {"labels": (name, to_name), "choices": ...}, and
    under "values" the Label and Choice values it offers (to answer in its own words)."""
    found: dict = {}
    if not config:
        return found
    if not isinstance(config, str):
        raise DomainError("the labeling config must be its XML as a string")
    try:
        # noqa: S314 - expat expands a document's own internal entities only (no external
        # ones), and its billion-laughs guard bounds what they can grow to.
        root = ET.fromstring(config)  # noqa: S314
    except ET.ParseError as exc:
        raise DomainError(f"{field} is not valid XML: {exc}") from None
    values: set[str] = set()
    offered: dict[str, set[str]] = {}
    multiple: dict[str, bool] = {}
    for element in root.iter():
        tag = element.tag.lower()
        if tag in ("labels", "choices", "taxonomy") and tag not in found:
            found[tag] = (element.get("name", tag), element.get("toName", "audio"))
            # Choices take one answer unless `choice="multiple"` (Label Studio's default is
            # "single"); Labels and Taxonomy take several unless they say otherwise.
            default = "single" if tag == "choices" else "multiple"
            multiple[tag] = (element.get("choice") or default).lower() == "multiple"
            if tag == "taxonomy":  # a Taxonomy takes one path where maxUsages="1"
                multiple[tag] = (element.get("maxUsages") or "").strip() != "1"
            offered[tag] = {
                child.get("value")
                for child in element.iter()
                if child.tag.lower() in ("label", "choice") and child.get("value") is not None
            }
        elif tag in ("label", "choice") and element.get("value") is not None:
            values.add(element.get("value"))
    if not found:
        # Suggestions would go to controls the config does not have, which Label Studio
        # does not show (accepted silently, none ever appeared).
        raise DomainError(
            f"{field} has no Choices, Labels or Taxonomy control for Earmark's labels to go to",
            code="no_label_control",
        )
    found["values"] = values
    found["offered"] = offered  # per control: what Label Studio can show in it
    found["multiple"] = multiple  # per control: whether it takes more than one answer
    return found


def _offered(controls: dict, tag: str, values: set[str]):
    """Whether a label path is one the control `tag` offers (any, where the config lists none:
    values loaded at run time)."""
    offered = controls.get("offered", {}).get(tag)
    if not offered:
        return lambda path: True
    return lambda path: _value(path, values) in offered


def _value(path: str, values: set[str]) -> str:
    """A label as the labeling config names it: its full path where the config offers paths
    (as Earmark's own Label Studio export writes), else its name."""
    return path if path in values else path.split("/")[-1]


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise DomainError("expected a JSON object, as Label Studio sends")
    return request.data


class _MlView(APIView):
    authentication_classes = ML_AUTH

    def project(self, request, project_id=None):
        ref = project_id or request.query_params.get("project")
        params = request.data.get("params") if isinstance(request.data, dict) else None
        if ref is None and isinstance(params, dict):
            ref = params.get("earmark_project")
        if ref is None:
            raise DomainError("name the Earmark project: /ml/<project id>/... or ?project=<id>")
        return selectors.project_for_user(request.user, ref)


class MlHealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id=None):
        return Response({"status": "UP", "model_class": "Earmark AudioCNN"})


class MlSetupApi(_MlView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id=None):
        project = self.project(request, project_id)
        parse_label_config(_body(request).get("schema", ""), "schema")  # a broken one: now
        version = active_model_version(project)
        return Response({"model_version": version.name if version else "none"})


class MlVersionsApi(_MlView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id=None):
        """The project's model versions, newest first (Label Studio lists them to choose one;
        every prediction comes from the active one, `active`)."""
        project = self.project(request, project_id)
        names = list(
            ModelVersion.objects.filter(project=project)
            .order_by("-version")
            .values_list("name", flat=True)
        )
        version = active_model_version(project)
        return Response({"versions": names, "active": version.name if version else None})


class MlNotFoundApi(APIView):
    """Any other path under /ml/: a JSON 404 naming the routes (Django's HTML page was a
    Label Studio log line of markup)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    schema = None  # not an endpoint

    def _answer(self, request, *args, **kwargs):
        return Response(
            {
                "detail": f"no such ML-backend route: {request.path}; routes: health, setup, "
                "predict, webhook, versions (under /ml/ or /ml/<project id>/)",
                "code": "not_found",
            },
            status=404,
        )

    get = post = put = patch = delete = _answer


def task_clip_or_reason(project, task: dict) -> tuple[Clip | None, str]:
    """The clip a Label Studio task is about (by `data.earmark_clip_id`, or the one clip of
    its audio's file name), or None and why not."""
    data = task.get("data") or {}
    if not isinstance(data, dict):
        raise DomainError(f"task {task.get('id', '?')}: 'data' must be an object")
    which = f"task {task.get('id', '?')}"
    clip_id = data.get("earmark_clip_id")
    if clip_id is not None:
        pk = _clip_pk(clip_id)
        if pk is None:
            raise DomainError(f"{which}: earmark_clip_id must be a clip id, not {clip_id!r}")
        clip = Clip.objects.filter(project=project, pk=pk).first()
        return clip, "" if clip else f"{which}: project {project.pk} has no clip {pk}"
    ref = _audio_ref(data)
    name = _file_name(ref)
    if name is None:  # "http://[::1": a 500 before
        raise DomainError(f"{which}: 'audio' {ref[:80]!r} is not a URL or a path")
    if not name:
        return None, f"{which}: its data names no audio file"
    clips = _named(project, name)
    if not clips and "-" in name:  # Label Studio prefixes uploads with "<hash>-"
        name = name.split("-", 1)[1]
        clips = _named(project, name)
    # Two recordings of one name (recorders reuse REC001.WAV): which one the task is cannot be
    # told, and one's prediction was given for the other. None: no pre-annotation.
    if len(clips) > 1:
        return None, (
            f"{which}: {name!r} is the name of more than one clip of project {project.pk}; "
            "give the task data.earmark_clip_id"
        )
    if not clips:
        return None, f"{which}: no clip of project {project.pk} is named {name!r}"
    return clips[0], ""


def _named(project, name: str) -> list[Clip]:
    return list(Clip.objects.filter(project=project, original_name=name)[:2])


def _file_name(ref: str) -> str | None:
    """The file name an audio reference of a task names: its `d` (Label Studio's local files,
    "/data/local-files/?d=dir/x.wav"), else its path; None for one that is not a URL."""
    try:
        parsed = urlparse(ref)
    except ValueError:
        return None
    return PurePosixPath(unquote(parse_qs(parsed.query).get("d", [parsed.path])[0])).name


def _audio_ref(data: dict) -> str:
    """The task's audio: `data.audio`, else the one value that names an audio file (a
    config's <Audio value="$url"> keeps it under "url")."""
    ref = data.get("audio")
    if isinstance(ref, str) and ref:
        return ref
    from labelapp.services.imports import AUDIO_EXTENSIONS

    found = [
        v
        for v in data.values()
        if isinstance(v, str)
        and PurePosixPath(_file_name(v) or "").suffix.lower() in AUDIO_EXTENSIONS
    ]
    return found[0] if len(found) == 1 else ""


def _clip_pk(value) -> int | None:
    """A clip id as JSON may carry it (12, "12", 12.0), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
        return int(value.strip())
    return None


def _prediction(clip: Clip, version: ModelVersion) -> Prediction | None:
    pred = Prediction.objects.filter(clip=clip, model_version=version).first()
    if pred is None and clip.status == Clip.Status.READY:
        from ml_backend.prelabel import score_clips

        score_clips(clip.project, version, [clip.pk], diversity=False)
        pred = Prediction.objects.filter(clip=clip, model_version=version).first()
    return pred


def prediction_to_label_studio(
    pred: Prediction, controls: dict, paths: dict[int, str], single: bool, top_k: int = 3
) -> dict:
    results = []
    values = controls.get("values", set())
    # A label the ontology no longer has (merged into another since this version trained) is
    # left out: the version still scores it until the next training.
    ranked, segments = prediction_choice(pred, known=paths, single=single)
    if not single:  # the deepest label of a sound, as the workspace suggests it
        segments = deepest_segments(segments, paths)
    scores = [(score, lid) for lid, score in ranked]
    floor = clip_suggestion_floor(single, len(scores))
    if "choices" in controls:
        # A label the config does not offer would be a choice Label Studio cannot show.
        offered = _offered(controls, "choices", values)
        scores = [(score, lid) for score, lid in scores if offered(paths[lid])]
    # As the workspace suggests: labels scoring at least CLIP_SUGGESTION_MIN_SCORE (in a
    # single-label project the best offered one only, from twice chance), else nothing. The
    # best offered label whatever its score made a config offering "zero" and "one" pre-fill
    # "zero" at 0.008.
    sure = [s for s in scores if s[0] >= floor]
    if "choices" in controls and sure:
        name, to_name = controls["choices"]
        # A single-choice control shows one answer: two made Label Studio keep one at random
        # (a multi-label project's backend behind a config without choice="multiple").
        one = single or not controls.get("multiple", {}).get("choices", False)
        chosen = sure[:1] if one else _deepest(sure, paths)[:top_k]
        results.append(
            {
                "from_name": name,
                "to_name": to_name,
                "type": "choices",
                "value": {"choices": [_value(paths[lid], values) for _, lid in chosen]},
                "score": chosen[0][0],
            }
        )
    elif "taxonomy" in controls and sure:
        name, to_name = controls["taxonomy"]
        # Multi-label: each sure label that has no sure label under it (a parent scores at
        # least as high as its children, so the first was always a top-level label alone);
        # one where the Taxonomy takes one (maxUsages="1").
        at_most = 1 if not controls.get("multiple", {}).get("taxonomy", True) else top_k
        chosen = sure[:1] if single else _deepest(sure, paths)[:at_most]
        results.append(
            {
                "from_name": name,
                "to_name": to_name,
                "type": "taxonomy",
                "value": {"taxonomy": [paths[lid].split("/") for _, lid in chosen]},
                "score": chosen[0][0],
            }
        )
    if "labels" in controls:
        name, to_name = controls["labels"]
        offered = _offered(controls, "labels", values)
        for seg in segments:  # single-label: the clip's one label, as the workspace suggests
            label = paths[int(seg["label"])]
            if not offered(label):
                continue
            value = {"start": seg["start"], "end": seg["end"], "labels": [_value(label, values)]}
            if seg.get("channel") is not None:
                value["channel"] = seg["channel"]
            results.append(
                {
                    "from_name": name,
                    "to_name": to_name,
                    "type": "labels",
                    "value": value,
                    "score": seg.get("score"),
                }
            )
    return {
        "result": results,
        "score": float(pred.score or 0.0),
        "model_version": pred.model_version.name,
    }


def _deepest(scored: list[tuple[float, int]], paths: dict[int, str]) -> list[tuple[float, int]]:
    """`deepest_scores` for (score, label id) pairs."""
    return [(sc, pk) for pk, sc in deepest_scores([(pk, sc) for sc, pk in scored], paths)]


class MlPredictApi(_MlView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id=None):
        """Label Studio's predict call: `{"tasks": [...], "label_config": "..."}` in,
        `{"results": [{"result": [...], "score", "model_version"}]}` out, one per task."""
        project = self.project(request, project_id)
        body = _body(request)
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise DomainError("expected {'tasks': [...]} as Label Studio sends")
        # Without a config: the control names of Earmark's own Label Studio export.
        controls = parse_label_config(body.get("label_config", "")) or {
            "choices": (CLIP_FROM, AUDIO),
            "labels": (SEGMENT_FROM, AUDIO),
        }
        version = active_model_version(project)
        if version is None:
            raise DomainError(
                "this Earmark project has no trained model yet", status=409, code="no_model"
            )
        # Deprecated labels, and those under one, are not offered, as the workspace leaves
        # them out of suggestions; nor, in a leaves-only project, a label with kinds.
        tree = tree_for_ontology_id(project.ontology_id)
        available = tree.choosable(leaves_only=project.leaves_only)
        paths = {pk: node.path for pk, node in available.items()}
        single = project.label_mode == project.LabelMode.SINGLE
        results = []
        withheld = suggestions_withheld(version)  # as the workspace: a weak model is quiet
        for task in tasks:
            if withheld:
                results.append(
                    {
                        "result": [],
                        "score": 0.0,
                        "model_version": version.name,
                        "earmark_reason": withheld,
                    }
                )
                continue
            if isinstance(task, dict):
                clip, reason = task_clip_or_reason(project, task)
            else:
                clip, reason = None, "a task is not an object"
            pred = _prediction(clip, version) if clip is not None else None
            if pred is None and clip is not None:
                reason = f"clip {clip.pk} has no prediction of {version.name} yet"
            answer = (
                prediction_to_label_studio(pred, controls, paths, single)
                if pred is not None
                else {"result": [], "score": 0.0, "model_version": version.name}
            )
            if pred is not None and not answer["result"]:
                reason = (
                    f"no label the config offers scores {CLIP_SUGGESTION_MIN_SCORE} or more "
                    "(a single-label project's best: twice chance or more; "
                    "no pre-annotation, as in the workspace)"
                )
            if reason and not answer["result"]:
                answer["earmark_reason"] = reason  # Label Studio keeps what it knows
            results.append(answer)
        return Response({"results": results, "model_version": version.name})


class MlWebhookApi(_MlView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id=None):
        """Label Studio's annotation events (`ml_backend.label_studio_webhook`): a created or
        updated annotation, one by one or in bulk, is kept as an annotation of its task's
        clip, by an account of its Label Studio annotator, and trains the model like a
        submission in Earmark; a deleted one, or one cleared of every result, goes. An event
        without its annotation counts towards retraining."""
        from ml_backend import label_studio_webhook as hook

        project = self.project(request, project_id)
        body = _body(request)
        action = body.get("action", "")
        if action in WEBHOOK_ACTIONS:
            # Label Studio calls with the credentials its ML backend was set up with, a lead's.
            # Its annotations, counting towards a training and starting one are a lead's
            # business: an annotator's calls would start trainings at will.
            selectors.project_for_user(request.user, project.pk, (selectors.LEAD,))
        task, made = body.get("task"), body.get("annotation")
        if action in COUNTED:
            for key, value in (("task", task), ("annotation", made)):
                if value is not None and not isinstance(value, dict | list):
                    raise DomainError(f"an annotation event needs its {key!r} object")
            # A shape that fits neither branch below was counted, its labels lost.
            bulk = action == "ANNOTATIONS_CREATED"
            if task is not None and isinstance(task, list) != bulk:
                raise DomainError(
                    f"{action}'s 'task' is "
                    + ("a list of tasks" if bulk else "one task object")
                    + ", not "
                    + ("an object" if bulk else "a list")
                    + ": nothing was saved"
                )
            listed = made if isinstance(made, list) else [made]
            if task is None and any(isinstance(a, dict) and a.get("result") for a in listed):
                # Its labels cannot be kept without the clip: counted, they were lost unsaid.
                raise DomainError(
                    "an annotation event with its annotation needs its 'task' object (Label "
                    "Studio sends both): nothing was saved"
                )
        user = request.user
        # The config is read for the events that save annotations only (a lead's, checked
        # above), never for an action nobody handles.
        controls = None
        if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED"):
            ls_project = body.get("project") if isinstance(body.get("project"), dict) else {}
            controls = hook.label_controls(project, ls_project.get("label_config"))
        if action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED") and isinstance(task, dict):
            answer = hook.ls_annotation_save(project, task, made, fallback=user, controls=controls)
            return Response(answer, status=200 if answer["status"] == "ignored" else 201)
        if action == "ANNOTATIONS_CREATED" and isinstance(task, list):
            saved = hook.ls_annotations_save(project, task, made, fallback=user, controls=controls)
            return Response({"status": "saved", "annotations": saved}, status=201)
        if action == "ANNOTATIONS_DELETED":
            removed = hook.ls_annotations_delete(project, body.get("annotations"), by=user)
            return Response({"status": "removed", "count": removed})
        if action in COUNTED:
            from ml_backend.training import training_labels_added

            # A bulk event (ANNOTATIONS_CREATED) carries a list under "annotation": each counts.
            n = len(made) if isinstance(made, list) else 1
            # No more than the project has clips: 100,000 ids in one event started a
            # training at once; an empty list counts none.
            n = min(n, Clip.objects.filter(project=project).count())
            training_labels_added(project_id=project.pk, count=n)
            return Response({"status": "counted", "action": action, "count": n}, status=201)
        if action == "START_TRAINING":
            from ml_backend.training import training_request

            run = training_request(project=project, user=request.user, trigger="manual")
            return Response({"status": "training queued", "run": run.pk}, status=201)
        return Response({"status": "ignored", "action": action})


COUNTED = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")
WEBHOOK_ACTIONS = (*COUNTED, "ANNOTATIONS_DELETED", "START_TRAINING")
