"""Security properties: CSRF, session and token auth, isolation between projects, uploads
never served as HTML, no path traversal, passwords kept out of logs and URLs, the login rate
limit, and `manage.py check --deploy` clean for the production settings."""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labelapp.models import Clip, ImportJob
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, clip_import, import_job_create
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def ready_clip(project, wav_factory):
    outcome = clip_import(
        project=project, item=ImportItem(name="ready.wav", path=wav_factory(seconds=2.0, sr=8000))
    )
    assert clip_process(outcome.clip_id) == "ready"
    return Clip.objects.get(pk=outcome.clip_id)


@pytest.fixture
def private_cache(settings, tmp_path):
    """A cache of this test's own: login failure counts must not leak into other tests."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "cache"),
        }
    }


# --- CSRF -----------------------------------------------------------------------------------


def test_every_post_form_in_the_templates_carries_a_csrf_token():
    forms = 0
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<form\b[^>]*>(.*?)</form>", text, flags=re.S | re.I):
            if re.search(r'method\s*=\s*["\']?post', match.group(0), flags=re.I):
                forms += 1
                assert "{% csrf_token %}" in match.group(1), f"{template.name}: {match.group(0)}"
    assert forms >= 1


def test_login_and_session_api_writes_without_a_csrf_token_are_refused(
    private_cache, lead, project
):
    browser = Client(enforce_csrf_checks=True)
    refused = browser.post("/accounts/login/", {"username": lead.username, "password": PASSWORD})
    assert refused.status_code == 403
    browser.force_login(lead)
    write = browser.patch(
        f"/api/projects/{project.pk}/", {"name": "Hijacked"}, content_type="application/json"
    )
    assert write.status_code == 403 and "CSRF" in write.json()["detail"]
    project.refresh_from_db()
    assert project.name == "Birds"
    token = browser.cookies["csrftoken"].value if "csrftoken" in browser.cookies else None
    if token is None:
        browser.get("/")  # the pages set the cookie the workspace JS reads
        token = browser.cookies["csrftoken"].value
    ok = browser.patch(
        f"/api/projects/{project.pk}/",
        {"name": "Birds 2"},
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert ok.status_code == 200


# --- Session and token auth -----------------------------------------------------------------


def test_anonymous_requests_get_no_data_and_pages_redirect_to_login(project, ready_clip):
    anonymous = APIClient()
    for url in ("/api/projects/", f"/api/clips/{ready_clip.pk}/audio"):
        assert anonymous.get(url).status_code in (401, 403), url
    page = Client().get(f"/projects/{project.pk}/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")


def test_token_auth_works_and_a_wrong_token_is_refused(project, lead):
    token = Token.objects.create(user=lead)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/projects/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert client.get("/api/projects/").status_code in (401, 403)


# --- No access across projects --------------------------------------------------------------


def _routes(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _routes(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def _scoped_routes() -> list[str]:
    """Every API and page route that names an object by id (admin excluded)."""
    return sorted(
        {
            route
            for route in _routes(get_resolver().url_patterns)
            if "<int:" in route and not route.startswith("admin/")
        }
    )


@pytest.fixture
def birds_objects(project, ready_clip, lead):
    """Ids of one object of each kind in the Birds project (the outsider is not a member)."""
    from ml_backend.models import ModelVersion, TrainingRun

    label = project.ontology.labels.first() or _a_label(project)
    run = TrainingRun.objects.create(project=project, trigger="manual")
    version = ModelVersion.objects.create(project=project, version=1, name="v1")
    TrainingRun.objects.filter(pk=run.pk).update(status="failed")
    ids = {
        "project_id": project.pk,
        "clip_id": ready_clip.pk,
        "job_id": import_job_create(project=project, user=lead, source="api").pk,
        "label_id": label.pk,
        "run_id": run.pk,
        "version_id": version.pk,
        "user_id": lead.pk,
    }
    # Objects that other parts of the app add (exports, tokens, reviews) join when present.
    from labelapp.models import ApiToken, ExportJob
    from labelapp.services.annotations import annotation_submit

    ids["annotation_id"] = annotation_submit(clip=ready_clip, user=lead, clip_labels=[label.pk]).pk
    ids["export_id"] = ExportJob.objects.create(project=project, format="csv").pk
    from ontology.merge import label_merge
    from ontology.services import label_create

    ids["change_id"] = label_merge(
        source=label_create(ontology=project.ontology, name="to-merge"),
        target=label_create(ontology=project.ontology, name="merged-into"),
    )["change"]
    ids["token_id"] = ApiToken.objects.create(
        user=lead, name="lead's", prefix="em_x", key_hash="0" * 64
    ).pk
    return ids


def _a_label(project):
    from ontology.services import label_get_or_create_path

    label = label_get_or_create_path(ontology=project.ontology, path="animals/birds")
    return label[0] if isinstance(label, tuple) else label


@pytest.mark.parametrize("route", _scoped_routes())
def test_an_outsider_gets_404_for_every_object_of_another_project(
    route, client_for, outsider, birds_objects
):
    params = re.findall(r"<int:(\w+)>", route)
    missing = [p for p in params if p not in birds_objects]
    assert not missing, f"no object for {missing} in this test's fixture: add one to birds_objects"
    url = "/" + route
    for name in params:
        url = url.replace(f"<int:{name}>", str(birds_objects[name]))
    if route.startswith(("api/", "ml/")):
        client = client_for(outsider)
    else:  # pages: a logged-in session
        client = Client()
        client.force_login(outsider)
    if route.startswith("ml/"):
        # Label Studio's endpoints: the outsider may reach /health, nothing of the project.
        for method in ("post",):
            response = getattr(client, method)(url, {}, format="json")
            assert response.status_code in (401, 403, 404, 405), (method, url, response.content)
        return
    for method in ("get", "post", "put", "patch", "delete"):
        if isinstance(client, APIClient):
            response = getattr(client, method)(url, {}, format="json")
        else:
            response = getattr(client, method)(url)
        assert response.status_code in (404, 405), (method, url, response.status_code)


# --- Uploads are never served as HTML; no path traversal ------------------------------------


def test_an_html_page_renamed_to_wav_is_refused_at_upload(client_for, lead, project):
    page = SimpleUploadedFile(
        "innocent.wav", b"<html><body><script>alert(document.cookie)</script></body></html>"
    )
    response = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/", {"files": [page]}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["files"][0]["status"] == "rejected"
    assert not Clip.objects.exists()


def test_audio_is_served_as_audio_with_nosniff_and_as_an_attachment_name(
    client_for, annotator, ready_clip
):
    response = client_for(annotator).get(f"/api/clips/{ready_clip.pk}/audio")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("audio/")
    assert response["X-Content-Type-Options"] == "nosniff"
    disposition = response.get("Content-Disposition", "")
    # the name is the server's (clip-<id>.<ext>), never the uploader's
    assert f"clip-{ready_clip.pk}." in disposition, disposition
    assert "ready.wav" not in disposition


def test_a_clip_with_an_unknown_format_is_served_as_octet_stream_not_html(
    client_for, annotator, ready_clip
):
    Clip.objects.filter(pk=ready_clip.pk).update(format="HTML")
    response = client_for(annotator).get(f"/api/clips/{ready_clip.pk}/audio")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_media_files_have_no_public_url(client_for, annotator, ready_clip):
    from django.conf import settings

    for url in (
        settings.MEDIA_URL + ready_clip.file.name,
        "/media/" + ready_clip.file.name,
        "/static/../labelapp/settings.py",
        "/static/%2e%2e/labelapp/settings.py",
    ):
        response = Client().get(url)
        assert response.status_code == 404, url


@pytest.mark.parametrize(
    "name", ["../../etc/cron.d/evil.wav", "..\\..\\evil.wav", "/etc/passwd.wav", "a/../../b.wav"]
)
def test_upload_names_that_climb_out_are_refused(client_for, lead, project, wav_factory, name):
    body = wav_factory().read_bytes()
    boundary = "x" * 20
    payload = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + body
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = client_for(lead).generic(
        "POST",
        f"/api/projects/{project.pk}/clips/",
        payload,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 400, response.content
    assert not Clip.objects.exists()


# --- Passwords stay out of logs and URLs ----------------------------------------------------


def test_the_login_form_posts_and_the_password_reaches_no_log_or_url(
    private_cache, make_user, caplog
):
    password = "s3cret-" + secrets.token_hex(8)
    user = make_user("logan-login")
    user.set_password(password)
    user.save()
    login_page = (ROOT / "templates/registration/login.html").read_text()
    assert re.search(r'<form[^>]*method="post"', login_page)
    caplog.set_level(logging.DEBUG)
    browser = Client()
    wrong = browser.post(
        "/accounts/login/", {"username": user.username, "password": password + "x"}
    )
    assert wrong.status_code == 200
    right = browser.post("/accounts/login/", {"username": user.username, "password": password})
    assert right.status_code == 302
    assert password not in right["Location"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Basic bG9nYW4tbG9naW46d3Jvbmc=")  # logan-login:wrong
    api.post("/ml/1/setup", {}, format="json")
    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert password not in caplog.text


def test_add_member_takes_the_password_from_the_environment_not_an_argument():
    from labelapp.management.commands import add_member

    help_text = add_member.Command().create_parser("manage.py", "add_member").format_help()
    assert "--password" not in help_text


# --- Login rate limit -----------------------------------------------------------------------


def test_ten_failed_logins_block_that_user_from_that_address_with_a_clear_429(
    private_cache, make_user
):
    user = make_user("rate-limited-rob")
    browser = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(10):
        response = browser.post("/accounts/login/", {"username": user.username, "password": "no"})
        assert response.status_code == 200
    blocked = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert blocked.status_code == 429
    assert b"Too many failed log-in attempts" in blocked.content
    # the 429 page is a page like the others: no framing, no foreign scripts
    assert blocked["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in blocked["Content-Security-Policy"]
    assert "_auth_user_id" not in browser.session
    # another address, or another account from this one, is not blocked
    other = Client(REMOTE_ADDR="198.51.100.9")
    response = other.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    # and the same limit holds behind every other way a password comes in (basic auth)
    api = APIClient(REMOTE_ADDR="203.0.113.7")
    creds = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    api.credentials(HTTP_AUTHORIZATION=f"Basic {creds}")
    refused = api.post("/ml/setup", {}, format="json")
    # ... and says so there too: "Invalid username/password." for the right password sent an
    # operator to change credentials; the admin's login said the password did not match.
    assert refused.status_code == 429 and "Too many failed" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    admin = browser.post("/admin/login/", {"username": user.username, "password": PASSWORD})
    assert admin.status_code == 429 and b"Too many failed log-in attempts" in admin.content
    assert "_auth_user_id" not in browser.session


def test_behind_a_trusted_proxy_the_limit_counts_the_clients_address(
    private_cache, make_user, settings
):
    """Behind a TLS proxy every client had the proxy's address: ten wrong passwords from
    anyone locked the account for everyone. X-Forwarded-For is read from the right, as many
    hops as there are trusted proxies (what the client wrote itself is further left)."""
    settings.EARMARK_TRUSTED_PROXIES = 1
    user = make_user("proxied-pat")
    attacker = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.66")
    for _ in range(10):
        attacker.post("/accounts/login/", {"username": user.username, "password": "no"})
    blocked = attacker.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert blocked.status_code == 429
    # a forged left-most address does not get the attacker past it
    forged = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.66")
    response = forged.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 429
    # the owner, from their own address through the same proxy, is not locked out
    owner = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.20")
    response = owner.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


def test_a_new_password_set_by_an_admin_lifts_the_block_as_the_message_says(
    private_cache, make_user
):
    user = make_user("reset-rita")
    browser = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(10):
        browser.post("/accounts/login/", {"username": user.username, "password": "no"})
    assert (
        browser.post(
            "/accounts/login/", {"username": user.username, "password": PASSWORD}
        ).status_code
        == 429
    )
    user.set_password("a-brand-new-passphrase-42")
    user.save()
    response = browser.post(
        "/accounts/login/", {"username": user.username, "password": "a-brand-new-passphrase-42"}
    )
    assert response.status_code == 302


def test_a_successful_login_clears_the_count(private_cache, make_user):
    user = make_user("forgetful-fay")
    browser = Client(REMOTE_ADDR="203.0.113.8")
    for _ in range(9):
        browser.post("/accounts/login/", {"username": user.username, "password": "no"})
    response = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    browser.logout()
    for _ in range(9):
        browser.post("/accounts/login/", {"username": user.username, "password": "no"})
    response = browser.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"


def test_login_works_when_the_cache_is_down(settings, make_user, free_port):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    user = make_user("cacheless-cid")
    response = Client().post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302


def test_the_cache_is_shared_between_processes_by_default():
    from django.conf import settings

    backend = settings.CACHES["default"]["BACKEND"]
    assert "locmem" not in backend.lower() and "dummy" not in backend.lower(), backend


@pytest.fixture
def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- Production settings ----------------------------------------------------------------------


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "earmark.example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        "EARMARK_VAR_DIR": str(tmp_path),
    }
    # The browser tests' Playwright needs this in the test process; a deployment must not.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**os.environ, "DEBUG": "false", "EARMARK_VAR_DIR": str(tmp_path)}
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_import_job_ids_of_other_projects_are_not_found(client_for, outsider, project, lead):
    job = import_job_create(project=project, user=lead, source=ImportJob.Source.API)
    assert client_for(outsider).get(f"/api/imports/{job.pk}/").status_code == 404


def test_favicon_ico_points_at_the_apps_icon_for_pages_that_name_none(client):
    """Django's error pages and the browsable API name no icon: the browser's own request for
    /favicon.ico finds the app's, not a 404 (a console error on each such page)."""
    from django.contrib.staticfiles import finders

    res = client.get("/favicon.ico")
    assert res.status_code == 302  # not permanent: the hashed name changes with the icon
    assert res["Location"].endswith("earmark/favicon.svg")
    icon = Path(finders.find("earmark/favicon.svg"))
    assert icon.read_text().startswith("<svg")
    page = client.get("/accounts/login/")
    assert b'rel="icon"' in page.content and b"favicon.svg" in page.content


