"""The workspace with a long recording's worth of segments on one clip (5,000, written through
the API): it opens without building an element per segment, an edit on one of them changes that
one only and undo brings it back, and the submission holds all 5,000. It used to take seconds to
open and seconds per edit (benchmarks/workspace_segments.py measures it); the timings are
printed here, not asserted."""

from __future__ import annotations

import time

import pytest

from labelapp.models import Annotation, AnnotationDraft
from tests.browser.test_workspace import _ready, drawn, x_of
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

COUNT = 5000
STEP_S = 0.03  # one segment every 30 ms, each 20 ms long: 150 s of segments
TARGET = 4321  # the segment edited, counted from 1 in time order


def _segments() -> list[dict]:
    out = []
    for i in range(COUNT):
        start = round(i * STEP_S, 2)
        out.append(
            {
                "start": start,
                "end": round(start + 0.02, 2),
                "channel": None,
                "labels": ["birds/sparrow" if i % 2 == 0 else "birds/crow"],
            }
        )
    return out


@pytest.fixture
def crowded_clip(project, wav_factory, annotator, client_for):
    """A 160 s clip that the annotator has annotated with COUNT segments through the API."""
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from ml_backend.models import MLConfig
    from ontology.services import label_create

    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    birds = label_create(ontology=project.ontology, name="birds")
    label_create(ontology=project.ontology, name="sparrow", parent=birds, hotkey="s")
    label_create(ontology=project.ontology, name="crow", parent=birds, hotkey="c")
    outcome = clip_import(
        project=project, item=ImportItem(name="dawn.wav", path=wav_factory(seconds=160, freq=700))
    )
    clip_process(outcome.clip_id)
    clip = _ready(outcome.clip_id)
    response = client_for(annotator).post(
        f"/api/clips/{clip.pk}/annotations/",
        {"clip_labels": [], "segments": _segments()},
        format="json",
    )
    assert response.status_code == 201, response.content[:500]
    return clip


# Scrolls the segment list until the row numbered `n` is drawn (a long list draws the rows near
# its scroll position only) and answers its segment's id.
LIST_ROW_JS = """async ([n, total]) => {
  const list = document.querySelector('[data-testid=segment-list]');
  const number = (row) => Number(row.querySelector('.n').textContent);
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  for (let tries = 0; tries < 30; tries++) {
    const rows = [...list.querySelectorAll('.ws-seg-row')];
    const row = rows.find((r) => number(r) === n);
    if (row) { row.scrollIntoView({ block: 'center' }); await frame(); return row.dataset.id; }
    const near = rows.length ? number(rows[Math.floor(rows.length / 2)]) : 1;
    list.scrollTop += (n - near) * (list.scrollHeight / total);
    await frame();
  }
  throw new Error(`no row ${n} in the segment list`);
}"""


def _drawn_segment(page, seg_id):
    el = page.locator(f"[data-testid=segment][data-id='{seg_id}']")
    return float(el.get_attribute("data-start")), el.get_attribute("data-labels")


def _stored(clip, user) -> list[tuple[float, float, list[str]]]:
    annotation = Annotation.objects.get(clip=clip, annotator=user)
    return sorted(
        (s.start, s.end, sorted(sl.label.path for sl in s.segment_labels.all()))
        for s in annotation.segments.prefetch_related("segment_labels__label")
    )


