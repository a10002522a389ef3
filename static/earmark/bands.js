// Segments with a frequency band, drawn as boxes over the spectrogram (as Raven's selections
// and Whombat's boxes are): drag on the spectrogram to mark one (its time and its band at
// once), drag a box to move it, drag its edges or corners to resize it in time or frequency;
// a click without a drag seeks. A segment without a band covers every frequency and lies on
// the waveform only; its band is given here or typed in its row of the list.
//
// Times snap to 10 ms as on the waveform, frequencies to whole Hz; where a box lies on the
// picture follows the spectrogram's scale (mel or linear) and its top frequency
// (SpectrogramView.fracOf / hzAt).

import { SNAP_S, snap, edgeDragged } from "./regions.js";

const DRAG_PX = 4;
const EDGE_PX = 6;
export const MIN_HZ = 10; // the narrowest band a drag leaves (the server's MIN_BAND_HZ)

// A frequency as the spectrogram's axis writes it, to the Hz under 1 kHz, to 10 Hz above.
export function hzText(hz) {
  return hz < 1000 ? `${Math.round(hz)} Hz` : `${+(hz / 1000).toFixed(2)} kHz`;
}

// "1.2–4 kHz", "0.3–1.5 kHz", "200–800 Hz": a band as the list and the review page write it
// (in kHz when it reaches 1 kHz; the server's `band` filter writes it alike).
export function bandText(low, high) {
  if (high < 1000) return `${Math.round(low)}–${Math.round(high)} Hz`;
  return `${+(low / 1000).toFixed(2)}–${+(high / 1000).toFixed(2)} kHz`;
}

// A band typed in: "1200-4000" (Hz), "1.2k-4k", "1.2-4 kHz", "300 Hz - 1.5 kHz", "1,200-4,000";
// numbers without a unit under 100 are kHz ("1.2-4": no sound is 1.2 to 4 Hz); blank is every
// frequency (null). An Error says what is wrong; the caller checks it against the clip.
export function parseBand(text) {
  let t = String(text).trim().toLowerCase();
  if (!t || t === "all" || t === "all hz") return null;
  t = t.replace(/(\d),(\d{3})(?!\d)/g, "$1$2").replace(/,/g, "."); // 1,200 is 1200; 1,5 is 1.5
  const m = t.match(/^([\d.]+)\s*(k?hz|k)?\s*(?:-|–|—|to)\s*([\d.]+)\s*(k?hz|k)?$/);
  if (!m) return new Error("Write a band as low–high, in Hz or kHz: 1200-4000, 1.2-4 kHz (blank: every frequency).");
  const unit = (u) => (u === "k" || u === "khz" ? 1000 : u === "hz" ? 1 : null);
  const a = Number(m[1]), b = Number(m[3]);
  if (!Number.isFinite(a) || !Number.isFinite(b)) return new Error("Write a band as two numbers: 1200-4000.");
  // A unit written once is both ends' ("1.2-4 kHz"); none at all: kHz under 100.
  const highUnit = unit(m[4]) ?? unit(m[2]) ?? (b < 100 ? 1000 : 1);
  // the high end's unit, unless that puts the low end above it ("500-1.5k" is 500 Hz)
  const lowUnit = unit(m[2]) ?? (a * highUnit < b * highUnit ? highUnit : 1);
  const low = Math.round(a * lowUnit), high = Math.round(b * highUnit);
  if (high <= low) return new Error("A band's high frequency must be above its low one.");
  if (high - low < MIN_HZ) return new Error(`A band narrower than ${MIN_HZ} Hz: write it wider, or in kHz (1.2-4 kHz).`);
  return [low, high];
}

// Whether a segment has a band.
export const hasBand = (s) => s && Number.isFinite(s.low_freq) && Number.isFinite(s.high_freq) && s.high_freq > s.low_freq;

