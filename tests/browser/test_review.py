"""A reviewer rejects an annotation with a comment from the review pages; the annotator sees
the rejection and its comment on their "My reviews" page."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from labelapp.models import Annotation, Clip
from labelapp.services.annotations import annotation_submit
from ontology.services import label_get_or_create_path
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COMMENT = "That is a crow: listen from 1.5 s"
AUDIO = "document.querySelector('[data-testid=review-audio]')"
KEYS_READY = "#clip-review[data-keys=ready]"  # the page's keys are bound (a module loads them)


@pytest.fixture
def submitted(project, annotator, wav_factory):
    """A submitted annotation of a clip with real audio (the annotator's workspace opens it)."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip = _audio_clip(project, wav_factory(seconds=10, freq=500), "dawn-chorus.wav")
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
    card.locator("[data-testid=reject-comment]").press("Control+Enter")  # sends it, as the button
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
        # The workspace says what to fix while they fix it.
        mine.wait_for_selector(f"[data-testid=banner]:has-text('{COMMENT}')")
        assert "sent this back" in mine.inner_text("[data-testid=banner]")
    finally:
        context.close()


def _correction_opened(page, live_server, login, reviewer, annotation):
    """The reviewer on the annotation's clip page with its correction form open: its card and
    the clip labels box."""
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{annotation.clip_id}/review/")
    card = page.locator(f"[data-testid=annotation][data-annotation='{annotation.pk}']")
    card.locator("[data-testid=correct-open]").click()
    labels = card.locator("[data-testid=correct-labels]")
    labels.wait_for()
    return card, labels


def test_a_reviewer_corrects_labels_inline(
    live_server, page, login, reviewer, annotator, project, submitted
):
    label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    card, labels = _correction_opened(page, live_server, login, reviewer, submitted)
    assert labels.input_value() == "birds/robin"
    labels.fill("birds/crow")
    card.locator(".rv-seg-editor [name=labels]").fill("birds/crow")
    card.locator(".rv-correct [name=comment]").fill("a crow")
    card.locator(".rv-correct [name=comment]").press("Control+Enter")  # saves it, as the button
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    history = page.inner_text("[data-testid=history]")
    assert "+birds/crow" in history and "−birds/robin" in history
    submitted.refresh_from_db()
    assert submitted.annotator == annotator and submitted.status == Annotation.Status.ACCEPTED
    assert [cl.label.path for cl in submitted.clip_labels.all()] == ["birds/crow"]


def test_a_correction_keeps_label_names_that_hold_a_comma(
    live_server, page, login, reviewer, annotator, project, wav_factory
):
    """Labels "x, y", "x" and "y" all exist: a correction saved unchanged keeps "x, y" one
    label (the box lists labels comma-separated), and one typed as "x, y, birds/robin" too."""
    for path in ("x, y", "x", "y", "birds/robin"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    clip = _audio_clip(project, wav_factory(seconds=4, freq=500), "commas.wav")
    annotation = annotation_submit(
        clip=clip,
        user=annotator,
        clip_labels=["x, y"],
        segments=[{"start": 1, "end": 2, "labels": ["x, y"]}],
    )
    card, labels = _correction_opened(page, live_server, login, reviewer, annotation)
    assert labels.input_value() == "x, y"
    card.locator(".rv-seg-editor [name=labels]").fill("x, y, birds/robin")
    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    annotation.refresh_from_db()
    assert [cl.label.path for cl in annotation.clip_labels.all()] == ["x, y"]
    (segment,) = annotation.segments.all()
    assert sorted(sl.label.path for sl in segment.segment_labels.all()) == ["birds/robin", "x, y"]


def test_a_reviewer_corrects_segments_on_the_waveform(
    live_server, page, login, reviewer, annotator, project, submitted, screenshot
):
    """The 10 s clip's segment is 1.0-2.5 s. On the correction's lane under the waveform the
    reviewer drags its end to 4 s, drags out a new segment over 6-8 s and labels it; the table
    follows every drag, and the correction saves exactly that."""
    label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{submitted.clip_id}/review/")
    page.wait_for_selector("[data-testid=review-waveform]")
    card = page.locator(f"[data-testid=annotation][data-annotation='{submitted.pk}']")
    card.locator("[data-testid=correct-open]").click()
    lane = page.locator("[data-testid=correction-lane]")
    lane.wait_for()
    boxes = lane.locator("[data-testid=correction-segment]")
    assert boxes.count() == 1
    # one segment, one page: no pager ("Segment 1 of 1" with both buttons off showed, its
    # hidden attribute beaten by a display rule)
    assert not card.locator("[data-testid=correct-pager]").is_visible()
    track = lane.locator(".rv-lane-track").bounding_box()
    x = lambda t: track["x"] + track["width"] * t / 10.0  # noqa: E731
    y = track["y"] + track["height"] / 2

    handle = boxes.first.locator("[data-testid=correction-handle-end]").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(x(3.0), y, steps=4)
    page.mouse.move(x(4.0), y, steps=4)
    page.mouse.up()
    rows = card.locator(".rv-seg-editor tbody tr")
    assert rows.nth(0).locator("[name=start]").input_value() == "1.00"
    assert abs(float(rows.nth(0).locator("[name=end]").input_value()) - 4.0) <= 0.05
    # Space after a drag plays the clip: it does not press Correct… again (which reloaded
    # the table and lost the drag), and R does not open a rejection over the correction
    page.wait_for_selector(KEYS_READY)
    page.keyboard.press(" ")
    page.wait_for_function(f"() => !{AUDIO}.paused")
    page.keyboard.press(" ")
    page.keyboard.press("r")
    assert card.locator(".rv-reject").is_hidden()
    assert abs(float(rows.nth(0).locator("[name=end]").input_value()) - 4.0) <= 0.05
    # dragged out and back to where it started: no segment
    page.mouse.move(x(9.0), y)
    page.mouse.down()
    page.mouse.move(x(9.5), y, steps=3)
    page.mouse.move(x(9.0), y, steps=3)
    page.mouse.up()
    assert rows.count() == 1

    page.mouse.move(x(6.0), y)
    page.mouse.down()
    page.mouse.move(x(7.0), y, steps=4)
    page.mouse.move(x(8.0), y, steps=4)
    page.mouse.up()
    assert rows.count() == 2 and boxes.count() == 2
    new_labels = rows.nth(1).locator("[name=labels]")
    assert new_labels.evaluate("el => el === document.activeElement")  # labels next
    new_labels.fill("birds/crow")
    assert boxes.nth(1).inner_text() == "crow"  # names on the lane, as the annotators' lanes
    # typing in the table moves the box too
    rows.nth(1).locator("[name=start]").fill("5")
    left = lambda i: boxes.nth(i).evaluate("el => parseFloat(el.style.left)")  # noqa: E731
    assert abs(left(1) - 50.0) < 0.5
    screenshot(page, "review-correct-on-waveform")
    # a blank start is not 0: the save is refused next to its button, naming the row
    rows.nth(1).locator("[name=start]").fill("")
    card.locator("[data-testid=correct]").click()
    error = card.locator("[data-testid=review-error]")
    error.wait_for()
    assert "Segment 2: its start is not a number" in error.inner_text()
    assert boxes.nth(1).is_hidden()
    rows.nth(1).locator("[name=start]").fill("5,0")  # a decimal comma is read as a point

    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    assert page.locator("[data-testid=correction-lane]").count() == 0
    submitted.refresh_from_db()
    saved = [
        (round(s.start, 1), round(s.end, 1), [sl.label.path for sl in s.segment_labels.all()])
        for s in submitted.segments.all()
    ]
    assert saved == [(1.0, 4.0, ["birds/robin"]), (5.0, 8.0, ["birds/crow"])]


def test_cancelling_a_correction_takes_its_lane_away(
    live_server, page, login, reviewer, project, submitted
):
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{submitted.clip_id}/review/")
    card = page.locator(f"[data-testid=annotation][data-annotation='{submitted.pk}']")
    card.locator("[data-testid=correct-open]").click()
    page.wait_for_selector("[data-testid=correction-lane]")
    card.locator(".rv-correct [data-action=cancel]").click()
    assert page.locator("[data-testid=correction-lane]").count() == 0
    card.locator("[data-testid=correct-open]").click()
    page.wait_for_selector("[data-testid=correction-lane]")
    card.locator("[data-testid=reject-open]").click()  # the other form closes this one
    assert page.locator("[data-testid=correction-lane]").count() == 0
    # two clicks in a row, while the first is still loading: one lane, gone on Cancel
    page.evaluate(
        "() => { const b = document.querySelector('[data-testid=correct-open]');"
        " b.click(); b.click(); }"
    )
    page.wait_for_selector("[data-testid=correction-lane]")
    page.wait_for_timeout(300)
    assert page.locator("[data-testid=correction-lane]").count() == 1
    card.locator(".rv-correct [data-action=cancel]").click()
    assert page.locator("[data-testid=correction-lane]").count() == 0


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
    page.wait_for_selector(
        "[data-testid=members-status]:has-text('Added: newbie is now reviewer of this project.')"
    )
    page.fill("[data-testid=invite-username]", "ghost")
    page.click("#invite button[type=submit]")
    page.wait_for_selector("[data-testid=members-error]:not([hidden])")
    assert "ghost" in page.inner_text("[data-testid=members-error]")
    assert "give a first password" in page.inner_text("[data-testid=members-error]")
    assert page.inner_text("[data-testid=members-status]") == ""  # "Added: newbie" is gone
    # Someone new: a username and a first password make the account.
    page.fill("[data-testid=invite-password]", "correct-horse-staple")
    page.click("#invite button[type=submit]")
    page.wait_for_selector("[data-testid=member-row][data-username=ghost]")
    page.wait_for_selector("[data-testid=members-status]:has-text('Account made and added')")
    assert Membership.objects.get(project=project, user__username="ghost").role == "annotator"
    # Demoting oneself asks first; dismissed, nothing is sent.
    own = f"[data-testid=member-row][data-username={lead.username}] [data-testid=member-role]"
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.select_option(own, "annotator")
    page.wait_for_function(f"() => document.querySelector('{own}').value === 'lead'")
    assert "You stop being a lead of this project" in asked[0]
    # The only lead demoting themself is refused; the row shows their role as it still is.
    page.once("dialog", lambda dialog: dialog.accept())
    page.select_option(own, "annotator")
    page.wait_for_function(
        "() => /lead/i.test(document.querySelector('[data-testid=members-error]').innerText)"
    )
    assert page.eval_on_selector(own, "el => el.value") == "lead"
    assert Membership.objects.get(project=project, user=lead).role == "lead"
    # With the keyboard: the arrows choose, Enter saves (each arrow saved and reloaded), and
    # the focus stays on the list.
    newbie = "[data-testid=member-row][data-username=newbie] [data-testid=member-role]"
    page.focus(newbie)
    page.keyboard.press("ArrowUp")  # reviewer -> lead, not saved yet
    assert Membership.objects.get(project=project, user__username="newbie").role == "reviewer"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # annotator
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=members-status]:has-text('newbie is now')")
    assert Membership.objects.get(project=project, user__username="newbie").role == "annotator"
    assert page.evaluate("() => document.activeElement.dataset.testid") == "member-role"
    # A removal says what it did on the page drawn again (the row went without a word).
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=member-row][data-username=newbie] [data-testid=member-remove]")
    page.wait_for_selector("[data-testid=members-status]:has-text('Removed: newbie')")
    assert not Membership.objects.filter(project=project, user__username="newbie").exists()

    page.goto(f"{live_server.url}/tokens/")
    page.fill("[data-testid=token-name]", "nightly export")
    page.click("[data-testid=token-create]")
    page.wait_for_selector("[data-testid=token-key-box]:not([hidden])")
    key = page.inner_text("[data-testid=token-key]")
    assert key.startswith("em_")
    screenshot(page, "tokens-created")
    # the new row can be revoked at once (it had no button until a reload), after a
    # confirmation, in place: the new key stays on screen (a reload lost it)
    page.fill("[data-testid=token-name]", "one-off")
    page.click("[data-testid=token-create]")
    page.wait_for_selector("[data-testid=token-row]:has-text('one-off') [data-testid=token-revoke]")
    one_off_key = page.inner_text("[data-testid=token-key]")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("[data-testid=token-row]:has-text('one-off') [data-testid=token-revoke]")
    assert ApiToken.objects.get(user=lead, name="one-off").revoked_at is None
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=token-row]:has-text('one-off') [data-testid=token-revoke]")
    page.wait_for_selector("[data-testid=token-row]:has-text('one-off') >> text=revoked")
    assert ApiToken.objects.get(user=lead, name="one-off").revoked_at is not None
    assert page.inner_text("[data-testid=token-key]") == one_off_key
    page.reload()
    assert key not in page.content() and "nightly export" in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=token-row]:has-text('nightly export') [data-testid=token-revoke]")
    page.wait_for_selector("[data-testid=token-row]:has-text('nightly export') >> text=revoked")
    assert ApiToken.objects.get(user=lead, name="nightly export").revoked_at is not None


