"""A 375 px screen (a phone) shows every page without scrolling sideways: the menu wraps
(the API tokens and Password links pushed "Log out" past the edge), and wide tables scroll in
their own box (the hidden "Actions" headers escaped it)."""

from __future__ import annotations

import pytest

from labelapp.services.annotations import annotation_submit
from labelapp.services.projects import membership_set
from ontology.services import label_get_or_create_path
from tests.conftest import ready_clips

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_no_page_scrolls_sideways_on_a_phone(
    live_server, page, login, admin_user, annotator, project
):
    membership_set(project=project, user=admin_user, role="lead")
    label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    (clip,) = ready_clips(project, 1)
    annotation_submit(clip=clip, user=annotator, clip_labels=["birds/crow"])
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, admin_user)
    wide = {}
    for path in (
        "/",
        f"/projects/{project.pk}/",
        f"/projects/{project.pk}/review/",
        f"/projects/{project.pk}/model/",
        f"/projects/{project.pk}/members/",
        f"/projects/{project.pk}/exports/",
        f"/clips/{clip.pk}/history/",
        "/tokens/",
        "/accounts/password_change/",
    ):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        if width > 376:
            wide[path] = width
    assert not wide, wide
    assert page.locator("header.topbar button:has-text('Log out')").is_visible()
