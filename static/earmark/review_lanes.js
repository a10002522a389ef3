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