def _audio_clip(project, path, name: str) -> Clip:
    """A ready clip with real audio behind it (peaks, playback), processed here or by the
    session's worker. The project's model loop is off: no cold-start ranking reorders the
    review queue."""
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from ml_backend.models import MLConfig
    from tests.conftest import wait_for

    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    outcome = clip_import(project=project, item=ImportItem(name=name, path=path))
    clip_process(outcome.clip_id)
    clip = Clip.objects.get(pk=outcome.clip_id)
    wait_for(lambda: clip.refresh_from_db() or clip.status == "ready", message=f"{name} not ready")
    return clip


def test_the_review_page_draws_each_annotations_segments_and_plays_one(
    live_server, page, login, reviewer, annotator, lead, project, wav_factory, screenshot
):
    """Two annotators' segments on lanes under the clip's waveform, placed by time; a click
    on a segment plays that span and stops at its end."""
    robin, _ = label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    robin.color = "#e5484d"
    robin.save(update_fields=["color"])
    clip = _audio_clip(project, wav_factory(seconds=4, freq=700), "dawn.wav")
    annotation_submit(
        clip=clip, user=annotator, segments=[{"start": 1, "end": 2, "labels": ["birds/robin"]}]
    )
    annotation_submit(
        clip=clip,
        user=lead,
        segments=[
            {"start": 0.5, "end": 1.0, "labels": ["birds/crow"]},
            {"start": 2.0, "end": 3.0, "labels": ["birds/robin"]},
        ],
    )

    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    page.wait_for_selector("[data-testid=review-waveform][data-drawn=true]")
    lanes = page.locator("[data-testid=review-lane]")
    assert lanes.count() == 2
    assert lanes.nth(0).locator("[data-testid=review-segment]").all_inner_texts() == ["robin"]
    assert lanes.nth(1).locator("[data-testid=review-segment]").all_inner_texts() == [
        "crow",
        "robin",
    ]
    # each box in its label's colour, as in the workspace (they were all one blue)
    colors = (
        lanes.nth(1)
        .locator("[data-testid=review-segment]")
        .evaluate_all("els => els.map(e => e.style.getPropertyValue('--seg'))")
    )
    assert colors[1] == "#e5484d" and colors[0] not in ("", "#e5484d")
    wave = page.locator("[data-testid=review-waveform]").bounding_box()
    crow = lanes.nth(1).locator("[data-testid=review-segment]").nth(0).bounding_box()
    # 0.5-1.0 s of a 4 s clip: an eighth of the waveform in, an eighth of it wide, so a
    # segment sits under the part of the waveform it marks
    assert abs((crow["x"] - wave["x"]) / wave["width"] - 0.125) < 0.01
    assert abs(crow["width"] / wave["width"] - 0.125) < 0.01

    lanes.nth(1).locator("[data-testid=review-segment]").nth(1).click()
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=review-audio]');"
        " return !a.paused && a.currentTime >= 2.0; }"
    )
    screenshot(page, "review-segment-lanes")
    # It stops at the segment's end, not the clip's.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=review-audio]').paused", timeout=5000
    )
    at = page.evaluate("document.querySelector('[data-testid=review-audio]').currentTime")
    assert 3.0 <= at < 3.5, at
    assert page.locator("[data-testid=review-playhead]").is_visible()

    # Space right after a click on a segment pauses it (the click leaves no focus that would
    # take Space as another click and start the segment over).
    crow_seg = lanes.nth(1).locator("[data-testid=review-segment]").nth(0)
    crow_seg.click()
    page.wait_for_function(f"() => !{AUDIO}.paused")
    page.keyboard.press(" ")
    page.wait_for_function(f"() => {AUDIO}.paused")
    assert page.evaluate(f"{AUDIO}.currentTime") < 1.0
    # A seek of the user's own while a segment plays: playback goes on past the segment's end.
    crow_seg.click()
    page.wait_for_function(f"() => !{AUDIO}.paused")
    # A screen refresh may come before the seek's `seeking` event (as it did in a loaded CI run,
    # which paused here): a timeupdate sent at once stands for it.
    page.evaluate(
        f"() => {{ {AUDIO}.currentTime = 2.5; {AUDIO}.dispatchEvent(new Event('timeupdate')); }}"
    )
    page.wait_for_function(f"() => {AUDIO}.currentTime > 1.3 && !{AUDIO}.paused")
    page.wait_for_function(f"() => {AUDIO}.currentTime > 2.8")
    assert not page.evaluate(f"{AUDIO}.paused")