def test_five_thousand_segments_open_edit_one_undo_and_submit_all(
    live_server, page, login, annotator, crowded_clip
):
    clip = crowded_clip
    expected = [(s["start"], s["end"], s["labels"]) for s in _segments()]
    login(page, annotator)
    started = time.monotonic()
    page.goto(f"{live_server.url}/clips/{clip.pk}/annotate/")
    drawn(page, clip.pk, timeout=120_000)
    opened = time.monotonic() - started
    assert page.inner_text(".ws-seg-count") == f"({COUNT})"
    # Seen whole, the segments are painted, not 5,000 elements, and the list holds the rows
    # around its scroll position, not 5,000 rows.
    assert page.locator("[data-testid=segment]").count() == 0
    assert page.locator("canvas.ws-regions-paint:not([hidden])").count() == 1
    assert 0 < page.locator(".ws-seg-row").count() < 300

    # A click on painted segments selects the one whose span holds the time clicked, or the
    # nearest (five segments share a pixel here, and their 2 px boxes overlap: the box on top
    # used to win, a segment up to half a pixel later), drawn as an element from then on.
    x, box = x_of(page, 60.0)
    x = round(x)
    page.mouse.click(x, box["y"] + box["height"] / 2)
    view = page.locator("[data-testid=waveform]")
    start, end = (float(view.get_attribute(f"data-view-{side}")) for side in ("start", "end"))
    t = start + (x - box["x"]) / box["width"] * (end - start)
    nearest = min(expected, key=lambda e: max(e[0] - t, t - e[1], 0.0))
    picked = page.locator("[data-testid=segment].selected")
    assert picked.count() == 1
    assert float(picked.get_attribute("data-start")) == nearest[0]
    # The list follows: the row of the segment picked, a thousand rows down, is in its view.
    row = page.locator(".ws-seg-row.selected")
    row.wait_for()
    listed = page.locator("[data-testid=segment-list]").bounding_box()
    shown = row.bounding_box()
    assert (
        listed["y"] <= shown["y"] and shown["y"] + shown["height"] <= listed["y"] + listed["height"]
    )
    assert row.get_attribute("data-id") == picked.get_attribute("data-id")
    assert page.inner_text("[data-testid=target]").startswith("Labeling Segment ")
    page.keyboard.press("Escape")

    # Closer, still over 500 in view but each a pixel or two apart: a click on a segment's
    # middle picks that segment, not the neighbour whose box (on whole pixels) reaches it.
    def span() -> float:
        view = page.locator("[data-testid=waveform]")
        return float(view.get_attribute("data-view-end")) - float(
            view.get_attribute("data-view-start")
        )

    while span() > 25:
        page.keyboard.press("=")
    assert span() > 16  # 500 segments of 30 ms at least: still painted
    assert page.locator("canvas.ws-regions-paint:not([hidden])").count() == 1
    start = float(page.get_attribute("[data-testid=waveform]", "data-view-start"))
    for seg_start, seg_end, _ in [e for e in expected if e[0] > start + span() / 2][:5]:
        x, box = x_of(page, (seg_start + seg_end) / 2)
        page.mouse.click(x, box["y"] + box["height"] / 2)
        assert float(picked.get_attribute("data-start")) == seg_start
        page.keyboard.press("Escape")
    page.keyboard.press("f")  # the whole clip again
    page.keyboard.press("Home")  # a selected segment took the playhead: zoom from the start

    # Zoomed in, segment #4,321 chosen from the list: the view goes to it.
    for _ in range(8):
        page.keyboard.press("=")
    page.wait_for_function(
        "() => +document.querySelector('[data-testid=waveform]').dataset.viewEnd < 1"
    )
    seg_id = page.evaluate(LIST_ROW_JS, [TARGET, COUNT])
    started = time.monotonic()
    page.click(f".ws-seg-row[data-id='{seg_id}'] .t")
    selected = time.monotonic() - started
    target_start, target_end, _ = expected[TARGET - 1]
    assert page.inner_text("[data-testid=target]").startswith(f"Labeling Segment {TARGET} ")
    assert _drawn_segment(page, seg_id) == (target_start, "birds/sparrow")

    # Moved by a drag from its middle, then given the crow label too.
    x0, box = x_of(page, (target_start + target_end) / 2)
    x1, _ = x_of(page, (target_start + target_end) / 2 + 0.1)
    y = box["y"] + box["height"] / 2
    started = time.monotonic()
    page.mouse.move(round(x0), y)
    page.mouse.down()
    for k in range(1, 6):
        page.mouse.move(round(x0 + (x1 - x0) * k / 5), y)
    page.mouse.up()
    moved_ms = (time.monotonic() - started) * 1000
    started = time.monotonic()
    page.keyboard.press("c")
    relabeled_ms = (time.monotonic() - started) * 1000
    moved_start, labels = _drawn_segment(page, seg_id)
    assert abs(moved_start - (target_start + 0.1)) <= 0.011, moved_start
    assert labels == "birds/sparrow|birds/crow"
    assert page.get_attribute("#workspace", "data-last-edit") == "label segment"

    # Undo twice: the segment as it was; redo twice: as edited.
    page.keyboard.press("Control+z")
    page.keyboard.press("Control+z")
    assert _drawn_segment(page, seg_id) == (target_start, "birds/sparrow")
    page.keyboard.press("Control+Shift+z")
    page.keyboard.press("Control+Shift+z")
    assert _drawn_segment(page, seg_id) == (moved_start, "birds/sparrow|birds/crow")
    assert page.inner_text(".ws-seg-count") == f"({COUNT})"

    # The autosaved draft and then the submission hold all 5,000, this one changed only.
    edited = list(expected)
    edited[TARGET - 1] = (
        moved_start,
        round(moved_start + 0.02, 2),
        ["birds/sparrow", "birds/crow"],
    )
    edited = sorted((a, b, sorted(ls)) for a, b, ls in edited)

    def draft_segments():
        draft = AnnotationDraft.objects.filter(clip=clip, user=annotator).first()
        segments = draft.data["segments"] if draft else []
        return sorted((s["start"], s["end"], sorted(s["labels"])) for s in segments)

    # (the last edit's draft: one sent before it may land after it began)
    wait_for(lambda: draft_segments() == edited, timeout=30, message="the draft of the edit")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "id => document.querySelector('#workspace').dataset.lastSubmitted === String(id)",
        arg=clip.pk,
        timeout=60_000,
    )
    assert _stored(clip, annotator) == edited
    print(
        f"\n{COUNT} segments: opened in {opened:.1f} s (page, server and client), list "
        f"select {selected * 1000:.0f} ms, drag {moved_ms:.0f} ms, relabel {relabeled_ms:.0f} ms"
    )
