// Segments drawn over the waveform: drag on empty waveform to create one, drag a segment to
// move it, drag its edges to resize it; a click without a drag seeks. Times snap to 10 ms.
// The segment list itself belongs to the workspace: this module renders it and reports edits.
// Where the view draws a lane per channel, a segment of one channel (`channel`: 0-based) lies in
// that channel's lane and one of all channels (`channel: null`) spans them all; a plain drag
// makes a segment of all channels, a Shift+drag one of the lane where it starts. A Shift+drag
// makes a new segment wherever it starts, over a segment too: overlapping sounds (one per
// channel, or two at once on a mono clip) need overlapping segments.

export const SNAP_S = 0.01;
export const snap = (t) => Math.round(Math.round(t / SNAP_S) * SNAP_S * 100) / 100;
const DRAG_PX = 4;
const EDGE_PX = 6;

// A segment whose `mode` edge ("start" or "end") is dragged to `at`, its other edge at `fixed`:
// [start, end]. Dragged past the other edge, the two swap (as a selection does in Audacity)
// rather than squeezing the segment to one step there; it keeps `step` at least, on the
// pointer's side, within [0, duration]. The workspace's segments and the review's correction
// lane both drag edges by it.
export function edgeDragged(mode, fixed, at, step, duration) {
  let a = Math.min(at, fixed), b = Math.max(at, fixed);
  if (b - a < step) {
    if (at < fixed || (at === fixed && mode === "start")) a = Math.max(0, b - step);
    else b = Math.min(duration, a + step);
  }
  return [a, b];
}

export class Regions {
  constructor(container, view, handlers) {
    this.container = container; // positioned element over the waveform canvas
    this.view = view; // WaveformView: xAt / timeAt
    this.h = handlers; // {create, change, commit, select, seek, suggestion, colorOf, nameOf, channelName}
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
    // The channel lane a segment lies in (null: all of them), and in each lane (or across
    // all), overlapping segments stacked in rows. Segments of one channel come last: on top.
    const channels = view.lanes || 1;
    const band = (seg) => (channels > 1 && Number.isInteger(seg.channel) && seg.channel < channels ? seg.channel : null);
    const groups = new Map();
    for (const seg of segments) {
      const key = band(seg);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(seg);
    }
    const rows = new Map(), rowCounts = new Map();
    for (const [key, group] of groups) {
      const of = rowOf(group);
      for (const [id, row] of of) rows.set(id, row);
      rowCounts.set(key, Math.max(1, ...[...of.values()].map((r) => r + 1)));
    }
    const ordered = [...(groups.get(null) || []), ...segments.filter((seg) => band(seg) !== null)];
    for (const seg of ordered) {
      const x0 = view.xAt(seg.start), x1 = view.xAt(seg.end);
      if (x1 < -2 || x0 > width + 2) continue;
      const lane = band(seg);
      const row = rows.get(seg.id) || 0;
      const rowCount = rowCounts.get(lane);
      const [bandTop, bandHeight] = lane === null ? [0, 100] : [(lane / channels) * 100, 100 / channels];
      const channelName = seg.channel == null ? null : this.h.channelName?.(seg.channel);
      const el = document.createElement("div");
      el.className = "ws-seg" + (seg.id === selectedId ? " selected" : "") + (seg.labels.length ? "" : " unlabeled") + (lane === null ? "" : " in-lane");
      el.setAttribute("data-testid", "segment");
      el.dataset.id = String(seg.id);
      el.dataset.start = seg.start.toFixed(2);
      el.dataset.end = seg.end.toFixed(2);
      el.dataset.labels = seg.labels.join("|");
      el.dataset.channel = seg.channel == null ? "all" : String(seg.channel);
      el.style.left = `${x0}px`;
      el.style.width = `${Math.max(2, x1 - x0)}px`;
      el.style.top = `${bandTop + (row / rowCount) * bandHeight}%`;
      el.style.height = `${bandHeight / rowCount}%`;
      el.style.setProperty("--seg", this.h.colorOf(seg.labels[0]));
      el.title = `${seg.start.toFixed(2)}–${seg.end.toFixed(2)} s${channelName ? ` · ${channelName}` : ""}`;
      const tag = document.createElement("span");
      tag.className = "ws-seg-tag";
      tag.textContent = (seg.labels.length ? seg.labels.map((p) => this.h.nameOf(p)).join(", ") : "no label") + (channelName ? ` · ${channelName}` : "");
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
      const lane = band(s);
      if (lane !== null) {
        el.style.top = `${(lane / channels) * 100}%`;
        el.style.height = `${100 / channels}%`;
      }
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
    if (segEl && !e.shiftKey) {
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
    // Shift: a segment of the channel whose lane the drag starts in (where lanes are drawn).
    const y = e.clientY - this.container.getBoundingClientRect().top - this.container.clientTop;
    const channel = e.shiftKey && (this.view.lanes || 1) > 1 ? this.view.laneAt(y) : null;
    this._drag = { mode: "create", x: e.clientX, t0: t, id: null, channel };
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
      if (d.id === null) d.id = this.h.create(a, Math.max(b, a + SNAP_S), d.channel);
      else this.h.change(d.id, a, Math.max(b, a + SNAP_S));
    } else if (d.mode === "move") {
      const len = d.end - d.start;
      const start = snap(Math.max(0, Math.min(duration - len, d.start + (t - d.t0))));
      this.h.change(d.id, start, snap(start + len));
    } else {
      const fixed = d.mode === "start" ? d.end : d.start;
      const [a, b] = edgeDragged(d.mode, fixed, snap(Math.max(0, Math.min(duration, t))), SNAP_S, duration);
      this.h.change(d.id, snap(a), snap(b));
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

// Overlapping segments stack in rows so every one stays reachable.
function rowOf(segments) {
  const rows = new Map();
  const ends = [];
  for (const seg of [...segments].sort((a, b) => a.start - b.start || a.id - b.id)) {
    let row = ends.findIndex((end) => end <= seg.start);
    if (row < 0) { row = ends.length; ends.push(seg.end); } else ends[row] = seg.end;
    rows.set(seg.id, row);
  }
  return rows;
}
