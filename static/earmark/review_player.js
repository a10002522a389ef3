// The review page's player: the clip's waveform from server peaks, each annotation's segments
// on a lane of its own under it (a row per channel on a clip of 2 to 8 channels, as the
// waveform's lanes; review_lanes.js), a playhead, and a click on a segment plays just that span.
// The waveform zooms and scrolls as the workspace's does (a `WaveformView`: finer peaks are
// fetched for the window shown only); the lanes, the playhead and the ruler follow the view.
// Every view change is announced with a "view" event on #rv-player and written to the
// canvas's data-view-start / data-view-end, where the correction's lane (review_correct.js)
// reads it.
import {
  frameLane,
  inView,
  laneLayout,
  boxLeft,
  paintCanvas,
  paintedAt,
  paintLane,
  paintsAt,
  placeBox,
  tintFor,
} from "./review_lanes.js";
import { labelColor } from "./labels.js";
import { releaseAfterPointerChange } from "./dom.js";
import { SpectrogramView } from "./spectrogram.js";
import { Bands } from "./bands.js";
import { audioDescription, channelName, drawRuler, formatSpan, formatTime, segmentTime, WaveformView, audioFailureText, whyAudioFailed } from "./waveform.js";

const root = document.getElementById("rv-player");
const canvas = root && root.querySelector("canvas.waveform");
if (canvas) {
  const clipId = root.dataset.clip;
  const audio = root.querySelector("audio");
  const waveBox = root.querySelector(".rv-wave");
  const ruler = root.querySelector(".rv-ruler");
  const zoomLabel = root.querySelector("[data-testid=review-zoom]");
  const spanLabel = root.querySelector("[data-testid=review-view-span]");
  const playhead = root.querySelector(".rv-playhead");
  const channels = Number(root.dataset.channels) || 1;
  // Each annotation's segments, [start, end, channel, "labels"] in time order (the view's
  // lane_segments), and its lane's rows (review_lanes.js): a row per channel on a clip of 2 to 8
  // channels, overlapping segments stacked so that none hides another. Times only: set once.
  // The segments in view are boxes (built when they come into view), or painted where there
  // are too many for boxes (review_lanes.js paintsAt).
  const data = JSON.parse(document.getElementById("review-lane-segments")?.textContent || "{}");
  const lanes = [...root.querySelectorAll(".rv-lanes .rv-lane[data-annotation]")].map((el) => {
    const track = el.querySelector(".rv-lane-track");
    const segs = (data[el.dataset.annotation] || []).map(([start, end, channel, labels, [id, color] = [null, ""], band = null]) => ({
      start, end, channel, labels, color: id === null ? "" : labelColor({ id, color }), band,
    }));
    const layout = laneLayout(segs, channels);
    const lane = { track, segs, layout, who: el.querySelector(".rv-lane-name")?.textContent || "", frames: frameLane(track, layout), paint: paintCanvas(track), painted: [], shown: [], boxes: new Map(), tints: new Map() };
    track.replaceChildren(...lane.frames, lane.paint);
    return lane;
  });
  const box = (lane, i) => {
    const s = lane.segs[i];
    const el = document.createElement("button");
    el.type = "button";
    el.className = "rv-seg";
    el.setAttribute("data-testid", "review-segment");
    el.dataset.start = String(s.start);
    el.dataset.end = String(s.end);
    el.dataset.channel = s.channel === null ? "" : String(s.channel);
    const where = s.channel === null || channels < 2 ? "" : `, ${channelName(s.channel, channels)}`;
    el.title = `${segmentTime(s.start)}–${segmentTime(s.end)} s${where}: play`;
    el.textContent = s.labels;
    if (s.color) el.style.setProperty("--seg", s.color); // its label's colour, as in the workspace
    placeBox(el, lane.layout.place[i]);
    const tint = tintFor(lane.layout.place[i]);
    if (tint) lane.tints.set(i, tint);
    return el;
  };
  let stopAt = null; // the end of the segment playing, until the user seeks or pauses
  let ownSeek = false;
  let frame = 0;
  let played = false; // the playhead shows once the audio has moved or been asked to

  // The colours drawClipOverview drew with before the page could zoom.
  const view = new WaveformView(canvas, {
    clipId,
    duration: Number(root.dataset.duration) || 0,
    onView: () => viewChanged(),
    colors: { wave: "#4f7cff", background: "#10131a" },
    perChannel: true, // a stereo clip: a lane per channel, as in the workspace
  });
  const ready = () => view.duration > 0;
  releaseAfterPointerChange(document); // after a select changed with the mouse, A and Space act
  const specImg = root.querySelector("[data-testid=review-spectrogram]");
  const spectro = specImg && new SpectrogramView(specImg, {
    clipId,
    axis: root.querySelector("[data-testid=spec-axis]"),
    scaleSelect: root.querySelector("[data-testid=spec-scale]"),
    topSelect: root.querySelector("[data-testid=spec-top]"),
    bottomSelect: root.querySelector("[data-testid=spec-bottom]"),
  });
  if (spectro) spectro.setClip(clipId, Number(root.dataset.rate) || 0);
  // Segments with a band: each annotator's boxes on the spectrogram, as the workspace drew
  // them (the band was text only here).
  const boxes = lanes.flatMap((lane, k) => lane.segs.filter((s) => s.band).map((s, i) => ({
    id: `${k}:${i}`, start: s.start, end: s.end, low_freq: s.band[0], high_freq: s.band[1],
    // the label first: a small box shows the start of its tag ("earma…" said nothing)
    labels: [s.labels], color: s.color, text: `${s.labels} · ${lane.who}`,
  })));
  const bands = spectro && boxes.length
    ? new Bands(specImg.parentElement, view, spectro, { colorOf: () => "", nameOf: (x) => x }, { readOnly: true })
    : null;
  if (spectro && bands) spectro.onChange = () => bands.render(boxes, null);

  const load = () => {
    view.setView(0, view.duration, { fetch: false });
    view
      .loadOverview()
      .then(() => {
        canvas.title = "";
        canvas.dataset.drawn = "true";
      })
      .catch((err) => {
        canvas.dataset.error = "true";
        canvas.title = `The waveform could not be loaded (${err.message}); the audio still plays.`;
      });
  };

  // Where a time falls across the view, 0..1 (outside it: below 0 or above 1).
  const share = (t) => (t - view.start) / Math.max(1e-9, view.span);
  const clamp01 = (x) => Math.min(1, Math.max(0, x));
  const PAINT = { fill: "rgba(79,124,255,0.45)", edge: "#4f7cff", tint: "rgba(79,124,255,0.12)" };
  const BOX_MIN_PX = 10; // .rv-seg's padding and border
  const place = (el, s, trackPx, minPx) => {
    const left = clamp01(share(s.start));
    const width = clamp01(share(s.end)) - left;
    el.style.left = `${boxLeft(left, width, trackPx, minPx) * 100}%`;
    el.style.width = `${width * 100}%`;
  };
  const layout = () => {
    for (const lane of lanes) {
      const seen = ready() ? inView(lane.segs, view.start, view.end) : [];
      const trackPx = lane.track.clientWidth;
      const painted = paintsAt(seen.length, trackPx);
      lane.painted = painted ? seen : [];
      lane.track.dataset.painted = String(painted);
      paintLane(lane.paint, lane.track, lane.segs, lane.painted, lane.layout, view, PAINT);
      const shown = painted ? [] : seen;
      const keep = new Set(shown);
      for (const [i, el] of lane.boxes) {
        if (keep.has(i)) continue;
        el.remove();
        lane.tints.get(i)?.remove();
        lane.boxes.delete(i);
        lane.tints.delete(i);
      }
      for (const i of shown) {
        if (!lane.boxes.has(i)) lane.boxes.set(i, box(lane, i));
        place(lane.boxes.get(i), lane.segs[i], trackPx, BOX_MIN_PX);
        const tint = lane.tints.get(i);
        if (tint) place(tint, lane.segs[i], trackPx, 0); // a tint is as wide as its span
      }
      // In time order (the order a keyboard's Tab and a screen reader go), after the frames.
      if (shown.length !== lane.shown.length || shown.some((i, k) => i !== lane.shown[k])) {
        const tints = shown.filter((i) => lane.tints.has(i)).map((i) => lane.tints.get(i));
        lane.track.replaceChildren(...lane.frames, lane.paint, ...tints, ...shown.map((i) => lane.boxes.get(i)));
      }
      lane.shown = shown;
    }
  };

  function viewChanged() {
    if (!ready()) return;
    drawRuler(ruler, view.start, view.end);
    if (spectro) spectro.show(view.start, view.end);
    if (bands) bands.render(boxes, null);
    layout();
    placePlayhead(audio.currentTime);
    const precision = view.span >= 600 ? 1 : view.span >= 10 ? 0.1 : view.span >= 1 ? 0.01 : 0.001;
    zoomLabel.textContent = formatSpan(view.span);
    spanLabel.textContent = `${formatTime(view.start, precision)} – ${formatTime(view.end, precision)}`;
    canvas.dataset.viewStart = view.start.toFixed(6);
    canvas.dataset.viewEnd = view.end.toFixed(6);
    root.dispatchEvent(new CustomEvent("view", { detail: { start: view.start, end: view.end } }));
  }
  // The ruler and the playhead are drawn in pixels: a new width (a lane appearing narrows the
  // waveform) redraws them. The view redraws its waveform itself.
  new ResizeObserver(() => viewChanged()).observe(canvas);

  const placePlayhead = (t) => {
    const x = view.xAt(t);
    playhead.hidden = !played || !ready() || x < 0 || x > view.width;
    playhead.style.left = `${x}px`;
    playhead.dataset.time = t.toFixed(3);
  };

  // --- zoom and scroll -------------------------------------------------------------------
  // Around the playhead while it is in view (as the workspace zooms), else the view's middle.
  const around = () => (audio.currentTime >= view.start && audio.currentTime <= view.end ? audio.currentTime : undefined);
  const actions = {
    "zoom-in": () => view.zoomBy(2, around()),
    "zoom-out": () => view.zoomBy(0.5, around()),
    "zoom-fit": () => view.setView(0, view.duration),
  };
  for (const button of root.querySelectorAll(".rv-view [data-action]")) {
    button.addEventListener("mousedown", (e) => e.preventDefault()); // keep Space for play/pause
    button.addEventListener("click", () => ready() && actions[button.dataset.action]());
  }
  // Ctrl+wheel (a trackpad's pinch too) zooms around the pointer, Shift+wheel or a sideways
  // swipe scrolls; a plain wheel scrolls the page, as it does everywhere else on it.
  const timeAtClient = (clientX) => view.timeAt(clientX - canvas.getBoundingClientRect().left);
  const onWheel = (e) => {
    if (!ready()) return;
    const sideways = e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY);
    if (e.ctrlKey || e.metaKey) {
      e.preventDefault();
      view.zoomBy(Math.pow(1.0015, -e.deltaY), timeAtClient(e.clientX));
    } else if (sideways && view.span < view.duration) {
      e.preventDefault();
      const delta = e.shiftKey && !e.deltaX ? e.deltaY : e.deltaX;
      view.scrollBy((delta / Math.max(1, view.width)) * view.span);
    }
  };
  // Over the lanes too: they sit under the waveform, time for time.
  for (const el of [waveBox, root.querySelector(".rv-lanes")]) el?.addEventListener("wheel", onWheel, { passive: false });

  // A drag on the waveform scrolls it; a click plays from the time clicked.
  let pan = null;
  canvas.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || !ready()) return;
    pan = { x: e.clientX, start: view.start, moved: false };
    canvas.setPointerCapture(e.pointerId);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!pan) return;
    const dx = e.clientX - pan.x;
    if (!pan.moved && Math.abs(dx) < 4) return;
    pan.moved = true;
    canvas.classList.add("panning");
    const start = pan.start - (dx / Math.max(1, view.width)) * view.span;
    view.setView(start, start + view.span);
  });
  const panEnd = (e) => {
    if (!pan) return;
    const { moved } = pan;
    pan = null;
    canvas.classList.remove("panning");
    if (!moved && e.type === "pointerup") {
      stopAt = null;
      audio.currentTime = Math.min(view.duration, Math.max(0, timeAtClient(e.clientX)));
      audio.play().catch(() => {});
    }
  };
  canvas.addEventListener("pointerup", panEnd);
  canvas.addEventListener("pointercancel", panEnd);

  // --- segments and playback --------------------------------------------------------------
  const playSpan = (start, end) => {
    // Ours, even to where the audio already is: Chromium fires `seeking` for that too, and a
    // segment starting at 0 s then played on to the clip's end. (`seeked` clears it.)
    ownSeek = true;
    audio.currentTime = start;
    stopAt = end;
    lastTime = start; // the jump to the segment is ours
    lastNow = performance.now();
    audio.play().catch(() => {});
  };
  for (const lane of lanes) {
    lane.track.addEventListener("mousedown", (e) => e.preventDefault()); // keep Space for play/pause
    lane.track.addEventListener("click", (e) => {
      const el = e.target.closest(".rv-seg");
      if (el) {
        playSpan(Number(el.dataset.start), Number(el.dataset.end));
        return;
      }
      if (e.target !== lane.paint) return;
      const r = lane.track.getBoundingClientRect();
      const i = paintedAt(lane.segs, lane.painted, lane.layout, view, r.width, e.clientX - r.left, e.clientY - r.top);
      if (i >= 0) playSpan(lane.segs[i].start, lane.segs[i].end);
    });
    // A painted segment's times (and labels) under the pointer, as a box's title says them.
    lane.paint.addEventListener("mousemove", (e) => {
      const r = lane.track.getBoundingClientRect();
      const i = paintedAt(lane.segs, lane.painted, lane.layout, view, r.width, e.clientX - r.left, e.clientY - r.top);
      const s = lane.segs[i];
      lane.paint.title = s ? `${segmentTime(s.start)}–${segmentTime(s.end)} s: ${s.labels} (a click plays it; zoom in for boxes)` : "";
    });
  }

  // A click on the spectrogram plays from the time clicked, as on the waveform; on a box, it
  // plays the box's span (the topmost box there: the smallest, as they are drawn).
  if (specImg) {
    const specBox = specImg.parentElement;
    let down = null;
    const onMenus = (e) => e.target.closest(".spec-tools"); // its scale, top and bottom menus
    specBox.addEventListener("mousedown", (e) => {
      if (!onMenus(e)) e.preventDefault(); // keep Space for play/pause
    });
    specBox.addEventListener("pointerdown", (e) => {
      down = e.button === 0 && !onMenus(e) ? { x: e.clientX, y: e.clientY } : null;
    });
    specBox.addEventListener("pointerup", (e) => {
      const start = down;
      down = null;
      if (!start || !ready() || Math.hypot(e.clientX - start.x, e.clientY - start.y) > 4) return;
      const r = specImg.getBoundingClientRect();
      const t = view.start + ((e.clientX - r.left) / Math.max(1, r.width)) * view.span;
      const hz = spectro.hzAt(1 - (e.clientY - r.top) / Math.max(1, r.height));
      const hits = boxes.filter((b) => b.start <= t && t <= b.end && b.low_freq <= hz && hz <= b.high_freq);
      const area = (b) => (b.end - b.start) * (b.high_freq - b.low_freq);
      const hit = hits.sort((a, b) => area(a) - area(b))[0];
      if (hit) {
        playSpan(hit.start, hit.end);
        return;
      }
      stopAt = null;
      audio.currentTime = Math.min(view.duration, Math.max(0, t));
      audio.play().catch(() => {});
    });
  }

  // Where the last update saw the audio, and when: a segment ends when playback reaches its
  // end, not when a seek jumps past it. A user's seek drops the stop in its `seeking` event,
  // but a screen refresh can come between the jump and that event.
  let lastTime = 0;
  let lastNow = performance.now();
  const update = () => {
    const now = performance.now();
    const t = audio.currentTime;
    if (stopAt !== null && t >= stopAt) {
      const playable = ((now - lastNow) / 1000) * audio.playbackRate + 0.25;
      const jumped = t - lastTime > playable;
      stopAt = null;
      if (!jumped) audio.pause();
    }
    lastTime = t;
    lastNow = now;
    played = true;
    if (!audio.paused && ready()) view.follow(t); // a zoomed view pages along with playback
    placePlayhead(t);
  };
  const loop = () => {
    update();
    frame = audio.paused ? 0 : requestAnimationFrame(loop);
  };
  const start = () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(loop);
  };
  audio.addEventListener("play", start);
  // Frames stop in a hidden tab; timeupdate still comes a few times a second.
  audio.addEventListener("timeupdate", update);
  audio.addEventListener("seeking", () => {
    if (!ownSeek) stopAt = null; // the user moved on: play on from there
  });
  audio.addEventListener("seeked", () => {
    ownSeek = false;
    if (ready()) view.follow(audio.currentTime); // a seek out of a zoomed view brings it along
    update();
  });
  audio.addEventListener("pause", () => {
    stopAt = null;
    update();
  });

  // A clip the browser cannot play (a 64-bit float or ADPCM WAV, AIFF...): Space did nothing
  // and nothing said why. Said as the workspace says it.
  const audioFailed = async () => {
    const box = root.querySelector("[data-testid=review-audio-error]");
    if (!box) return;
    const why = await whyAudioFailed(audio);
    const what = audioDescription(root.dataset.format, root.dataset.codec, root.dataset.rate);
    box.textContent = audioFailureText(why, `This browser cannot play this clip's audio (${what}): review it from its waveform, spectrogram and segments, or ask a lead to convert it and import it again.`);
    box.dataset.kind = why.kind;
    box.hidden = false;
  };
  audio.addEventListener("error", audioFailed);
  if (audio.error) audioFailed(); // it failed while this module loaded

  if (ready()) load();
  audio.addEventListener("loadedmetadata", () => {
    if (!ready() && Number.isFinite(audio.duration) && audio.duration > 0) {
      view.duration = audio.duration; // a clip whose duration the server has not stored
      load();
    }
  });

  // An annotation's card and its lane light up together.
  for (const card of document.querySelectorAll("[data-testid=annotation]")) {
    const lane = root.querySelector(`.rv-lane[data-annotation="${card.dataset.annotation}"]`);
    if (!lane) continue;
    for (const el of [card, lane]) {
      el.addEventListener("mouseenter", () => lane.classList.add("hl"));
      el.addEventListener("mouseleave", () => lane.classList.remove("hl"));
    }
  }
}