def test_a_reviewer_decides_from_the_keyboard(
    live_server, page, login, reviewer, annotator, project, wav_factory
):
    """Space plays, A accepts the clip's one annotation, N opens the next clip in the queue;
    typing in the comment box is typing, not keys."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    first, second = (
        annotation_submit(
            clip=_audio_clip(project, wav_factory(seconds=3, freq=500 + 300 * i), f"k{i}.wav"),
            user=annotator,
            clip_labels=["birds/robin"],
        )
        for i in range(2)
    )

    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{first.clip_id}/review/")
    page.wait_for_selector("[data-testid=review-waveform][data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    # Clip labels only: no lanes, and the waveform takes the player's whole width.
    assert page.locator("[data-testid=review-lane]").count() == 0
    wave = page.locator("[data-testid=review-waveform]").bounding_box()
    player = page.locator("[data-testid=review-audio]").bounding_box()
    assert abs(wave["x"] - player["x"]) < 2 and abs(wave["width"] - player["width"]) < 2
    page.keyboard.press(" ")
    page.wait_for_function(f"() => !{AUDIO}.paused && {AUDIO}.currentTime > 0")
    page.keyboard.press(" ")
    page.wait_for_function(f"() => {AUDIO}.paused")

    page.keyboard.press("r")  # opens the rejection box; what follows is its text
    page.keyboard.type("a note")
    assert page.input_value("[data-testid=reject-comment]") == "a note"
    page.click("h1")  # out of the box, the draft still open: A must not accept under it
    page.keyboard.press("a")
    page.wait_for_timeout(1000)  # time for an accept to land, were one sent
    first.refresh_from_db()
    assert first.status == Annotation.Status.SUBMITTED
    assert page.input_value("[data-testid=reject-comment]") == "a note"
    page.click("[data-action=cancel]")

    page.keyboard.press("a")
    page.wait_for_selector("[data-testid=history-row][data-action=accept]")
    first.refresh_from_db()
    assert first.status == Annotation.Status.ACCEPTED and first.reviewed_by == reviewer

    page.wait_for_selector(KEYS_READY)  # the page reloaded after the accept
    # said on the page, for a screen reader too, and the focus is on what comes next
    said = page.locator("[data-testid=review-decided]")
    assert said.get_attribute("role") == "status"
    expected = f"{annotator.username}'s annotation is accepted."
    page.wait_for_function(
        "(t) => document.querySelector('[data-testid=review-decided]').textContent === t",
        arg=expected,
    )
    focused = page.evaluate("() => document.activeElement.dataset.testid")
    assert focused == "next-in-queue"
    page.keyboard.press("n")
    page.wait_for_url(f"**/clips/{second.clip_id}/review/")
    assert page.locator("[data-testid=review-decided]").is_hidden()  # not said again here


def test_keys_say_which_buttons_to_use_with_two_annotations_and_escape_closes_a_form(
    live_server, page, login, reviewer, annotator, lead, project, wav_factory
):
    """With two submissions waiting, A and R did nothing, without a word; Escape did not
    close the rejection box."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip = _audio_clip(project, wav_factory(seconds=3, freq=500), "two.wav")
    for user in (annotator, lead):
        annotation_submit(clip=clip, user=user, clip_labels=["birds/robin"])
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    page.wait_for_selector(KEYS_READY)
    for key in ("a", "r"):
        page.keyboard.press(key)
        error = page.locator("[data-testid=review-error]")
        error.wait_for()
        assert "2 annotations wait for a decision" in error.inner_text()
    assert Annotation.objects.filter(clip=clip, status="submitted").count() == 2
    card = page.locator("[data-testid=annotation]").first
    card.locator("[data-testid=reject-open]").click()
    assert page.locator("[data-testid=reject-comment]").first.is_visible()
    page.keyboard.type("half a")
    # Typed text is not thrown away by one Escape (it also dismisses a suggestion list): the
    # form says so, and a second Escape discards.
    page.keyboard.press("Escape")
    assert card.locator(".rv-reject").is_visible()
    assert "press Escape again" in card.locator("[data-testid=discard-note]").inner_text()
    page.keyboard.press("Escape")
    assert not card.locator(".rv-reject").is_visible()
    # the focus is back on the button that opened it (it fell to the page)
    assert card.locator("[data-testid=reject-open]").evaluate("el => el === document.activeElement")
    # a cancelled rejection's text is not the next one's
    card.locator("[data-testid=reject-open]").click()
    assert page.locator("[data-testid=reject-comment]").first.input_value() == ""
    page.keyboard.press("Escape")  # nothing typed: one Escape closes it
    assert not card.locator(".rv-reject").is_visible()

    # Two cards with a rejection open each: Escape acts on the one the focus is in.
    cards = page.locator("[data-testid=annotation]")
    cards.nth(0).locator("[data-testid=reject-open]").click()
    page.keyboard.type("first card")
    cards.nth(1).locator("[data-testid=reject-open]").click()
    page.keyboard.type("second card")
    page.keyboard.press("Escape")
    assert cards.nth(1).locator("[data-testid=discard-note]").count() == 1
    assert cards.nth(0).locator("[data-testid=discard-note]").count() == 0
    page.keyboard.press("Escape")
    assert not cards.nth(1).locator(".rv-reject").is_visible()
    assert cards.nth(0).locator("[data-testid=reject-comment]").input_value() == "first card"
    # Opening the correction of a card with a changed rejection asks first.
    page.once("dialog", lambda dialog: dialog.dismiss())
    cards.nth(0).locator("[data-testid=correct-open]").click()
    assert cards.nth(0).locator("[data-testid=reject-comment]").input_value() == "first card"
    page.once("dialog", lambda dialog: dialog.accept())
    cards.nth(0).locator("[data-testid=correct-open]").click()
    cards.nth(0).locator("[data-testid=correct-labels]").wait_for()
    assert not cards.nth(0).locator(".rv-reject").is_visible()
    cards.nth(0).locator("[data-testid=correct-labels]").press("Escape")  # unchanged: closes

    # A correction's edits: kept by the first Escape, and asked again after more editing.
    card.locator("[data-testid=correct-open]").click()
    labels = card.locator("[data-testid=correct-labels]")
    labels.wait_for()
    labels.fill("birds/rob")
    labels.press("Escape")
    assert labels.is_visible() and labels.input_value() == "birds/rob"
    labels.type("in, birds")
    labels.press("Escape")
    assert labels.is_visible(), "a change after the question asks again"
    labels.press("Escape")
    assert not labels.is_visible()


