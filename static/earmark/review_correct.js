// The reviewer's correction on the waveform: while a correction form is open, a lane of its own
// under the clip's waveform shows the segments its table holds. Drag on the empty lane to add
// a segment, drag a segment to move it, drag its edges to change its start or end; the table's
// inputs follow (and typing in them moves the boxes), so the table stays the precise editor.
// The lane shows the waveform's view (zoomed or whole), as review_player.js announces it, so a
// segment of a long clip can be made wide enough to drag.
// On a clip of 2 to 8 channels the lane has a row "all" on top and a row per channel under it
// (review_lanes.js): a drag in a channel's row adds a segment on that channel, in "all" one on
// every channel; Shift+drag adds one even where it starts on another segment. The table's
// channel menu moves a segment between rows.
import { edgeDragged } from "./regions.js";
import {
  channelAt,
  frameLane,
  inView,
  laneLayout,
  boxLeft,
  paintCanvas,
  paintedAt,
  paintLane,
  paintsAt,
  placeBox,
  tintFor,
} from "./review_lanes.js";

export { channelName } from "./waveform.js";
export { bandText, parseBand } from "./bands.js";

// Seconds: the server stores segment times in 10 ms steps, so the lane snaps to them at any
// zoom and the table shows them with 2 decimals: what it shows is what is saved.
const SNAP = 0.01;
const MIN_S = 0.05; // a press without a drag adds nothing
const MIN_PX = 5; // ... nor one of fewer pixels, zoomed in where MIN_S is wider than that

// Narrower than this (px), a box is moved as a whole: its edges change in the table.
const HANDLES_MIN_PX = 24;
const EDIT_BOX_MIN_PX = 16; // .rv-seg-edit's padding and border: a box is never narrower

