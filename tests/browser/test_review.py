"""A reviewer rejects an annotation with a comment from the review pages; the annotator sees
the rejection and its comment on their "My reviews" page."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation, Clip
from labelapp.services.annotations import annotation_submit
from ontology.services import label_get_or_create_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMMENT = "That is a crow: listen from 1.5 s"


@pytest.fixture
def submitted(project, annotator):
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip = Clip.objects.create(
        project=project,
        file="x/dawn.wav",
        sha256="d" * 64,
        original_name="dawn-chorus.wav",
        duration=10.0,
        sample_rate=16000,
        channels=1,
        status=Clip.Status.READY,
    )
    return annotation_submit(
        clip=clip,
        user=annotator,
        clip_labels=["birds/robin"],
        segments=[{"start": 1, "end": 2.5, "labels": ["birds/robin"]}],
    )


def test_a_reviewer_rejects_with_a_comment_and_the_annotator_sees_it(
    live_server, browser, page, login, reviewer, annotator, project, submitted, screenshot
):
    login(page, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("[data-testid=review-link]")
    page.wait_for_selector("[data-testid=queue-row]")
    assert "dawn-chorus.wav" in page.inner_text("[data-testid=review-queue]")
    screenshot(page, "review-queue")
    page.click("[data-testid=open-review]")
    card = page.locator(f"[data-testid=annotation][data-annotation='{submitted.pk}']")
    card.locator("[data-testid=reject-open]").click()
    card.locator("[data-testid=reject-comment]").fill(COMMENT)
    card.locator("[data-testid=reject]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=reject]")
    assert card.locator("[data-testid=annotation-status]").inner_text() == "rejected"
    assert COMMENT in page.inner_text("[data-testid=history]")
    screenshot(page, "review-clip-rejected")

    submitted.refresh_from_db()
    assert submitted.status == Annotation.Status.REJECTED
    assert submitted.review_comment == COMMENT and submitted.reviewed_by == reviewer

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        mine = context.new_page()
        login(mine, annotator)
        mine.goto(f"{live_server.url}/projects/{project.pk}/")
        mine.click("[data-testid=my-reviews-link]")
        mine.wait_for_selector("[data-testid=rejected-row]")
        assert mine.inner_text("[data-testid=rejection-comment]") == COMMENT
        assert "dawn-chorus.wav" in mine.inner_text("[data-testid=rejected]")
        screenshot(mine, "review-annotator-sees-rejection")
        mine.click("[data-testid=fix]")
        mine.wait_for_url(f"**/clips/{submitted.clip_id}/annotate/")
    finally:
        context.close()


def test_a_reviewer_corrects_labels_inline(
    live_server, page, login, reviewer, annotator, project, submitted
):
    label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{submitted.clip_id}/review/")
    card = page.locator(f"[data-testid=annotation][data-annotation='{submitted.pk}']")
    card.locator("[data-testid=correct-open]").click()
    labels = card.locator("[data-testid=correct-labels]")
    labels.wait_for()
    assert labels.input_value() == "birds/robin"
    labels.fill("birds/crow")
    card.locator(".rv-seg-editor [name=labels]").fill("birds/crow")
    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    history = page.inner_text("[data-testid=history]")
    assert "+birds/crow" in history and "−birds/robin" in history
    submitted.refresh_from_db()
    assert submitted.annotator == annotator and submitted.status == Annotation.Status.ACCEPTED
    assert [cl.label.path for cl in submitted.clip_labels.all()] == ["birds/crow"]


def test_a_lead_invites_a_member_and_makes_a_token_shown_once(
    live_server, page, login, lead, make_user, project, screenshot
):
    from labelapp.models import ApiToken, Membership

    make_user("newbie")
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click("[data-testid=members-link]")
    page.fill("[data-testid=invite-username]", "newbie")
    page.select_option("[data-testid=invite-role]", "reviewer")
    page.click("#invite button[type=submit]")
    page.wait_for_selector("[data-testid=member-row][data-username=newbie]")
    assert Membership.objects.get(project=project, user__username="newbie").role == "reviewer"
    page.fill("[data-testid=invite-username]", "ghost")
    page.click("#invite button[type=submit]")
    page.wait_for_selector("[data-testid=members-error]:not([hidden])")
    assert "ghost" in page.inner_text("[data-testid=members-error]")

    page.goto(f"{live_server.url}/tokens/")
    page.fill("[data-testid=token-name]", "nightly export")
    page.click("[data-testid=token-create]")
    page.wait_for_selector("[data-testid=token-key-box]:not([hidden])")
    key = page.inner_text("[data-testid=token-key]")
    assert key.startswith("em_")
    screenshot(page, "tokens-created")
    page.reload()
    assert key not in page.content() and "nightly export" in page.content()
    page.click("[data-testid=token-revoke]")
    page.wait_for_selector("text=revoked")
    assert ApiToken.objects.get(user=lead).revoked_at is not None
