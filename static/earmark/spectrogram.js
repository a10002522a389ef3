// The spectrogram of the visible window, rendered by the server as a PNG
// (GET /api/clips/<id>/spectrogram). Follows the view after it settles. Until the new image
// has loaded, the one on screen is moved and stretched to where its span lies in the new
// view, so a zoom or a scroll lines it up with the waveform at once (it showed its old span
// across the new view for a round trip); another clip's image is hidden.
//
// A frequency axis (kHz) sits on its left, and its scale (mel or linear), top frequency and
// bottom frequency can be chosen: a picture without Hz told 4 kHz from 8 kHz to nobody, and
// wind and traffic below 1 kHz took the room of a bird's band. The choices are kept in this
// browser.

const STORE = "earmark-spectrogram";
const TOPS = [1000, 2000, 4000, 8000, 12000, 16000, 24000, 48000, 96000, 192000];
const BOTTOMS = [100, 200, 500, 1000, 2000, 4000, 8000];
// Where ticks may fall, lowest first: round frequencies, spaced by the axis's own scale.
const TICKS = [100, 200, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000, 20000, 24000, 30000, 40000, 48000, 60000, 80000, 96000, 120000, 160000, 192000];
const MIN_TICK_PX = 16;

const mel = (hz) => 2595 * Math.log10(1 + hz / 700); // the server's rows are even in this
const melHz = (m) => 700 * (10 ** (m / 2595) - 1);

export function frequencyLabel(hz) {
  return hz < 1000 ? `${hz} Hz` : `${+(hz / 1000).toFixed(1)} kHz`;
}

// A menu's options ([value, text] pairs), `value` chosen.
function fillSelect(select, options, value) {
  select.replaceChildren(...options.map(([v, text]) => {
    const option = document.createElement("option");
    option.value = String(v);
    option.textContent = text;
    return option;
  }));
  select.value = String(value);
}

function readPrefs() {
  try { return JSON.parse(localStorage.getItem(STORE) || "{}") || {}; } catch { return {}; }
}

export class SpectrogramView {
  constructor(img, { clipId, scale, delay = 120, axis = null, scaleSelect = null, topSelect = null, bottomSelect = null, onChange = null }) {
    const prefs = readPrefs();
    this.img = img;
    this.clipId = clipId;
    this.scale = scale || (prefs.scale === "linear" ? "linear" : "mel");
    this.top = Number(prefs.top) > 0 ? Number(prefs.top) : null; // Hz; null: the Nyquist
    this.bottom = Number(prefs.bottom) > 0 ? Number(prefs.bottom) : 0; // Hz
    this.rate = 0;
    this.delay = delay;
    this.axis = axis;
    this.scaleSelect = scaleSelect;
    this.topSelect = topSelect;
    this.bottomSelect = bottomSelect;
    this.onChange = onChange; // the scale or top changed: what is drawn over the picture moves
    this._timer = 0;
    this._want = "";
    this._asked = null; // {clipId, start, end} of the image loading
    this._shown = null; // and of the one on screen
    this._view = null; // [start, end] last shown
    this._axisHeight = 0; // the picture's height the axis was drawn for
    img.style.transformOrigin = "0 0";
    img.addEventListener("load", () => {
      if (img.src.endsWith(this._want)) this._landed();
    });
    if (scaleSelect) {
      scaleSelect.value = this.scale;
      scaleSelect.addEventListener("change", () => { this.scale = scaleSelect.value; this._changed(); });
    }
    if (topSelect) {
      topSelect.addEventListener("change", () => {
        this.top = Number(topSelect.value) || null;
        this._fillBottoms(); // a bottom at or over the new top is offered no more
        this._changed();
      });
    }
    if (bottomSelect) {
      bottomSelect.addEventListener("change", () => {
        this.bottom = Number(bottomSelect.value) || 0;
        this._changed();
      });
    }
  }