def test_no_password_reset_pages_without_a_mail_server(client):
    """With no mail server set up, /accounts/password_reset/ made the server try SMTP for any
    user's address and answer as if mail had gone; site admins reset passwords instead."""
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.post("/accounts/password_reset/", {"email": "a@b.c"}).status_code == 404
    assert client.get("/accounts/login/").status_code == 200


# --- Content-Security-Policy ----------------------------------------------------------------


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_apps_pages_forbid_inline_scripts_and_framing(annotator, project):
    client = _signed_in(annotator)
    for url in ("/", f"/projects/{project.id}/", f"/projects/{project.id}/annotate/"):
        policy = client.get(url).headers.get("Content-Security-Policy", "")
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives.get("script-src") == "'self'", (url, policy)
        assert directives.get("frame-ancestors") == "'none'", (url, policy)
        assert directives.get("object-src") == "'none'", (url, policy)
    login = Client().get("/accounts/login/")
    assert "script-src 'self'" in login.headers["Content-Security-Policy"]


def test_no_template_holds_an_inline_script_or_event_handler():
    """The policy would block them: every script is a file under static/ (a JSON data block
    from json_script does not run and is allowed)."""
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for match in re.finditer(r"<script\b([^>]*)>", text, flags=re.I):
            attributes = match.group(1)
            if "src=" not in attributes and "application/json" not in attributes:
                offenders.append(f"{template.name}: <script{attributes}>")
        offenders += [
            f"{template.name}: {m.group(0)}"
            for m in re.finditer(r"\son[a-z]+\s*=", text, flags=re.I)
        ]
    assert not offenders


