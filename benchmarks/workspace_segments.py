"""The annotation workspace with many segments on one clip, in headless Chromium: the time to
open the clip (navigation to a ready workspace, the part of it after the page's HTML was in, and
the main thread's long tasks) and each edit on segment #4,321 of 5,000 (select, move, resize,
relabel, undo, redo, delete, add): the worst input's latency to the next frame inside the page,
and the wall time through the browser protocol. A 5-second clip with three segments is opened
beside it, for what loading alone costs.

Figures on the 2-core development machine (shared, loaded; Chromium 1400x900, runserver, median
of 3 runs), before and after the workspace stopped building every segment's element and row:

                                       before       after      ratio
    open: client part after the HTML   10.6 s       0.77 s     14x   (5 s clip: 0.78 s)
    open: long tasks                    8.2 s       0.29 s     28x   (5 s clip: 0.13 s)
    select from the list                1.9 s       57 ms      34x
    select on the waveform              1.5 s       16 ms      90x
    relabel (hotkey)                    1.6 s       50 ms      33x
    move / resize (drag, worst input)   1.4-1.6 s   24-26 ms   60x
    undo / redo                         1.4-1.7 s   38-39 ms   40x
    delete                              1.3 s       32 ms      40x
    add (shift+drag, worst input)       1.1 s       27 ms      40x

The page's HTML itself took 4-6 s to come for this clip: the server read each segment's labels
with a query of its own (annotation_snapshot). With three queries in all it comes in 0.66 s,
and the clip is ready 1.5 s after navigation (a 5 s clip: 0.75 s); RESULTS.md, session 20.

    .venv/bin/python benchmarks/workspace_segments.py [--segments 5000] [--runs 3] [--profile]

`--profile` also prints the JS functions that took the most time (Chromium's sampling
profiler) while opening each clip and during one relabel: where the time goes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter

import numpy as np
import soundfile as sf
from _stack import browser_login, free_port, served, setup

CHROMIUM = os.environ.get("EARMARK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PASSWORD = "bench-password-1"
VIEWPORT = {"width": 1400, "height": 900}
SR = 16000
TARGET = 4321  # the segment edited, counted from 1 in time order
LABELS = ("tone", "hum", "click")  # hotkeys: their first letters

# Long tasks (over 50 ms on the main thread) since navigation: what the user waits on; and when
# the page's HTML (the clip's segments inline) had arrived, the server's part.
LONG_TASKS_JS = """() => new Promise((resolve) => {
  const seen = [];
  new PerformanceObserver((list) => seen.push(...list.getEntries()))
    .observe({ type: 'longtask', buffered: true });
  const nav = performance.getEntriesByType('navigation')[0];
  setTimeout(() => resolve({ ready: performance.now(), html: nav.responseEnd,
    long_ms: seen.reduce((a, e) => a + e.duration, 0) }), 0);
})"""

# The next frame after an input: what the input changed has been laid out and painted.
FRAME_JS = "() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)))"

# Each input's latency inside the page: from its dispatch (a listener on window, which runs
# before the workspace's own) to the frame after it, its handlers, layout and paint included.
# What the protocol's round trip adds to the wall time is left out.
LATENCY_INIT_JS = """
window.__latency = [];
for (const type of ['pointerdown', 'pointermove', 'pointerup', 'click', 'keydown']) {
  window.addEventListener(type, () => {
    const t0 = performance.now();
    requestAnimationFrame(() => setTimeout(() => window.__latency.push(performance.now() - t0), 0));
  }, { capture: true });
}
"""


def tone(path, seconds: float) -> None:
    t = np.arange(int(SR * seconds)) / SR
    sf.write(path, (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), SR)


def many_segments(n: int, duration: float) -> list[dict]:
    """`n` segments side by side over `duration` seconds, labels in turn, a few overlapping
    pairs and channel-free (all channels), as an imported or API-written annotation has."""
    step = duration / n
    out = []
    for i in range(n):
        start = round(i * step, 2)
        end = round(start + max(0.01, step * (1.6 if i % 50 == 0 else 0.6)), 2)
        out.append({"start": start, "end": end, "labels": [LABELS[i % len(LABELS)]]})
    return out


def make_data(var, n: int, minutes: float, suggestions: int) -> dict:
    from django.contrib.auth import get_user_model

    from labelapp.models import Annotation, Clip
    from labelapp.services.annotations import annotation_input_build, annotation_save
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from labelapp.services.projects import membership_set, project_create
    from ml_backend.models import MLConfig, ModelVersion, Prediction
    from ontology.services import label_create

    user = get_user_model().objects.create_user("bench-annotator", password=PASSWORD)
    project = project_create(name="segments-bench", label_mode="multi")
    membership_set(project=project, user=user, role="annotator")
    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    labels = [label_create(ontology=project.ontology, name=x, hotkey=x[0]) for x in LABELS]
    ids = {}
    for key, seconds, count in (("many", minutes * 60, n), ("few", 5.0, 3)):
        path = var / f"{key}.wav"
        tone(path, seconds)
        outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        assert clip_process(outcome.clip_id) == "ready", outcome
        clip = Clip.objects.get(pk=outcome.clip_id)
        segments = many_segments(count, seconds * 0.98)
        data = annotation_input_build(project, clip, segments=segments)
        annotation_save(clip=clip, user=user, data=data, source=Annotation.Source.IMPORTED)
        ids[key] = clip.pk
    if suggestions:
        version = ModelVersion.objects.create(
            project=project, version=1, name="v1", status="active"
        )
        Prediction.objects.create(
            clip_id=ids["many"],
            model_version=version,
            clip_scores={str(labels[0].pk): 0.9},
            segments=[
                {
                    "start": round(i * 0.5 + 0.1, 2),
                    "end": round(i * 0.5 + 0.3, 2),
                    "channel": None,
                    "label": labels[i % 3].pk,
                    "score": 0.7,
                }
                for i in range(suggestions)
            ],
        )
    return ids


def profile_top(profile: dict, limit: int = 14) -> list[tuple[str, float]]:
    """Self time per JS function (name and place) from a CDP CPU profile, largest first."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    self_ms: Counter = Counter()
    for node_id, delta in zip(profile["samples"], profile["timeDeltas"], strict=True):
        frame = nodes[node_id]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1]
        name = f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber'] + 1}"
        self_ms[name] += delta / 1000
    return self_ms.most_common(limit)


