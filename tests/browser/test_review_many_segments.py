"""The review page of an annotation of 400 segments on a 200 s clip: seen whole, a lane holds
more segments than it builds boxes for (MAX_BOXES, 300), so they are painted, and a click on
one still plays just its span; zoomed in, they are boxes again. The correction's table shows
100 rows at a time, the page of a segment pressed on the lane comes up, and a save keeps every
segment, the one dragged moved."""

from __future__ import annotations

import pytest

from labelapp.services.annotations import annotation_submit
from ontology.services import label_get_or_create_path
from tests.browser.test_review import AUDIO, KEYS_READY, WAVE, _audio_clip, _view

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DURATION = 200.0
COUNT = 400


def _segments():
    """Segment i: 0.5 i to 0.5 i + 0.3 s, robin and crow in turn."""
    return [
        {
            "start": 0.5 * i,
            "end": round(0.5 * i + 0.3, 2),
            "labels": [("birds/robin", "birds/crow")[i % 2]],
        }
        for i in range(COUNT)
    ]


@pytest.fixture
def many(project, annotator, wav_factory):
    for path in ("birds/robin", "birds/crow"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    clip = _audio_clip(project, wav_factory(seconds=DURATION, sr=4000, freq=600), "night.wav")
    return annotation_submit(clip=clip, user=annotator, segments=_segments())


def _x_of(track: dict, t: float, view: tuple[float, float]) -> float:
    start, end = view
    return track["x"] + (t - start) / (end - start) * track["width"]


def test_a_lane_of_many_segments_is_painted_and_a_click_plays_one(
    live_server, page, login, reviewer, many, screenshot
):
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{many.clip_id}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    track = page.locator("[data-testid=review-lane] .rv-lane-track")
    assert track.get_attribute("data-painted") == "true"
    assert page.locator("[data-testid=review-segment]").count() == 0
    painted = page.locator("[data-testid=review-lane] [data-testid=lane-painted]")
    assert painted.is_visible()
    # the list under the card names the first 50 and the count of the rest
    assert "… and 350 more (400 segments in all)" in page.inner_text("[data-testid=annotation]")

    # a click on the first segment (0.0-0.3 s), where the audio already is, plays just it (the
    # seek to where the audio was counted as the user's, and it played on to the clip's end)
    box = track.bounding_box()
    view = _view(page)
    page.mouse.click(_x_of(box, 0.15, view), box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => !{AUDIO}.paused")
    page.wait_for_function(f"() => {AUDIO}.paused", timeout=5000)
    assert page.evaluate(f"{AUDIO}.currentTime") < 0.8

    # a click in the middle of segment 200 (100.0-100.3 s) plays it and stops at its end
    page.mouse.click(_x_of(box, 100.15, view), box["y"] + box["height"] / 2)
    page.wait_for_function(f"() => !{AUDIO}.paused && {AUDIO}.currentTime >= 100.0")
    page.wait_for_function(f"() => {AUDIO}.paused", timeout=5000)
    at = page.evaluate(f"{AUDIO}.currentTime")
    assert 100.3 <= at < 100.8, at
    screenshot(page, "review-many-segments-painted")

    # zoomed in to 100 s around the playhead, 200 segments 5 px apart are still painted (as
    # boxes, at least 10 px wide each, they made one bar); at 25 s, 50 segments are boxes
    page.keyboard.press("+")
    page.wait_for_function(f"() => document.querySelector('{WAVE}').dataset.viewStart > 1")
    assert track.get_attribute("data-painted") == "true"
    page.keyboard.press("+")
    page.keyboard.press("+")
    page.wait_for_function(
        f"() => {{ const d = document.querySelector('{WAVE}').dataset;"
        " return Math.abs(d.viewEnd - d.viewStart - 25) < 1e-6; }"
    )
    start, end = _view(page)
    assert track.get_attribute("data-painted") == "false" and not painted.is_visible()
    segs = page.locator("[data-testid=review-segment]")
    in_view = [s for s in _segments() if s["end"] > start and s["start"] < end]
    assert segs.count() == len(in_view)
    first = in_view[0]
    assert float(segs.first.get_attribute("data-start")) == first["start"]
    assert segs.first.inner_text() == first["labels"][0].split("/")[1]
    screenshot(page, "review-many-segments-zoomed")
    # a box narrower than its padding at the track's end is moved in, not cut off
    left = page.evaluate(
        "() => import('/static/earmark/review_lanes.js')"
        ".then((m) => m.boxLeft(0.9999, 0.0001, 1000, 10))"
    )
    assert left == pytest.approx(0.99)


def test_a_correction_of_many_segments_pages_its_table_and_saves_them_all(
    live_server, page, login, reviewer, many
):
    login(page, reviewer)
    page.goto(f"{live_server.url}/clips/{many.clip_id}/review/")
    page.wait_for_selector(f"{WAVE}[data-drawn=true]")
    page.wait_for_selector(KEYS_READY)
    card = page.locator("[data-testid=annotation]")
    card.locator("[data-testid=correct-open]").click()
    lane = page.locator("[data-testid=correction-lane]")
    lane.wait_for()
    rows = card.locator(".rv-seg-editor tbody tr")
    pager = card.locator("[data-testid=correct-page]")
    assert rows.count() == COUNT and pager.inner_text() == "Segments 1–100 of 400"
    assert card.locator(".rv-seg-editor tbody tr:visible").count() == 100
    card.locator("[data-testid=correct-page-next]").click()
    assert pager.inner_text() == "Segments 101–200 of 400"
    assert rows.nth(100).is_visible() and not rows.nth(99).is_visible()

    # The correction's lane is painted too; segment 350 (175.0-175.3 s) dragged 20 px right
    # moves that row (and its page comes up), and no other.
    track = lane.locator(".rv-lane-track")
    assert track.get_attribute("data-painted") == "true"
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    view = _view(page)
    x = _x_of(box, 175.15, view)
    y = box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for k in range(1, 5):
        page.mouse.move(x + 5 * k, y)
    page.mouse.up()
    assert pager.inner_text() == "Segments 301–400 of 400"
    row = rows.nth(350)
    assert row.is_visible()
    moved = float(row.locator("[name=start]").input_value())
    per_px = (view[1] - view[0]) / box["width"]
    assert abs(moved - (175.0 + 20 * per_px)) < per_px + 0.01, (moved, per_px)
    end = float(row.locator("[name=end]").input_value())
    assert end - moved == pytest.approx(0.3, abs=0.011)

    # "+ segment" adds a row on the last page, shown and focused
    card.locator("[data-action=add-segment]").click()
    assert rows.count() == COUNT + 1 and pager.inner_text() == "Segment 401 of 401"
    assert rows.nth(COUNT).locator("[name=start]").evaluate("el => el === document.activeElement")
    # a row with an error brings its page back up
    card.locator("[data-testid=correct-page-prev]").click()
    assert pager.inner_text() == "Segments 301–400 of 401"
    card.locator("[data-testid=correct]").click()
    assert pager.inner_text() == "Segment 401 of 401"
    # and its start field has the focus
    assert rows.nth(COUNT).locator("[name=start]").evaluate("el => el === document.activeElement")
    assert "Segment 401: its start is not a number" in page.inner_text("[data-testid=review-error]")
    rows.nth(COUNT).locator("button.link").click()
    assert rows.count() == COUNT

    card.locator("[data-testid=correct]").click()
    page.wait_for_selector("[data-testid=history-row][data-action=correct]")
    many.refresh_from_db()
    saved = sorted(round(t, 2) for s in many.segments.all() for t in (s.start, s.end))
    want = sorted(
        round(t, 2)
        for i, s in enumerate(_segments())
        for t in ((moved, end) if i == 350 else (s["start"], s["end"]))
    )
    assert many.segments.count() == COUNT and saved == want