def test_the_api_and_the_admin_carry_no_page_policy(lead, project):
    client = _signed_in(lead)
    assert "Content-Security-Policy" not in client.get("/api/projects/").headers
    # Swagger UI and the admin ship inline scripts of their own.
    assert "Content-Security-Policy" not in client.get("/api/docs/").headers
    assert "Content-Security-Policy" not in Client().get("/admin/login/").headers


def test_a_deployment_sets_its_own_policy_or_none(annotator, settings):
    client = _signed_in(annotator)
    settings.CONTENT_SECURITY_POLICY = "default-src 'self' https://cdn.example"
    assert client.get("/").headers["Content-Security-Policy"] == (
        "default-src 'self' https://cdn.example"
    )
    settings.CONTENT_SECURITY_POLICY = ""
    assert "Content-Security-Policy" not in client.get("/").headers


@pytest.mark.parametrize(
    "path", ["/accounts/login/", "/api/clips/1/lock/", "/api/projects/1/ontology/import/"]
)
def test_a_body_over_what_its_address_takes_is_refused_before_it_is_read(path, settings, rf):
    """A 300 MB multipart body posted to the login page, without an account, was written to
    /tmp in full before its 403 (Django stores file parts as they arrive)."""
    from labelapp.bodylimit import BodySizeLimitMiddleware

    settings.EARMARK_MAX_UPLOAD_BYTES = 10 * 2**20
    request = rf.post(path, b"", content_type="multipart/form-data; boundary=x")
    request.META["CONTENT_LENGTH"] = str(300 * 2**20)
    passed_on = []
    response = BodySizeLimitMiddleware(passed_on.append)(request)
    assert response.status_code == 413 and not passed_on
    assert not request._read_started  # not a byte of it read
    text = response.content.decode()
    assert "(300.0 MB) is over the" in text or "(300.0 MB) is larger than the" in text
    if path.startswith("/api/"):
        assert '"code": "too_large"' in text
    # it answers before anything that reads a body (the CSRF check reads the login form)
    order = settings.MIDDLEWARE
    assert order.index("labelapp.bodylimit.BodySizeLimitMiddleware") < order.index(
        "django.middleware.csrf.CsrfViewMiddleware"
    )