export function mountCorrectionLane(tbody, { addRow, name, seconds, reveal = () => {} }) {
  const player = document.getElementById("rv-player");
  const lanes = player && player.querySelector(".rv-lanes");
  if (!lanes) return () => {};
  let duration = Number(player.dataset.duration) || 0;
  const channels = Number(player.dataset.channels) || 1;
  let layout = laneLayout([], channels, { allRow: true }); // the rows drawn, for a drag's row
  const audio = player.querySelector("audio");
  const canvas = player.querySelector("canvas.waveform");
  // The time span the waveform shows: the whole clip until the player says otherwise.
  const view = () => {
    const start = Number(canvas?.dataset.viewStart);
    const end = Number(canvas?.dataset.viewEnd);
    return Number.isFinite(start) && Number.isFinite(end) && end > start ? { start, end } : { start: 0, end: duration };
  };
  const fromAudio = () => {
    // a clip whose duration the server has not stored: the audio's, once its metadata is in
    if (!duration && audio && Number.isFinite(audio.duration) && audio.duration > 0) {
      duration = audio.duration;
      render();
    }
  };
  audio?.addEventListener("loadedmetadata", fromAudio);

  const lane = document.createElement("div");
  lane.className = "rv-lane rv-lane-edit";
  lane.setAttribute("data-testid", "correction-lane");
  const hint = layout.multi
    ? "Drag in a channel's row to add a segment on that channel, in the row \u201call\u201d one on all channels (Shift+drag: over another segment); drag a segment or its edges to change it"
    : "Drag to add a segment (Shift+drag: over another one); drag a segment or its edges to change it";
  lane.innerHTML = `<span class="rv-lane-name"></span><div class="rv-lane-track" title="${hint}"></div>`;
  const label = lane.querySelector(".rv-lane-name");
  label.textContent = `✎ ${name}`;
  label.title = `your correction of ${name}'s segments`;
  const track = lane.querySelector(".rv-lane-track");
  lanes.append(lane);

  const rows = () => tbody.rows;
  // Each row's segment as last read: a table of thousands is read again only where it changed.
  const known = new WeakMap();
  const segOf = (tr) => {
    if (!known.has(tr)) known.set(tr, read(tr));
    return known.get(tr);
  };
  const read = (tr) => ({
    start: seconds(tr.querySelector("[name=start]").value),
    end: seconds(tr.querySelector("[name=end]").value),
    channel: tr.dataset.channel === "" || tr.dataset.channel === undefined ? null : Number(tr.dataset.channel),
    labels: tr.querySelector("[name=labels]").value,
  });
  const shortName = (paths) => paths.split(",").map((p) => p.trim().split("/").pop()).filter(Boolean).join(", ");
  // Seconds per pixel of the lane at the view shown.
  const perPx = () => {
    const { start, end } = view();
    return (end - start) / Math.max(1, track.getBoundingClientRect().width);
  };
  const write = (tr, start, end) => {
    tr.querySelector("[name=start]").value = start.toFixed(2);
    tr.querySelector("[name=end]").value = end.toFixed(2);
    known.delete(tr);
  };
  // Where a time falls across the view, 0..1 (outside it: below 0 or above 1).
  const share = (t, v = view()) => (v.end > v.start ? (t - v.start) / (v.end - v.start) : 0);
  const clamp01 = (x) => Math.min(1, Math.max(0, x));
  const timeAt = (clientX) => {
    const r = track.getBoundingClientRect();
    const { start, end } = view();
    const t = start + ((clientX - r.left) / Math.max(1, r.width)) * (end - start);
    return Math.round(Math.min(duration, Math.max(0, t)) / SNAP) * SNAP;
  };

  const paint = paintCanvas(track);
  let painted = []; // the rows painted (too many in view for boxes), for a press's hit test
  let segs = [];
  const PAINT = { fill: "rgba(255,176,32,0.45)", edge: "#ffb020", tint: "rgba(255,176,32,0.10)" };
  const render = () => {
    const width = track.getBoundingClientRect().width;
    const v = view();
    segs = Array.from(rows(), segOf);
    layout = laneLayout(segs, channels, { allRow: true });
    const frames = frameLane(track, layout);
    // Boxes for the rows in view that are a span inside the clip (the table says what is wrong
    // with the others), or, too many for boxes (paintsAt), all painted on the lane's canvas.
    const seen = inView(segs, v.start, v.end).filter((i) => segs[i].start < duration);
    painted = paintsAt(seen.length, width) ? seen : [];
    track.dataset.painted = String(painted.length > 0);
    paintLane(paint, track, segs, painted, layout, v, PAINT);
    const tints = [];
    const boxes = (painted.length ? [] : seen).map((i) => {
      const { start, end, labels } = segs[i];
      const box = document.createElement("div");
      box.className = "rv-seg rv-seg-edit";
      box.setAttribute("data-testid", "correction-segment");
      box.dataset.row = String(i);
      // Across the view's edge: cut there, without the handle it cannot show.
      const left = clamp01(share(start, v));
      const size = clamp01(share(end, v)) - left;
      box.style.left = `${boxLeft(left, size, width, EDIT_BOX_MIN_PX) * 100}%`;
      box.style.width = `${size * 100}%`;
      box.dataset.channel = segs[i].channel === null ? "" : String(segs[i].channel);
      placeBox(box, layout.place[i]);
      const tint = tintFor(layout.place[i]);
      if (tint) {
        tint.style.left = `${left * 100}%`; // the span's own place, as wide as it
        tint.style.width = box.style.width;
        tints.push(tint);
      }
      box.title = `${start.toFixed(2)}–${end.toFixed(2)} s${labels ? `: ${labels}` : ""}`;
      const text = document.createElement("span");
      text.textContent = shortName(labels) || "(no label yet)";
      box.append(text);
      if (size * width >= HANDLES_MIN_PX) {
        if (start >= v.start) {
          const a = document.createElement("span");
          a.className = "rv-handle start";
          a.setAttribute("data-testid", "correction-handle-start");
          box.prepend(a);
        }
        if (end <= v.end) {
          const b = document.createElement("span");
          b.className = "rv-handle end";
          b.setAttribute("data-testid", "correction-handle-end");
          box.append(b);
        }
      }
      return box;
    });
    track.replaceChildren(...frames, paint, ...tints, ...boxes);
  };

  // pointer: add (drag on the empty lane), move (drag a box), start / end (drag an edge)
  let drag = null;
  track.addEventListener("pointerdown", (e) => {
    if (e.button !== 0 || duration <= 0) return;
    e.preventDefault(); // no text selection; but the focus must leave the button it was on
    if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur();
    // Shift: a new segment even where the press is on one (overlapping sounds).
    let row = e.shiftKey ? null : e.target.closest(".rv-seg-edit")?.dataset.row;
    if (!e.shiftKey && e.target === paint) {
      // a painted segment: moved as a whole (its edges change in the table, or zoomed in)
      const r = track.getBoundingClientRect();
      const i = paintedAt(segs, painted, layout, view(), r.width, e.clientX - r.left, e.clientY - r.top);
      row = i >= 0 ? i : null;
    }
    // The view holds still while a drag is under way (no wheel zoom): 10 ms steps, but never
    // fewer than MIN_PX pixels for a new segment zoomed out (a click adds nothing).
    const minLen = Math.max(SNAP, Math.min(MIN_S, MIN_PX * perPx()));
    const t = timeAt(e.clientX);
    if (row !== null && row !== undefined) {
      const tr = rows()[Number(row)];
      const { start, end } = read(tr);
      const mode = e.target.classList.contains("start") ? "start" : e.target.classList.contains("end") ? "end" : "move";
      drag = { tr, mode, from: t, start, end, moved: false, minLen };
    } else {
      // on the channel of the row pressed in (the row "all", or a single row: all channels)
      const channel = channelAt(layout, e.clientY - track.getBoundingClientRect().top);
      drag = { tr: null, mode: "add", from: t, moved: false, minLen, channel };
    }
    track.setPointerCapture(e.pointerId);
  });
  track.addEventListener("pointermove", (e) => {
    if (!drag) return;
    const t = timeAt(e.clientX);
    if (Math.abs(t - drag.from) < SNAP / 2 && !drag.moved) return;
    drag.moved = true;
    if (drag.mode === "add") {
      if (!drag.tr && Math.abs(t - drag.from) >= drag.minLen - 1e-9) {
        drag.tr = addRow({ start: "", end: "", channel: drag.channel, labels: [] });
      }
      if (drag.tr) write(drag.tr, Math.min(t, drag.from), Math.max(t, drag.from));
    } else if (drag.mode === "move") {
      const len = drag.end - drag.start;
      const start = Math.min(Math.max(0, drag.start + (t - drag.from)), duration - len);
      write(drag.tr, start, start + len);
    } else {
      // past the other edge the two swap, as in the workspace
      const fixed = drag.mode === "start" ? drag.end : drag.start;
      write(drag.tr, ...edgeDragged(drag.mode, fixed, t, SNAP, duration));
    }
    render();
  });
  const end = () => {
    if (!drag) return;
    const { tr, mode, moved, minLen } = drag;
    drag = null;
    if (tr && mode === "add") {
      const { start, end: stop } = read(tr);
      if (!(stop - start >= minLen - 1e-9)) { // dragged out and back: nothing to add
        tr.remove();
        render();
        return;
      }
    }
    render();
    // a new segment, or a click on one: its labels next (the lane stays in view)
    if (tr) reveal(tr); // a table of many segments shows a page of them: this row's
    if (tr && (mode === "add" || !moved)) tr.querySelector("[name=labels]").focus({ preventScroll: true });
  };
  track.addEventListener("pointerup", end);
  track.addEventListener("pointercancel", end);

  const edited = (e) => {
    known.delete(e.target.closest("tr"));
    render();
  };
  tbody.addEventListener("input", edited);
  player.addEventListener("view", render);
  const watcher = new MutationObserver(render);
  watcher.observe(tbody, { childList: true });
  render();
  fromAudio();

  return () => {
    audio?.removeEventListener("loadedmetadata", fromAudio);
    watcher.disconnect();
    tbody.removeEventListener("input", edited);
    player.removeEventListener("view", render);
    lane.remove();
  };
}
