"""Finding clips in a project: by name, state, whether and how they are labeled, by whom, in an
order of one's choosing. The project page's clip list and `GET /api/clips/?project=` share it.

A project of 20,000 clips could be browsed only by status, 50 a page, in import order; a lead
looking for one recording, or for the clips a label was given to, paged through hundreds.
Label and annotator filters are for reviewers and leads: an annotator's view of the others'
work is the project's to share, not a filter's to reveal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q, QuerySet

from labelapp import selectors
from labelapp.dbfunctions import name_contains
from labelapp.errors import DomainError, PermissionDenied
from labelapp.models import LABELED_STATUSES, Annotation, Clip, ClipLabel, Project, SegmentLabel

# name: (what the page calls it, the ORDER BY)
ORDERINGS = {
    "id": ("import order", ("id",)),
    "-id": ("newest first", ("-id",)),
    "name": ("name", ("original_name", "id")),
    "-name": ("name, Z to A", ("-original_name", "-id")),
    "duration": ("shortest first", ("duration", "id")),
    "-duration": ("longest first", ("-duration", "id")),
    "priority": ("queue order", ("-priority", "id")),  # the most informative first
}
LABELED = {"yes": True, "no": False}
FILTERS = ("q", "status", "labeled", "label", "annotator", "ordering")
MAX_QUERY = 200  # characters of a name search


@dataclass
class ClipQuery:
    q: str = ""
    status: str = ""
    labeled: bool | None = None
    label: str = ""  # as asked (a path or a name)
    label_ids: list[int] = field(default_factory=list)  # the label and its descendants
    annotator: str = ""
    annotator_id: int | None = None
    ordering: str = "id"

    def params(self) -> dict[str, str]:
        """The query as URL parameters (what is set), to keep across pages."""
        raw = {
            "q": self.q,
            "status": self.status,
            "labeled": {True: "yes", False: "no"}.get(self.labeled, ""),
            "label": self.label,
            "annotator": self.annotator,
            "ordering": "" if self.ordering == "id" else self.ordering,
        }
        return {k: v for k, v in raw.items() if v}


def clip_query_build(project: Project, user, params: Mapping) -> ClipQuery:
    """A checked query from request parameters: a 400 naming a value it does not take; a 403
    when an annotator filters by label or annotator."""
    query = ClipQuery()
    query.q = str(params.get("q") or "").strip()
    if len(query.q) > MAX_QUERY:
        raise DomainError(f"q: at most {MAX_QUERY} characters", code="invalid_filter")
    if "\x00" in query.q:  # PostgreSQL refuses it in a query: a 500
        raise DomainError("q: a name holds no NUL character", code="invalid_filter")
    query.status = str(params.get("status") or "")
    if query.status and query.status not in Clip.Status.values:
        raise DomainError(
            f"status: unknown {query.status!r}; one of {', '.join(Clip.Status.values)}",
            code="invalid_filter",
        )
    labeled = str(params.get("labeled") or "")
    if labeled and labeled not in LABELED:
        raise DomainError(f"labeled: yes or no, not {labeled!r}", code="invalid_filter")
    query.labeled = LABELED.get(labeled)
    query.ordering = str(params.get("ordering") or "id")
    if query.ordering not in ORDERINGS:
        raise DomainError(
            f"ordering: unknown {query.ordering!r}; one of {', '.join(ORDERINGS)}",
            code="invalid_filter",
        )
    query.label = str(params.get("label") or "").strip()
    query.annotator = str(params.get("annotator") or "").strip()
    if (query.label or query.annotator) and selectors.role_in_project(user, project) not in (
        selectors.LEAD,
        selectors.REVIEWER,
    ):
        raise PermissionDenied("filters by label and by annotator are for reviewers and leads")
    if query.label:
        from labelapp.exports.filters import export_filters_build

        # As the exports name labels: a path, a unique name, a path from before a rename; or
        # an id, as the API takes one everywhere else ("17" is a label named "17" first).
        try:
            built = export_filters_build(project, {"label": [query.label]})
        except DomainError:
            if not query.label.isdecimal():
                raise
            built = export_filters_build(project, {"label": [int(query.label)]})
        query.label_ids = list(built.label_ids)
    if query.annotator:
        from labelapp.exports.filters import export_filters_build

        # A member, or someone who annotated and has left.
        built = export_filters_build(project, {"annotator": [query.annotator]})
        (query.annotator_id,) = built.annotator_ids
    return query


def clips_searched(project: Project, query: ClipQuery) -> QuerySet[Clip]:
    """The project's clips that match `query`, in its order."""
    qs = project.clips.all()
    if query.q:
        qs = name_contains(qs, "original_name", query.q)  # any letter's case, SQLite's too
    if query.status:
        qs = qs.filter(status=query.status)
    if query.labeled is not None:
        qs = qs.filter(annotation_count__gt=0) if query.labeled else qs.filter(annotation_count=0)
    if query.label_ids:
        counted = {"annotation__status__in": LABELED_STATUSES}
        by_clip = ClipLabel.objects.filter(
            annotation__clip=OuterRef("pk"), label_id__in=query.label_ids, **counted
        )
        by_segment = SegmentLabel.objects.filter(
            segment__annotation__clip=OuterRef("pk"),
            segment__annotation__status__in=LABELED_STATUSES,
            label_id__in=query.label_ids,
        )
        qs = qs.filter(Q(Exists(by_clip)) | Q(Exists(by_segment)))
    if query.annotator_id is not None:
        theirs = Annotation.objects.filter(
            clip=OuterRef("pk"), annotator_id=query.annotator_id
        ).exclude(status__in=[Annotation.Status.DRAFT, Annotation.Status.SKIPPED])
        qs = qs.filter(Exists(theirs))
    return qs.order_by(*ORDERINGS[query.ordering][1])
