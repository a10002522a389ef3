"""Segments with a frequency band, as bioacoustics annotators mark them: a box drawn on the
spectrogram (time and band at once), resized and moved there, typed in the segment list,
undone, kept across a reload, submitted; and a reviewer's correction that keeps the band or
changes it."""

from __future__ import annotations

import pytest

from labelapp.models import Annotation, Segment
from labelapp.services.annotations import annotation_submit
from tests.browser.test_review import _audio_clip
from tests.browser.test_workspace import drawn

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SPEC = "[data-testid=spectrogram]"


def _linear(page):
    """The spectrogram in Hz, linear: its height is 0 to 8,000 Hz on these 16 kHz clips."""
    page.wait_for_selector(f"{SPEC}[data-loaded=true]", timeout=10_000)
    page.select_option("[data-testid=spec-scale]", "linear")
    page.wait_for_function(
        f"() => document.querySelector('{SPEC}').src.includes('scale=linear')"
        f" && document.querySelector('{SPEC}').dataset.loaded === 'true'"
    )


def _at(page, t, hz):
    """The page point of time `t` and frequency `hz` on the (linear, 8 kHz) spectrogram."""
    box = page.locator(".ws-spec").bounding_box()
    start = float(page.get_attribute("[data-testid=waveform]", "data-view-start"))
    end = float(page.get_attribute("[data-testid=waveform]", "data-view-end"))
    x = box["x"] + 1 + (t - start) / (end - start) * (box["width"] - 2)
    y = box["y"] + 1 + (1 - hz / 8000) * (box["height"] - 2)
    return x, y


def _drag(page, a, b):
    page.mouse.move(*a)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(a[0] + (b[0] - a[0]) * k / 5, a[1] + (b[1] - a[1]) * k / 5)
    page.mouse.up()


def _band_field(page):
    return page.locator("[data-testid=segment-band]").first


def _parsed(text):
    """ "1–3 kHz" -> (1000, 3000); "534 Hz–1.96 kHz" -> (534, 1960): a side without its unit
    has the other's."""
    low, high = text.split("–")
    unit = high.split()[1]

    def hz(part):
        number, *own = part.split()
        return float(number) * (1000 if (own[0] if own else unit) == "kHz" else 1)

    return hz(low), hz(high)


def test_a_box_drawn_on_the_spectrogram_is_a_segment_with_its_band(
    live_server, page, login, annotator, project, labels, clips, screenshot
):
    login(page, annotator)
    page.goto(f"{live_server.url}/projects/{project.pk}/annotate/")
    drawn(page, clips[0].pk)
    _linear(page)

    # 1.0-2.0 s, 1,000-3,000 Hz: drawn from its top left to its bottom right
    _drag(page, _at(page, 1.0, 3000), _at(page, 2.0, 1000))
    boxes = page.locator("[data-testid=band-box]")
    boxes.first.wait_for()
    assert boxes.count() == 1
    low, high = _parsed(_band_field(page).input_value())
    assert abs(low - 1000) < 60 and abs(high - 3000) < 60, (low, high)
    # the waveform's segment names its band too
    assert "kHz" in page.get_attribute("[data-testid=segment]", "data-band")
    page.keyboard.press("s")  # the drawn segment is selected: it takes the label
    page.wait_for_function(
        "() => document.querySelector('[data-testid=band-box]').textContent.includes('sparrow')"
    )
    screenshot(page, "workspace-band-drawn")

    # its top edge dragged up to 5,000 Hz: the band grows, the times stay
    box = boxes.first.bounding_box()
    _drag(page, (box["x"] + box["width"] / 2, box["y"] + 2), _at(page, 1.5, 5000))
    low2, high2 = _parsed(_band_field(page).input_value())
    assert abs(low2 - low) < 1 and abs(high2 - 5000) < 60, (low2, high2)

    # typed in the list: 2-4 kHz; undo gives the dragged band back, redo the typed one
    field = _band_field(page)
    field.fill("2-4 kHz")
    field.press("Enter")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=segment-band]').value === '2–4 kHz'"
    )
    page.locator("[data-testid=waveform]").focus()
    page.keyboard.press("Control+z")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=segment-band]').value !== '2–4 kHz'"
    )
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=segment-band]').value === '2–4 kHz'"
    )
    # a band past the clip's 8 kHz is refused and said; the band stays
    field = _band_field(page)
    field.fill("1-12 kHz")
    field.press("Enter")
    page.wait_for_selector("[data-testid=banner]:has-text('8 kHz')")
    assert _band_field(page).input_value() == "2–4 kHz"

    # kept across a reload (the autosave), and drawn where it was
    page.wait_for_selector("[data-testid=save-state][data-state=saved]", timeout=10_000)
    page.reload()
    drawn(page, clips[0].pk)
    page.locator("[data-testid=band-box]").first.wait_for()
    assert _band_field(page).input_value() == "2–4 kHz"
    box = page.locator("[data-testid=band-box]").first.bounding_box()
    top = _at(page, 1.0, 4000)[1]
    bottom = _at(page, 1.0, 2000)[1]
    assert abs(box["y"] - top) < 3 and abs(box["y"] + box["height"] - bottom) < 3, (box, top)

    page.keyboard.press("Control+Enter")
    ann = None

    def submitted():
        nonlocal ann
        ann = Annotation.objects.filter(clip=clips[0], annotator=annotator, status="submitted")
        return ann.exists()

    from tests.conftest import wait_for

    wait_for(submitted, message="the clip was not submitted")
    (segment,) = Segment.objects.filter(annotation__clip=clips[0])
    assert (segment.low_freq, segment.high_freq) == (2000.0, 4000.0)
    assert abs(segment.start - 1.0) <= 0.03 and abs(segment.end - 2.0) <= 0.03
    assert [sl.label.name for sl in segment.segment_labels.all()] == ["sparrow"]


