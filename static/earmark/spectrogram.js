// The spectrogram of the visible window, rendered by the server as a PNG
// (GET /api/clips/<id>/spectrogram). Follows the view after it settles; the previous image
// stays up, stretched, until the new one has loaded.

export class SpectrogramView {
  constructor(img, { clipId, scale = "mel", delay = 120 }) {
    this.img = img;
    this.clipId = clipId;
    this.scale = scale;
    this.delay = delay;
    this._timer = 0;
    this._want = "";
    img.addEventListener("load", () => {
      if (img.src.endsWith(this._want)) img.dataset.loaded = "true";
    });
  }

  show(start, end) {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._load(start, end), this.delay);
  }

  _load(start, end) {
    const width = Math.min(4096, Math.max(16, Math.round(this.img.clientWidth || 1024)));
    const height = Math.min(1024, Math.max(16, Math.round(this.img.clientHeight || 160)));
    const params = new URLSearchParams({
      start: start.toFixed(4), end: end.toFixed(4), width: String(width), height: String(height), scale: this.scale,
    });
    this._want = `/api/clips/${this.clipId}/spectrogram?${params}`;
    this.img.dataset.loaded = "false";
    this.img.src = this._want;
  }
}