def print_profile(title: str, profile: dict) -> None:
    print(f"  profile, {title} (self time):")
    for name, ms in profile_top(profile):
        print(f"    {ms:8.1f} ms  {name}")


def measured_page(browser, state: dict, profile: bool):
    """A page of a new signed-in context whose inputs' latencies are recorded (window
    .__latency), and with `profile` a CDP session whose sampling profiler is running."""
    ctx = browser.new_context(viewport=VIEWPORT, storage_state=state)
    ctx.add_init_script(LATENCY_INIT_JS)
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page) if profile else None
    if cdp:
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
    return ctx, page, cdp


def run_browser(base: str, ids: dict, runs: int, profile: bool) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        state = browser_login(browser, base, "bench-annotator", PASSWORD, VIEWPORT)

        opens: dict[str, list] = {"few": [], "many": []}
        edits: dict[str, list[dict]] = {}
        for run in range(runs):
            for key in ("few", "many"):
                ctx, page, cdp = measured_page(browser, state, profile and run == 0)
                page.goto(f"{base}/clips/{ids[key]}/annotate/", wait_until="commit")
                page.wait_for_selector("#workspace[data-ready=true]", timeout=120_000)
                opens[key].append(page.evaluate(LONG_TASKS_JS))
                if cdp:
                    print_profile(f"opening the {key} clip", cdp.send("Profiler.stop")["profile"])
                if key == "many":
                    for name, ms in edit_times(page, cdp).items():
                        edits.setdefault(name, []).append(ms)
                # the autosave lands before the context goes
                page.wait_for_load_state("networkidle")
                ctx.close()
        browser.close()

    def median(values):
        return statistics.median(values)

    print(f"runs: {runs} (median); Chromium headless {VIEWPORT['width']}x{VIEWPORT['height']}")
    for key, what in (("few", "5 s clip, 3 segments"), ("many", "clip of 5,000 segments")):
        ready = median([o["ready"] for o in opens[key]])
        html = median([o["html"] for o in opens[key]])
        busy = median([o["long_ms"] for o in opens[key]])
        client = median([o["ready"] - o["html"] for o in opens[key]])
        print(
            f"open {what}: ready {ready:.0f} ms after navigation, {client:.0f} ms of it after the "
            f"page's HTML was in (at {html:.0f} ms); long tasks {busy:.0f} ms"
        )
    extra = median([o["long_ms"] for o in opens["many"]]) - median(
        [o["long_ms"] for o in opens["few"]]
    )
    print(f"  the segments' own client time on open: {extra:.0f} ms of long tasks")
    print("edits on segment #4,321 (median of runs): worst input's latency to the next frame")
    print("in the page, and the wall time of the whole edit through the browser protocol")
    for name, values in edits.items():
        worst = median([v["worst"] for v in values])
        wall = median([v["wall"] for v in values])
        inputs = values[0]["inputs"]
        print(f"  {name}: {worst:.0f} ms worst of {inputs} inputs, {wall:.0f} ms wall")


