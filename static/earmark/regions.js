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
// The grip of a segment's edges: EDGE_PX, or a third of a segment narrower than three of
// them, whose middle third then moves it (both edges covered a narrow one: a drag anywhere on
// it resized it, and a painted one of a long recording grew by seconds).
const edgePx = (hit) => Math.min(EDGE_PX, (hit.right - hit.left) / 3);
const TAG_MIN_PX = 10; // a segment narrower than this shows no tag text (there is no room)
const DENSE_MAX = 500; // segments in view beyond which the narrow ones are painted (render())
const DENSE_PX = 12; // what "narrow" means then
const UNLABELED = "#9aa3b5"; // the stylesheet's colour of a segment with no label

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
    this.h = handlers; // {create, change, commit, select, seek, suggestion, colorOf, nameOf, channelName, bandOf}
    this.layer = document.createElement("div");
    this.layer.className = "ws-regions";
    container.appendChild(this.layer);
    this._drag = null;
    this._records = new Map(); // key -> {el, tag, look, geometry}: the elements drawn, see render()
    // The dense view's canvas (see render()), under the elements, letting the pointer through.
    this.paint = document.createElement("canvas");
    this.paint.className = "ws-regions-paint";
    this.paint.hidden = true;
    this.paint.setAttribute("aria-hidden", "true");
    Object.assign(this.paint.style, { position: "absolute", inset: "0", width: "100%", height: "100%", pointerEvents: "none" });
    this._painted = []; // the boxes painted on it, in order
    container.addEventListener("pointerdown", (e) => this._down(e));
    container.addEventListener("pointermove", (e) => this._move(e));
    container.addEventListener("pointerup", (e) => this._up(e));
    container.addEventListener("pointercancel", (e) => this._up(e));
  }

  // Draws what the view shows, reusing each segment's element: a change to one segment (a drag
  // step, a label) touches that element only, where building all of them again cost seconds
  // per edit on a clip of 5,000 segments. Elements are keyed by segment id ("s<id>") and
  // suggestion index ("g<index>"); what lies outside the view has none.
  //
  // A view of more than DENSE_MAX segments paints those narrower than DENSE_PX (but the
  // selected one) on one canvas under the elements, and finds them under the pointer by their
  // boxes: the browser lays out every positioned element again whenever anything beside the
  // waveform changes (the time display, each frame of playback), some 30 µs each on a 2-core
  // machine, which froze the tab with a long recording's 5,000 segments seen whole. Such a segment is a few pixels
  // wide: its tag has no room for text and its edges cover it, so the paint shows what the
  // element showed.
  render(segments, suggestions, selectedId) {
    const { view } = this;
    // Layout is read once: `view.xAt` reads the canvas's width each call, which forced a
    // layout per segment.
    const width = this.container.clientWidth;
    const viewWidth = view.width, viewStart = view.start, span = view.span;
    const xAt = (t) => ((t - viewStart) / span) * viewWidth;
    const seen = new Set();
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
    const rows = new Map(); // id -> [row, rows of its run of overlapping segments]
    const across = groups.get(null) || [];
    for (const [key, group] of groups) {
      // A lane's segments are laid out with the segments of every channel that cross it:
      // one over an all-channel segment took the lane's whole height, the two boxes and
      // their names on top of each other.
      const pool = key === null ? group : [...across, ...group];
      const mine = new Set(group.map((s) => s.id));
      for (const [id, place] of rowOf(pool)) if (mine.has(id)) rows.set(id, place);
    }
    const ordered = [...(groups.get(null) || []), ...segments.filter((seg) => band(seg) !== null)];
    const inView = [];
    for (const seg of ordered) {
      const x0 = xAt(seg.start), x1 = xAt(seg.end);
      if (!(x1 < -2 || x0 > width + 2)) inView.push([seg, x0, x1]);
    }
    const dense = inView.length > DENSE_MAX;
    const painted = [];
    for (const [seg, x0, x1] of inView) {
      const lane = band(seg);
      const [row, rowCount] = rows.get(seg.id) || [0, 1];
      const [bandTop, bandHeight] = lane === null ? [0, 100] : [(lane / channels) * 100, 100 / channels];
      const top = bandTop + (row / rowCount) * bandHeight, height = bandHeight / rowCount; // percent
      if (dense && x1 - x0 < DENSE_PX && seg.id !== selectedId) {
        painted.push({ id: seg.id, x: x0, w: Math.max(2, x1 - x0), end: x1, top, height, color: seg.labels.length ? this.h.colorOf(seg.labels[0]) : UNLABELED, dashed: !seg.labels.length });
        continue;
      }
      const channelName = seg.channel == null ? null : this.h.channelName?.(seg.channel);
      const key = `s${seg.id}`;
      const r = this._record(key, () => {
        const el = document.createElement("div");
        el.setAttribute("data-testid", "segment");
        const tag = document.createElement("span");
        tag.className = "ws-seg-tag";
        el.append(edge("start"), tag, edge("end"));
        return { el, tag };
      });
      seen.add(key);
      const className = "ws-seg" + (seg.id === selectedId ? " selected" : "") + (seg.labels.length ? "" : " unlabeled") + (lane === null ? "" : " in-lane");
      const labels = seg.labels.join("|");
      const color = this.h.colorOf(seg.labels[0]);
      // No text where the tag has no room to show any (its 4 px insets and the border take
      // it all): thousands of segments seen whole were as many lines of text to lay out.
      const text = x1 - x0 < TAG_MIN_PX ? ""
        : (seg.labels.length ? seg.labels.map((p) => this.h.nameOf(p)).join(", ") : "no label") + (channelName ? ` · ${channelName}` : "");
      const freqs = this.h.bandOf?.(seg) || ""; // its frequency band, said
      const look = [className, labels, seg.start, seg.end, seg.channel, color, text, freqs].join("\n");
      if (r.look !== look) {
        r.look = look;
        const { el } = r;
        el.className = className;
        el.dataset.id = String(seg.id);
        el.dataset.start = seg.start.toFixed(2);
        el.dataset.end = seg.end.toFixed(2);
        el.dataset.labels = labels;
        el.dataset.channel = seg.channel == null ? "all" : String(seg.channel);
        el.style.setProperty("--seg", color);
        el.title = `${seg.start.toFixed(2)}–${seg.end.toFixed(2)} s${channelName ? ` · ${channelName}` : ""}${freqs ? ` · ${freqs}` : ""}`;
        if (freqs) el.dataset.band = freqs; else delete el.dataset.band;
        r.tag.textContent = text;
      }
      place(r, `${x0}px`, `${Math.max(2, x1 - x0)}px`, `${top}%`, `${height}%`);
      out.push(r.el);
    }
    suggestions.forEach((s, index) => {
      if (s.state !== "pending") return;
      const x0 = xAt(s.start), x1 = xAt(s.end);
      if (x1 < -2 || x0 > width + 2) return;
      const key = `g${index}`;
      const r = this._record(key, () => {
        const el = document.createElement("div");
        el.className = "ws-seg suggested";
        el.setAttribute("data-testid", "suggested-segment");
        el.dataset.index = String(index);
        const tag = document.createElement("span");
        tag.className = "ws-seg-tag";
        el.append(tag);
        return { el, tag };
      });
      seen.add(key);
      const color = this.h.colorOf(s.label);
      const text = `${this.h.nameOf(s.label)} ${Math.round(s.score * 100)}%?`;
      const look = `${color}\n${text}`;
      if (r.look !== look) {
        r.look = look;
        r.el.style.setProperty("--seg", color);
        r.tag.textContent = text;
      }
      // A suggestion of one channel lies in its lane; one of all channels takes the stylesheet's
      // full height.
      const lane = band(s);
      place(r, `${x0}px`, `${Math.max(2, x1 - x0)}px`, lane === null ? "" : `${(lane / channels) * 100}%`, lane === null ? "" : `${100 / channels}%`);
      out.push(r.el);
    });
    for (const key of this._records.keys()) if (!seen.has(key)) this._records.delete(key);
    this._paint(painted, width);
    placeChildren(this.layer, [this.paint, ...out]);
  }

  // The dense view's narrow segments, as the stylesheet draws a segment (22% fill, 70% border,
  // dashed when unlabeled), in the order the elements would stack; `this._painted` keeps their
  // boxes (px) for the pointer.
  _paint(items, width) {
    const canvas = this.paint;
    this._painted = [];
    if (!items.length) {
      if (!canvas.hidden) { canvas.hidden = true; canvas.width = canvas.height = 0; }
      return;
    }
    canvas.hidden = false;
    const height = this.container.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(width * dpr)), h = Math.max(1, Math.round(height * dpr));
    if (canvas.width !== w) canvas.width = w;
    if (canvas.height !== h) canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.lineWidth = 1;
    for (const p of items) {
      // On whole pixels, as the browser paints an element's edges: crisp, not blurred stripes.
      const x = Math.round(p.x), y = Math.round((p.top / 100) * height);
      // `from`/`to`: where the segment really lies, for the pointer (a box on whole pixels
      // starts up to half a pixel off, over its neighbour's time).
      const box = { id: p.id, x, w: Math.max(2, Math.round(p.x + p.w) - x), y, h: Math.round(((p.top + p.height) / 100) * height) - y, from: p.x, to: p.end };
      this._painted.push(box);
      ctx.globalAlpha = 0.22;
      ctx.fillStyle = p.color;
      ctx.fillRect(box.x, box.y, box.w, box.h);
      ctx.globalAlpha = 0.7;
      ctx.strokeStyle = p.color;
      ctx.setLineDash(p.dashed ? [3, 2] : []);
      ctx.strokeRect(box.x + 0.5, box.y + 0.5, Math.max(0, box.w - 1), Math.max(0, box.h - 1));
    }
    ctx.globalAlpha = 1;
  }

  // What the pointer is on: a suggestion ({index}), a segment ({id, left, right}: its box's
  // page x) drawn as an element or painted, or nothing (null).
  _hit(e) {
    const el = e.target.closest && e.target.closest(".ws-seg");
    if (el && el.classList.contains("suggested")) return { index: Number(el.dataset.index) };
    if (el) { const r = el.getBoundingClientRect(); return { id: Number(el.dataset.id), left: r.left, right: r.right }; }
    if (!this._painted.length) return null;
    const rect = this.layer.getBoundingClientRect();
    const x = e.clientX - rect.left, y = e.clientY - rect.top;
    // Of the boxes under the pointer, the segment whose own span holds it (the last painted,
    // on top, first), else the one whose span is nearest: boxes a pixel apart overlap.
    let best = null, bestGap = Infinity;
    for (let i = this._painted.length - 1; i >= 0; i--) {
      const p = this._painted[i];
      if (!(x >= p.x && x <= p.x + p.w && y >= p.y && y <= p.y + p.h)) continue;
      const gap = x < p.from ? p.from - x : x > p.to ? x - p.to : 0;
      if (gap < bestGap) { best = p; bestGap = gap; }
      if (gap === 0) break;
    }
    return best && { id: best.id, left: rect.left + best.x, right: rect.left + best.x + best.w };
  }

  // The element kept for `key`, made by `make` the first time it is drawn.
  _record(key, make) {
    let r = this._records.get(key);
    if (!r) { r = { ...make(), look: null, geometry: null }; this._records.set(key, r); }
    return r;
  }

  // A new clip: its segment ids start again from 1, so nothing drawn for the last one is kept.
  reset() {
    this._records.clear();
    this._paint([], 0);
    this.layer.replaceChildren(this.paint);
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
    const hit = this._hit(e);
    const t = this._time(e);
    this.container.setPointerCapture(e.pointerId);
    if (hit && hit.index !== undefined) {
      this._drag = { mode: "suggestion", index: hit.index, x: e.clientX };
      return;
    }
    if (hit && !e.shiftKey) {
      const { id } = hit;
      const seg = this.h.get(id);
      let mode = "move";
      const edge = edgePx(hit);
      if (e.clientX - hit.left <= edge) mode = "start";
      else if (hit.right - e.clientX <= edge) mode = "end";
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
      const hit = this._hit(e);
      if (hit && hit.id !== undefined) {
        const edge = edgePx(hit);
        const edgeNear = e.clientX - hit.left <= edge || hit.right - e.clientX <= edge;
        this.container.style.cursor = edgeNear ? "ew-resize" : "grab";
      } else this.container.style.cursor = "crosshair";
      return;
    }
    if (Math.abs(e.clientX - d.x) < DRAG_PX && !d.moved) return;
    d.moved = true;
    const t = this._time(e);
    const duration = this.view.duration;
    if (d.mode === "create") {
      if (d.refused) return;
      const a = snap(Math.min(d.t0, t)), b = snap(Math.max(d.t0, t));
      if (d.id === null) {
        d.id = this.h.create(a, Math.max(b, a + SNAP_S), d.channel);
        // No segment made (a project of clip labels only): the rest of the drag makes none.
        d.refused = d.id === null;
      } else this.h.change(d.id, a, Math.max(b, a + SNAP_S));
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
    if (d.refused) return; // nothing changed: no undo step
    this.h.commit(d.mode === "create" ? "create segment" : `${d.mode === "move" ? "move" : "resize"} segment`);
  }
}