export class Bands {
  // `readOnly`: drawn only (the review page's spectrogram), no pointer handling.
  constructor(container, view, spectro, handlers, { readOnly = false } = {}) {
    this.container = container; // the spectrogram's box (positioned)
    this.view = view; // WaveformView: start, end, duration
    this.spectro = spectro; // SpectrogramView: fracOf, hzAt, nyquist
    this.h = handlers; // {get, create, change, commit, select, seek, colorOf, nameOf, enabled}
    this.layer = document.createElement("div");
    this.layer.className = "ws-bands";
    this.layer.setAttribute("data-testid", "bands");
    const img = container.querySelector("img");
    img.after(this.layer);
    this._drag = null;
    this._els = new Map(); // segment id -> element
    if (readOnly) {
      this.layer.classList.add("read-only");
      return;
    }
    img.draggable = false; // a drag on the picture draws a box: no dragging the image away
    container.addEventListener("pointerdown", (e) => this._down(e));
    container.addEventListener("pointermove", (e) => this._move(e));
    container.addEventListener("pointerup", (e) => this._up(e));
    container.addEventListener("pointercancel", (e) => this._up(e));
  }

  reset() {
    this._els.clear();
    this.layer.replaceChildren();
  }

  // The boxes of the segments with a band that lie in view, the selected one on top.
  render(segments, selectedId) {
    const { start, end } = this.view;
    const span = end - start;
    const seen = new Set();
    const out = [];
    for (const s of segments) {
      if (!hasBand(s) || s.end <= start || s.start >= end || !(span > 0)) continue;
      seen.add(s.id);
      let el = this._els.get(s.id);
      if (!el) {
        el = document.createElement("div");
        el.className = "ws-band";
        el.setAttribute("data-testid", "band-box");
        el.innerHTML = '<span class="ws-band-tag"></span>';
        this._els.set(s.id, el);
      }
      const left = ((s.start - start) / span) * 100, right = ((s.end - start) / span) * 100;
      const clamp = (f) => Math.max(0, Math.min(1, f)); // cut at the picture's top and foot
      const top = (1 - clamp(this.spectro.fracOf(s.high_freq))) * 100;
      const bottom = (1 - clamp(this.spectro.fracOf(s.low_freq))) * 100;
      Object.assign(el.style, {
        left: `${left.toFixed(3)}%`,
        width: `${Math.max(0.2, right - left).toFixed(3)}%`,
        top: `${top.toFixed(3)}%`,
        height: `${Math.max(0.5, bottom - top).toFixed(3)}%`,
      });
      // wholly above the top shown, or below the bottom
      el.hidden = this.spectro.fracOf(s.low_freq) >= 1 || this.spectro.fracOf(s.high_freq) <= 0;
      el.dataset.id = String(s.id);
      el.classList.toggle("selected", s.id === selectedId);
      el.classList.toggle("unlabeled", !s.labels.length);
      // `color` and `text` of their own: the review page's, whose segments carry names
      el.style.setProperty("--seg", s.color || this.h.colorOf(s.labels[0]));
      const names = s.text || (s.labels.length ? s.labels.map((p) => this.h.nameOf(p)).join(", ") : "no label");
      el.firstChild.textContent = names;
      el.title = `${names} · ${s.start.toFixed(2)}–${s.end.toFixed(2)} s · ${bandText(s.low_freq, s.high_freq)}`;
      if (s.id === selectedId) out.push(el); else out.unshift(el);
    }
    for (const id of [...this._els.keys()]) if (!seen.has(id)) this._els.delete(id);
    this.layer.replaceChildren(...out);
  }

  _point(e) {
    const rect = this.container.getBoundingClientRect();
    const w = this.container.clientWidth || 1, h = this.container.clientHeight || 1;
    const x = Math.max(0, Math.min(w, e.clientX - rect.left - this.container.clientLeft));
    const y = Math.max(0, Math.min(h, e.clientY - rect.top - this.container.clientTop));
    const { start, end } = this.view;
    const t = start + (x / w) * (end - start);
    const hz = Math.round(Math.min(this.spectro.nyquist || Infinity, this.spectro.hzAt(1 - y / h)));
    return { t, hz };
  }

  // Which edges of a box lie under the pointer: {time: "start"|"end"|null, freq: "low"|"high"|null}.
  _edges(el, e) {
    const r = el.getBoundingClientRect();
    const gx = Math.min(EDGE_PX, r.width / 3), gy = Math.min(EDGE_PX, r.height / 3);
    const time = e.clientX - r.left <= gx ? "start" : r.right - e.clientX <= gx ? "end" : null;
    const freq = r.bottom - e.clientY <= gy ? "low" : e.clientY - r.top <= gy ? "high" : null;
    return { time, freq };
  }

