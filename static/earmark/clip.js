// The clip page: waveform overview from peaks, spectrogram of the whole clip, native player.
import { audioDescription, audioFailureText, drawClipOverview, whyAudioFailed } from "./waveform.js";

const root = document.getElementById("clip-view");
if (root && root.dataset.status === "ready") {
  const clipId = root.dataset.clip;
  const canvas = root.querySelector("canvas");
  const img = root.querySelector("img.spectrogram");
  const width = canvas.clientWidth;
  drawClipOverview(canvas, clipId);
  img.src = `/api/clips/${clipId}/spectrogram?width=${Math.min(4096, Math.round(width))}&height=200`;
}

// A clip the browser cannot play (a WAV under 3 kHz in Chromium) said nothing here: a grey
// 0:00 player. It says what the workspace says.
const audio = root && root.querySelector("audio");
if (audio) {
  const said = async () => {
    const box = root.querySelector("[data-testid=audio-error]");
    const why = await whyAudioFailed(audio);
    box.textContent = audioFailureText(why, `This browser cannot play this clip's audio (${audioDescription(root.dataset.format, root.dataset.codec, root.dataset.rate)}): see its waveform and spectrogram, or download the original.`);
    box.dataset.kind = why.kind;
    box.hidden = false;
  };
  // The element starts loading as the page is parsed: its error may come before this script.
  if (audio.error) said();
  audio.addEventListener("error", said);
}