// An element's box, written only when it changed: through an edit, the other segments in view
// keep theirs untouched.
function place(r, left, width, top, height) {
  const geometry = `${left} ${width} ${top} ${height}`;
  if (r.geometry === geometry) return;
  r.geometry = geometry;
  Object.assign(r.el.style, { left, width, top, height });
}

// Makes `parent`'s children exactly `nodes`, in order, moving only those out of place: the
// nodes kept stay in the document (no new layout for them, no lost focus unless moved).
export function placeChildren(parent, nodes) {
  const keep = new Set(nodes);
  for (let child = parent.firstChild; child;) {
    const next = child.nextSibling;
    if (!keep.has(child)) child.remove();
    child = next;
  }
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node === cursor) cursor = cursor.nextSibling;
    else parent.insertBefore(node, cursor);
  }
}

function edge(which) {
  const el = document.createElement("span");
  el.className = `ws-edge ws-edge-${which}`;
  return el;
}

// Overlapping segments stack in rows so every one stays reachable: [row, rows] per segment,
// where the rows are those of its run of overlapping segments only. One overlap anywhere in
// an hour halved every box of the hour, and a drag in a box's empty lower half made a new
// segment instead of moving the edge above it.
function rowOf(segments) {
  const rows = new Map();
  let ends = [], run = [], runEnd = -Infinity;
  const close = () => { for (const id of run) rows.get(id)[1] = ends.length; };
  for (const seg of [...segments].sort((a, b) => a.start - b.start || a.id - b.id)) {
    if (seg.start >= runEnd) { close(); ends = []; run = []; }
    let row = ends.findIndex((end) => end <= seg.start);
    if (row < 0) { row = ends.length; ends.push(seg.end); } else ends[row] = seg.end;
    rows.set(seg.id, [row, 1]);
    run.push(seg.id);
    runEnd = Math.max(runEnd, seg.end);
  }
  close();
  return rows;
}
