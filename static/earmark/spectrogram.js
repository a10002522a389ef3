// The spectrogram of the visible window, rendered by the server as a PNG
// (GET /api/clips/<id>/spectrogram). Follows the view after it settles. Until the new image
// has loaded, the one on screen is moved and stretched to where its span lies in the new
// view, so a zoom or a scroll lines it up with the waveform at once (it showed its old span
// across the new view for a round trip); another clip's image is hidden.

export class SpectrogramView {
  constructor(img, { clipId, scale = "mel", delay = 120 }) {
    this.img = img;
    this.clipId = clipId;
    this.scale = scale;
    this.delay = delay;
    this._timer = 0;
    this._want = "";
    this._asked = null; // {clipId, start, end} of the image loading
    this._shown = null; // and of the one on screen
    img.style.transformOrigin = "0 0";
    img.addEventListener("load", () => {
      if (img.src.endsWith(this._want)) this._landed();
    });
  }

  show(start, end) {
    this._follow(start, end);
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._load(start, end), this.delay);
  }

  _follow(start, end) {
    const shown = this._shown;
    if (!shown || shown.clipId !== this.clipId) {
      this.img.style.visibility = "hidden";
      return;
    }
    const span = end - start;
    if (!(span > 0)) return;
    const scale = (shown.end - shown.start) / span;
    const offset = (shown.start - start) / span; // of the view's width
    const near = (a, b) => Math.abs(a - b) < 1e-9;
    this.img.style.transform = near(scale, 1) && near(offset, 0) ? "" : `translateX(${(offset * 100).toFixed(4)}%) scaleX(${scale.toFixed(6)})`;
  }

  _landed() {
    this._shown = this._asked;
    this.img.style.transform = "";
    this.img.style.visibility = "";
    this.img.dataset.loaded = "true";
  }

  _load(start, end) {
    const width = Math.min(4096, Math.max(16, Math.round(this.img.clientWidth || 1024)));
    const height = Math.min(1024, Math.max(16, Math.round(this.img.clientHeight || 160)));
    const params = new URLSearchParams({
      start: start.toFixed(4), end: end.toFixed(4), width: String(width), height: String(height), scale: this.scale,
    });
    const want = `/api/clips/${this.clipId}/spectrogram?${params}`;
    this._asked = { clipId: this.clipId, start, end };
    if (want === this._want && this.img.complete && this.img.naturalWidth) {
      this._landed(); // back to the span on screen: the same address fires no second load
      return;
    }
    this._want = want;
    this.img.dataset.loaded = "false";
    this.img.src = want;
  }
}