  _down(e) {
    if (e.button !== 0 || e.target.closest(".spec-tools")) return;
    e.preventDefault(); // no text selection or native drag: either cancels the pointer
    const box = e.target.closest(".ws-band");
    const p = this._point(e);
    this.container.setPointerCapture(e.pointerId);
    if (box && !e.shiftKey) {
      const id = Number(box.dataset.id);
      const s = this.h.get(id);
      if (!s) return;
      this.h.select(id);
      this._drag = { mode: "edit", id, x: e.clientX, y: e.clientY, p0: p, edges: this._edges(box, e), orig: { start: s.start, end: s.end, low: s.low_freq, high: s.high_freq }, moved: false };
      return;
    }
    this._drag = { mode: "create", x: e.clientX, y: e.clientY, p0: p, id: null, moved: false };
  }

  _move(e) {
    const d = this._drag;
    if (!d) {
      const box = e.target.closest?.(".ws-band");
      if (box) {
        const { time, freq } = this._edges(box, e);
        this.container.style.cursor = time && freq ? ((time === "start") === (freq === "high") ? "nwse-resize" : "nesw-resize")
          : time ? "ew-resize" : freq ? "ns-resize" : "grab";
      } else this.container.style.cursor = e.target.closest?.(".spec-tools") ? "" : "crosshair";
      return;
    }
    if (!d.moved && Math.abs(e.clientX - d.x) < DRAG_PX && Math.abs(e.clientY - d.y) < DRAG_PX) return;
    d.moved = true;
    const p = this._point(e);
    const duration = this.view.duration;
    const nyq = this.spectro.nyquist || Infinity;
    if (d.mode === "create") {
      if (d.refused) return;
      const a = snap(Math.min(d.p0.t, p.t)), b = snap(Math.max(d.p0.t, p.t));
      // MIN_HZ at least, within the clip's frequencies (along the top row it was none)
      const low = Math.min(d.p0.hz, p.hz, nyq - MIN_HZ), high = Math.max(d.p0.hz, p.hz, low + MIN_HZ);
      const band = { start: a, end: Math.max(b, a + SNAP_S), low_freq: Math.max(0, low), high_freq: Math.min(nyq, high) };
      if (d.id === null) {
        d.id = this.h.create(band);
        d.refused = d.id === null;
      } else this.h.change(d.id, band);
      return;
    }
    const o = d.orig;
    let { start, end, low, high } = o;
    const { time, freq } = d.edges;
    if (!time && !freq) { // move, in time and frequency
      const len = o.end - o.start, width = o.high - o.low;
      start = snap(Math.max(0, Math.min(duration - len, o.start + (p.t - d.p0.t))));
      end = snap(start + len);
      low = Math.round(Math.max(0, Math.min(nyq - width, o.low + (p.hz - d.p0.hz))));
      high = low + width;
    } else {
      if (time) {
        const fixed = time === "start" ? o.end : o.start;
        [start, end] = edgeDragged(time, fixed, snap(Math.max(0, Math.min(duration, p.t))), SNAP_S, duration);
        start = snap(start); end = snap(end);
      }
      if (freq) { // as a time edge is dragged: the low edge is the start, the high the end
        const fixed = freq === "low" ? o.high : o.low;
        [low, high] = edgeDragged(freq === "low" ? "start" : "end", fixed, Math.max(0, Math.min(nyq, p.hz)), MIN_HZ, nyq);
      }
    }
    this.h.change(d.id, { start, end, low_freq: low, high_freq: high });
  }

  _up(e) {
    const d = this._drag;
    this._drag = null;
    if (!d) return;
    if (this.container.hasPointerCapture(e.pointerId)) this.container.releasePointerCapture(e.pointerId);
    if (!d.moved) {
      if (d.mode === "create") { this.h.select(null); this.h.seek(this._point(e).t); }
      return;
    }
    if (d.refused) return;
    if (d.mode === "create") this.h.commit("create segment");
    else this.h.commit(d.edges.time || d.edges.freq ? "resize segment" : "move segment");
  }
}