  // A new clip: its Nyquist frequency bounds the axis and the choice of tops.
  setClip(clipId, sampleRate) {
    this.clipId = clipId;
    this.rate = sampleRate || 0;
    this._fillTops();
    this._fillBottoms();
    this._drawAxis();
  }

  get nyquist() { return this.rate / 2; }

  // The top frequency shown: the one chosen, or the Nyquist when that is lower (or none).
  get shownTop() {
    const nyq = this.nyquist;
    return this.top && nyq && this.top < nyq ? this.top : nyq;
  }

  // The bottom frequency shown: the one chosen while it is below the top shown, else 0.
  get shownBottom() {
    return this.bottom > 0 && this.bottom < this.shownTop ? this.bottom : 0;
  }

  // Where a frequency lies on the picture: 0 at its foot, 1 at its top (above the top shown:
  // more than 1; below the bottom shown: less than 0), in the picture's scale.
  fracOf(hz) {
    const top = this.shownTop;
    if (!top) return 0;
    const f = this.scale === "mel" ? mel : (x) => x;
    const low = f(this.shownBottom);
    return (f(Math.max(0, hz)) - low) / (f(top) - low);
  }

  // The frequency at a height of the picture (`fracOf`'s inverse).
  hzAt(frac) {
    const top = this.shownTop;
    const clamped = Math.max(0, Math.min(1, frac));
    if (this.scale === "mel") {
      const low = mel(this.shownBottom);
      return melHz(low + clamped * (mel(top) - low));
    }
    return this.shownBottom + clamped * (top - this.shownBottom);
  }

  show(start, end) {
    this._view = [start, end];
    if ((this.img.clientHeight || 160) !== this._axisHeight) this._drawAxis(); // resized
    this._follow(start, end);
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this._load(start, end), this.delay);
  }

  _changed() {
    try { localStorage.setItem(STORE, JSON.stringify({ scale: this.scale, top: this.top, bottom: this.bottom })); } catch { /* private mode */ }
    this._drawAxis();
    this._shown = null; // the picture on screen has the old axis: hidden until the new one
    if (this._view) this.show(...this._view);
    this.onChange?.();
  }

  _fillTops() {
    const select = this.topSelect;
    if (!select) return;
    const nyq = this.nyquist;
    const options = [[0, `${frequencyLabel(nyq)} (all)`]];
    for (const hz of TOPS) if (hz < nyq) options.push([hz, `${frequencyLabel(hz)}`]);
    fillSelect(select, options, this.top && this.top < nyq ? this.top : 0);
  }

  _fillBottoms() {
    const select = this.bottomSelect;
    if (!select) return;
    const top = this.shownTop;
    const options = [[0, "from 0 Hz"]];
    for (const hz of BOTTOMS) if (hz < top) options.push([hz, `from ${frequencyLabel(hz)}`]);
    fillSelect(select, options, this.shownBottom);
  }

  _drawAxis() {
    const axis = this.axis;
    if (!axis) return;
    const top = this.shownTop;
    const height = this.img.clientHeight || 160;
    this._axisHeight = height;
    if (!top) { axis.replaceChildren(); return; }
    const at = (hz) => this.fracOf(hz);
    const marks = [];
    let last = -Infinity;
    for (const hz of TICKS) {
      if (hz >= top) break;
      if (hz <= this.shownBottom) continue;
      const y = at(hz) * height;
      if (y - last < MIN_TICK_PX || (height - y) < MIN_TICK_PX / 2 || y < MIN_TICK_PX / 2) continue;
      marks.push([hz, at(hz)]);
      last = y;
    }
    axis.replaceChildren(...marks.map(([hz, frac]) => {
      const span = document.createElement("span");
      span.style.bottom = `${(frac * 100).toFixed(3)}%`;
      span.dataset.hz = String(hz);
      span.textContent = frequencyLabel(hz);
      return span;
    }));
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
    const top = this.shownTop;
    if (top && top < this.nyquist) params.set("max_freq", String(top));
    if (this.shownBottom > 0) params.set("min_freq", String(this.shownBottom));
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