def test_an_upload_larger_than_other_requests_may_be_still_goes_through(
    client_for, lead, project, settings, wav_factory
):
    """The upload address takes what its setting says; the same body elsewhere is a 413."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000  # other requests: 1000 bytes + 1 MiB
    wav = wav_factory(seconds=90, sr=16000)  # ~2.9 MB
    assert wav.stat().st_size > 1000 + 2**20
    client = client_for(lead)
    with wav.open("rb") as f:
        answer = client.post(f"/api/projects/{project.pk}/clips/", {"files": [f]})
    assert answer.status_code == 201, answer.content
    assert answer.json()["imported"] == 1
    with wav.open("rb") as f:
        refused = client.post(f"/api/clips/{project.pk}/lock/", {"files": [f]})
    assert refused.status_code == 413 and refused.json()["code"] == "too_large"
    settings.EARMARK_MAX_UPLOAD_REQUEST_BYTES = 2**20
    with wav.open("rb") as f:
        too_big = client.post(f"/api/projects/{project.pk}/clips/", {"files": [f]})
    assert too_big.status_code == 413
    assert "large ones one a request" in too_big.json()["detail"]


def test_a_label_tree_file_over_the_import_limit_says_so_in_its_words(
    client_for, lead, project, monkeypatch
):
    """A 25 MB ontology file was "over the 21.0 MB this address takes": the import's limit is
    20 MB, and "this address" said nothing to a lead."""
    from ontology import formats

    monkeypatch.setattr(formats, "MAX_BYTES", 2**19)
    body = b"a/b\n" * (2**21 // 4)
    refused = client_for(lead).post(
        f"/api/projects/{project.pk}/ontology/import/", body, content_type="text/plain"
    )
    assert refused.status_code == 413
    assert refused.json()["detail"].startswith(
        "the label tree file (2.0 MB) is larger than the 0.5"
    )
    assert "an import takes: split it" in refused.json()["detail"]
