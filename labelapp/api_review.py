"""Review, history, agreement, model-vs-humans, members and personal tokens: the API.

Thin views: an input serializer validates, a service acts, an output serializer answers.
Reviews, agreement and model figures need a reviewer or a lead; members are managed by a
lead; tokens are always the caller's own.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import selectors
from labelapp.authentication import by_key
from labelapp.errors import DomainError, NotFound
from labelapp.models import Membership
from labelapp.pagination import Pages
from labelapp.schema import paginated
from labelapp.serializers_review import (
    AdjudicationSerializer,
    AgreementQuerySerializer,
    ApiTokenCreatedSerializer,
    ApiTokenCreateSerializer,
    ApiTokenSerializer,
    HistoryEntrySerializer,
    MemberRoleSerializer,
    MemberSerializer,
    ModelVsHumansQuerySerializer,
    ReviewActionSerializer,
    ReviewedAnnotationSerializer,
    ReviewQueueQuerySerializer,
)
from labelapp.services import agreement as agreement_services
from labelapp.services import projects as project_services
from labelapp.services import review as review_services
from labelapp.services import tokens as token_services
from labelapp.services.queue import held_release
from labelapp.strict import no_body

User = get_user_model()
REVIEW_ROLES = review_services.REVIEW_ROLES
LEAD_ONLY = (selectors.LEAD,)


def _paginated(request, view, qs, serializer_class) -> Response:
    paginator = Pages()
    page = paginator.paginate_queryset(qs, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


class ReviewQueueApi(APIView):
    @extend_schema(
        parameters=[ReviewQueueQuerySerializer],
        responses=paginated("PaginatedReviewQueue", ReviewedAnnotationSerializer),
        summary="What waits for your review",
    )
    def get(self, request, project_id: int):
        """Submitted annotations nobody has decided on yet (your own left out), clips sent to
        adjudication first, then the oldest submission. Paginated."""
        project = selectors.project_for_user(request.user, project_id, REVIEW_ROLES)
        params = ReviewQueueQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        qs = review_services.review_queue(project, request.user, **params.validated_data)
        return _paginated(request, self, qs, ReviewedAnnotationSerializer)


class AnnotationReviewApi(APIView):
    @extend_schema(
        request=ReviewActionSerializer,
        responses=ReviewedAnnotationSerializer,
        summary="Accept, reject or correct an annotation",
    )
    def post(self, request, annotation_id: int):
        """`accept`, `reject` (a `comment` is required) or `correct` (with `clip_labels` and/or
        `segments`: what the annotation should say; it stays the annotator's, the history
        names you). `expected_version` is the version you looked at: 409 (`code: stale`) if
        the annotator changed it since."""
        annotation = review_services.annotation_for_reviewer(request.user, annotation_id)
        data = ReviewActionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decided = review_services.annotation_review(
            annotation=annotation, reviewer=request.user, **data.validated_data
        )
        annotation = (
            type(annotation)
            .objects.select_related("clip", "annotator", "reviewed_by")
            .prefetch_related("clip_labels__label", "segments__segment_labels__label")
            .get(pk=decided.pk)
        )
        annotation.review_warning = decided.review_warning
        return Response(ReviewedAnnotationSerializer(annotation).data)


class ClipReviewAnnotationsApi(APIView):
    @extend_schema(responses=ReviewedAnnotationSerializer(many=True))
    def get(self, request, clip_id: int):
        """Every annotation of a clip with its review state, for a reviewer or a lead."""
        clip = selectors.clip_for_user(request.user, clip_id, REVIEW_ROLES)
        qs = (
            clip.annotations.select_related("clip", "annotator", "reviewed_by")
            .prefetch_related("clip_labels__label", "segments__segment_labels__label")
            .order_by("id")
        )
        return Response(ReviewedAnnotationSerializer(qs, many=True).data)


class ClipHistoryApi(APIView):
    @extend_schema(responses=HistoryEntrySerializer(many=True), summary="A clip's history")
    def get(self, request, clip_id: int):
        """Every write to the clip's annotations you may see, oldest first: who, when, what,
        the annotation before and after and what changed."""
        clip = selectors.clip_for_user(request.user, clip_id)
        history = review_services.clip_history(clip, user=request.user)
        return Response(HistoryEntrySerializer(history, many=True).data)


class ClipAdjudicationApi(APIView):
    @extend_schema(request=None, responses=AdjudicationSerializer)
    def post(self, request, clip_id: int):
        """Send the clip to a reviewer to adjudicate: its annotations go to the head of the
        review queue until someone decides on them."""
        no_body(request)
        clip = selectors.clip_for_user(request.user, clip_id, REVIEW_ROLES)
        clip = review_services.clip_adjudication_request(clip=clip, by=request.user)
        return Response(AdjudicationSerializer(clip).data)

    @extend_schema(request=None, responses={200: AdjudicationSerializer})
    def delete(self, request, clip_id: int):
        """Take the clip off adjudication."""
        no_body(request)
        clip = selectors.clip_for_user(request.user, clip_id, REVIEW_ROLES)
        clip = review_services.clip_adjudication_request(clip=clip, by=request.user, needed=False)
        return Response(AdjudicationSerializer(clip).data)


class MyRejectedAnnotationsApi(APIView):
    @extend_schema(
        responses=paginated("PaginatedRejectedAnnotations", ReviewedAnnotationSerializer),
        summary="Your rejected annotations",
    )
    def get(self, request, project_id: int):
        """Your annotations a reviewer rejected, newest decision first, with their comments.
        Fix one in the workspace (`/clips/<id>/annotate/`) and submit it again: it goes back
        to the review queue. Paginated."""
        project = selectors.project_for_user(request.user, project_id)
        qs = review_services.annotations_reviewed_for(project, request.user)
        return _paginated(request, self, qs, ReviewedAnnotationSerializer)


class ProjectAgreementApi(APIView):
    @extend_schema(
        parameters=[AgreementQuerySerializer],
        responses=OpenApiTypes.OBJECT,
        summary="Inter-annotator agreement",
    )
    def get(self, request, project_id: int):
        """Agreement on clips annotated by several people: per clip, per label, per
        annotator and overall (Fleiss' kappa and Krippendorff's alpha for clip labels,
        segment F1 at the `iou` threshold). Keys: see `project_agreement`."""
        project = selectors.project_for_user(request.user, project_id, REVIEW_ROLES)
        params = AgreementQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(
            agreement_services.project_agreement(project, iou=params.validated_data["iou"])
        )


class ProjectModelVsHumansApi(APIView):
    @extend_schema(
        parameters=[ModelVsHumansQuerySerializer],
        responses=OpenApiTypes.OBJECT,
        summary="Each model version against the annotators",
    )
    def get(self, request, project_id: int):
        """Per model version: accuracy (single-label) or micro P/R/F1 (multi-label) of its
        predictions against the final human labels, a confusion matrix per ontology level,
        and how often annotators took its suggestions unchanged."""
        project = selectors.project_for_user(request.user, project_id, REVIEW_ROLES)
        params = ModelVsHumansQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        version = params.validated_data.get("model_version")
        if version is not None and not project.model_versions.filter(pk=version).exists():
            raise NotFound("model version not found in this project")
        return Response(agreement_services.model_vs_humans(project, model_version=version))


# --- personal API tokens -------------------------------------------------------------------


class ApiTokenListApi(APIView):
    @extend_schema(responses=ApiTokenSerializer(many=True), summary="Your API tokens")
    def get(self, request):
        """Your tokens, newest first (revoked ones too, marked). Keys are never shown again."""
        return Response(ApiTokenSerializer(request.user.api_tokens.all(), many=True).data)

    @extend_schema(
        request=ApiTokenCreateSerializer,
        responses={201: ApiTokenCreatedSerializer},
        summary="Create an API token",
    )
    def post(self, request):
        """A new personal token. The answer carries the key once: send it as
        `Authorization: Token <key>` (or `Bearer <key>`). Only from a signed-in session: a key
        cannot make another (a leaked key would make keys that outlive its revocation)."""
        if by_key(request):
            raise DomainError(
                "a token cannot create another token: create it signed in, on the tokens page "
                "(/tokens/)",
                status=403,
                code="session_required",
            )
        data = ApiTokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw_key = token_services.api_token_create(
            user=request.user, name=data.validated_data["name"]
        )
        token.key = raw_key
        return Response(ApiTokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)


class ApiTokenDetailApi(APIView):
    @extend_schema(responses=ApiTokenSerializer)
    def get(self, request, token_id: int):
        return Response(
            ApiTokenSerializer(token_services.api_token_for_user(request.user, token_id)).data
        )

    @extend_schema(responses={200: ApiTokenSerializer}, summary="Revoke an API token")
    def delete(self, request, token_id: int):
        """Revoke one of your tokens; requests with it are refused (401) from now on."""
        token = token_services.api_token_for_user(request.user, token_id)
        token = token_services.api_token_revoke(token=token)
        return Response(ApiTokenSerializer(token).data)


# --- members --------------------------------------------------------------------------------


def _membership(project, user_id: int) -> Membership:
    if not 0 < user_id < 2**63:  # past a 64-bit id the database refuses the query: a 500
        raise NotFound("no such member in this project")
    membership = project.memberships.select_related("user").filter(user_id=user_id).first()
    if membership is None:
        raise NotFound("no such member in this project")
    return membership


class ProjectMemberDetailApi(APIView):
    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def patch(self, request, project_id: int, user_id: int):
        """Change a member's role (leads only). A project always keeps one lead (409)."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        membership = _membership(project, user_id)
        data = MemberRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        was = membership.role
        membership = project_services.membership_set(
            project=project, user=membership.user, role=data.validated_data["role"]
        )
        if membership.user_id == request.user.id and was == Membership.Role.LEAD != membership.role:
            _said_on_next_page(
                request,
                f"You are now {membership.get_role_display().lower()} of {project.name}: "
                "its settings and members pages are for its leads.",
            )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, user_id: int):
        """Remove a member (leads only). Their annotations stay; their queue locks go."""
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        membership = _membership(project, user_id)
        project_services.membership_remove(project=project, user=membership.user)
        if membership.user_id == request.user.id:
            _said_on_next_page(
                request,
                f"You left {project.name}. Your annotations in it stay; "
                "only one of its leads can add you again.",
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _said_on_next_page(request, text: str) -> None:
    """What happened to a lead's own membership, said on the page the browser goes to next
    (the members page it was on is closed to them now). Not for key-authenticated clients."""
    if request.user.is_authenticated and not by_key(request):
        messages.info(request._request, text)


class ProjectMemberReleaseApi(APIView):
    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, project_id: int, user_id: int):
        """Give a member's held clips back to the queue (leads only): `{"released": n}`.
        Their drafts stay; a clip they open again takes a place as any other."""
        no_body(request)
        project = selectors.project_for_user(request.user, project_id, LEAD_ONLY)
        membership = _membership(project, user_id)
        released = held_release(project=project, user=membership.user)
        return Response({"released": released})