# Scrolls the segment list until the row numbered `n` (time order, from 1) is drawn (a long list
# draws the rows near its scroll position only) and answers its segment's id.
LIST_ROW_JS = """async (n) => {
  const list = document.querySelector('[data-testid=segment-list]');
  const total = Number(document.querySelector('.ws-seg-count').textContent.replace(/\\D/g, ''));
  const number = (row) => Number(row.querySelector('.n').textContent);
  const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  for (let tries = 0; tries < 30; tries++) {
    const rows = [...list.querySelectorAll('.ws-seg-row')];
    const row = rows.find((r) => number(r) === n);
    if (row) { row.scrollIntoView({ block: 'center' }); await frame(); return row.dataset.id; }
    const pitch = list.scrollHeight / total;
    const near = rows.length ? number(rows[Math.floor(rows.length / 2)]) : 1;
    list.scrollTop += (n - near) * pitch;
    await frame();
  }
  throw new Error(`no row ${n} in the segment list`);
}"""


def list_row(page, n: int):
    """The list row of the `n`-th segment (from 1, time order), scrolled into view."""
    seg_id = page.evaluate(LIST_ROW_JS, n)
    return page.locator(f"[data-testid=segment-list] .ws-seg-row[data-id='{seg_id}']"), seg_id


def region_box(page, seg_id: str):
    """The page box of segment `seg_id` as drawn over the waveform."""
    return page.locator(f"[data-testid=segment][data-id='{seg_id}']").bounding_box()


def timed(page, action) -> dict:
    """The wall time of `action` to the frame after it, and its inputs' latencies in the page
    (the worst one, their count)."""
    page.evaluate("() => { window.__latency = []; }")
    started = time.perf_counter()
    action()
    page.evaluate(FRAME_JS)
    wall = (time.perf_counter() - started) * 1000
    page.evaluate(FRAME_JS)  # the last input's own measure lands
    latency = page.evaluate("() => window.__latency")
    return {"wall": wall, "worst": max(latency, default=0.0), "inputs": len(latency)}


def drag(page, x0, x1, y, steps=6):
    page.mouse.move(x0, y)
    page.mouse.down()
    for k in range(1, steps + 1):
        page.mouse.move(x0 + (x1 - x0) * k / steps, y)
    page.mouse.up()


def edit_times(page, cdp=None) -> dict[str, dict]:
    """Each edit on segment #TARGET, zoomed in so that it is a few dozen pixels wide."""
    out = {}
    # Zoom in around the clip's start, then bring the target into view from its list row.
    for _ in range(6):
        page.keyboard.press("=")
    page.evaluate(FRAME_JS)
    row, seg_id = list_row(page, TARGET)
    out["noop (input round trip)"] = timed(page, lambda: page.mouse.move(5, 5))
    out["select from the list"] = timed(page, lambda: row.click())
    box = region_box(page, seg_id)
    y = box["y"] + box["height"] / 2
    mid = box["x"] + box["width"] / 2
    out["select on the waveform"] = timed(page, lambda: page.mouse.click(mid, y))
    if cdp:
        cdp.send("Profiler.start")
    out["relabel (hotkey)"] = timed(page, lambda: page.keyboard.press("h"))
    if cdp:
        print_profile("one relabel", cdp.send("Profiler.stop")["profile"])
    out["move (drag, 6 steps)"] = timed(page, lambda: drag(page, mid, mid + 30, y))
    box = region_box(page, seg_id)
    right = box["x"] + box["width"] - 2
    out["resize (drag the end, 6 steps)"] = timed(page, lambda: drag(page, right, right + 20, y))
    out["undo"] = timed(page, lambda: page.keyboard.press("Control+z"))
    out["redo"] = timed(page, lambda: page.keyboard.press("Control+Shift+z"))
    out["delete"] = timed(page, lambda: page.keyboard.press("Delete"))
    page.keyboard.down("Shift")
    out["add (shift+drag, 6 steps)"] = timed(page, lambda: drag(page, mid - 10, mid + 40, y))
    page.keyboard.up("Shift")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=10.0, help="the long clip's length")
    parser.add_argument("--suggestions", type=int, default=0, help="segment suggestions on it")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    var = setup("segments")
    ids = make_data(var, args.segments, args.minutes, args.suggestions)
    port = free_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    with served(command, port, var / "server.log") as base:
        run_browser(base, ids, args.runs, args.profile)


if __name__ == "__main__":
    main()