def test_a_box_is_moved_and_a_segment_without_a_band_is_not_drawn_on_the_spectrogram(
    live_server, page, login, annotator, project, labels, clips
):
    annotation_submit(
        clip=clips[0],
        user=annotator,
        segments=[
            {
                "start": 1.0,
                "end": 2.0,
                "labels": ["birds/sparrow"],
                "low_freq": 1000,
                "high_freq": 2000,
            },
            {"start": 3.0, "end": 4.0, "labels": ["noise"]},
        ],
    )
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clips[0].pk}/annotate/")
    drawn(page, clips[0].pk)
    _linear(page)
    boxes = page.locator("[data-testid=band-box]")
    boxes.first.wait_for()
    assert boxes.count() == 1  # the noise segment covers every frequency: the waveform's only
    assert page.locator("[data-testid=segment]").count() == 2
    box = boxes.first.bounding_box()
    middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # moved by +0.5 s and +1,000 Hz: the same size elsewhere
    dx = _at(page, 2.0, 0)[0] - _at(page, 1.5, 0)[0]
    dy = _at(page, 0, 2500)[1] - _at(page, 0, 1500)[1]
    _drag(page, middle, (middle[0] + dx, middle[1] + dy))
    low, high = _parsed(_band_field(page).input_value())
    assert abs(low - 2000) < 60 and abs(high - low - 1000) < 2, (low, high)
    times = page.locator("[data-testid=segment]").first.get_attribute("title")
    assert times.startswith("1.5") or times.startswith("1.4") or times.startswith("1.6"), times


