"""The ML API: model overview and settings, training on demand, cancel, pre-labeling."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import selectors
from labelapp.errors import DomainError, NotFound
from labelapp.schema import error_schema
from labelapp.strict import no_body
from ml_backend.models import ModelVersion, PrelabelRun, TrainingRun
from ml_backend.prelabel import prelabel_active_request, prelabel_cancel, rank_request
from ml_backend.selectors import (
    active_model_version,
    external_versions,
    versions_with_headlines,
)
from ml_backend.serializers import (
    MLConfigSerializer,
    ModelOverviewSerializer,
    ModelVersionSerializer,
    PrelabelRunSerializer,
    TrainingRequestedSerializer,
    TrainingRunSerializer,
)
from ml_backend.services import predictions_import_checked
from ml_backend.training import (
    ml_config,
    training_cancel,
    training_note,
    training_request,
    training_start_if_due,
    training_waiting,
    version_activate,
)

LEAD_ONLY = (selectors.LEAD,)


VERSIONS_LISTED = 50  # the newest; `?versions=all` lists every one


def _overview(project, *, all_versions: bool = False) -> dict:
    # The runs are read before the versions: a training's success and its new active version
    # commit together, but each query sees what was committed when it ran, so read in the
    # other order a poll could show the run succeeded beside no active version.
    training_runs = list(project.training_runs.select_related("model_version")[:20])
    prelabel_runs = list(project.prelabel_runs.all()[:10])
    # And the newest of each kind however old: twelve strategy changes (a ranking each) left
    # the last pre-labeling out of the ten sent, and the page could not list it.
    for kind in PrelabelRun.Kind.values:
        if not any(r.kind == kind for r in prelabel_runs):
            newest = project.prelabel_runs.filter(kind=kind).first()
            if newest is not None:
                prelabel_runs.append(newest)
    versions = ModelVersion.objects.filter(project=project).exclude(
        status=ModelVersion.Status.EXTERNAL
    )
    listed = versions_with_headlines(versions if all_versions else versions[:VERSIONS_LISTED])
    active = next((v for v in listed if v.status == ModelVersion.Status.ACTIVE), None)
    if active is None:  # older than the 50 newest (a lead re-activated it), or none
        active = next(iter(versions_with_headlines(versions.filter(status="active"))), None)
    config = ml_config(project)
    return {
        "config": config,
        "external_versions": external_versions(project, VERSIONS_LISTED),
        "waiting": training_waiting(project, config=config, has_model=active is not None),
        "active": active,
        "versions": listed,
        "versions_total": versions.count(),
        "training_runs": training_runs,
        "prelabel_runs": prelabel_runs,
    }


class ProjectModelApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "versions", str, enum=["all"], description="every version (default: the 50 newest)"
            )
        ],
        responses=ModelOverviewSerializer,
    )
    def get(self, request, project_id: int):
        project = selectors.project_for_user(request.user, project_id)
        which = request.query_params.get("versions", "")
        if which not in ("", "all"):
            raise DomainError(f"versions: 'all' or nothing, not {which!r}", code="invalid")
        overview = _overview(project, all_versions=which == "all")
        return Response(ModelOverviewSerializer(overview).data)

    @extend_schema(request=MLConfigSerializer, responses=ModelOverviewSerializer)
    def patch(self, request, project_id: int):
        """Change the project's active-learning settings (leads)."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        config = ml_config(project)
        strategy = config.strategy
        data = MLConfigSerializer(
            config, data=request.data, partial=True, context={"project": project}
        )
        data.is_valid(raise_exception=True)
        data.save()
        if data.instance.strategy != strategy:  # the queue follows the new strategy at once
            if data.instance.strategy == "bald" and active_model_version(project) is not None:
                # BALD's dropout passes are not stored: a ranking from the stored predictions
                # kept their entropy, and the page said BALD.
                prelabel_active_request(project=project)
            else:
                rank_request(project=project)
        # Switched back on, or a threshold lowered: labels that came meanwhile may be due.
        training_start_if_due(project_id=project.pk)
        return Response(ModelOverviewSerializer(_overview(project)).data)


