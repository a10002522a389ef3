"""The review page of a clip whose annotation holds 5,000 segments, in headless Chromium: the
time to open it (navigation to a drawn waveform with its lanes, the server's part, the main
thread's long tasks), to open the correction editor, and the latency of a zoom, of a drag on
the correction's lane and of a click that plays a segment. A 5-second clip with three segments
is opened beside it, for what loading alone costs.

    .venv/bin/python benchmarks/review_segments.py [--segments 5000] [--runs 3] [--profile]

The figures and the ratio against the page before it stopped rendering every segment are in
RESULTS.md ("The review page with 5,000 segments").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from _stack import browser_login, free_port, served, setup
from workspace_segments import (
    CHROMIUM,
    CHROMIUM_ARGS,
    FRAME_JS,
    LABELS,
    LONG_TASKS_JS,
    PASSWORD,
    VIEWPORT,
    drag,
    many_segments,
    measured_page,
    print_profile,
    timed,
    tone,
)

WAVE = "[data-testid=review-waveform]"


def make_data(var, n: int, minutes: float) -> dict:
    from django.contrib.auth import get_user_model

    from labelapp.models import Clip
    from labelapp.services.annotations import annotation_input_build, annotation_save
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from labelapp.services.projects import membership_set, project_create
    from ml_backend.models import MLConfig
    from ontology.services import label_create

    users = get_user_model().objects
    annotator = users.create_user("bench-annotator", password=PASSWORD)
    reviewer = users.create_user("bench-reviewer", password=PASSWORD)
    project = project_create(name="review-bench", label_mode="multi")
    membership_set(project=project, user=annotator, role="annotator")
    membership_set(project=project, user=reviewer, role="reviewer")
    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    for x in LABELS:
        label_create(ontology=project.ontology, name=x, hotkey=x[0])
    ids = {}
    for key, seconds, count in (("many", minutes * 60, n), ("few", 5.0, 3)):
        path = var / f"{key}.wav"
        tone(path, seconds)
        outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        assert clip_process(outcome.clip_id) == "ready", outcome
        clip = Clip.objects.get(pk=outcome.clip_id)
        data = annotation_input_build(project, clip, segments=many_segments(count, seconds * 0.98))
        annotation_save(clip=clip, user=annotator, data=data)  # submitted: waiting for review
        ids[key] = clip.pk
    return ids


# The page is ready when its waveform is drawn and its lanes laid out (review_player.js).
READY = f"{WAVE}[data-drawn=true]"


def open_times(page, base: str, clip_id: int, profile) -> dict:
    page.goto(f"{base}/clips/{clip_id}/review/", wait_until="commit")
    page.wait_for_selector(READY, timeout=120_000)
    page.wait_for_selector("#clip-review[data-keys=ready]", timeout=120_000)
    out = page.evaluate(LONG_TASKS_JS)
    out["bytes"] = page.evaluate("() => performance.getEntriesByType('navigation')[0].transferSize")
    if profile:
        print_profile("opening the page", profile.send("Profiler.stop")["profile"])
    return out


def edit_times(page, cdp=None) -> dict[str, dict]:
    out = {}
    out["noop (input round trip)"] = timed(page, lambda: page.mouse.move(5, 5))
    out["zoom in (key +)"] = timed(page, lambda: page.keyboard.press("="))
    out["zoom in again, 4 times (keys)"] = timed(
        page, lambda: [page.keyboard.press("=") for _ in range(4)]
    )
    seg = page.locator("[data-testid=review-lane] [data-testid=review-segment]:visible").first
    out["play a segment (click)"] = timed(page, lambda: seg.click())
    page.evaluate("() => document.querySelector('[data-testid=review-audio]').pause()")
    if cdp:
        cdp.send("Profiler.start")
    started = time.perf_counter()
    page.locator("[data-testid=correct-open]").first.click()
    page.wait_for_selector("[data-testid=correction-segment]", timeout=120_000)
    page.evaluate(FRAME_JS)
    out["open the correction editor"] = {
        "wall": (time.perf_counter() - started) * 1000,
        "worst": 0.0,
        "inputs": 1,
    }
    if cdp:
        print_profile("opening the correction", cdp.send("Profiler.stop")["profile"])
    box = page.locator("[data-testid=correction-segment]:visible").first.bounding_box()
    y = box["y"] + box["height"] / 2
    mid = box["x"] + box["width"] / 2
    out["move a correction segment (drag, 6 steps)"] = timed(
        page, lambda: drag(page, mid, mid + 30, y)
    )
    out["zoom out (key -) with the correction open"] = timed(page, lambda: page.keyboard.press("-"))
    return out


def run_browser(base: str, ids: dict, runs: int, profile: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        state = browser_login(browser, base, "bench-reviewer", PASSWORD, VIEWPORT)
        opens: dict[str, list] = {"few": [], "many": []}
        edits: dict[str, list[dict]] = {}
        for run in range(runs):
            for key in ("few", "many"):
                ctx, page, cdp = measured_page(browser, state, profile and run == 0)
                opens[key].append(open_times(page, base, ids[key], cdp))
                if key == "many":
                    for name, ms in edit_times(page, cdp).items():
                        edits.setdefault(name, []).append(ms)
                ctx.close()
        browser.close()

    median = statistics.median
    print(f"runs: {runs} (median); Chromium headless {VIEWPORT['width']}x{VIEWPORT['height']}")
    for key, what in (("few", "5 s clip, 3 segments"), ("many", "clip of 5,000 segments")):
        o = opens[key]
        print(
            f"open {what}: ready {median([x['ready'] for x in o]):.0f} ms after navigation; "
            f"HTML in at {median([x['html'] for x in o]):.0f} ms "
            f"({median([x['bytes'] for x in o]) / 1e3:.0f} kB); "
            f"client part {median([x['ready'] - x['html'] for x in o]):.0f} ms; "
            f"long tasks {median([x['long_ms'] for x in o]):.0f} ms"
        )
    print("on the 5,000-segment clip: worst input's latency to the next frame in the page, and")
    print("the wall time through the browser protocol")
    for name, values in edits.items():
        worst = median([v["worst"] for v in values])
        wall = median([v["wall"] for v in values])
        print(f"  {name}: {worst:.0f} ms worst of {values[0]['inputs']} inputs, {wall:.0f} ms wall")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=10.0, help="the long clip's length")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    var = setup("review-segments")
    ids = make_data(var, args.segments, args.minutes)
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with served(command, port, var / "server.log") as base:
        run_browser(base, ids, args.runs, args.profile)


if __name__ == "__main__":
    main()
