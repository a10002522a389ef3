// Segments drawn over the waveform: drag on empty waveform to create one, drag a segment to
// move it, drag its edges to resize it; a click without a drag seeks. Times snap to 10 ms.
// The segment list itself belongs to the workspace: this module renders it and reports edits.

export const SNAP_S = 0.01;
export const snap = (t) => Math.round(Math.round(t / SNAP_S) * SNAP_S * 100) / 100;
const DRAG_PX = 4;
const EDGE_PX = 6;

export class Regions {
  constructor(container, view, handlers) {
    this.container = container; // positioned element over the waveform canvas
    this.view = view; // WaveformView: xAt / timeAt
    this.h = handlers; // {create, change, commit, select, seek, suggestion, colorOf, nameOf}
    this.layer = document.createElement("div");
    this.layer.className = "ws-regions";
    container.appendChild(this.layer);
    this._drag = null;
    container.addEventListener("pointerdown", (e) => this._down(e));
    container.addEventListener("pointermove", (e) => this._move(e));
    container.addEventListener("pointerup", (e) => this._up(e));
    container.addEventListener("pointercancel", (e) => this._up(e));
  }

  render(segments, suggestions, selectedId) {
    const { view } = this;
    const width = this.container.clientWidth;
    const out = [];
    const lanes = laneOf(segments);
    const laneCount = Math.max(1, ...[...lanes.values()].map((l) => l + 1));
    for (const seg of segments) {
      const x0 = view.xAt(seg.start), x1 = view.xAt(seg.end);
      if (x1 < -2 || x0 > width + 2) continue;
      const lane = lanes.get(seg.id) || 0;
      const el = document.createElement("div");
      el.className = "ws-seg" + (seg.id === selectedId ? " selected" : "") + (seg.labels.length ? "" : " unlabeled");
      el.setAttribute("data-testid", "segment");
      el.dataset.id = String(seg.id);
      el.dataset.start = seg.start.toFixed(2);
      el.dataset.end = seg.end.toFixed(2);
      el.dataset.labels = seg.labels.join("|");
      el.style.left = `${x0}px`;
      el.style.width = `${Math.max(2, x1 - x0)}px`;
      el.style.top = `${(lane / laneCount) * 100}%`;
      el.style.height = `${100 / laneCount}%`;
      el.style.setProperty("--seg", this.h.colorOf(seg.labels[0]));
      el.title = `${seg.start.toFixed(2)}–${seg.end.toFixed(2)} s`;
      const tag = document.createElement("span");
      tag.className = "ws-seg-tag";
      tag.textContent = seg.labels.length ? seg.labels.map((p) => this.h.nameOf(p)).join(", ") : "no label";
      el.append(edge("start"), tag, edge("end"));
      out.push(el);
    }
    suggestions.forEach((s, index) => {
      if (s.state !== "pending") return;
      const x0 = view.xAt(s.start), x1 = view.xAt(s.end);
      if (x1 < -2 || x0 > width + 2) return;
      const el = document.createElement("div");
      el.className = "ws-seg suggested";
      el.setAttribute("data-testid", "suggested-segment");
      el.dataset.index = String(index);
      el.style.left = `${x0}px`;
      el.style.width = `${Math.max(2, x1 - x0)}px`;
      el.style.setProperty("--seg", this.h.colorOf(s.label));
      const tag = document.createElement("span");
      tag.className = "ws-seg-tag";
      tag.textContent = `${this.h.nameOf(s.label)} ${Math.round(s.score * 100)}%?`;
      el.append(tag);
      out.push(el);
    });
    this.layer.replaceChildren(...out);
  }

  _time(e) {
    // x from the canvas's left edge: the container's border is not part of the view (1 px is
    // seconds on a long recording seen whole).
    const rect = this.container.getBoundingClientRect();
    const x = e.clientX - rect.left - this.container.clientLeft;
    return this.view.timeAt(Math.max(0, Math.min(this.view.width, x)));
  }

  _down(e) {
    if (e.button !== 0) return;
    const segEl = e.target.closest(".ws-seg");
    const t = this._time(e);
    this.container.setPointerCapture(e.pointerId);
    if (segEl && segEl.classList.contains("suggested")) {
      this._drag = { mode: "suggestion", index: Number(segEl.dataset.index), x: e.clientX };
      return;
    }
    if (segEl) {
      const id = Number(segEl.dataset.id);
      const seg = this.h.get(id);
      const rect = segEl.getBoundingClientRect();
      let mode = "move";
      if (e.clientX - rect.left <= EDGE_PX) mode = "start";
      else if (rect.right - e.clientX <= EDGE_PX) mode = "end";
      this.h.select(id);
      this._drag = { mode, id, x: e.clientX, t0: t, start: seg.start, end: seg.end, moved: false };
      return;
    }
    this._drag = { mode: "create", x: e.clientX, t0: t, id: null };
  }

  _move(e) {
    const d = this._drag;
    if (!d) {
      const segEl = e.target.closest && e.target.closest(".ws-seg:not(.suggested)");
      if (segEl) {
        const rect = segEl.getBoundingClientRect();
        const edgeNear = e.clientX - rect.left <= EDGE_PX || rect.right - e.clientX <= EDGE_PX;
        this.container.style.cursor = edgeNear ? "ew-resize" : "grab";
      } else this.container.style.cursor = "crosshair";
      return;
    }
    if (Math.abs(e.clientX - d.x) < DRAG_PX && !d.moved) return;
    d.moved = true;
    const t = this._time(e);
    const duration = this.view.duration;
    if (d.mode === "create") {
      const a = snap(Math.min(d.t0, t)), b = snap(Math.max(d.t0, t));
      if (d.id === null) d.id = this.h.create(a, Math.max(b, a + SNAP_S));
      else this.h.change(d.id, a, Math.max(b, a + SNAP_S));
    } else if (d.mode === "move") {
      const len = d.end - d.start;
      const start = snap(Math.max(0, Math.min(duration - len, d.start + (t - d.t0))));
      this.h.change(d.id, start, snap(start + len));
    } else if (d.mode === "start") {
      this.h.change(d.id, snap(Math.max(0, Math.min(t, d.end - SNAP_S))), d.end);
    } else if (d.mode === "end") {
      this.h.change(d.id, d.start, snap(Math.min(duration, Math.max(t, d.start + SNAP_S))));
    }
  }

  _up(e) {
    const d = this._drag;
    this._drag = null;
    if (!d) return;
    if (this.container.hasPointerCapture(e.pointerId)) this.container.releasePointerCapture(e.pointerId);
    if (d.mode === "suggestion") { this.h.suggestion(d.index); return; }
    if (!d.moved) {
      if (d.mode === "create") { this.h.select(null); this.h.seek(this._time(e)); }
      return;
    }
    this.h.commit(d.mode === "create" ? "create segment" : `${d.mode === "move" ? "move" : "resize"} segment`);
  }
}

function edge(which) {
  const el = document.createElement("span");
  el.className = `ws-edge ws-edge-${which}`;
  return el;
}

// Overlapping segments stack in lanes so every one stays reachable.
function laneOf(segments) {
  const lanes = new Map();
  const ends = [];
  for (const seg of [...segments].sort((a, b) => a.start - b.start || a.id - b.id)) {
    let lane = ends.findIndex((end) => end <= seg.start);
    if (lane < 0) { lane = ends.length; ends.push(seg.end); } else ends[lane] = seg.end;
    lanes.set(seg.id, lane);
  }
  return lanes;
}
