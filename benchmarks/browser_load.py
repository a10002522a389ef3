"""The annotation workspace in headless Chromium (issue 4): time from navigation to the first
waveform drawn and bytes fetched before it, for a 1-hour 44.1 kHz mono WAV and a 10-second clip;
zoom from the whole hour to a 1-second window; the page's JS heap; submit to next clip drawn.

Targets: 1-hour first waveform < 0.5 s with < 3 MB fetched; zoom to 1 s < 0.2 s at sample
level; heap < 100 MB; 10-second first waveform < 0.3 s; submit-to-next < 0.3 s.
Label Studio 1.23.2 on this machine: 6.4-7.5 s and 635 MB (1 hour), 1.7 s (10 seconds).

    .venv/bin/python benchmarks/browser_load.py [--runs 5] [--minutes 60]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import soundfile as sf
from _stack import DEPLOYED_OVER_HTTP, ROOT, browser_login, free_port, served, setup
from long_audio import SR, generate

CHROMIUM = os.environ.get("EARMARK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PASSWORD = "bench-password-1"
VIEWPORT = {"width": 1600, "height": 900}

# The first paint of a clip: the workspace marks `earmark:waveform:<clip id>` when it has drawn
# the peaks; its startTime is measured from the navigation's start (performance.timeOrigin).
FIRST_PAINT_JS = """async (clipId) => {
  const name = `earmark:waveform:${clipId}`;
  while (!performance.getEntriesByName(name).length) await new Promise(r => setTimeout(r, 5));
  const at = performance.getEntriesByName(name)[0].startTime;
  const nav = performance.getEntriesByType('navigation')[0];
  let bytes = nav.transferSize, requests = 1;
  for (const r of performance.getEntriesByType('resource')) {
    if (r.responseEnd <= at) { bytes += r.transferSize; requests += 1; }
  }
  return { ms: at, bytes, requests };
}"""

ZOOM_JS = """(seconds) => new Promise((resolve) => {
  const wave = document.querySelector('.ws-wave');
  const canvas = document.querySelector('[data-testid=waveform]');
  const start = parseFloat(canvas.dataset.viewStart), end = parseFloat(canvas.dataset.viewEnd);
  const rect = wave.getBoundingClientRect();
  // one wheel step from the whole clip to a `seconds`-wide window around its middle
  const deltaY = -Math.log((end - start) / seconds) / Math.log(1.0015);
  const t0 = performance.now();
  canvas.addEventListener('detail', (e) => resolve({
    ms: performance.now() - t0, level: e.detail.level, span: e.detail.end - e.detail.start,
    samples_per_bucket: e.detail.samples_per_bucket, buckets: e.detail.min.length,
  }), { once: true });
  wave.dispatchEvent(new WheelEvent('wheel', { deltaY, clientX: rect.left + rect.width / 2,
    clientY: rect.top + rect.height / 2, bubbles: true, cancelable: true }));
})"""

SUBMIT_JS = """() => new Promise((resolve) => {
  const canvas = document.querySelector('[data-testid=waveform]');
  const before = canvas.dataset.clip;
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    if (canvas.dataset.clip !== before && canvas.dataset.drawn === 'true') {
      obs.disconnect();
      resolve({ ms: performance.now() - t0, clip: canvas.dataset.clip });
    }
  });
  obs.observe(canvas, { attributes: true });
  document.querySelector('[data-testid=submit]').click();
})"""


def make_clip(path, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * seconds)) / SR
    data = 0.4 * np.sin(2 * np.pi * (300 + 50 * seed) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * t))
    sf.write(path, (data + 0.03 * rng.standard_normal(t.size)).astype(np.float32), SR)


def median_max(values):
    return statistics.median(values), max(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument(
        "--server",
        choices=["gunicorn", "runserver"],
        default="gunicorn",
        help="gunicorn with DEBUG off (as deployed) or Django's development server",
    )
    args = parser.parse_args()
    var = setup("browser")
    from django.contrib.auth import get_user_model

    from labelapp.models import Clip
    from labelapp.services.clips import clip_process
    from labelapp.services.imports import ImportItem, clip_import
    from labelapp.services.projects import membership_set, project_create
    from ontology.services import label_create

    user = get_user_model().objects.create_user("bench-annotator", password=PASSWORD)
    project = project_create(name="browser-bench", label_mode="multi")
    membership_set(project=project, user=user, role="annotator")
    label_create(ontology=project.ontology, name="tone", hotkey="t")

    hour = var / "one-hour.wav"
    started = time.monotonic()
    generate(hour, args.minutes)
    print(f"generated {hour.stat().st_size / 1e6:.0f} MB in {time.monotonic() - started:.1f} s")
    paths = {"hour": hour}
    for i in range(args.runs + 2):
        paths[f"short{i}"] = var / f"ten-seconds-{i}.wav"
        make_clip(paths[f"short{i}"], 10.0, seed=i)
    ids = {}
    for key, path in paths.items():
        outcome = clip_import(project=project, item=ImportItem(name=path.name, path=path))
        assert clip_process(outcome.clip_id) == "ready", outcome
        ids[key] = outcome.clip_id
    print("clips ready:", Clip.objects.filter(project=project, status="ready").count())

    port = free_port()
    env = os.environ.copy()
    if args.server == "gunicorn":
        env.update(DEPLOYED_OVER_HTTP)
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        command = ["gunicorn", "labelapp.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2"]
        command = [sys.executable, "-m", *command, "--threads", "4"]
    else:
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    print(f"server: {args.server}")
    with served(command, port, var / "server.log", env) as base:
        run_browser(base, ids, args.runs)


def run_browser(base: str, ids: dict, runs: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        state = browser_login(browser, base, "bench-annotator", PASSWORD, VIEWPORT)
        # warm the server once (imports, template and static caches), not the browser
        warm = browser.new_context(viewport=VIEWPORT, storage_state=state)
        page = warm.new_page()
        page.goto(f"{base}/clips/{ids['short0']}/annotate/")
        page.evaluate(FIRST_PAINT_JS, ids["short0"])
        warm.close()

        def fresh():
            # a new context per run: an empty HTTP cache, as on a first visit
            ctx = browser.new_context(viewport=VIEWPORT, storage_state=state)
            return ctx, ctx.new_page()

        results: dict[str, list] = {
            "hour": [],
            "short": [],
            "zoom": [],
            "heap": [],
            "submit": [],
            "ready": [],
        }
        for i in range(runs):
            ctx, page = fresh()
            page.goto(f"{base}/clips/{ids['hour']}/annotate/", wait_until="commit")
            results["hour"].append(page.evaluate(FIRST_PAINT_JS, ids["hour"]))
            page.wait_for_selector("#workspace[data-ready=true]")
            results["ready"].append(page.evaluate("() => performance.now()"))
            page.wait_for_timeout(300)  # the spectrogram and overview settle
            results["zoom"].append(page.evaluate(ZOOM_JS, 1.0))
            cdp = ctx.new_cdp_session(page)
            cdp.send("HeapProfiler.collectGarbage")
            results["heap"].append(cdp.send("Runtime.getHeapUsage")["usedSize"])
            # let the spectrogram requests finish: the server is not busy with this page next
            page.wait_for_load_state("networkidle")
            ctx.close()

            ctx, page = fresh()
            page.goto(f"{base}/clips/{ids[f'short{i}']}/annotate/", wait_until="commit")
            results["short"].append(page.evaluate(FIRST_PAINT_JS, ids[f"short{i}"]))
            page.wait_for_selector("#workspace[data-ready=true]")
            page.keyboard.press("t")  # a clip label by hotkey
            results["submit"].append(page.evaluate(SUBMIT_JS))
            page.wait_for_load_state("networkidle")
            ctx.close()
        browser.close()

    hour_ms = median_max([r["ms"] for r in results["hour"]])
    hour_mb = max(r["bytes"] for r in results["hour"]) / 1e6
    short_ms = median_max([r["ms"] for r in results["short"]])
    zoom_ms = median_max([r["ms"] for r in results["zoom"]])
    z = results["zoom"][-1]
    heap_mb = max(results["heap"]) / 2**20
    submit_ms = median_max([r["ms"] for r in results["submit"]])

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"runs: {runs} (median, max); Chromium headless, viewport {VIEWPORT['width']}px")
    print(
        f"1-hour clip, first waveform: {hour_ms[0]:.0f} ms (max {hour_ms[1]:.0f} ms), "
        f"{hour_mb:.3f} MB in {results['hour'][-1]['requests']} requests before it "
        f"(target < 500 ms, < 3 MB: {verdict(hour_ms[1] < 500 and hour_mb < 3)}; "
        f"Label Studio 6.4-7.5 s, 635 MB)"
    )
    print(
        f"zoom whole hour -> 1 s: {zoom_ms[0]:.0f} ms (max {zoom_ms[1]:.0f} ms), level "
        f"{z['level']} ({'raw samples' if z['level'] == -1 else 'peaks'}), "
        f"{z['samples_per_bucket']:.1f} samples per pixel over {z['span']:.3f} s "
        f"(target < 200 ms: {verdict(zoom_ms[1] < 200)})"
    )
    ready = median_max(results["ready"])
    print(
        f"1-hour clip, whole workspace ready (all modules, labels, handlers): by "
        f"{ready[0]:.0f} ms (max {ready[1]:.0f} ms) after navigation"
    )
    print(
        f"JS heap after load + zoom: {heap_mb:.1f} MB (target < 100 MB: {verdict(heap_mb < 100)})"
    )
    print(
        f"10-second clip, first waveform: {short_ms[0]:.0f} ms (max {short_ms[1]:.0f} ms) "
        f"(target < 300 ms: {verdict(short_ms[1] < 300)}; Label Studio 1.7 s)"
    )
    print(
        f"submit -> next clip drawn: {submit_ms[0]:.0f} ms (max {submit_ms[1]:.0f} ms) "
        f"(target < 300 ms: {verdict(submit_ms[1] < 300)})"
    )


if __name__ == "__main__":
    main()