WAVE = "[data-testid=review-waveform]"


def _view(page) -> tuple[float, float]:
    """The span of the clip the review waveform shows, as the player writes it."""
    data = page.locator(WAVE).evaluate("el => [el.dataset.viewStart, el.dataset.viewEnd]")
    return float(data[0]), float(data[1])


def _view_changes(page, before: tuple[float, float]) -> tuple[float, float]:
    page.wait_for_function(
        f"([s, e]) => {{ const d = document.querySelector('{WAVE}').dataset;"
        " return Math.abs(d.viewStart - s) > 1e-6 || Math.abs(d.viewEnd - e) > 1e-6; }",
        arg=list(before),
    )
    return _view(page)


def test_the_review_waveform_zooms_and_scrolls_and_its_lanes_follow(
    live_server, page, login, reviewer, project, submitted, screenshot
):
    """The 10 s clip shows whole at first. The buttons, + / - / F / 0 and Ctrl+wheel zoom; a
    sideways wheel and a drag on the waveform scroll; the annotator's segment (1.0-2.5 s) sits
    under the times it marks at every view, and the ruler and the span shown say where."""
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{submitted.clip_id}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    zoom = page.locator("[data-testid=review-zoom]")
    assert _view(page) == (0.0, 10.0) and zoom.inner_text() == "10 s"
    assert page.inner_text("[data-testid=review-view-span]") == "0:00.0 – 0:10.0"
    assert page.locator("[data-testid=review-ruler]").bounding_box()["height"] > 0
    track = page.locator("[data-testid=review-lane] .rv-lane-track").bounding_box()
    seg = page.locator("[data-testid=review-segment]")

    def where(t0, t1):  # the segment's box as shares of the lane, and where 1.0-2.5 s falls
        box = seg.bounding_box()
        got = ((box["x"] - track["x"]) / track["width"], box["width"] / track["width"])
        start, end = _view(page)
        span = end - start
        left, right = max(0.0, (t0 - start) / span), min(1.0, (t1 - start) / span)
        return got, (left, right - left)

    got, want = where(1.0, 2.5)
    assert abs(got[0] - want[0]) < 0.005 and abs(got[1] - want[1]) < 0.005

    spec = "[data-testid=review-spectrogram]"
    page.wait_for_function(
        f"() => (document.querySelector('{spec}').src || '').includes('end=10.0000')"
    )
    assert page.locator("[data-testid=spec-axis] span").count() > 0  # a frequency axis

    page.click("[data-testid=review-zoom-in]")  # around the playhead, at 0 s
    assert _view(page) == (0.0, 5.0) and zoom.inner_text() == "5.0 s"
    # the spectrogram follows the view, as in the workspace (the review page had none)
    page.wait_for_function(f"() => document.querySelector('{spec}').src.includes('end=5.0000')")
    assert page.inner_text("[data-testid=review-view-span]") == "0:00.00 – 0:05.00"
    page.keyboard.press("+")
    assert _view(page) == (0.0, 2.5)
    got, want = where(1.0, 2.5)
    assert abs(got[0] - 0.4) < 0.005 and abs(got[1] - 0.6) < 0.005, got
    page.keyboard.press("-")
    assert _view(page) == (0.0, 5.0)
    page.keyboard.press("0")
    assert _view(page) == (0.0, 10.0)
    page.keyboard.press("=")
    assert _view(page) == (0.0, 5.0)
    page.keyboard.press("f")
    assert _view(page) == (0.0, 10.0)

    # Ctrl+wheel zooms around the pointer: the time under it stays under it.
    wave = page.locator(WAVE).bounding_box()
    px = wave["x"] + wave["width"] * 0.75
    page.mouse.move(px, wave["y"] + wave["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -400)
    page.keyboard.up("Control")
    start, end = _view_changes(page, (0.0, 10.0))
    assert end - start < 9.0
    assert abs(start + 0.75 * (end - start) - 7.5) < 0.05
    assert page.evaluate("window.scrollY") == 0  # the page itself stayed put
    assert start > 2.5 and seg.is_hidden()  # out of the view: not on its lane

    # A sideways wheel and a drag to the right both scroll back in time.
    page.mouse.wheel(-200, 0)
    start2, end2 = _view_changes(page, (start, end))
    assert start2 < start and abs((end2 - start2) - (end - start)) < 1e-6
    y = wave["y"] + wave["height"] / 2
    page.mouse.move(wave["x"] + 300, y)
    page.mouse.down()
    page.mouse.move(wave["x"] + 400, y, steps=5)
    page.mouse.up()
    start3, _ = _view(page)
    assert abs((start2 - start3) - 100 * (end2 - start2) / wave["width"]) < 0.01
    got, want = where(1.0, 2.5)
    assert abs(got[0] - want[0]) < 0.005 and abs(got[1] - want[1]) < 0.005
    screenshot(page, "review-zoomed")

    # A click (no drag) on the waveform plays from there; the playhead is drawn at that time.
    start, end = _view(page)
    page.mouse.click(wave["x"] + wave["width"] / 2, y)
    page.wait_for_function(f"() => !{AUDIO}.paused")
    page.keyboard.press(" ")
    page.wait_for_function(f"() => {AUDIO}.paused")
    at = page.evaluate(f"{AUDIO}.currentTime")
    # it played from the click (a loaded machine may take a while to pause it again)
    assert (start + end) / 2 - 0.01 <= at < (start + end) / 2 + 3.0
    # a slow machine may have played past the view's end, which pages the view along: the
    # playhead is placed in the view shown now
    start, end = _view(page)
    page.locator("[data-testid=review-playhead]").wait_for(state="visible")
    head = page.locator("[data-testid=review-playhead]").bounding_box()
    assert (
        abs(
            head["x"]
            + head["width"] / 2
            - (wave["x"] + (at - start) / (end - start) * wave["width"])
        )
        < 2
    )


def test_home_end_and_a_typed_time_move_the_review_and_its_view(
    live_server, page, login, reviewer, project, submitted
):
    """The end of an hour-long recording was dozens of Shift+wheel scrolls away: End, Home
    and Alt+G, as in the workspace; the zoomed view follows."""
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{submitted.clip_id}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    page.keyboard.press("+")
    page.keyboard.press("+")  # 0-2.5 s of the 10 s clip
    page.keyboard.press("End")
    page.wait_for_function(f"() => {AUDIO}.currentTime > 9.9")
    page.wait_for_function(
        f"() => {{ const d = document.querySelector('{WAVE}').dataset;"
        " return +d.viewStart <= 9.98 && 9.98 <= +d.viewEnd; }"
    )
    page.once("dialog", lambda d: d.accept("0:05.5"))
    page.keyboard.press("Alt+g")
    page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - 5.5) < 0.01")
    # the view follows once the seek is done (a loaded machine: a moment after the time moves)
    page.wait_for_function(
        f"() => {{ const d = document.querySelector('{WAVE}').dataset;"
        " return +d.viewStart <= 5.5 && 5.5 <= +d.viewEnd; }"
    )
    page.keyboard.press("Home")
    page.wait_for_function(f"() => {AUDIO}.currentTime === 0")
    page.once("dialog", lambda d: d.accept("1:00"))  # past the clip: said, not done
    page.keyboard.press("Alt+g")
    page.wait_for_selector(".rv-error:has-text('Not a time in this clip')")
    assert page.evaluate(f"{AUDIO}.currentTime") == 0


def test_a_correction_dragged_on_a_zoomed_long_clip_lands_on_the_pixels_pressed(
    live_server, page, login, reviewer, annotator, project, wav_factory, screenshot
):
    """A 2-hour recording with a 1 s segment an hour in: seen whole, the segment is a fifth
    of a pixel. Zoomed in around it, the correction's lane is drawn at the view and a drag
    from pixel a to pixel b writes the times the waveform shows there (within a pixel, in the
    10 ms steps the server stores: the table shows 2 decimals, and the correction saves just
    what it shows); only the view's window of peaks is fetched; and playback pages the view
    along."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip = _audio_clip(project, wav_factory(seconds=7200, sr=3000, freq=700), "night.wav")
    annotation = annotation_submit(
        clip=clip,
        user=annotator,
        segments=[{"start": 3600, "end": 3601, "labels": ["birds/robin"]}],
    )
    peaks = []
    page.on("request", lambda r: "/peaks?" in r.url and peaks.append(r.url))
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    card = page.locator(f"[data-testid=annotation][data-annotation='{annotation.pk}']")
    card.locator("[data-testid=correct-open]").click()
    lane = page.locator("[data-testid=correction-lane]")
    lane.wait_for()
    box = lane.locator("[data-testid=correction-segment]")
    assert box.locator("[data-testid=correction-handle-end]").count() == 0  # too narrow

    # To the segment (the view stays whole), then zoom in around the playhead there.
    page.evaluate(f"() => {{ {AUDIO}.currentTime = 3600.5; }}")
    page.wait_for_function(f"() => Math.abs({AUDIO}.currentTime - 3600.5) < 0.01")
    for _ in range(12):
        page.keyboard.press("+")
    start, end = _view(page)
    span = end - start
    assert abs(span - 7200 / 4096) < 1e-3 and start < 3600 < 3601 < end
    # the detail fetched is the view's window, at the canvas's width
    page.wait_for_function(
        f"span => Math.abs(document.querySelector('{WAVE}').dataset.detailSpan - span) < 0.01",
        arg=span,
    )
    canvas_width = page.locator(WAVE).evaluate("el => el.clientWidth")
    for url in peaks:
        query = dict(p.split("=") for p in url.split("?")[1].split("&"))
        assert int(query["width"]) <= max(200, canvas_width), url
    assert (
        "start=0&" in peaks[0] and len(peaks) <= 13
    )  # the overview, then one window a zoom at most

    track = lane.locator(".rv-lane-track").bounding_box()
    per_px = span / track["width"]
    time_of = lambda x: start + (x - track["x"]) / track["width"] * span  # noqa: E731
    y = track["y"] + track["height"] / 2
    seg_box = box.bounding_box()
    assert abs(seg_box["x"] - (track["x"] + (3600 - start) / per_px)) < 1.5
    assert abs(seg_box["width"] - 1.0 / per_px) < 1.5

    # the segment's end, dragged 60 px right: it ends where the pointer let go
    handle = box.locator("[data-testid=correction-handle-end]").bounding_box()
    hx = round(handle["x"] + handle["width"] / 2)
    page.mouse.move(hx, y)
    page.mouse.down()
    for k in range(1, 5):
        page.mouse.move(hx + 15 * k, y)
    page.mouse.up()
    rows = card.locator(".rv-seg-editor tbody tr")
    assert abs(float(rows.nth(0).locator("[name=start]").input_value()) - 3600) < 1e-6
    moved_end = float(rows.nth(0).locator("[name=end]").input_value())
    step = 0.005 + per_px  # a pixel here is under 2 ms: the 10 ms step rounds by up to 5 ms
    assert abs(moved_end - time_of(hx + 60)) < step, (moved_end, time_of(hx + 60), per_px)

    # a new segment dragged out from pixel a to pixel b (right of the first)
    first = box.bounding_box()
    a = round(first["x"] + first["width"] + 15)
    b = round(a + track["width"] * 0.08)
    assert b < track["x"] + track["width"]
    page.mouse.move(a, y)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(a + (b - a) * k / 5, y)
    page.mouse.up()
    assert rows.count() == 2
    new_start = rows.nth(1).locator("[name=start]").input_value()
    new_end = float(rows.nth(1).locator("[name=end]").input_value())
    # a pixel is under 5 ms here, but the server keeps 10 ms steps: the table shows those
    assert len(new_start.split(".")[1]) == 2
    assert abs(float(new_start) - time_of(a)) < step, (new_start, time_of(a), per_px)
    assert abs(new_end - time_of(b)) < step, (new_end, time_of(b), per_px)
    rows.nth(1).locator("[name=labels]").fill("birds/robin")
    screenshot(page, "review-correct-zoomed-long-clip")

    # playing past the view's end pages it along, and the lane follows
    page.evaluate(f"() => {{ {AUDIO}.currentTime = {end - 0.2}; {AUDIO}.play(); }}")
    start2, end2 = _view_changes(page, (start, end))
    page.evaluate(f"() => {AUDIO}.pause()")
    assert start2 > start and abs((end2 - start2) - span) < 1e-6
    start2, _ = _view(page)  # paused: the view holds still now
    t = float(rows.nth(1).locator("[name=start]").input_value())
    # (the first segment is out of the view now: it has no box)
    second = lane.locator("[data-testid=correction-segment][data-row='1']")
    left = second.evaluate("el => parseFloat(el.style.left)")  # percent of the lane
    assert abs(left - max(0.0, (t - start2) / span * 100)) < 0.1

    shown = sorted(
        tuple(float(rows.nth(i).locator(f"[name={n}]").input_value()) for n in ("start", "end"))
        for i in range(2)
    )
    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    annotation.refresh_from_db()
    saved = sorted((s.start, s.end) for s in annotation.segments.all())
    assert len(saved) == 2 and saved[0][0] == 3600
    assert saved == shown  # what the table showed is what was saved
    assert abs(saved[1][0] - time_of(a)) < step and abs(saved[1][1] - time_of(b)) < step


def test_a_stereo_clip_is_reviewed_a_lane_per_channel(
    live_server, page, login, reviewer, annotator, project, tmp_path
):
    """The review waveform draws each channel in its own lane (as the workspace does), and a
    segment of one channel says which."""
    import numpy as np
    import soundfile as sf

    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    sr = 16000
    t = np.arange(4 * sr) / sr
    path = tmp_path / "left-only.wav"
    left = 0.5 * np.sin(2 * np.pi * 700 * t)
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), sr, subtype="PCM_16")
    clip = _audio_clip(project, path, "left-only.wav")
    annotation_submit(
        clip=clip,
        user=annotator,
        segments=[{"start": 1, "end": 2, "channel": 1, "labels": ["birds/robin"]}],
    )
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    wave = page.locator("[data-testid=review-waveform][data-drawn=true]")
    wave.wait_for()
    page.wait_for_function(
        "() => document.querySelector('[data-testid=review-waveform]').dataset.lanes === '2'"
    )
    assert wave.get_attribute("data-lane-labels") == "L|R"
    segment = page.locator("[data-testid=review-segment]")
    assert segment.get_attribute("data-channel") == "1"
    assert "s, R: play" in segment.get_attribute("title")


def test_a_correction_edge_dragged_past_the_other_swaps_them(
    live_server, page, login, reviewer, project, submitted
):
    """The segment is 1.0-2.5 s of a 10 s clip: its start dragged to 3.5 s makes 2.5-3.5 s
    (it used to squeeze the segment to one step at 2.5 s)."""
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{submitted.clip_id}/review/")
    page.wait_for_selector("[data-testid=review-waveform][data-drawn=true]")
    card = page.locator(f"[data-testid=annotation][data-annotation='{submitted.pk}']")
    card.locator("[data-testid=correct-open]").click()
    lane = page.locator("[data-testid=correction-lane]")
    lane.wait_for()
    track = lane.locator(".rv-lane-track").bounding_box()
    x = lambda t: track["x"] + track["width"] * t / 10.0  # noqa: E731
    y = track["y"] + track["height"] / 2
    handle = lane.locator("[data-testid=correction-handle-start]").bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(x(2.0), y, steps=4)
    page.mouse.move(x(3.5), y, steps=4)
    page.mouse.up()
    row = card.locator(".rv-seg-editor tbody tr").nth(0)
    assert abs(float(row.locator("[name=start]").input_value()) - 2.5) <= 0.05
    assert abs(float(row.locator("[name=end]").input_value()) - 3.5) <= 0.05


def _stereo_clip(project, tmp_path, name="stereo.wav", seconds=4):
    """A ready 2-channel clip: a tone on the left, silence on the right."""
    import numpy as np
    import soundfile as sf

    sr = 16000
    t = np.arange(seconds * sr) / sr
    left = 0.5 * np.sin(2 * np.pi * 700 * t)
    path = tmp_path / name
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), sr, subtype="PCM_16")
    return _audio_clip(project, path, name)


def _apart(page, locator) -> list[dict]:
    """The boxes of `locator`'s elements, asserting that each is drawn where it can be seen and
    pressed (the element under its middle is that box) and that no two of them overlap."""
    boxes = []
    locator.first.scroll_into_view_if_needed()  # the lanes in the viewport, while measured
    for i in range(locator.count()):
        item = locator.nth(i)
        assert item.is_visible(), i
        box = item.bounding_box()
        hit = item.evaluate(
            "(el, [x, y]) => document.elementFromPoint(x, y)?.closest('.rv-seg') === el",
            [box["x"] + min(box["width"] / 2, 6), box["y"] + box["height"] / 2],
        )
        assert hit, f"box {i} is covered"
        boxes.append(box)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            side = a["x"] + a["width"] <= b["x"] + 0.5 or b["x"] + b["width"] <= a["x"] + 0.5
            over = a["y"] + a["height"] <= b["y"] + 0.5 or b["y"] + b["height"] <= a["y"] + 0.5
            assert side or over, (a, b)
    return boxes


def _middle_y(box: dict) -> float:
    return box["y"] + box["height"] / 2


def test_a_stereo_clips_lanes_have_a_row_per_channel_and_overlaps_stack(
    live_server, page, login, reviewer, annotator, project, tmp_path, screenshot
):
    """An L and an R segment over the same 1-2 s, and an L one over 1.5-3 s: three boxes, none
    hiding another, in the annotator's lane (rows L and R, the two L ones stacked) and in the
    correction's (rows all, L and R); a segment of all channels sits in the row "all"."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    clip = _stereo_clip(project, tmp_path)
    annotation = annotation_submit(
        clip=clip,
        user=annotator,
        segments=[
            {"start": 1, "end": 2, "channel": 0, "labels": ["birds/robin"]},
            {"start": 1, "end": 2, "channel": 1, "labels": ["birds/crow"]},
            {"start": 1.5, "end": 3, "channel": 0, "labels": ["birds/crow"]},
        ],
    )
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    lane = page.locator("[data-testid=review-lane]")
    segs = lane.locator("[data-testid=review-segment]")
    left, right, later = _apart(page, segs)
    assert lane.locator("[data-testid=lane-row-name]").all_inner_texts() == ["L", "R"]
    bands = lane.locator("[data-testid=lane-band]")
    band_l, band_r = bands.nth(0).bounding_box(), bands.nth(1).bounding_box()
    # L's segments in the row L (stacked: it grew), R's in R, as the waveform's lanes
    for box, band in ((left, band_l), (later, band_l), (right, band_r)):
        assert band["y"] <= _middle_y(box) <= band["y"] + band["height"], (box, band)
    assert later["y"] > left["y"]
    assert abs(left["x"] - right["x"]) < 1 and abs(left["width"] - right["width"]) < 1

    card = page.locator(f"[data-testid=annotation][data-annotation='{annotation.pk}']")
    card.locator("[data-testid=correct-open]").click()
    edit = page.locator("[data-testid=correction-lane]")
    edit.wait_for()
    names = edit.locator("[data-testid=lane-row-name]").all_inner_texts()
    assert names == ["all", "L", "R"]
    boxes = edit.locator("[data-testid=correction-segment]")
    assert boxes.count() == 3
    _apart(page, boxes)
    assert boxes.nth(0).inner_text() == "robin" and boxes.nth(1).inner_text() == "crow"
    # a segment of all channels: in the row "all", over both channel rows
    rows = card.locator(".rv-seg-editor tbody tr")
    card.locator("[data-action=add-segment]").click()
    rows.nth(3).locator("[name=start]").fill("1.2")
    rows.nth(3).locator("[name=end]").fill("2.5")
    assert boxes.count() == 4
    _apart(page, boxes)
    band_all = edit.locator("[data-testid=lane-band]").nth(0).bounding_box()
    assert band_all["y"] <= _middle_y(boxes.nth(3).bounding_box()) <= band_all["y"] + 22
    screenshot(page, "review-stereo-lanes")


def test_a_stereo_clip_with_lanes_leaves_a_phone_the_width_for_the_sound(
    live_server, page, login, reviewer, annotator, project, tmp_path
):
    """At 375 px the lanes' 148 px name column left 161 px for the waveform, the spectrogram
    and the tracks, and the spectrogram's selects covered an axis label. A lane's name goes
    above its track; the rows' names keep a narrow column; the tracks stay under the sound."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip = _stereo_clip(project, tmp_path)
    annotation_submit(
        clip=clip,
        user=annotator,
        segments=[{"start": 1, "end": 2, "channel": 1, "labels": ["birds/robin"]}],
    )
    page.set_viewport_size({"width": 375, "height": 800})
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    wave = page.locator(WAVE).bounding_box()
    spec = page.locator("[data-testid=review-spectrogram]").bounding_box()
    track = page.locator("[data-testid=review-lane] .rv-lane-track").bounding_box()
    assert wave["width"] >= 250, wave
    for box in (spec, track):
        assert abs(box["x"] - wave["x"]) <= 1 and abs(box["width"] - wave["width"]) <= 1, box
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 376
    name = page.locator("[data-testid=review-lane] .rv-lane-name").bounding_box()
    assert name["y"] + name["height"] <= track["y"] + 1  # above its track
    for row in page.locator("[data-testid=lane-row-name]").all():
        box = row.bounding_box()
        assert row.is_visible() and box["x"] + box["width"] <= track["x"] + 1, box
    # a correction's rows: every box wide enough to read its value (22 px wide before)
    page.locator("[data-testid=correct-open]").first.click()
    page.locator("[data-testid=correction-lane]").wait_for()
    row = page.locator(".rv-seg-editor tbody tr").first
    for name in ("start", "end", "labels", "channel"):
        box = row.locator(f"[name={name}]").bounding_box()
        assert box["width"] >= 80, (name, box)
    assert row.locator("[name=labels]").input_value() == "birds/robin"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 376
    tools = [s.bounding_box() for s in page.locator(".rv-spec .spec-tools select").all()]
    ticks = page.locator(".rv-spec [data-testid=spec-axis] > *")
    expect(ticks.nth(2)).to_be_visible()
    for tick in ticks.all():
        t = tick.bounding_box()
        for s in tools:
            apart = t["x"] + t["width"] <= s["x"] or s["x"] + s["width"] <= t["x"]
            apart = apart or t["y"] + t["height"] <= s["y"] or s["y"] + s["height"] <= t["y"]
            assert apart, (tick.inner_text(), t, s)


def test_a_correction_moves_a_segment_to_another_channel_and_drags_one_on_r(
    live_server, page, login, reviewer, annotator, project, tmp_path
):
    """The table's channel menu moves the L segment to R (its box goes to the row R); a drag in
    the correction lane's row R adds a segment on R, one in the row "all" on all channels; the
    correction saves each row's channel."""
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clip = _stereo_clip(project, tmp_path)
    annotation = annotation_submit(
        clip=clip,
        user=annotator,
        segments=[
            {"start": 1, "end": 2, "channel": 0, "labels": ["birds/robin"]},
            {"start": 2.5, "end": 3, "labels": ["birds/robin"]},
        ],
    )
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    card = page.locator(f"[data-testid=annotation][data-annotation='{annotation.pk}']")
    card.locator("[data-testid=correct-open]").click()
    edit = page.locator("[data-testid=correction-lane]")
    edit.wait_for()
    rows = card.locator(".rv-seg-editor tbody tr")
    picks = rows.locator("[data-testid=correct-channel]")
    assert [picks.nth(i).input_value() for i in range(2)] == ["0", ""]
    assert picks.nth(0).locator("option").all_inner_texts() == ["All ch", "L", "R"]
    assert "in a channel's row" in card.locator("[data-testid=correct-hint]").inner_text()

    band = lambda ch: edit.locator(f"[data-testid=lane-band][data-channel='{ch}']")  # noqa: E731
    box = edit.locator("[data-testid=correction-segment]").nth(0)
    within = lambda b, r: r["y"] <= _middle_y(b) <= r["y"] + r["height"]  # noqa: E731
    assert within(box.bounding_box(), band(0).bounding_box())
    picks.nth(0).select_option("1")
    assert within(box.bounding_box(), band(1).bounding_box())

    track = edit.locator(".rv-lane-track").bounding_box()
    x = lambda t: track["x"] + track["width"] * t / 4.0  # noqa: E731
    for ch, (t0, t1) in (("1", (3.2, 3.7)), ("", (0.2, 0.6))):
        y = _middle_y(band(ch).bounding_box())
        page.mouse.move(x(t0), y)
        page.mouse.down()
        page.mouse.move(x((t0 + t1) / 2), y, steps=3)
        page.mouse.move(x(t1), y, steps=3)
        page.mouse.up()
        new = rows.last
        assert new.evaluate("tr => tr.dataset.channel") == ch
        assert new.locator("[data-testid=correct-channel]").input_value() == ch
        new.locator("[name=labels]").fill("birds/robin")
    assert rows.count() == 4
    _apart(page, edit.locator("[data-testid=correction-segment]"))

    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    annotation.refresh_from_db()
    saved = sorted(
        (round(s.start, 1), round(s.end, 1), s.channel) for s in annotation.segments.all()
    )
    assert saved == [(0.2, 0.6, None), (1.0, 2.0, 1), (2.5, 3.0, None), (3.2, 3.7, 1)]


def test_a_clip_the_browser_cannot_play_says_so_on_the_review_page(
    live_server, page, login, reviewer, project, tmp_path
):
    """Space did nothing and nothing said why (the workspace said it). Chromium plays no WAV
    under 3 kHz (an AIFF it now plays: the page plays the server's WAV of it)."""
    import numpy as np
    import soundfile as sf

    from labelapp.models import Clip
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import

    path = tmp_path / "field.wav"
    t = np.arange(2000 * 2) / 2000
    sf.write(path, (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 2000, "PCM_16")
    outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
    # The session's real worker may have claimed the clip first (clip_process then skips
    # it): wait for whichever processes it, as _audio_clip does.
    clip_process(outcome.clip_id)
    wait_for(
        lambda: Clip.objects.get(pk=outcome.clip_id).status == "ready",
        message="the low-rate clip was not processed",
    )
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{outcome.clip_id}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    page.keyboard.press(" ")
    box = page.locator("[data-testid=review-audio-error]")
    box.wait_for(timeout=10_000)
    assert "cannot play this clip's audio (WAV, 16-bit PCM, 2000 Hz)" in box.inner_text()


def test_a_lead_gives_a_members_held_clips_back_from_the_members_page(
    live_server, page, login, lead, annotator, project
):
    from labelapp.models import ClipAssignment
    from labelapp.services.queue import clip_lock_keep
    from tests.conftest import ready_clips

    for clip in ready_clips(project, 2):
        assert clip_lock_keep(clip=clip, user=annotator)["held"]
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/members/")
    row = f"[data-testid=member-row][data-username={annotator.username}]"
    assert page.inner_text(f"{row} [data-testid=member-held]").startswith("2 clips")
    page.click(f"{row} [data-testid=member-release]")
    page.wait_for_selector("[data-testid=members-status]:has-text('went back to the queue')")
    assert page.inner_text(f"{row} [data-testid=member-held]") == "0 clips"
    assert not ClipAssignment.objects.filter(user=annotator).exists()


def test_a_reviewer_filters_the_queue_to_one_annotator_and_next_stays_in_it(
    live_server, page, login, reviewer, annotator, make_user, project, wav_factory, screenshot
):
    from labelapp.services.projects import membership_set

    other = make_user("otto-annotator")
    membership_set(project=project, user=other, role="annotator")
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    clips = [
        _audio_clip(project, wav_factory(seconds=3, freq=f), f"take{i}.wav")
        for i, f in enumerate((500, 700, 900))
    ]
    annotation_submit(clip=clips[0], user=other, clip_labels=["birds/robin"])
    annotation_submit(clip=clips[1], user=annotator, clip_labels=["birds/robin"])
    annotation_submit(clip=clips[2], user=other, clip_labels=["birds/robin"])
    login(page, reviewer)
    page.goto(f"{live_server.url}/projects/{project.pk}/review/")
    expect(page.locator("[data-testid=queue-row]")).to_have_count(3)
    page.select_option("[data-testid=filter-annotator]", "otto-annotator")
    page.click("[data-testid=filter-apply]")
    expect(page.locator("[data-testid=queue-row]")).to_have_count(2)
    assert page.inner_text("[data-testid=queue-total]") == "2 annotations waiting (filtered)"
    screenshot(page, "review-queue-filtered")
    page.locator("[data-testid=open-review]").first.click()
    page.wait_for_selector(KEYS_READY)
    assert "take0.wav" in page.inner_text("h1")
    page.keyboard.press("a")  # accept; the page is drawn again, still filtered
    page.wait_for_selector("[data-testid=review-decided]:has-text('accepted')")
    page.wait_for_selector(KEYS_READY)
    page.keyboard.press("n")  # the next of otto's, not take1
    page.wait_for_url(f"**/clips/{clips[2].pk}/review/?annotator=otto-annotator")
    page.click(".crumbs a:has-text('review')")
    expect(page.locator("[data-testid=queue-row]")).to_have_count(1)


def test_an_account_made_by_a_lead_chooses_its_own_password_at_the_first_sign_in(
    live_server, page, login, lead, project, screenshot
):
    """The lead told the first password; the new member signs in with it, lands on the
    password page (which says who made the account), chooses their own and goes on."""
    from django.contrib.auth import get_user_model

    from labelapp.services.projects import membership_invite

    membership_invite(
        project=project, username="maria", role="annotator", password="lead-chose-this-1", by=lead
    )
    maria = get_user_model().objects.get(username="maria")
    page.goto(f"{live_server.url}/accounts/login/?next=/projects/{project.pk}/")
    page.fill("input[name=username]", "maria")
    page.fill("input[name=password]", "lead-chose-this-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/password_change/**")
    said = page.inner_text("[data-testid=first-password]")
    assert f"{lead.username} chose the password you signed in with" in said
    # the rest of the site waits: no links to it meanwhile
    assert page.locator("nav[aria-label=Main] >> text=API tokens").count() == 0
    screenshot(page, "first-password")
    page.fill("input[name=old_password]", "lead-chose-this-1")
    page.fill("input[name=new_password1]", "marias own phrase 42")
    page.fill("input[name=new_password2]", "marias own phrase 42")
    page.click("[data-testid=password-change] button[type=submit]")
    # on to where she was going
    page.wait_for_url(f"{live_server.url}/projects/{project.pk}/")
    assert page.locator("nav[aria-label=Main] >> text=API tokens").count() == 1
    maria.refresh_from_db()
    assert maria.check_password("marias own phrase 42")
