// The rows of a review lane (an annotator's under the waveform, and the correction's): on a
// clip of 2 to 8 channels, a row "all" for the segments of every channel (only where there are
// some, or `allRow`), then a row per channel in the waveform's lane order (channel 0, "L", on
// top); a segment of all channels is boxed in the "all" row and tints the channel rows under
// it. Segments that overlap in time in the same row are stacked into extra rows of it, so
// that none hides another. A mono clip's lane is one row, as before, unless it has overlaps.
import { channelName } from "./waveform.js";

export const ROW_PX = 22; // a row: a 20 px box and a 2 px gap (a mono lane: 24 px, as before)
const MAX_LANES = 8; // as the waveform: more channels are drawn as one envelope

const valid = (s) => Number.isFinite(s.start) && Number.isFinite(s.end) && s.end > s.start;

// Levels for segments of one row so that overlapping ones never share one: greedy, by start.
function stack(items) {
  const ends = [];
  const level = new Map();
  items.sort((a, b) => a.start - b.start || a.end - b.end);
  for (const it of items) {
    let k = ends.findIndex((e) => e <= it.start + 1e-9);
    if (k < 0) {
      k = ends.length;
      ends.push(it.end);
    } else ends[k] = it.end;
    level.set(it.i, k);
  }
  return { level, count: ends.length };
}

// segs: [{start, end, channel: null | int}]. Returns {multi, rows, bands: [{channel, name,
// first, count}], place: [{row, tint: null | {first, count}}]} (rows counted from the top).
export function laneLayout(segs, channels, { allRow = false } = {}) {
  const multi = channels >= 2 && channels <= MAX_LANES;
  const ALL = "all";
  const keyOf = (s) => {
    if (!multi) return ALL;
    const c = s.channel;
    return Number.isInteger(c) && c >= 0 && c < channels ? c : ALL;
  };
  const keys = multi ? [ALL, ...Array.from({ length: channels }, (_, c) => c)] : [ALL];
  const bands = [];
  const place = segs.map(() => ({ row: 0, tint: null }));
  let rows = 0;
  for (const key of keys) {
    const items = [];
    segs.forEach((s, i) => valid(s) && keyOf(s) === key && items.push({ i, start: s.start, end: s.end }));
    const { level, count } = stack(items);
    if (multi && key === ALL && !count && !allRow) continue; // no segment of all channels
    for (const [i, k] of level) place[i].row = rows + k;
    const name = !multi ? "" : key === ALL ? "all" : channelName(key, channels);
    bands.push({ channel: key === ALL ? null : key, name, first: rows, count: Math.max(1, count) });
    rows += Math.max(1, count);
  }
  if (multi && bands[0].channel === null) {
    const under = { first: bands[0].count, count: rows - bands[0].count };
    segs.forEach((s, i) => valid(s) && keyOf(s) === ALL && (place[i].tint = under));
  }
  return { multi, rows, bands, place };
}

// The channel of the row at `y` px from the track's top: null for "all" (and a single row).
export function channelAt(layout, y) {
  const row = Math.max(0, Math.min(layout.rows - 1, Math.floor((y - 1) / ROW_PX)));
  const band = layout.bands.find((b) => row >= b.first && row < b.first + b.count);
  return band ? band.channel : null;
}

const px = (rows) => `${rows * ROW_PX}px`;

// A box in its row (left and width are the caller's: they follow the view).
export function placeBox(box, { row }) {
  box.style.top = `${row * ROW_PX + 2}px`;
  box.style.height = `${ROW_PX - 2}px`;
}

// The tint of a segment of all channels over the channel rows, or null.
export function tintFor(place) {
  if (!place.tint || place.tint.count < 1) return null;
  const tint = document.createElement("div");
  tint.className = "rv-seg-span";
  tint.style.top = `${place.tint.first * ROW_PX + 1}px`;
  tint.style.height = px(place.tint.count);
  return tint;
}

// The track's height and its rows' frames (lines between channels, each row's name beside the
// track, in the lane's name column); returns the frame elements to put first in the track.
export function frameLane(track, layout) {
  track.style.height = `${layout.rows * ROW_PX + 2}px`;
  track.dataset.rows = String(layout.rows);
  const lane = track.closest(".rv-lane");
  lane?.querySelector(".rv-row-names")?.remove();
  lane?.classList.toggle("has-rows", layout.multi);
  if (!layout.multi) return [];
  const names = document.createElement("div");
  names.className = "rv-row-names";
  names.style.height = track.style.height;
  const frames = layout.bands.map((b, i) => {
    const band = document.createElement("div");
    band.className = `rv-band${i ? " rv-band-split" : ""}`;
    band.setAttribute("data-testid", "lane-band");
    band.dataset.channel = b.channel === null ? "" : String(b.channel);
    band.style.top = `${b.first * ROW_PX + 1}px`;
    band.style.height = px(b.count);
    const name = document.createElement("span");
    name.className = "rv-row-name";
    name.setAttribute("data-testid", "lane-row-name");
    name.textContent = b.name;
    name.title = b.channel === null ? "segments of all channels" : `channel ${b.name}`;
    name.style.top = band.style.top;
    name.style.height = band.style.height;
    names.append(name);
    return band;
  });
  lane?.append(names);
  return frames;
}

