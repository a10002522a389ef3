"""Exports API: leads start an export job, watch its progress and download the file."""

from __future__ import annotations

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import exports, selectors
from labelapp.errors import DomainError, NotFound
from labelapp.media import MediaUnavailable, media_open
from labelapp.models import ExportJob
from labelapp.serializers_exports import ExportJobCreateSerializer, ExportJobSerializer

LEAD_ONLY = (selectors.LEAD,)
LIST_LIMIT = 50


class ProjectExportsApi(APIView):
    @extend_schema(responses=ExportJobSerializer(many=True))
    def get(self, request, project_id: int):
        """The project's latest export jobs, newest first."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        jobs = project.export_jobs.select_related("created_by").order_by("-created_at", "-id")
        return Response(ExportJobSerializer(jobs[:LIST_LIMIT], many=True).data)

    @extend_schema(request=ExportJobCreateSerializer, responses={202: ExportJobSerializer})
    def post(self, request, project_id: int):
        """Start an export: `format` (earmark, label_studio, csv, manifest, raven), `filters`
        (status, label, annotator, since, until, agreement) and format `options`. 202 with the job;
        poll `GET /api/exports/<id>/` until `status` is done, then download it."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = ExportJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = exports.export_job_create(project=project, user=request.user, **data.validated_data)
        job.refresh_from_db()  # a worker may have moved it on already
        return Response(ExportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ProjectLabelStudioConfigApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "clip_labels",
                str,
                enum=["taxonomy", "choices"],
                description="how clip labels are asked: a Taxonomy (default) or Choices, as the "
                "Label Studio export's `clip_labels` option writes them",
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, project_id: int):
        """The Label Studio labeling config that fits this project's Label Studio export
        (`{"config": "<View>...</View>"}`), as the exports page shows it: a pipeline that
        creates the Label Studio project needs it with the tasks."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        clip_labels = request.query_params.get("clip_labels", "taxonomy")
        if clip_labels not in ("taxonomy", "choices"):
            raise DomainError(
                f"clip_labels: taxonomy or choices, not {clip_labels!r}", code="invalid"
            )
        return Response({"config": exports.label_studio_config(project, clip_labels=clip_labels)})


class ExportJobDetailApi(APIView):
    @extend_schema(responses=ExportJobSerializer)
    def get(self, request, job_id: int):
        return Response(ExportJobSerializer(exports.export_job_for_user(request.user, job_id)).data)


class _AnyRenderer(BaseRenderer):
    """Lets content negotiation pass whatever the client accepts: the file answers itself."""

    media_type = "*/*"
    format = "file"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class ExportJobDownloadApi(APIView):
    renderer_classes = [JSONRenderer, _AnyRenderer]

    def handle_exception(self, exc):
        # Errors are JSON whatever the client accepts for the file itself.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response

    @extend_schema(responses={(200, "*/*"): OpenApiTypes.BINARY})
    def get(self, request, job_id: int):
        """The exported file, as an attachment. 409 while the job is not done."""
        job = exports.export_job_for_user(request.user, job_id)
        if job.status != ExportJob.Status.DONE:
            raise DomainError(
                f"the export is {job.status}; download it once it is done",
                status=409,
                code="not_ready",
            )
        try:
            fileobj = media_open(job.file)  # a remote export streams in ranges
        except MediaUnavailable:
            raise
        except (OSError, ValueError):
            raise NotFound("the export file is missing from the media store") from None
        ext, content_type = exports.export_file_type(job)
        slug = "".join(c if c.isalnum() else "-" for c in job.project.name.lower()).strip("-")
        response = FileResponse(
            fileobj,
            as_attachment=True,
            filename=f"{slug or 'project'}-{job.format}-{job.pk}.{ext}",
            content_type=f"{content_type}; charset=utf-8",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
