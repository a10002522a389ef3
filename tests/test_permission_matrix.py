"""The permission matrix (issues #6 and #7): every API endpoint and page, asked by every
persona, answers the status its rule in `RULES` promises.

The endpoints come from the URL conf (admin excluded), so a new endpoint without a rule fails
`test_every_endpoint_has_a_rule`. Personas: a site admin, the lead, reviewer and annotator of
project A, an outsider (the lead of project B only) and an anonymous visitor; every logged-in
persona asks once with a browser session (CSRF enforced, the token sent the way the workspace
JS sends it) and, on the API, once more with a personal API token.

What a denial looks like: anonymous gets 401 from the API (with the token's challenge,
`WWW-Authenticate: Bearer`) and from the Label Studio endpoints (basic auth's) and a redirect
to the login page from a page; an outsider gets 404 (nothing says the
object exists); a member whose role does not allow it gets 403. An allowed persona gets 200
on a safe method (or the status the rule names), and on an unsafe one, sent an empty body,
anything but 401/403/404: validation errors and conflicts are fine, so no valid payloads are
needed. Each test runs in its own savepoint over data built once for the module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.middleware.csrf import _get_new_csrf_string
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.views.generic.edit import ProcessFormView
from rest_framework.test import APIClient
from rest_framework.views import APIView

from labelapp.models import ExportJob, Membership
from tests.conftest import write_wav

pytestmark = pytest.mark.django_db

# --- Access classes and personas ------------------------------------------------------------

PUBLIC = "public"  # anyone, logged in or not
AUTHENTICATED = "authenticated"  # any logged-in user
MEMBER = "member"  # any role in project A (and site admins)
REVIEWER_UP = "reviewer+"  # leads and reviewers of project A (and site admins)
LEAD = "lead"  # leads of project A (and site admins)
ADMIN = "admin"  # site admins only
ANY_LEAD = "any-lead"  # site admins and the lead of any project (the outsider leads B)
OWN = "own"  # the object is the annotator's own (a token): everyone else gets 404
OWN_OR_LEAD = "own-or-lead"  # the annotator's own object, or a lead's of project A
SIGNED_IN = "signed-in"  # any logged-in user with a session: a key (token) is refused, 403

PERSONAS = ("admin", "lead", "reviewer", "annotator", "outsider", "anonymous")
LOGGED_IN = PERSONAS[:-1]
ALLOWED = {
    PUBLIC: set(PERSONAS),
    AUTHENTICATED: set(LOGGED_IN),
    SIGNED_IN: set(LOGGED_IN),
    MEMBER: {"admin", "lead", "reviewer", "annotator"},
    REVIEWER_UP: {"admin", "lead", "reviewer"},
    LEAD: {"admin", "lead"},
    ADMIN: {"admin"},
    ANY_LEAD: {"admin", "lead", "outsider"},
    OWN: {"annotator"},
    OWN_OR_LEAD: {"admin", "lead", "annotator"},
}
PROJECT_SCOPED = {MEMBER, REVIEWER_UP, LEAD, OWN_OR_LEAD}
SAFE = {"GET", "HEAD"}
# Anonymous requests: the API's first authentication class is the session's, which sends no
# WWW-Authenticate challenge, so DRF answers 403; the Label Studio endpoints put basic auth
# first (Label Studio sends credentials that way), so they challenge with 401.
ANONYMOUS_STATUS = {"api": 401, "ml": 401}
LOGIN_URL = "/accounts/login/"


@dataclass(frozen=True)
class Rule:
    access: str
    per_method: dict[str, str] = field(default_factory=dict)
    # Function views answer any method: the rule says which ones the page serves.
    methods: tuple[str, ...] = ()
    # Appended to the URL; `{project_id}` and the like are filled in from PARAMS.
    query: str = ""
    # Status an allowed persona gets on a safe method when it is not 200.
    ok: dict[str, int] = field(default_factory=dict)

    def access_for(self, method: str) -> str:
        return self.per_method.get(method, self.access)


def rule(access: str, *, query: str = "", ok: dict | None = None, **per_method: str) -> Rule:
    return Rule(access, per_method=per_method, query=query, ok=ok or {})


def page(access: str, *, ok: dict | None = None) -> Rule:
    return Rule(access, methods=("GET",), ok=ok or {})


RULES: dict[str, Rule] = {
    # Pages
    "home": page(AUTHENTICATED),
    "healthz": page(PUBLIC),
    "favicon": page(PUBLIC, ok={"GET": 302}),
    "project": page(MEMBER),
    "clip": page(MEMBER),
    "clip-annotate": page(MEMBER),
    "project-annotate": page(MEMBER),
    "review-queue": page(REVIEWER_UP),
    "clip-review": page(REVIEWER_UP),
    "clip-history": page(MEMBER),
    "my-reviews": page(MEMBER),
    "members": page(LEAD),
    "tokens": page(AUTHENTICATED),
    "exports-page": page(LEAD),
    "project-dashboard": page(REVIEWER_UP),
    "ontology-editor": page(MEMBER),  # everyone reads the tree; the page edits only for leads
    "model-page": page(MEMBER),
    # Django's auth views
    "login": rule(PUBLIC),
    "logout": rule(PUBLIC),
    "password_change": rule(AUTHENTICATED),
    "password_change_done": rule(AUTHENTICATED),
    # A valid reset link is put in the session and redirected to its set-password form.
    # Projects, members, imports
    "api-projects": rule(AUTHENTICATED, POST=ANY_LEAD),
    "api-project": rule(MEMBER, PATCH=LEAD, DELETE=LEAD),
    "api-project-members": rule(REVIEWER_UP, POST=LEAD),
    "api-project-member": rule(LEAD),
    "api-project-upload": rule(LEAD),
    "api-project-label-imports": rule(LEAD),
    "api-project-imports": rule(MEMBER, POST=LEAD),
    "api-import": rule(MEMBER),
    "api-import-not-sent": rule(LEAD),
    # Clips and the workspace
    "api-clips": rule(MEMBER, query="project={project_id}"),
    "api-clip": rule(MEMBER, DELETE=LEAD),
    "api-project-clips-delete": rule(LEAD),
    "api-project-clips-retry-failed": rule(LEAD),
    "api-project-label-studio-config": rule(LEAD),
    "api-predictions-import": rule(LEAD),
    "api-project-clips-metadata-from-names": rule(LEAD),
    "api-clip-audio": rule(MEMBER),
    "api-clip-playback": rule(MEMBER),
    "api-clip-peaks": rule(MEMBER, query="start=0&end=0.5&width=64"),
    "api-clip-spectrogram": rule(MEMBER, query="start=0&end=0.5&width=64&height=32"),
    "api-clip-annotations": rule(MEMBER),
    "api-project-next": rule(MEMBER),
    "api-clip-workspace": rule(MEMBER),
    "api-clip-draft": rule(MEMBER, ok={"GET": 204}),  # nobody has a draft: 204
    "api-clip-lock": rule(MEMBER),
    "api-clip-skip": rule(MEMBER),
    # Review, history, agreement
    "api-review-queue": rule(REVIEWER_UP),
    "api-annotation-review": rule(REVIEWER_UP),
    # The annotator's annotation: they, its reviewers and leads see it; they and leads delete it.
    "api-annotation": rule(MEMBER, DELETE=OWN_OR_LEAD),
    "api-clip-review": rule(REVIEWER_UP),
    "api-clip-history": rule(MEMBER),
    "api-clip-adjudication": rule(REVIEWER_UP),
    "api-my-rejected": rule(MEMBER),
    "api-agreement": rule(REVIEWER_UP),
    "api-model-vs-humans": rule(REVIEWER_UP),
    "api-project-dashboard": rule(REVIEWER_UP),
    "api-project-dashboard-jobs": rule(REVIEWER_UP),
    # Personal tokens
    "api-tokens": rule(AUTHENTICATED, POST=SIGNED_IN),  # a key cannot make another key
    "api-token": rule(OWN),
    # Exports: leads only
    "api-project-exports": rule(LEAD),
    "api-export": rule(LEAD),
    "api-export-download": rule(LEAD),
    # Ontology: every member reads, leads change it
    "api-ontology": rule(MEMBER),
    "api-ontology-labels": rule(LEAD),
    "api-ontology-label": rule(MEMBER, PATCH=LEAD, DELETE=LEAD),
    "api-ontology-label-merge": rule(LEAD),
    "api-ontology-import": rule(LEAD),
    "api-ontology-export": rule(MEMBER),
    "api/projects/<int:project_id>/ontology/export/": rule(MEMBER),  # unnamed twin of the above
    "api-ontology-changes": rule(MEMBER),
    "api-ontology-change-undo": rule(LEAD),
    "api-ontology-resolve": rule(MEMBER, query="path=birds/robin"),
    # The model in the loop
    "api-model": rule(MEMBER, PATCH=LEAD),
    "api-train": rule(LEAD),
    "api-prelabel": rule(LEAD),
    "api-model-version": rule(MEMBER),
    "api-model-version-activate": rule(LEAD),
    "api-training-run": rule(MEMBER),
    "api-training-run-cancel": rule(LEAD),
    "api-project-member-release": rule(LEAD),
    "api-prelabel-run": rule(MEMBER),
    "api-prelabel-run-cancel": rule(LEAD),
    # Schema and docs are public, like the README that points at them
    "api-schema": rule(PUBLIC),
    "api-docs": rule(PUBLIC),
    # Label Studio's ML backend: a member's credentials; /health answers anyone
    "ml-health": rule(PUBLIC),
    "ml-setup": rule(MEMBER, query="project={project_id}"),
    "ml-predict": rule(MEMBER, query="project={project_id}"),
    # Any member's events count; START_TRAINING needs a lead (a test of its own below).
    "ml-webhook": rule(MEMBER, query="project={project_id}"),
    "ml-health-project": rule(PUBLIC),
    "ml-setup-project": rule(MEMBER),
    "ml-predict-project": rule(MEMBER),
    "ml-webhook-project": rule(MEMBER),
    "ml-versions": rule(MEMBER, query="project={project_id}"),
    "ml-versions-project": rule(MEMBER),
}

# Path parameters: the attribute of the module's data (`world`) that fills each one, and per
# endpoint where the same name means another kind of object.
PARAMS = {
    "project_id": "project_id",
    "change_id": "merge_change_id",
    "clip_id": "clip_id",
    "job_id": "import_job_id",
    "label_id": "label_id",
    "annotation_id": "annotation_id",
    "run_id": "run_id",
    "version_id": "version_id",
    "token_id": "token_id",
    "user_id": "annotator_id",
}
PARAMS_FOR = {
    "api-export": {"job_id": "export_job_id"},
    "api-export-download": {"job_id": "export_job_id"},
    "api-prelabel-run": {"run_id": "prelabel_run_id"},
    "api-prelabel-run-cancel": {"run_id": "prelabel_run_id"},
}

# Where the app does not do what its rule says yet: each case fails the matrix until fixed,
# and then the strict xfail fails too, so the entry must go.
KNOWN_DEVIATIONS: dict[tuple[str, str, str], str] = {}


# --- The endpoints, from the URL conf -------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    key: str  # the URL name; the route for an unnamed pattern
    route: str
    kind: str  # "api", "ml" or "page"
    methods: tuple[str, ...] | None  # None: a function view, its rule names the methods
    body_format: str = "json"  # how an empty body is sent: a format the view parses


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith("admin/"):
            continue
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def _class_methods(view_class) -> tuple[str, ...]:
    names = []
    for name in view_class.http_method_names:
        if name in ("options", "trace") or not hasattr(view_class, name):
            continue
        # Django's form views alias PUT to POST; the browser never sends it.
        if name == "put" and getattr(view_class, "put", None) is ProcessFormView.put:
            continue
        names.append(name.upper())
    return tuple(names)


def _body_format(view_class) -> str:
    if view_class is None or not issubclass(view_class, APIView):
        return "form"
    media = {parser.media_type for parser in view_class.parser_classes}
    return "json" if "application/json" in media else "multipart"


def collect_endpoints() -> list[Endpoint]:
    endpoints = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if pattern.name in ("ml-not-found", "api-not-found"):
            continue  # not an endpoint: any other path under /ml/ or /api/, a JSON 404
        view_class = getattr(pattern.callback, "view_class", None)
        kind = "api" if route.startswith("api/") else "ml" if route.startswith("ml/") else "page"
        endpoints.append(
            Endpoint(
                key=pattern.name or route,
                route=route,
                kind=kind,
                methods=_class_methods(view_class) if view_class is not None else None,
                body_format=_body_format(view_class),
            )
        )
    return endpoints


ENDPOINTS = collect_endpoints()


def endpoint_methods(endpoint: Endpoint) -> tuple[str, ...]:
    if endpoint.methods is not None:
        return endpoint.methods
    return RULES[endpoint.key].methods if endpoint.key in RULES else ()


def _slug(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")


def matrix_cases() -> list:
    cases = []
    for endpoint in ENDPOINTS:
        if endpoint.key not in RULES:
            continue  # test_every_endpoint_has_a_rule names it
        auths = ("session", "token") if endpoint.kind in ("api", "ml") else ("session",)
        for method in endpoint_methods(endpoint):
            for persona in PERSONAS:
                for auth in auths if persona != "anonymous" else ("session",):
                    case_id = f"{_slug(endpoint.key)}-{method}-{persona}"
                    if auth == "token":
                        case_id += "-token"
                    reason = KNOWN_DEVIATIONS.get((endpoint.key, method, persona))
                    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                    cases.append(
                        pytest.param(endpoint, method, persona, auth, id=case_id, marks=marks)
                    )
    return cases


# --- The data: one project A with one of everything, built once for the module -------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, media_root, tmp_path_factory):
    """Project A with a ready clip (real audio, peaks and all), a label, the annotator's
    annotation, an import job, a training run, a finished export with its file, a token per
    persona and a password-reset link; project B led by the outsider. Built in a transaction
    that is rolled back after the module; each test runs in a savepoint inside it, so what a
    request changes is gone before the next one."""
    from labelapp.services.annotations import annotation_submit
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import, import_job_create
    from labelapp.services.projects import membership_set, project_create
    from labelapp.services.tokens import api_token_create
    from ml_backend.models import ModelVersion, PrelabelRun, TrainingRun
    from ontology.merge import label_merge
    from ontology.services import label_create

    wav = write_wav(tmp_path_factory.mktemp("matrix") / "matrix.wav", seconds=1.0, sr=8000)
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=str(media_root)),
        transaction.atomic(),
    ):
        users = {}
        for persona in LOGGED_IN:
            admin = persona == "admin"
            users[persona] = get_user_model().objects.create_user(
                username=f"matrix-{persona}", password=None, is_staff=admin, is_superuser=admin
            )
        project = project_create(name="Matrix A", created_by=users["lead"], label_mode="multi")
        membership_set(project=project, user=users["reviewer"], role=Membership.Role.REVIEWER)
        membership_set(project=project, user=users["annotator"], role=Membership.Role.ANNOTATOR)
        project_create(name="Matrix B", created_by=users["outsider"])
        birds = label_create(ontology=project.ontology, name="birds")
        label_create(ontology=project.ontology, name="robin", parent=birds)
        merged = label_merge(
            source=label_create(ontology=project.ontology, name="sparrow", parent=birds),
            target=project.ontology.labels.get(path="birds/robin"),
        )
        job = import_job_create(project=project, user=users["lead"], source="api")
        outcome = clip_import(
            project=project, item=ImportItem(name="matrix.wav", path=wav), job=job
        )
        assert clip_process(outcome.clip_id) == "ready", outcome
        annotation = annotation_submit(
            clip=project.clips.get(pk=outcome.clip_id),
            user=users["annotator"],
            clip_labels=["birds/robin"],
        )
        run = TrainingRun.objects.create(project=project, trigger="manual")
        prelabel_run = PrelabelRun.objects.create(project=project)
        export = ExportJob.objects.create(
            project=project, created_by=users["lead"], format="csv", status=ExportJob.Status.DONE
        )
        export.file = default_storage.save(
            f"exports/permission-matrix/{export.pk}.csv", ContentFile(b"clip_id,label\n")
        )
        export.save(update_fields=["file"])
        keys = {p: api_token_create(user=u, name="matrix")[1] for p, u in users.items()}
        version = ModelVersion.objects.create(project=project, version=1, name="v1")
        own_token = users["annotator"].api_tokens.get()
        yield SimpleNamespace(
            users=users,
            keys=keys,
            project_id=project.pk,
            clip_id=outcome.clip_id,
            import_job_id=job.pk,
            export_job_id=export.pk,
            label_id=birds.pk,
            merge_change_id=merged["change"],
            annotation_id=annotation.pk,
            run_id=run.pk,
            prelabel_run_id=prelabel_run.pk,
            version_id=version.pk,
            token_id=own_token.pk,
            annotator_id=users["annotator"].pk,
        )
        transaction.set_rollback(True)


def url_for(endpoint: Endpoint, world) -> str:
    def value(match: re.Match) -> str:
        param = match.group(1)
        attr = PARAMS_FOR.get(endpoint.key, {}).get(param) or PARAMS.get(param)
        if attr is None:
            pytest.fail(
                f"no value for the path parameter {param!r} of {endpoint.route} "
                f"({endpoint.key}): add it to PARAMS in {__name__}"
            )
        return str(getattr(world, attr))

    url = "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, endpoint.route)
    query = RULES[endpoint.key].query
    if query:
        url += "?" + query.format(**{p: getattr(world, a) for p, a in PARAMS.items()})
    return url


def client_as(world, persona: str, auth: str) -> APIClient:
    """A client as the browser or a script would be: CSRF checked on session writes, the token
    read from the cookie and sent in X-CSRFToken like static/earmark/api.js does."""
    client = APIClient(enforce_csrf_checks=True)
    if auth == "token":
        client.credentials(HTTP_AUTHORIZATION=f"Token {world.keys[persona]}")
        return client
    if persona != "anonymous":
        client.force_login(world.users[persona])
    csrf = _get_new_csrf_string()
    client.cookies["csrftoken"] = csrf
    client.defaults["HTTP_X_CSRFTOKEN"] = csrf
    return client


def send(client: APIClient, endpoint: Endpoint, method: str, url: str):
    call = getattr(client, method.lower())
    if method in SAFE:
        return call(url)
    if endpoint.body_format == "form":
        return call(url, {})
    return call(url, {}, format=endpoint.body_format)


def expected_denial(endpoint: Endpoint, access: str, persona: str) -> int:
    if persona == "anonymous":
        return 302 if endpoint.kind == "page" else ANONYMOUS_STATUS[endpoint.kind]
    if access == OWN:
        return 404
    if access in PROJECT_SCOPED and persona == "outsider":
        return 404
    return 403


# --- The tests ------------------------------------------------------------------------------


def test_every_endpoint_has_a_rule():
    missing = sorted(f"{e.key} ({e.route})" for e in ENDPOINTS if e.key not in RULES)
    assert not missing, f"endpoints without a rule in RULES ({__name__}): {', '.join(missing)}"


def test_no_rule_names_an_endpoint_that_is_gone():
    keys = {e.key for e in ENDPOINTS}
    stale = sorted(set(RULES) - keys)
    assert not stale, f"RULES names endpoints that no longer exist: {', '.join(stale)}"
    stale = sorted(set(PARAMS_FOR) - keys) + sorted(
        f"{k[0]} {k[1]} {k[2]}" for k in KNOWN_DEVIATIONS if k[0] not in keys
    )
    assert not stale, f"tables name endpoints that no longer exist: {', '.join(stale)}"


def test_every_function_view_names_the_methods_it_serves():
    unnamed = sorted(e.key for e in ENDPOINTS if e.methods is None and not endpoint_methods(e))
    assert not unnamed, f"function views need `methods` in their rule: {', '.join(unnamed)}"


def test_every_path_parameter_has_a_value():
    unknown = sorted(
        f"{param} in {e.route}"
        for e in ENDPOINTS
        for param in re.findall(r"<(?:\w+:)?(\w+)>", e.route)
        if param not in PARAMS and param not in PARAMS_FOR.get(e.key, {})
    )
    assert not unknown, f"path parameters without a value in PARAMS: {', '.join(unknown)}"


def test_the_matrix_covers_every_method_of_every_endpoint():
    assert len(ENDPOINTS) > 60
    covered = {(e.key, m) for e in ENDPOINTS for m in endpoint_methods(e)}
    assert {("api-clip-draft", "PUT"), ("api-ontology-label", "DELETE"), ("logout", "POST")} <= (
        covered
    )


@pytest.mark.parametrize(("endpoint", "method", "persona", "auth"), matrix_cases())
def test_permission_matrix(world, endpoint, method, persona, auth):
    rule_ = RULES[endpoint.key]
    access = rule_.access_for(method)
    url = url_for(endpoint, world)
    response = send(client_as(world, persona, auth), endpoint, method, url)
    status = response.status_code
    where = f"{method} {url} as {persona} ({auth}; rule {access})"
    if persona in ALLOWED[access] and not (access == SIGNED_IN and auth == "token"):
        if method in SAFE:
            want = rule_.ok.get(method, 200)
            assert status == want, f"{where}: {status}, expected {want}: {_body(response)}"
        else:
            assert status not in (401, 403, 404), (
                f"{where}: refused with {status}: {_body(response)}"
            )
        return
    want = expected_denial(endpoint, access, persona)
    assert status == want, f"{where}: {status}, expected {want}: {_body(response)}"
    if want == 302:
        assert response["Location"].startswith(LOGIN_URL), f"{where}: to {response['Location']}"
    elif endpoint.kind != "page" and want == 403:
        # A refused CSRF check is a 403 too: make sure this one is the permission's.
        assert "CSRF" not in _body(response), f"{where}: refused by the CSRF check"


def _body(response) -> str:
    content = getattr(response, "content", b"") if not response.streaming else b"<stream>"
    return content[:300].decode(errors="replace")


# --- What the statuses cannot show ----------------------------------------------------------


def test_an_annotator_sees_only_their_own_annotations_unless_the_project_shares_them(world):
    from labelapp.models import Clip, Project
    from labelapp.services.annotations import annotation_submit

    clip = Clip.objects.select_related("project").get(pk=world.clip_id)
    annotation_submit(clip=clip, user=world.users["reviewer"], clip_labels=["birds"])
    annotator = client_as(world, "annotator", "token")

    def seen() -> tuple[set, set]:
        listed = annotator.get(f"/api/clips/{clip.pk}/annotations/").json()
        history = annotator.get(f"/api/clips/{clip.pk}/history/").json()
        return {a["annotator"] for a in listed}, {h["annotator"] for h in history}

    assert seen() == ({"matrix-annotator"}, {"matrix-annotator"})
    lead = client_as(world, "lead", "token")
    listed = lead.get(f"/api/clips/{clip.pk}/annotations/").json()
    assert {a["annotator"] for a in listed} == {"matrix-annotator", "matrix-reviewer"}
    Project.objects.filter(pk=world.project_id).update(show_others_annotations=True)
    both = {"matrix-annotator", "matrix-reviewer"}
    assert seen() == (both, both)


def test_only_a_lead_starts_a_training_through_the_label_studio_webhook(world):
    from ml_backend.models import TrainingRun

    url = f"/ml/{world.project_id}/webhook"
    body = {"action": "START_TRAINING"}
    TrainingRun.objects.filter(pk=world.run_id).update(status="failed")  # none in progress
    for persona in ("annotator", "reviewer"):
        refused = client_as(world, persona, "token").post(url, body, format="json")
        assert refused.status_code == 403, (persona, refused.content)
    assert not TrainingRun.objects.filter(status="queued").exists()
    started = client_as(world, "lead", "token").post(url, body, format="json")
    assert started.status_code == 201, started.content
    assert TrainingRun.objects.get(pk=started.json()["run"]).status == "queued"


def test_label_studio_takes_a_personal_token_as_the_basic_auth_password(world):
    import base64

    url = f"/ml/{world.project_id}/setup"
    for secret, status in ((world.keys["annotator"], 200), ("em_not-a-key", 401)):
        raw = base64.b64encode(f"matrix-annotator:{secret}".encode()).decode()
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
        response = client.post(url, {}, format="json")
        assert response.status_code == status, (secret, response.content)
    # Someone else's key is no password of yours.
    raw = base64.b64encode(f"matrix-reviewer:{world.keys['annotator']}".encode()).decode()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    assert client.post(url, {}, format="json").status_code == 401