class ProjectPredictionsImportApi(APIView):
    @extend_schema(request=OpenApiTypes.OBJECT, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, project_id: int):
        """Import predictions of a model run elsewhere (leads): `{"model_version":
        "birdnet-2.4", "predictions": [{"clip": 12, "clip_labels": [{"label":
        "birds/robin", "score": 0.91}], "segments": [{"start": 1.2, "end": 2.0, "label":
        "birds/robin", "score": 0.8, "channel": null}]}, ...]}` (a clip by `clip` id or
        `original_name`; labels by path or id, existing ones; scores from 0 to 1; at most 1,000
        a request). Each is imported or rejected with its reason (`rejected`: index and
        reason). The workspace suggests them until the project's own model is active; the
        model page lists the source."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        body = request.data if isinstance(request.data, dict) else {}
        unknown = sorted(set(body) - {"model_version", "predictions"})
        if unknown or not isinstance(request.data, dict):
            raise DomainError(
                "a body of `model_version` and `predictions`"
                + (f"; unknown field(s) {', '.join(map(str, unknown))}" if unknown else ""),
                code="invalid",
            )
        return Response(
            predictions_import_checked(
                project=project,
                model_version=body.get("model_version"),
                items=body.get("predictions"),
            )
        )


class ProjectTrainApi(APIView):
    @extend_schema(request=None, responses={201: TrainingRequestedSerializer, 409: error_schema()})
    def post(self, request, project_id: int):
        """Queue a training now; 409 when one is already queued or running."""
        no_body(request)
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        run = training_request(project=project, user=request.user)
        run.note = training_note(project)
        return Response(TrainingRequestedSerializer(run).data, status=status.HTTP_201_CREATED)


class ProjectPrelabelApi(APIView):
    @extend_schema(request=None, responses={201: PrelabelRunSerializer, 200: PrelabelRunSerializer})
    def post(self, request, project_id: int):
        """Score and rank every unlabeled clip with the active model (or cold-start rank);
        200 with the run already queued, which will do it."""
        no_body(request)
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        run, created = prelabel_active_request(project=project)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(PrelabelRunSerializer(run).data, status=code)


def _run_for(user, run_id, roles=selectors.ANY_ROLE, model=TrainingRun) -> TrainingRun:
    what = "training run" if model is TrainingRun else "pre-labeling run"
    run = model.objects.filter(pk=run_id).select_related("project", "model_version").first()
    if run is None:
        raise NotFound(f"{what} not found")
    try:
        selectors.project_for_user(user, run.project_id, roles)
    except NotFound:  # another project's run: as unknown as one that does not exist
        raise NotFound(f"{what} not found") from None
    return run


class ModelVersionApi(APIView):
    @extend_schema(responses=ModelVersionSerializer, summary="A model version, every figure")
    def get(self, request, version_id: int):
        """A version with all its metrics (per class, per ontology level, the confusion
        matrix) and the label ids of its classes; the model overview lists headlines only."""
        version = ModelVersion.objects.filter(pk=version_id).first()
        if version is None:
            raise NotFound("model version not found")
        try:
            selectors.project_for_user(request.user, version.project_id)
        except NotFound:  # another project's version: as unknown as one that does not exist
            raise NotFound("model version not found") from None
        return Response(ModelVersionSerializer(version).data)


class ModelVersionActivateApi(APIView):
    @extend_schema(request=None, responses={200: ModelVersionSerializer, 409: error_schema()})
    def post(self, request, version_id: int):
        """Make an earlier (retired) version the active one again (lead): a rollback. The
        unlabeled clips are scored and ranked by it anew. 409 while a training runs or when
        its model file is gone."""
        no_body(request)
        version = ModelVersion.objects.filter(pk=version_id).first()
        if version is None:
            raise NotFound("model version not found")
        try:
            selectors.project_for_user(request.user, version.project_id, LEAD_ONLY)
        except NotFound:
            raise NotFound("model version not found") from None
        version = version_activate(version=version)
        return Response(ModelVersionSerializer(version).data)


class TrainingRunApi(APIView):
    @extend_schema(responses=TrainingRunSerializer)
    def get(self, request, run_id: int):
        return Response(TrainingRunSerializer(_run_for(request.user, run_id)).data)


class TrainingRunCancelApi(APIView):
    @extend_schema(request=None, responses=TrainingRunSerializer)
    def post(self, request, run_id: int):
        """Cancel a queued or running training; the active model stays as it is."""
        no_body(request)
        run = training_cancel(run=_run_for(request.user, run_id, LEAD_ONLY))
        return Response(TrainingRunSerializer(run).data)


class PrelabelRunApi(APIView):
    @extend_schema(responses=PrelabelRunSerializer)
    def get(self, request, run_id: int):
        return Response(
            PrelabelRunSerializer(_run_for(request.user, run_id, model=PrelabelRun)).data
        )


class PrelabelRunCancelApi(APIView):
    @extend_schema(request=None, responses={200: PrelabelRunSerializer, 409: error_schema()})
    def post(self, request, run_id: int):
        """Cancel a queued or running pre-labeling or ranking (lead). A running one stops at
        its next batch; the clips it scored keep their predictions and the queue keeps its
        order. 409 when it has already ended."""
        no_body(request)
        run = _run_for(request.user, run_id, LEAD_ONLY, model=PrelabelRun)
        run = prelabel_cancel(run=run, user=request.user)
        return Response(PrelabelRunSerializer(run).data)
