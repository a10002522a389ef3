"""The ontology API: thin views. Every member reads the tree; only leads change it."""

from __future__ import annotations

import json

from django.http import HttpResponse
from django.utils.http import content_disposition_header
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import selectors as project_selectors
from labelapp.pagination import Pages
from labelapp.parsers import JSONParser
from ontology import selectors
from ontology.io import named_json, ontology_export, ontology_import
from ontology.merge import label_merge, label_merge_deep
from ontology.serializers import (
    ChangeOutSerializer,
    ExportQuerySerializer,
    ImportInSerializer,
    ImportOutSerializer,
    ImportQuerySerializer,
    LabelCreateSerializer,
    LabelMergeSerializer,
    LabelOutSerializer,
    LabelPatchSerializer,
    MergeOutSerializer,
    ResolveOutSerializer,
    ResolveQuerySerializer,
    TreeOutSerializer,
    UnmergeOutSerializer,
)
from ontology.services import label_create, label_delete, label_edit, labels_current_paths
from ontology.tree import tree_get
from ontology.unmerge import merge_undo

LEAD_ONLY = (project_selectors.LEAD,)


class _FormatParamIsOurs(BaseContentNegotiation):
    """`?format=` names a file format here, not a DRF renderer: always answer JSON."""

    def select_parser(self, request, parsers):
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _label_out(label) -> dict:
    return {**LabelOutSerializer(label).data, "version": label.ontology.version}


class OntologyTreeApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "usage", OpenApiTypes.BOOL, description="add each label's clip/segment use counts"
            )
        ],
        responses=TreeOutSerializer,
    )
    def get(self, request, project_id: int):
        project = project_selectors.project_for_user(request.user, project_id)
        ontology = project.ontology
        with_usage = request.query_params.get("usage") in ("1", "true", "yes")
        etag = f'"ontology-{ontology.pk}-v{ontology.version}-{ontology.updated_at.timestamp()}"'
        seen = [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]
        if not with_usage and etag in seen:
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        tree = tree_get(ontology)
        labels = tree.payload()
        if with_usage:
            usage = selectors.ontology_usage_counts(ontology)
            empty = {"clip": 0, "segment": 0}
            labels = [{**row, "uses": usage.get(row["id"], empty)} for row in labels]
        role = project_selectors.role_in_project(request.user, project)
        body = {
            "ontology": {
                "id": ontology.pk,
                "name": ontology.name,
                "description": ontology.description,
                "version": tree.version,
            },
            "project": {
                "id": project.pk,
                "label_mode": project.label_mode,
                "leaves_only": project.leaves_only,
                "annotation_mode": project.annotation_mode,
            },
            "can_edit": role == project_selectors.LEAD,
            "labels": labels,
        }
        headers = {"Cache-Control": "private, no-cache"}
        if not with_usage:
            headers["ETag"] = etag
        return Response(body, headers=headers)


class OntologyResolveApi(APIView):
    """Label paths as they are today: the workspace maps a draft written before a rename,
    move or merge to today's names."""

    @extend_schema(parameters=[ResolveQuerySerializer], responses=ResolveOutSerializer)
    def get(self, request, project_id: int):
        project = project_selectors.project_for_user(request.user, project_id)
        query = ResolveQuerySerializer(data={"path": request.query_params.getlist("path")})
        query.is_valid(raise_exception=True)
        paths = labels_current_paths(ontology=project.ontology, paths=query.validated_data["path"])
        return Response({"labels": paths})


class LabelListApi(APIView):
    @extend_schema(request=LabelCreateSerializer, responses={201: LabelOutSerializer})
    def post(self, request, project_id: int):
        project = project_selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        data = LabelCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = label_create(ontology=project.ontology, user=request.user, **data.validated_data)
        body = {**_label_out(label), "warnings": selectors.placement_warnings(project, label)}
        return Response(body, status=status.HTTP_201_CREATED)


