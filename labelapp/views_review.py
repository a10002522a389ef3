"""Pages for review, history, members and personal tokens. Server-rendered from selectors and
services; `static/earmark/review.js` sends the decisions through the API."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Subquery
from django.shortcuts import render

from labelapp import selectors
from labelapp.errors import DomainError
from labelapp.models import Annotation, Membership
from labelapp.services import agreement as agreement_services
from labelapp.services import review as review_services
from labelapp.services.queue import held_counts
from labelapp.views import or_404
from ontology.models import Label

REVIEW_ROLES = review_services.REVIEW_ROLES
# Disagreeing clips listed on the queue page; the dashboard shows the full agreement report.
MAX_DISAGREEMENTS_SHOWN = 25


def _with_content(qs):
    return qs.select_related("annotator", "reviewed_by", "clip").prefetch_related(
        "clip_labels__label", "segments__segment_labels__label"
    )


def _label_paths(project) -> list[str]:
    """The labels a reviewer may name (the queue's filter, a correction): not deprecated."""
    return list(
        Label.objects.filter(ontology_id=project.ontology_id, deprecated=False).values_list(
            "path", flat=True
        )
    )


def _queue_filters(request) -> tuple[dict, str, str]:
    """The review queue's filters from a page's query string (the API's parameters): the
    arguments for `review_queue`, the query string that carries them on (pager, Review
    links, Next in queue) and what is wrong with them ("" when nothing)."""
    from urllib.parse import urlencode

    from labelapp.serializers_review import ReviewQueueQuerySerializer

    given = {
        k: v.strip()
        for k in ("annotator", "label", "adjudication", "unsure")
        if (v := request.GET.get(k, "")).strip()
    }
    params = ReviewQueueQuerySerializer(data=given)
    if not params.is_valid():
        errors = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in params.errors.items())
        return {}, "", errors
    filters = {k: v for k, v in params.validated_data.items() if k in given}
    return filters, urlencode(given), ""


def _adjudication_typed(request, filters: dict) -> bool | None:
    """The adjudication choice to show: the one applied, else the one asked for (a refused
    label beside it put the select back to "all clips")."""
    if "adjudication" in filters:
        return filters["adjudication"]
    typed = request.GET.get("adjudication", "").strip().lower()
    return {"true": True, "false": False}.get(typed)


def _filtered_queue(project, user, filters: dict):
    """The queue narrowed by `filters`, or the whole queue and the reason when they name
    what the project does not know."""
    try:
        return review_services.review_queue(project, user, **filters), ""
    except DomainError as e:
        return review_services.review_queue(project, user), str(e)


@login_required
def review_queue_page(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id, REVIEW_ROLES)
    filters, filter_query, filter_error = _queue_filters(request)
    queue, unknown = _filtered_queue(project, request.user, filters)
    if unknown:
        filters, filter_query, filter_error = {}, "", unknown
    whole = review_services.review_queue(project, request.user)
    annotators = sorted(set(whole.values_list("annotator__username", flat=True)))
    page = Paginator(queue, 50).get_page(request.GET.get("page"))
    disagreements = []
    if project.annotations_per_clip > 1:
        report = agreement_services.project_agreement(project)
        disagreements = [c for c in report["clips"] if c["disagreement"] and not c["settled"]]
    return render(
        request,
        "review/queue.html",
        {
            "project": project,
            "page": page,
            "queue_total": page.paginator.count,
            # What was typed, kept in the form even when refused (a typo was typed again).
            "filters": {k: request.GET.get(k, "").strip() for k in ("annotator", "label")}
            | {"adjudication": _adjudication_typed(request, filters)}
            | {"unsure": filters.get("unsure")},
            "filter_query": filter_query,
            "filter_error": filter_error.rstrip("."),
            "annotators": annotators,
            "label_paths": _label_paths(project),
            "disagreements": disagreements[:MAX_DISAGREEMENTS_SHOWN],
            "disagreement_count": len(disagreements),
        },
        status=400 if filter_error else 200,
    )


