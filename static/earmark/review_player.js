// The review page's player: the clip's waveform from server peaks, each annotation's segments
// on a lane of its own under it, a playhead, and a click on a segment plays just that span.
import { drawClipOverview } from "./waveform.js";

const root = document.getElementById("rv-player");
const canvas = root && root.querySelector("canvas");
if (canvas) {
  const clipId = root.dataset.clip;
  const audio = root.querySelector("audio");
  const playhead = root.querySelector(".rv-playhead");
  const segments = [...root.querySelectorAll(".rv-seg")];
  let duration = Number(root.dataset.duration) || 0;
  let stopAt = null; // the end of the segment playing, until the user seeks or pauses
  let ownSeek = false;
  let frame = 0;

  let drawing = null;
  const draw = () => {
    drawing?.abort();
    drawing = new AbortController();
    drawClipOverview(canvas, clipId, { signal: drawing.signal })
      .then(() => {
        canvas.title = "";
      })
      .catch((err) => {
        if (err.name === "AbortError") return;
        canvas.dataset.error = "true";
        canvas.title = `The waveform could not be loaded (${err.message}); the audio still plays.`;
      });
  };
  draw();
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(draw, 150);
  });

  const share = (t) => (duration > 0 ? Math.min(1, Math.max(0, t / duration)) : 0);
  const layout = () => {
    for (const seg of segments) {
      const start = Number(seg.dataset.start);
      const end = Number(seg.dataset.end);
      seg.style.left = `${share(start) * 100}%`;
      seg.style.width = `${(share(end) - share(start)) * 100}%`;
    }
  };
  layout();
  audio.addEventListener("loadedmetadata", () => {
    if (!duration && Number.isFinite(audio.duration)) {
      duration = audio.duration; // a clip whose duration the server has not stored
      layout();
    }
  });
  for (const seg of segments) {
    seg.addEventListener("mousedown", (e) => e.preventDefault()); // keep Space for play/pause
    seg.addEventListener("click", () => {
      const start = Number(seg.dataset.start);
      ownSeek = Math.abs(audio.currentTime - start) > 1e-3; // no seek event when already there
      audio.currentTime = start;
      stopAt = Number(seg.dataset.end);
      lastTime = start; // the jump to the segment is ours
      lastNow = performance.now();
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
    playhead.hidden = false;
    playhead.style.left = `${share(t) * 100}%`;
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
    update();
  });
  audio.addEventListener("pause", () => {
    stopAt = null;
    update();
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
