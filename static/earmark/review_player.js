// The review page's player: the clip's waveform from server peaks, each annotation's segments
// on a lane of its own under it, a playhead, and a click on a segment plays just that span.
import { drawPeaks, fetchPeaks, peakGain, savedNormalize } from "./waveform.js";

const root = document.getElementById("rv-player");
const canvas = root && root.querySelector("canvas");
if (canvas) {
  const clipId = root.dataset.clip;
  const duration = Number(root.dataset.duration) || 0;
  const audio = root.querySelector("audio");
  const playhead = root.querySelector(".rv-playhead");
  let stopAt = null;

  const draw = () =>
    fetchPeaks(clipId, { width: canvas.clientWidth }).then((peaks) => {
      drawPeaks(canvas, peaks, { gain: savedNormalize() ? peakGain(peaks) : 1 });
      canvas.dataset.drawn = "true";
    });
  draw();
  let resized = null;
  window.addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(draw, 150);
  });

  const share = (t) => (duration > 0 ? Math.min(1, Math.max(0, t / duration)) : 0);
  for (const seg of root.querySelectorAll(".rv-seg")) {
    const start = Number(seg.dataset.start);
    const end = Number(seg.dataset.end);
    seg.style.left = `${share(start) * 100}%`;
    seg.style.width = `${(share(end) - share(start)) * 100}%`;
    seg.addEventListener("click", () => {
      audio.currentTime = start;
      stopAt = end;
      audio.play().catch(() => {});
    });
  }

  const tick = () => {
    if (stopAt !== null && audio.currentTime >= stopAt) {
      audio.pause();
      stopAt = null;
    }
    playhead.hidden = false;
    playhead.style.left = `${share(audio.currentTime) * 100}%`;
    if (!audio.paused) requestAnimationFrame(tick);
  };
  audio.addEventListener("play", () => requestAnimationFrame(tick));
  audio.addEventListener("seeked", tick);
  audio.addEventListener("pause", () => {
    stopAt = null;
    tick();
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