class LabelDetailApi(APIView):
    @extend_schema(responses=LabelOutSerializer)
    def get(self, request, project_id: int, label_id: int):
        project = project_selectors.project_for_user(request.user, project_id)
        label = selectors.label_for_project(project, label_id)
        uses = selectors.label_usage_counts([label.pk])[label.pk]
        return Response({**_label_out(label), "uses": uses, "children": label.children.count()})

    @extend_schema(request=LabelPatchSerializer, responses=LabelOutSerializer)
    def patch(self, request, project_id: int, label_id: int):
        project = project_selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        label = selectors.label_for_project(project, label_id)
        data = LabelPatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        expected = changes.pop("expected", None)
        parent_before = label.parent_id
        label = label_edit(label=label, user=request.user, changes=changes, expected=expected)
        label.ontology.refresh_from_db(fields=["version"])
        moved = label.parent_id != parent_before
        warnings = selectors.placement_warnings(project, label) if moved else []
        return Response({**_label_out(label), "warnings": warnings})

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def delete(self, request, project_id: int, label_id: int):
        project = project_selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        label = selectors.label_for_project(project, label_id)
        return Response(label_delete(label=label, user=request.user))


class LabelMergeApi(APIView):
    @extend_schema(request=LabelMergeSerializer, responses=MergeOutSerializer)
    def post(self, request, project_id: int, label_id: int):
        project = project_selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        source = selectors.label_for_project(project, label_id)
        data = LabelMergeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = selectors.label_for_project(project, data.validated_data["into"])
        merge = label_merge_deep if data.validated_data["children"] == "merge" else label_merge
        counts = merge(source=source, target=target, user=request.user)
        return Response(MergeOutSerializer(counts).data)


class OntologyImportApi(APIView):
    """A multipart `file`, JSON `{"content": "..."}`, or an Earmark/AudioSet document as the
    JSON body itself (then `?dry_run=1` in the query)."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FormatParamIsOurs

    @extend_schema(
        request=ImportInSerializer,
        parameters=[ImportQuerySerializer],
        responses=ImportOutSerializer,
    )
    def post(self, request, project_id: int):
        project = project_selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        # `?dry_run=1` holds for every shape of body (a dry run asked for and not honoured
        # changed the label tree), as does `dry_run` in a form or JSON body.
        query = ImportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        raw = request.data
        is_json = (request.content_type or "").startswith("application/json")
        whole_body = is_json and not (isinstance(raw, dict) and {"file", "content"} & set(raw))
        if whole_body:  # the body is the ontology itself (a list, an object, or a mistake)
            raw = {"content": json.dumps(raw)}
        data = ImportInSerializer(data=raw)
        data.is_valid(raise_exception=True)
        params = data.validated_data
        upload = params.get("file")
        content = upload.read() if upload is not None else params["content"]
        report = ontology_import(
            ontology=project.ontology,
            content=content,
            format=params.get("format"),
            user=request.user,
            dry_run=params["dry_run"] or query.validated_data["dry_run"],
            source="upload" if upload is not None else "api",
            json_only=whole_body or (upload is not None and named_json(upload.name)),
        )
        return Response(ImportOutSerializer(report).data)


class OntologyExportApi(APIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FormatParamIsOurs

    @extend_schema(
        parameters=[ExportQuerySerializer],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/plain"): OpenApiTypes.STR,
        },
    )
    def get(self, request, project_id: int):
        project = project_selectors.project_for_user(request.user, project_id)
        query = ExportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        text, content_type, filename = ontology_export(
            ontology=project.ontology, format=query.validated_data["format"]
        )
        response = HttpResponse(text, content_type=content_type)
        if request.query_params.get("download", "1") not in ("0", "false"):
            # RFC 6266's filename* for a name past ASCII (a bare one was no attachment to
            # Chromium: the export opened as a page).
            response["Content-Disposition"] = content_disposition_header(True, filename)
        return response


class OntologyChangesApi(APIView):
    @extend_schema(
        responses=inline_serializer(
            "PaginatedOntologyChangeList",
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": ChangeOutSerializer(many=True),
            },
        )
    )
    def get(self, request, project_id: int):
        project = project_selectors.project_for_user(request.user, project_id)
        paginator = Pages()
        page = paginator.paginate_queryset(
            selectors.ontology_changes(project.ontology), request, view=self
        )
        return paginator.get_paginated_response(ChangeOutSerializer(page, many=True).data)


class ChangeUndoApi(APIView):
    """Undo a merge from the change log: the label comes back with its uses."""

    @extend_schema(request=None, responses=UnmergeOutSerializer)
    def post(self, request, project_id: int, change_id: int):
        project = project_selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        out = merge_undo(ontology=project.ontology, change_id=change_id, user=request.user)
        return Response(UnmergeOutSerializer(out).data)
