"""Server-rendered pages. They read through selectors; JavaScript modules talk to the API."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.templatetags.static import static

from labelapp import selectors
from labelapp.errors import DomainError, PermissionDenied
from labelapp.exports.filters import export_annotator_choices
from labelapp.models import Annotation, Clip, Membership, Project
from labelapp.services import clip_search


def or_404(fn, *args, **kwargs):
    """Call a selector: not a member becomes a page's 404 (nothing says the object exists), a
    member with the wrong role a 403, as in the API."""
    try:
        return fn(*args, **kwargs)
    except PermissionDenied as exc:
        raise DjangoPermissionDenied(exc.message) from None
    except DomainError as exc:
        raise Http404(exc.message) from None


@login_required
def home(request):
    projects = (
        selectors.projects_for_user(request.user)
        .annotate(clip_total=Count("clips", distinct=True))
        .order_by("name")
    )
    return render(
        request,
        "labelapp/home.html",
        {
            "projects": projects,
            # as POST /api/projects/ allows
            "can_create": selectors.can_create_projects(request.user),
            "site_admin": request.user.is_staff or request.user.is_superuser,
            "label_modes": Project.LabelMode.choices,
            "annotation_modes": Project.AnnotationMode.choices,
        },
    )


# Rejected files listed under an import job on the project page; the API has them all.
REJECTED_SHOWN = 50
QUIET_UPLOAD_MINUTES = 10


def _getting_started(project: Project, clips: int) -> dict | None:
    """A new project's steps, for its lead, until it has labels, clips and another member:
    "Start labeling" was the first button of a project with none of them."""
    from ml_backend.training import ml_config

    labels = project.ontology.labels.filter(deprecated=False).count()
    others = project.memberships.count() - 1
    # Done once it has labels and audio: a lead who labels alone is not kept on "add people".
    if labels and clips:
        return None
    return {"labels": labels, "others": max(others, 0), "min_labels": ml_config(project).min_labels}


WORKER_WAIT_MINUTES = 2  # a labels file's job pending this long: no worker is taking it


def _import_jobs_shown(project: Project) -> list:
    """The last ten import jobs, each with the files it rejected and why (after a reload the
    page kept only counts: "5 rejected", not which nor why)."""
    from django.utils import timezone

    jobs = list(
        project.import_jobs.select_related("labels_upload").defer("labels_upload__data")[:10]
    )
    now = timezone.now()
    for job in jobs:
        # A browser upload's job waits a day for the files of a page that may have been
        # closed (it stayed "running 85%" without a word): after 10 quiet minutes it says so.
        quiet = (now - job.updated_at).total_seconds() // 60
        job.quiet_minutes = (
            int(quiet)
            if job.status == "running"
            and job.source in ("upload", "api")  # the browser's files (a labels file is sent)
            and quiet >= QUIET_UPLOAD_MINUTES
            else None
        )
        job.missing = max(0, job.total - job.processed)
        # A labels file waits for a worker: after a few minutes without one, said.
        waited = (now - job.created_at).total_seconds() // 60
        job.waiting_minutes = (
            int(waited)
            if job.status == "pending" and job.source == "labels" and waited >= WORKER_WAIT_MINUTES
            else None
        )
        rejected = [r for r in job.report or [] if r.get("status") == "rejected"]
        # the files themselves refused first; those the browser never sent after them
        rejected.sort(key=job.never_stored)
        job.rejected_shown = rejected[:REJECTED_SHOWN]
        job.rejected_more = max(0, len(rejected) - REJECTED_SHOWN)
    return jobs


@login_required
def project_detail(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id)
    role = selectors.role_in_project(request.user, project)
    status_counts = dict(
        project.clips.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    try:
        query = clip_search.clip_query_build(project, request.user, request.GET)
        problem = ""
    except DomainError as exc:  # a bad value in the address: said, and the whole list shown
        query, problem = clip_search.ClipQuery(), exc.message
    listed = clip_search.clips_searched(project, query)
    clips = Paginator(listed, 50).get_page(request.GET.get("page"))
    search_params = query.params()
    can_filter_work = role in (selectors.LEAD, selectors.REVIEWER)  # by label, by annotator
    # The member's own annotations a reviewer rejected: said here, where work starts (they
    # showed only under My reviews, and Start labeling served other clips first).
    rejected_mine = Annotation.objects.filter(
        clip__project=project, annotator=request.user, status=Annotation.Status.REJECTED
    ).count()
    return render(
        request,
        "labelapp/project.html",
        {
            "project": project,
            "role": role,
            # A site admin who is no member acts as a lead and is said to be what they are.
            "site_admin_only": request.user.is_superuser
            and not Membership.objects.filter(user=request.user, project=project).exists(),
            "rejected_mine": rejected_mine,
            "is_lead": role == selectors.LEAD,
            "getting_started": _getting_started(project, sum(status_counts.values())),
            "max_upload_bytes": settings.EARMARK_MAX_UPLOAD_BYTES,
            "label_modes": Project.LabelMode.choices,
            "annotation_modes": Project.AnnotationMode.choices,
            "status_counts": {s: status_counts.get(s, 0) for s in Clip.Status.values},
            "clip_total": sum(status_counts.values()),
            "clips": clips,
            "shown_status": query.status,
            "query": query,
            "search_problem": problem,
            # the query without its status or page: the status counts and pages keep the rest
            "query_string": urlencode({k: v for k, v in search_params.items() if k != "status"}),
            "searching": bool(set(search_params) - {"status"}),
            "orderings": [(k, v[0]) for k, v in clip_search.ORDERINGS.items()],
            "can_filter_work": can_filter_work,
            "label_paths": (
                list(
                    project.ontology.labels.filter(deprecated=False).values_list("path", flat=True)
                )
                if can_filter_work
                else []
            ),
            "annotator_choices": export_annotator_choices(project) if can_filter_work else [],
            "jobs": _import_jobs_shown(project),
            "members": project.memberships.select_related("user").order_by(
                "role", "user__username"
            ),
        },
    )


@login_required
def clip_detail(request, clip_id: int):
    clip = or_404(selectors.clip_for_user, request.user, clip_id)
    role = selectors.role_in_project(request.user, clip.project)
    return render(
        request,
        "labelapp/clip.html",
        {
            "clip": clip,
            "project": clip.project,
            "can_review": role in (selectors.LEAD, selectors.REVIEWER),
        },
    )


class HealthCheckMiddleware:
    """Answers `GET /healthz` before any other middleware looks at the request's host or
    scheme: what a load balancer checks is the process and its database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/healthz":
            return healthz(request)
        return self.get_response(request)


