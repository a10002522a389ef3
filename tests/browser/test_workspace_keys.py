"""The workspace for a fast keyboard annotator: keys on keyboards other than a US one, focus
the note holds, a segment labeled off the clip's label said at once, autoplay,
Previous in a new tab, and what a save's answer says (the keyboard tester's findings)."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation
from tests.browser.test_workspace import drawn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _key(page, key: str, code: str, **mods) -> None:
    """A keydown as another keyboard layout sends it: `key` typed, `code` the key's place."""
    page.evaluate(
        """([key, code, mods]) => {
            const target = document.activeElement || document.body;
            target.dispatchEvent(new KeyboardEvent("keydown", {key, code, bubbles: true,
                cancelable: true, ...mods}));
        }""",
        [key, code, mods],
    )


def _single(project) -> None:
    project.label_mode = "single"
    project.save(update_fields=["label_mode"])


def test_keys_of_other_layouts_act_by_their_place(
    live_server, page, login, annotator, project, labels, clips
):
    from ontology.services import label_create

    label_create(ontology=project.ontology, name="one", hotkey="1")
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    page.focus(".ws-wave")
    chips = "[data-testid=clip-labels]"
    # AZERTY's unshifted digit row types "&": the key at the place of 1.
    _key(page, "&", "Digit1")
    page.wait_for_selector(f"{chips} :text('one')")
    # Russian layout: Ctrl+Z types "ctrl+я"; the key at the place of Z undoes.
    _key(page, "я", "KeyZ", ctrlKey=True)
    page.wait_for_selector(f"{chips} :text('None yet')")
    # German AltGr+8 types "[" (sent as Ctrl+Alt): it marks a segment's start, then "]" ends it.
    page.keyboard.press("ArrowRight")
    _key(page, "[", "Digit8", ctrlKey=True, altKey=True, modifierAltGraph=True)
    page.keyboard.press("ArrowRight")
    _key(page, "]", "Digit9", ctrlKey=True, altKey=True, modifierAltGraph=True)
    page.wait_for_selector("[data-testid=segment]")
    # A German Mac's Option+5 types "[" (read by its place as Alt+5): a second segment.
    page.keyboard.press("ArrowRight")
    _key(page, "[", "Digit5", altKey=True)
    page.keyboard.press("ArrowRight")
    _key(page, "]", "Digit6", altKey=True)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=segment]').length == 2")
    page.keyboard.press("Escape")
    # AZERTY's 6 types "-" (zoom out) and a Czech 1 types "+" (zoom in): a label on that digit
    # wins over the zoom; with no label on it, the zoom acts.
    label_create(ontology=project.ontology, name="six", hotkey="6")
    page.reload()
    drawn(page, clips[0].pk)
    page.focus(".ws-wave")
    zoom = page.inner_text("[data-testid=zoom]")
    _key(page, "-", "Digit6")
    page.wait_for_selector(f"{chips} :text('six')")
    assert page.inner_text("[data-testid=zoom]") == zoom
    _key(page, "+", "Digit2")  # no label on 2: "+" zooms in
    page.wait_for_function(
        "(z) => document.querySelector('[data-testid=zoom]').textContent !== z", arg=zoom
    )
    # Shift+1 on a US keyboard types "!": no label one.
    page.keyboard.press("Control+z")
    page.wait_for_selector(f"{chips} :text('None yet')")
    _key(page, "!", "Digit1", shiftKey=True)
    page.wait_for_timeout(200)
    assert "None yet" in page.inner_text(chips)