def test_a_reviewers_correction_keeps_the_band_and_can_change_it(
    live_server, page, login, reviewer, annotator, project, labels, wav_factory, screenshot
):
    clip = _audio_clip(project, wav_factory(seconds=4, freq=500), "banded.wav")
    annotation = annotation_submit(
        clip=clip,
        user=annotator,
        segments=[
            {
                "start": 1,
                "end": 2,
                "labels": ["birds/sparrow"],
                "low_freq": 1494,
                "high_freq": 2993,
            },
            {"start": 2.5, "end": 3, "labels": ["noise"]},
        ],
    )
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{clip.pk}/review/")
    card = page.locator(f"[data-testid=annotation][data-annotation='{annotation.pk}']")
    assert "1.49–2.99 kHz" in card.text_content()  # the annotation's segment says its band
    # and its box is on the review page's spectrogram, named by its annotator; the segment
    # without a band is not
    shown = page.locator(
        "[data-testid=review-spectrogram] ~ [data-testid=bands] [data-testid=band-box]"
    )
    shown.first.wait_for()
    assert shown.count() == 1
    # its label first (a small box shows the start of its tag), then who drew it
    assert shown.first.inner_text() == f"sparrow · {annotator.username} v1"
    assert "1.49–2.99 kHz" in shown.first.get_attribute("title")
    screenshot(page, "review-band")
    # A click on the box plays its span and stops at its end; a click beside it plays from
    # the time clicked (the review spectrogram took no clicks).
    audio = "document.querySelector('[data-testid=review-audio]')"
    page.wait_for_function(f"() => {audio}.readyState >= 1")
    page.evaluate(f"() => {{ {audio}.muted = true; }}")
    shown.first.click()
    page.wait_for_function(f"() => {audio}.paused && {audio}.currentTime >= 1.95", timeout=10_000)
    assert page.evaluate(f"() => {audio}.currentTime") < 2.4
    spec = page.locator("[data-testid=review-spectrogram]").bounding_box()
    page.mouse.click(spec["x"] + spec["width"] * 3.2 / 4, spec["y"] + spec["height"] * 0.7)
    page.wait_for_function(f"() => !{audio}.paused && {audio}.currentTime >= 3.1", timeout=10_000)
    page.evaluate(f"() => {{ {audio}.pause(); {audio}.currentTime = 0; }}")
    # its menus, on the picture, are menus: a click opens one (takes the focus), plays nothing
    page.locator(".rv-spec [data-testid=spec-scale]").click()
    assert page.evaluate("() => document.activeElement.dataset.testid") == "spec-scale"
    page.keyboard.press("Escape")
    page.wait_for_timeout(300)
    assert page.evaluate(f"() => {audio}.paused && {audio}.currentTime === 0")
    card.locator("[data-testid=correct-open]").click()
    bands = card.locator("[data-testid=correct-band]")
    bands.first.wait_for()
    assert [bands.nth(i).input_value() for i in range(bands.count())] == ["1.49–2.99 kHz", ""]
    heads = card.locator(".rv-seg-editor thead th").all_inner_texts()
    assert heads[:4] == ["Start (s)", "End (s)", "Band", "Labels"]
    # the labels corrected, the band left: kept to the Hz (read back from its text it was
    # rounded to 10 Hz)
    card.locator(".rv-seg-editor [name=labels]").first.fill("birds/crow")
    bands.nth(1).fill("not a band")
    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("text=Segment 2: Write a band as low–high")
    bands.nth(1).fill("500 Hz-1.5 kHz")
    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    stored = Segment.objects.filter(annotation=annotation).order_by("start")
    assert [(s.low_freq, s.high_freq) for s in stored] == [(1494.0, 2993.0), (500.0, 1500.0)]
    assert [sl.label.name for sl in stored[0].segment_labels.all()] == ["crow"]


def test_a_typed_band_is_read_as_people_write_it(
    live_server, page, login, annotator, project, labels, clips
):
    """ "1,200-4,000" was 1.2 to 4 Hz (the comma a decimal point), "1.2-4" 1.2 to 4 Hz; a band
    of no width went silently to every frequency."""
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clips[0].pk}/annotate/")
    drawn(page, clips[0].pk)
    read = page.evaluate(
        """async () => {
          const { parseBand } = await import('/static/earmark/bands.js');
          const said = (t) => { const r = parseBand(t); return r instanceof Error ? 'error' : r; };
          return ['1,200-4,000', '1.2-4', '1.2-4 kHz', '300 Hz - 1.5 kHz', '1,5-2,5 kHz',
                  '1200-4000', '1000-1000.4', '4000-1200', '', 'all', '500-1.5k'].map(said);
        }"""
    )
    assert read == [
        [1200, 4000],
        [1200, 4000],
        [1200, 4000],
        [300, 1500],
        [1500, 2500],
        [1200, 4000],
        "error",
        "error",
        None,
        None,
        [500, 1500],
    ]


