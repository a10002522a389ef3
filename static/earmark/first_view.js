// The critical path: draw the inline whole-clip peaks as soon as waveform.js is here; the
// rest of the workspace (seven more modules) takes over the same canvas when it has loaded.
// A file of its own rather than an inline script, so that the pages' Content-Security-Policy
// can forbid inline scripts (script-src 'self').
import { WaveformView } from "./waveform.js";

const data = JSON.parse(document.getElementById("workspace-data").textContent);
if (data.overview) {
  const canvas = document.querySelector("[data-testid=waveform]");
  const view = new WaveformView(canvas, { clipId: data.clip.id, duration: data.clip.duration });
  view.overview = data.overview;
  view.draw();
  window.earmarkFirstView = view; // workspace.js disposes of it when it takes the canvas over
  performance.mark(`earmark:waveform:${data.clip.id}`);
}