def test_escape_leaves_the_note_for_the_waveform_keeping_the_text(
    live_server, page, login, annotator, project, labels, clips
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    page.fill("[data-testid=note]", "a rook?")
    page.keyboard.press("Escape")
    assert page.evaluate("() => document.activeElement.classList.contains('ws-wave')")
    page.keyboard.press("c")  # a key acts again
    page.wait_for_selector("[data-testid=clip-labels] :text('crow')")
    assert page.input_value("[data-testid=note]") == "a rook?"
    page.keyboard.press("Control+Enter")
    drawn(page, clips[1].pk)
    assert Annotation.objects.get(clip=clips[0]).note == "a rook?"


def test_a_segment_labeled_off_the_clips_label_is_said_in_a_single_label_project(
    live_server, page, login, annotator, project, labels, clips
):
    _single(project)
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    note = page.locator("[data-testid=off-path]")
    page.focus(".ws-wave")
    page.keyboard.press("c")  # the clip: birds/crow
    page.keyboard.press("]")  # a 1 s segment, selected
    page.keyboard.press("s")  # labels the segment birds/sparrow
    note.wait_for(state="visible")
    assert note.inner_text().startswith("Segment 1 is birds/sparrow, the clip birds/crow")
    page.keyboard.press("c")  # the segment now on the clip's label
    note.wait_for(state="hidden")
    page.keyboard.press("Escape")
    page.keyboard.press("n")  # the clip "noise": the segment "crow" is off it
    note.wait_for(state="visible")


def test_nothing_to_submit_goes_once_a_label_is_given(
    live_server, page, login, annotator, project, labels, clips
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    banner = page.locator("[data-testid=banner]")
    page.keyboard.press("Control+Enter")
    banner.wait_for(state="visible")
    assert banner.inner_text().startswith("Nothing to submit yet")
    page.keyboard.press("c")
    banner.wait_for(state="hidden", timeout=2000)  # not its 5 s


def test_a_warning_stays_under_the_keys_help(
    live_server, page, login, annotator, project, labels, clips
):
    """The banners' layer lay over the keyboard help and the site's bar."""
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    page.keyboard.press("Control+Enter")  # "Nothing to submit yet"
    page.wait_for_selector("[data-testid=banner]:not([hidden])")
    page.keyboard.press("?")
    box = page.locator("[data-testid=banner]").bounding_box()
    on_top = page.evaluate(
        "([x, y]) => document.elementFromPoint(x, y).closest('[data-testid=banner]') === null",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert on_top


def test_saved_lies_over_the_page_and_moves_nothing(
    live_server, page, login, annotator, project, labels, clips
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    top = page.evaluate("() => document.querySelector('.ws-wave').getBoundingClientRect().top")
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    drawn(page, clips[1].pk)
    page.wait_for_selector("[data-testid=banner]:has-text('Saved take1.wav')")
    after = page.evaluate("() => document.querySelector('.ws-wave').getBoundingClientRect().top")
    assert after == top


def test_a_passing_warning_lies_over_the_page_too(
    live_server, page, login, annotator, project, labels, clips
):
    """A warning that goes by itself pushed the waveform and spectrogram down for its
    seconds: a drag begun then on the spectrogram landed on the waveform."""
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    top = page.evaluate("() => document.querySelector('.ws-spec').getBoundingClientRect().top")
    page.keyboard.press("[")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("]")  # a segment with no label
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid=banner]:has-text('This segment has no label yet')")
    after = page.evaluate("() => document.querySelector('.ws-spec').getBoundingClientRect().top")
    assert after == top


def test_autoplay_plays_each_clip_as_it_opens_and_is_kept(
    live_server, page, login, annotator, project, labels, clips
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    assert page.evaluate("() => document.querySelector('audio').paused")
    page.check("[data-testid=autoplay]")
    page.focus(".ws-wave")
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    drawn(page, clips[1].pk)
    page.wait_for_function("() => document.querySelector('audio').currentTime > 0.1")
    page.reload()
    drawn(page, clips[1].pk)
    assert page.is_checked("[data-testid=autoplay]")


def test_previous_in_a_new_tab_walks_back_through_the_clips_annotated_last(
    live_server, page, login, annotator, project, labels, clips
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    drawn(page, clips[1].pk)
    # A new tab: its own (empty) trail.
    tab = page.context.new_page()
    tab.goto(f"{live_server.url}/clips/{clips[2].pk}/annotate/")
    drawn(tab, clips[2].pk)
    tab.keyboard.press("PageUp")
    drawn(tab, clips[0].pk)
    tab.close()


def test_a_server_error_names_its_request_id(
    live_server, page, login, annotator, project, labels, clips
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    page.route(
        "**/api/clips/*/annotations/",
        lambda route: route.fulfill(
            status=500, headers={"X-Request-ID": "abc123def456"}, body="boom"
        ),
    )
    page.keyboard.press("c")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("[data-testid=banner]:has-text('request id abc123def456')")


def test_a_weak_models_suggestions_are_withheld_and_the_page_says_why(
    live_server, page, login, annotator, project, labels, clips
):
    from ml_backend.models import ModelVersion, Prediction

    version = ModelVersion.objects.create(
        project=project,
        version=1,
        name="v1",
        status="active",
        metrics={"macro_f1": 0.18, "evaluated_on": "training"},
    )
    Prediction.objects.create(
        clip=clips[0],
        model_version=version,
        clip_scores={str(labels["crow"].pk): 0.6},
        score=0.6,
    )
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clips[0].pk}/annotate/")
    drawn(page, clips[0].pk)
    note = page.locator("[data-testid=suggestions-withheld]")
    note.wait_for(state="visible")
    assert "v1 is not good enough to suggest yet (macro-F1 0.18" in note.inner_text()
    assert page.locator("[data-testid=suggestions]").is_hidden()