def test_a_bottom_frequency_leaves_the_low_band_out_and_boxes_follow_it(
    live_server, page, login, annotator, project, labels, clips
):
    """Wind below 1 kHz took a third of a mel picture: a bottom frequency is chosen as the top
    is, the picture, its axis and the boxes follow it, and a box drawn then is stored in Hz."""
    annotation_submit(
        clip=clips[0],
        user=annotator,
        segments=[
            {"start": 1, "end": 2, "labels": ["birds/sparrow"], "low_freq": 500, "high_freq": 3000}
        ],
    )
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clips[0].pk}/annotate/")
    drawn(page, clips[0].pk)
    _linear(page)
    options = page.eval_on_selector_all(
        "[data-testid=spec-bottom] option", "os => os.map(o => o.textContent)"
    )
    assert options[:2] == ["from 0 Hz", "from 100 Hz"] and "from 8 kHz" not in options
    page.select_option("[data-testid=spec-bottom]", "2000")
    page.wait_for_function(
        f"() => document.querySelector('{SPEC}').src.includes('min_freq=2000')"
        f" && document.querySelector('{SPEC}').dataset.loaded === 'true'"
    )
    ticks = page.eval_on_selector_all(
        "[data-testid=spec-axis] span",
        "spans => spans.map(s => [+s.dataset.hz, parseFloat(s.style.bottom)])",
    )
    assert ticks and min(hz for hz, _ in ticks) > 2000
    for hz, bottom in ticks:  # 2 to 8 kHz, linear
        assert abs(bottom - 100 * (hz - 2000) / 6000) < 0.01, (hz, bottom)
    # the box of 0.5-3 kHz: cut at the foot, its top at 3 kHz
    spec = page.locator(".ws-spec").bounding_box()
    box = page.locator("[data-testid=band-box]").first.bounding_box()
    y_of = lambda hz: spec["y"] + 1 + (1 - (hz - 2000) / 6000) * (spec["height"] - 2)  # noqa: E731
    assert abs(box["y"] - y_of(3000)) < 3, (box, y_of(3000))
    assert abs(box["y"] + box["height"] - (spec["y"] + spec["height"])) < 3
    # a new box, Shift+drag from 3 to 5 kHz, stored in Hz of the whole range
    x = lambda t: _at(page, t, 0)[0]  # noqa: E731
    page.keyboard.down("Shift")
    _drag(page, (x(3.0), y_of(5000)), (x(4.0), y_of(3000)))
    page.keyboard.up("Shift")
    # (the list is in time order: the new segment, at 3 s, is the last)
    low, high = _parsed(page.locator("[data-testid=segment-band]").last.input_value())
    assert abs(low - 3000) < 80 and abs(high - 5000) < 80, (low, high)
    # kept for the next page, and a top below it lets it go
    page.reload()
    drawn(page, clips[0].pk)
    page.wait_for_selector(f"{SPEC}[data-loaded=true]", timeout=10_000)
    assert "min_freq=2000" in page.get_attribute(SPEC, "src")
    page.select_option("[data-testid=spec-top]", "2000")
    page.wait_for_function(
        f"() => document.querySelector('{SPEC}').src.includes('max_freq=2000')"
        f" && !document.querySelector('{SPEC}').src.includes('min_freq')"
    )
    assert page.input_value("[data-testid=spec-bottom]") == "0"


def test_the_keyboard_gives_a_segment_a_band_and_moves_its_edges(
    live_server, page, login, annotator, project, labels, clips
):
    """Ctrl+↑/↓ move the selected segment's band's top, with Shift its bottom, a fiftieth of
    the picture a press (linear here: 160 Hz of 8 kHz); a segment of every frequency gets a
    band from the range shown. Each press is a step Ctrl+Z takes back."""
    annotation_submit(
        clip=clips[0], user=annotator, segments=[{"start": 1, "end": 2, "labels": ["noise"]}]
    )
    login(page, annotator)
    page.goto(f"{live_server.url}/clips/{clips[0].pk}/annotate/")
    drawn(page, clips[0].pk)
    _linear(page)
    assert _band_field(page).input_value() == ""
    page.locator("[data-testid=segment]").first.click()
    page.locator("[data-testid=waveform]").focus()
    for _ in range(3):
        page.keyboard.press("Control+ArrowDown")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=segment-band]').value !== ''"
    )
    low, high = _parsed(_band_field(page).input_value())
    assert low == 0 and abs(high - (8000 - 3 * 160)) <= 2, (low, high)
    for _ in range(5):
        page.keyboard.press("Control+Shift+ArrowUp")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=segment-band]').value === '0.8–7.52 kHz'"
    )
    low, high = _parsed(_band_field(page).input_value())
    assert abs(low - 800) <= 2 and abs(high - 7520) <= 2, (low, high)
    page.locator("[data-testid=band-box]").first.wait_for()
    page.keyboard.press("Control+z")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=segment-band]').value === '0.64–7.52 kHz'"
    )
