// The clip page: waveform overview from peaks, spectrogram of the whole clip, native player.
import { drawClipOverview } from "./waveform.js";

const root = document.getElementById("clip-view");
if (root && root.dataset.status === "ready") {
  const clipId = root.dataset.clip;
  const canvas = root.querySelector("canvas");
  const img = root.querySelector("img.spectrogram");
  const width = canvas.clientWidth;
  drawClipOverview(canvas, clipId);
  img.src = `/api/clips/${clipId}/spectrogram?width=${Math.min(4096, Math.round(width))}&height=200`;
}