def _lane_segments(annotations) -> dict[str, list]:
    """Each annotation's segments for its lane under the waveform, by annotation id: [start, end,
    channel or None, "label, names", [first label's id, its colour or ""], band: [low, high] Hz
    or None] in time order (a band is drawn as a box on the spectrogram too). The
    page sends them as one JSON object and review_player.js draws those in view: an annotation
    of thousands of segments would otherwise be thousands of elements, each rendered by the
    template. The colour is the workspace's (every box was one blue, whatever its label)."""

    def first(s) -> list:
        labels = s.segment_labels.all()
        return [labels[0].label.id, labels[0].label.color] if labels else [None, ""]

    return {
        str(a.id): [
            [
                s.start,
                s.end,
                s.channel,
                ", ".join(sl.label.name for sl in s.segment_labels.all()),
                first(s),
                None if s.low_freq is None else [s.low_freq, s.high_freq],
            ]
            for s in a.segments.all()
        ]
        for a in annotations
        if a.segments.all()
    }


@login_required
def clip_review_page(request, clip_id: int):
    clip = or_404(selectors.clip_for_user, request.user, clip_id, REVIEW_ROLES)
    project = clip.project
    # Whether a reviewer's correction wrote its labels: its card said only "accepted".
    written = review_services.last_write().values("action")[:1]
    annotations = list(
        _with_content(clip.annotations.exclude(status=Annotation.Status.DRAFT))
        .annotate(last_written_by=Subquery(written))
        .order_by("id")
    )
    # Opened from a filtered queue: Next in queue stays in it.
    filters, filter_query, _ = _queue_filters(request)
    try:
        next_clip_id = review_services.review_next_clip(project, request.user, clip.pk, **filters)
    except DomainError:
        filter_query = ""
        next_clip_id = review_services.review_next_clip(project, request.user, clip.pk)
    history = review_services.clip_history(clip, user=request.user)
    return render(
        request,
        "review/clip.html",
        {
            "clip": clip,
            "project": project,
            "annotations": annotations,
            "me": request.user,
            "is_lead": selectors.role_in_project(request.user, project) == selectors.LEAD,
            **_history_context(clip, history),
            "next_clip_id": next_clip_id,
            "filter_query": filter_query,
            "outcome": review_services.clip_outcome(clip, annotations),
            "label_paths": _label_paths(project),
            "lane_segments": _lane_segments(annotations),
        },
    )


@login_required
def clip_history_page(request, clip_id: int):
    clip = or_404(selectors.clip_for_user, request.user, clip_id)
    history = review_services.clip_history(clip, user=request.user)
    return render(
        request,
        "review/history.html",
        {
            "clip": clip,
            "project": clip.project,
            **_history_context(clip, history),
        },
    )


@login_required
def my_reviews_page(request, project_id: int):
    """An annotator's review decisions: rejections to fix first, then recent acceptances."""
    project = or_404(selectors.project_for_user, request.user, project_id)
    rejected = review_services.annotations_reviewed_for(project, request.user)
    accepted = review_services.annotations_reviewed_for(
        project, request.user, statuses=(Annotation.Status.ACCEPTED,)
    )[:50]
    return render(
        request,
        "review/my_reviews.html",
        {"project": project, "rejected": rejected, "accepted": accepted},
    )


@login_required
def members_page(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id, (selectors.LEAD,))
    members = list(project.memberships.select_related("user").order_by("role", "user__username"))
    held = held_counts(project)
    from labelapp.models import PasswordToChange

    # Accounts whose owner has not signed in to choose their own password yet.
    waiting = set(
        PasswordToChange.objects.filter(user__in=[m.user_id for m in members]).values_list(
            "user_id", flat=True
        )
    )
    for m in members:
        m.held = held.get(m.user_id, 0)
        m.first_password = m.user_id in waiting
    return render(
        request,
        "review/members.html",
        {"project": project, "members": members, "roles": Membership.Role.choices},
    )


@login_required
def tokens_page(request):
    return render(request, "review/tokens.html", {"tokens": request.user.api_tokens.all()})


def _history_context(clip, history: list[dict]) -> dict:
    """The history in today's label names and the notes on names that changed."""
    entries, notes = review_services.history_names_now(clip, history)
    return {"history": entries, "label_notes": notes}