// --- many segments in view: painted, not built ---------------------------------------------
// Past MAX_BOXES segments in a lane's view (an annotation of thousands, zoomed out), the
// segments are painted on a canvas over the track instead of being an element each: thousands
// of positioned elements made each zoom and scroll take hundreds of milliseconds. Zoomed in to
// fewer, they are boxes again (labels, handles, hover).
export const MAX_BOXES = 300;
// ... or fewer, where the boxes would be narrower than this on average (px): a box is drawn
// at least its padding wide (10 px, 16 in a correction), so 250 segments 2.4 px apart made one
// solid bar, each box covering the next two, and a click on a box's right half hit another.
export const MIN_BOX_PX = 12;

// Whether `count` segments in view are painted on a track `width` px wide.
export const paintsAt = (count, width) => count > Math.min(MAX_BOXES, width / MIN_BOX_PX);

// Where a box starts, as a share of the track: its own, unless a box drawn wider than its span
// (`minPx`) would run past the track's end there (and be cut off by the lane: a segment at the
// clip's very end showed nothing), then as far right as it fits.
export function boxLeft(left, width, trackPx, minPx) {
  const least = minPx / Math.max(1, trackPx);
  return width >= least ? left : Math.max(0, Math.min(left, 1 - least));
}

const clamp01 = (x) => Math.min(1, Math.max(0, x));

// The indices of the segments (valid spans) that reach into the view [start, end).
export function inView(segs, start, end) {
  const out = [];
  segs.forEach((s, i) => valid(s) && s.end > start && s.start < end && out.push(i));
  return out;
}

// The canvas a track paints on (made once, kept first among the track's children by the caller).
export function paintCanvas(track) {
  let canvas = track.querySelector(":scope > canvas.rv-lane-paint");
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.className = "rv-lane-paint";
    canvas.setAttribute("data-testid", "lane-painted");
    canvas.hidden = true;
  }
  return canvas;
}

// Paints segments `indices` of `segs` (in `layout`'s rows) at the view [start, end) on
// `canvas`, sized to the track; none: the canvas is hidden. `colors`: {fill, edge, tint}.
export function paintLane(canvas, track, segs, indices, layout, { start, end }, colors) {
  canvas.hidden = !indices.length;
  if (!indices.length) return;
  const width = Math.max(1, track.clientWidth);
  const height = layout.rows * ROW_PX + 2;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const g = canvas.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, width, height);
  const x = (t) => clamp01((t - start) / Math.max(1e-9, end - start)) * width;
  for (const i of indices) {
    const s = segs[i];
    const place = layout.place[i];
    const x0 = x(s.start);
    const w = Math.max(1, x(s.end) - x0); // a segment narrower than a pixel still shows
    if (place.tint && place.tint.count > 0) {
      g.fillStyle = colors.tint;
      g.fillRect(x0, place.tint.first * ROW_PX + 1, w, place.tint.count * ROW_PX);
    }
    g.fillStyle = colors.fill;
    g.fillRect(x0, place.row * ROW_PX + 2, w, ROW_PX - 2);
    if (w >= 3) {
      g.strokeStyle = colors.edge;
      g.strokeRect(x0 + 0.5, place.row * ROW_PX + 2.5, w - 1, ROW_PX - 3);
    }
  }
}

// The segment painted under (x, y) px of the track, among `indices`: in the row pressed, the
// one whose span holds the time there, else the nearest within 3 px; -1 for none.
export function paintedAt(segs, indices, layout, { start, end }, width, x, y) {
  const row = Math.floor((y - 1) / ROW_PX);
  const perPx = (end - start) / Math.max(1, width);
  const t = start + x * perPx;
  let best = -1;
  let bestGap = 3 * perPx;
  for (const i of indices) {
    if (layout.place[i].row !== row) continue;
    const s = segs[i];
    const gap = t < s.start ? s.start - t : t > s.end ? t - s.end : 0;
    if (gap < bestGap || (gap === 0 && best >= 0 && s.end - s.start < segs[best].end - segs[best].start)) {
      best = i;
      bestGap = gap;
    }
  }
  return best;
}
