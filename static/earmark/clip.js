// The clip page: waveform overview from peaks, spectrogram of the whole clip, native player.
import { drawPeaks, fetchPeaks, peakGain, savedNormalize } from "./waveform.js";

const root = document.getElementById("clip-view");
if (root && root.dataset.status === "ready") {
  const clipId = root.dataset.clip;
  const canvas = root.querySelector("canvas");
  const img = root.querySelector("img.spectrogram");
  const width = canvas.clientWidth;
  fetchPeaks(clipId, { width }).then((peaks) => {
    // Scaled to its loudest point unless the annotator turned that off in the workspace.
    drawPeaks(canvas, peaks, { gain: savedNormalize() ? peakGain(peaks) : 1 });
    canvas.dataset.drawn = "true";
  });
  img.src = `/api/clips/${clipId}/spectrogram?width=${Math.min(4096, Math.round(width))}&height=200`;
}