def healthz(request):
    """Liveness for load balancers and docker-compose: the app answers and the DB responds;
    503 (not an HTML 500) when it does not. With `?deep=1`, readiness: the broker, the media
    store and a worker with beat as well, each part's answer in `checks`."""
    from django.http import JsonResponse

    from labelapp.services import health

    # `?deep`, `?deep=1`, `?deep=TRUE`, `?deep=on`: a probe written any common way is deep
    # (only 1, true and yes were, and the rest checked the database alone without a word).
    if "deep" in request.GET and request.GET["deep"].lower() not in ("0", "false", "no", "off"):
        ok, checks = health.readiness()
        body = {"status": "ok" if ok else "unavailable", "checks": checks}
        if not ok:
            body["detail"] = "; ".join(c["detail"] for c in checks.values() if not c["ok"])
    else:
        failed = [c for c in (health.database(), health.static_files()) if not c["ok"]]
        ok = not failed
        body = (
            {"status": "ok"}
            if ok
            else {"status": "unavailable", "detail": "; ".join(c["detail"] for c in failed)}
        )
    response = JsonResponse(body, status=200 if ok else 503)
    if not ok:
        response["Retry-After"] = "5"
    return response


def favicon(request):
    """/favicon.ico for the pages that name no icon (Django's error pages, the browsable API):
    browsers ask for it anyway, and a 404 there is a console error on every such page. A
    temporary redirect: in production the target is a hashed file name that changes with
    the icon, and browsers keep a permanent redirect forever."""
    return HttpResponseRedirect(static("earmark/favicon.svg"))


@login_required
def project_annotate(request, project_id: int):
    """The queue's entry: the workspace asks `POST /api/projects/<id>/next/` for a clip."""
    project = or_404(selectors.project_for_user, request.user, project_id)
    # What an empty queue means: "done by you or held by another" was said of a project that
    # had no clips at all (a new user's first press of Start labeling).
    clips = project.clips.aggregate(
        ready=Count("pk", filter=Q(status=Clip.Status.READY)),
        waiting=Count("pk", filter=Q(status__in=(Clip.Status.PENDING, Clip.Status.PROCESSING))),
    )
    return render(
        request,
        "labelapp/annotate.html",
        {
            "project": project,
            "workspace": None,
            "queue_mode": True,
            "clips_ready": clips["ready"],
            "clips_waiting": clips["waiting"],
            "is_lead": selectors.role_in_project(request.user, project) == selectors.LEAD,
            # An empty queue hid the member's rejected work (only the project page said it).
            "rejected_mine": Annotation.objects.filter(
                clip__project=project, annotator=request.user, status=Annotation.Status.REJECTED
            ).count(),
            "recent_clip_ids": selectors.recently_annotated(request.user, project),
        },
    )


@login_required
def clip_annotate(request, clip_id: int):
    """One clip in the workspace; its data comes inline so the waveform starts at once."""
    clip = or_404(selectors.clip_for_user, request.user, clip_id)
    return render(
        request,
        "labelapp/annotate.html",
        {
            "project": clip.project,
            "clip": clip,
            "workspace": selectors.clip_workspace(clip, request.user),
            "queue_mode": request.GET.get("queue") == "1",
            "recent_clip_ids": selectors.recently_annotated(request.user, clip.project),
        },
    )
