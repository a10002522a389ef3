// Waveform drawing from server-computed min/max peaks (GET /api/clips/<id>/peaks). No audio is
// decoded in the browser: an overview of the whole clip is fetched once (a few KB whatever its
// length) and, as the view zooms, the visible window at the canvas's resolution (raw samples
// when zoomed in far enough, level -1). Asked with `perChannel`, the peaks of a clip of 2 to 8
// channels carry each channel's envelope too (`per_channel`), and the views draw one lane per
// channel, top to bottom, channel 0 first (Audacity's and Raven's stereo view); without it, or
// for mono, one envelope over all channels, as before.

// Quiet recordings would draw as a flat line: the waveform can be scaled to the clip's own
// loudest point (display only), by at most MAX_GAIN (30 dB), so that a silent clip is not
// blown up into full-scale noise. Never scaled down.
export const MAX_GAIN = 32;

export function peakGain(peaks, maxGain = MAX_GAIN) {
  let peak = 0;
  for (let i = 0; i < peaks.min.length; i++) peak = Math.max(peak, Math.abs(peaks.min[i]), Math.abs(peaks.max[i]));
  return peak > 0 ? Math.min(maxGain, Math.max(1, 1 / peak)) : 1;
}

// The annotator's choice, kept in the browser: normalized unless turned off (and where storage
// is blocked, normalized, for this page only).
const NORMALIZE_KEY = "earmark-waveform-normalize";
export function savedNormalize() {
  try { return localStorage.getItem(NORMALIZE_KEY) !== "off"; } catch { return true; }
}
export function saveNormalize(on) {
  try { localStorage.setItem(NORMALIZE_KEY, on ? "on" : "off"); } catch { /* storage blocked */ }
}

// --- channel lanes ---------------------------------------------------------------------------
// Lanes the peaks are drawn in: one per channel where they carry each channel's envelope.
export function laneCount(peaks) {
  const each = peaks && peaks.per_channel;
  return Array.isArray(each) && each.length > 1 ? each.length : 1;
}
// A channel's name as the lanes and the segment list show it: L and R for stereo.
export function channelName(channel, channels) {
  return channels === 2 ? ["L", "R"][channel] : `ch ${channel + 1}`;
}
// The peaks of one lane: its channel's envelope (the envelope over all channels where a window
// came without them).
function lanePeaks(peaks, lane, lanes) {
  const each = peaks.per_channel;
  if (lanes < 2 || !Array.isArray(each) || !each[lane]) return peaks;
  return { start: peaks.start, end: peaks.end, min: each[lane].min, max: each[lane].max };
}
const LANE_LINE = "rgba(255,255,255,0.22)";
const LANE_TEXT = "rgba(220,228,245,0.75)";
// The lines between lanes and each lane's channel name; marks the canvas with them.
function drawLaneFrame(canvas, ctx, width, height, lanes) {
  canvas.dataset.lanes = String(lanes);
  if (lanes < 2) { delete canvas.dataset.laneLabels; return; }
  const names = [];
  ctx.font = "600 11px ui-sans-serif, system-ui, sans-serif";
  ctx.textBaseline = "top";
  for (let lane = 0; lane < lanes; lane++) {
    const top = (lane * height) / lanes;
    if (lane) { ctx.fillStyle = LANE_LINE; ctx.fillRect(0, Math.round(top), width, 1); }
    const name = channelName(lane, lanes);
    names.push(name);
    if (height / lanes >= 14) {
      const w = ctx.measureText(name).width + 8;
      ctx.fillStyle = "rgba(0,0,0,0.45)";
      ctx.fillRect(3, top + 3, w, 14);
      ctx.fillStyle = LANE_TEXT;
      ctx.fillText(name, 7, top + 5);
    }
  }
  canvas.dataset.laneLabels = names.join("|");
}

// `lanes`: one lane per channel where the peaks carry them (false: the envelope over all).
export function drawPeaks(canvas, peaks, { color = "#4f7cff", background = "#10131a", gain = 1, lanes = true } = {}) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, width, height);
  const n = peaks.min.length;
  if (!n) return;
  const count = lanes ? laneCount(peaks) : 1;
  const laneHeight = height / count;
  const step = width / n;
  for (let lane = 0; lane < count; lane++) {
    const p = lanePeaks(peaks, lane, count);
    const half = laneHeight / 2;
    const mid = lane * laneHeight + half;
    ctx.fillStyle = color;
    for (let i = 0; i < n; i++) {
      const top = Math.max(mid - half, mid - p.max[i] * gain * half);
      const bottom = Math.min(mid + half, mid - p.min[i] * gain * half);
      ctx.fillRect(i * step, top, Math.max(step, 1), Math.max(bottom - top, 1));
    }
    ctx.fillStyle = "rgba(255,255,255,0.15)";
    ctx.fillRect(0, mid, width, 1);
  }
  drawLaneFrame(canvas, ctx, width, height, count);
}

export async function fetchPeaks(clipId, { start = 0, end, width, signal, perChannel = false } = {}) {
  const params = new URLSearchParams({ start: String(start), width: String(Math.max(1, Math.round(width))) });
  if (end !== undefined) params.set("end", String(end));
  if (perChannel) params.set("per_channel", "1");
  const response = await fetch(`/api/clips/${clipId}/peaks?${params}`, { credentials: "same-origin", signal });
  if (!response.ok) {
    // The server's words ("the media store is not answering; try again in a minute"), not
    // "peaks: HTTP 503".
    const body = await response.json().catch(() => null);
    const error = new Error(`the waveform could not be read: ${(body && body.detail) || `HTTP ${response.status}`}`);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

// A whole clip's waveform across a canvas (clip and review pages), scaled to its loudest point
// unless the annotator turned that off in the workspace; marks the canvas drawn. `perChannel`:
// a lane per channel (2 to 8 channels).
export async function drawClipOverview(canvas, clipId, { signal, perChannel = false } = {}) {
  const peaks = await fetchPeaks(clipId, { width: canvas.clientWidth, signal, perChannel });
  drawPeaks(canvas, peaks, { gain: savedNormalize() ? peakGain(peaks) : 1 });
  canvas.dataset.drawn = "true";
}

// Size the backing store to the element's CSS size times the device pixel ratio.
export function fitCanvas(canvas) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  const w = Math.max(1, Math.round(width * dpr));
  const h = Math.max(1, Math.round(height * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, width, height };
}

const MIN_SPAN_S = 0.005; // the narrowest view: a few hundred samples at 44.1 kHz

// A time window [start, end] of a clip drawn onto a canvas; the peaks follow the zoom. With
// `perChannel`, the peaks it fetches carry each channel's envelope, and peaks that do (also an
// `overview` set from outside) are drawn a lane per channel: `lanes`, `laneAt(y)`.
export class WaveformView {
  constructor(canvas, { clipId, duration, onView = () => {}, colors = {}, perChannel = false }) {
    this.canvas = canvas;
    this.perChannel = perChannel;
    this.clipId = clipId;
    this.duration = duration;
    this.start = 0;
    this.end = duration;
    this.onView = onView;
    this.colors = { wave: "#6f8fff", background: "#0f131b", axis: "rgba(255,255,255,0.12)", ...colors };
    this.overview = null; // peaks of the whole clip
    this.normalize = savedNormalize(); // scale to the clip's loudest point (`gain`)
    this.detail = null; // peaks of the last window fetched for the view
    this._pending = null;
    this._timer = 0;
    // A resized canvas is redrawn at once and fetches peaks for its new width.
    let lastWidth = canvas.clientWidth;
    this._resize = new ResizeObserver(() => {
      if (canvas.clientWidth === lastWidth) return;
      lastWidth = canvas.clientWidth;
      this.draw();
      this._scheduleDetail();
    });
    this._resize.observe(canvas);
  }

  // Stop drawing on the canvas (another view took it over): no more redraws on resize, and a
  // detail fetch under way is dropped.
  dispose() {
    this.disposed = true;
    this._resize.disconnect();
    clearTimeout(this._timer);
    if (this._pending) this._pending.abort();
  }

  get span() { return this.end - this.start; }
  // The display gain: 1, or with `normalize` the overview's `peakGain` (computed once per clip).
  get gain() {
    if (!this.normalize || !this.overview) return 1;
    if (this._gainOf !== this.overview) { this._gainOf = this.overview; this._gain = peakGain(this.overview); }
    return this._gain;
  }
  get width() { return this.canvas.clientWidth; }
  // Lanes drawn: one per channel when the overview has each channel's envelope (the overview
  // decides, so that a detail window never changes the layout), else 1.
  get lanes() { return laneCount(this.overview); }
  // The lane at `y` CSS pixels from the canvas's top.
  laneAt(y) {
    const n = this.lanes;
    return Math.max(0, Math.min(n - 1, Math.floor((y / Math.max(1, this.canvas.clientHeight)) * n)));
  }
  xAt(t) { return ((t - this.start) / this.span) * this.width; }
  timeAt(x) { return this.start + (x / this.width) * this.span; }

  async loadOverview(signal) {
    if (!this.clipId) return;
    this.overview = await fetchPeaks(this.clipId, { start: 0, end: this.duration, width: Math.min(20000, Math.max(200, this.width)), signal, perChannel: this.perChannel });
    this.draw();
  }

  setView(start, end, { fetch = true } = {}) {
    let span = Math.min(this.duration, Math.max(MIN_SPAN_S, end - start));
    start = Math.max(0, Math.min(start, this.duration - span));
    this.start = start;
    this.end = start + span;
    this.draw();
    this.onView(this.start, this.end);
    if (fetch) this._scheduleDetail();
  }

  zoomBy(factor, aroundTime = (this.start + this.end) / 2) {
    const span = Math.min(this.duration, Math.max(MIN_SPAN_S, this.span / factor));
    const ratio = (aroundTime - this.start) / this.span;
    let end = aroundTime - ratio * span + span;
    // A view at the clip's end stays there when zoomed around a playhead at the end (End puts
    // it 10 ms before): each zoom pulled the edge towards the playhead, the view ended at
    // 3599.99 s of 3600, and a segment dragged to the edge ended 10 ms short.
    if (this.end >= this.duration - 1e-9 && this.duration - end < Math.max(0.02, span * 0.01)) end = this.duration;
    this.setView(end - span, end);
  }

  scrollBy(seconds) { this.setView(this.start + seconds, this.end + seconds); }

  // Keep `t` in view (the playhead while playing): page forward when it leaves on the right.
  follow(t) {
    if (this.span >= this.duration) return;
    if (t < this.start || t > this.end) this.setView(t - this.span * 0.1, t + this.span * 0.9);
  }

  // Fetch finer peaks for the current view if the overview is too coarse for it.
  refreshDetail() { this._scheduleDetail(); }

  _scheduleDetail() {
    clearTimeout(this._timer);
    if (!(this.duration > 0) || !(this.span > 0)) return; // no length known yet: nothing to ask for
    const overviewEnough = this.overview && this.overview.min.length / this.duration >= this.width / this.span;
    if (overviewEnough) { this.detail = null; return; }
    this._timer = setTimeout(() => this._fetchDetail(), 16);
  }

  async _fetchDetail() {
    if (!this.clipId) return; // no clip on screen (the queue is empty): nothing to ask for
    if (this._pending) this._pending.abort();
    const controller = new AbortController();
    this._pending = controller;
    const start = this.start, end = this.end;
    try {
      const peaks = await fetchPeaks(this.clipId, { start, end, width: Math.max(16, this.width), signal: controller.signal, perChannel: this.perChannel });
      if (controller.signal.aborted || this.disposed) return;
      this.detail = peaks;
      this.draw();
      this.canvas.dataset.detailLevel = String(peaks.level);
      this.canvas.dataset.detailSpan = (peaks.end - peaks.start).toFixed(6);
      this.canvas.dispatchEvent(new CustomEvent("detail", { detail: peaks }));
    } catch (err) {
      if (err.name !== "AbortError") console.warn(err);
    } finally {
      if (this._pending === controller) this._pending = null;
    }
  }

  // The peaks to draw from: the detail window when it covers the view better than the overview.
  _source() {
    const d = this.detail;
    const o = this.overview;
    const covers = d && d.start <= this.start + 1e-6 && d.end >= this.end - 1e-6;
    if (covers && (!o || (d.end - d.start) / d.min.length < o.end / o.min.length)) return d;
    if (d && !covers && o && d.start < this.end && d.end > this.start) return [o, d];
    return o;
  }

  draw() {
    const { ctx, width, height } = fitCanvas(this.canvas);
    ctx.fillStyle = this.colors.background;
    ctx.fillRect(0, 0, width, height);
    const lanes = this.lanes;
    const laneHeight = height / lanes;
    ctx.fillStyle = this.colors.axis;
    for (let lane = 0; lane < lanes; lane++) ctx.fillRect(0, Math.round(lane * laneHeight + laneHeight / 2), width, 1);
    const source = this._source();
    this.canvas.dataset.gain = this.gain.toFixed(3);
    if (source) {
      for (const s of Array.isArray(source) ? source : [source]) {
        for (let lane = 0; lane < lanes; lane++) {
          const top = lane * laneHeight;
          if (lanes === 1) { this._drawSource(ctx, s, width, 0, height); continue; }
          ctx.save();
          ctx.beginPath();
          ctx.rect(0, top, width, laneHeight);
          ctx.clip();
          this._drawSource(ctx, lanePeaks(s, lane, lanes), width, top, laneHeight);
          ctx.restore();
        }
      }
    }
    drawLaneFrame(this.canvas, ctx, width, height, lanes);
  }

  // One envelope in the band [top, top + height) of the canvas.
  _drawSource(ctx, peaks, width, top, height) {
    const n = peaks.min.length;
    if (!n) return;
    const bottom = top + height;
    const mid = top + height / 2;
    const amp = (height / 2) * 0.92 * this.gain;
    const bucket = (peaks.end - peaks.start) / n; // seconds per bucket
    const pxPerBucket = (bucket / this.span) * width;
    // The view's mapping at the canvas width drawn: `this.xAt` reads the element's width on
    // each call, a layout query per pixel column.
    const { start: viewStart, span } = this;
    const xAt = (t) => ((t - viewStart) / span) * width;
    const timeAt = (x) => viewStart + (x / width) * span;
    ctx.fillStyle = this.colors.wave;
    ctx.strokeStyle = this.colors.wave;
    // A bucket of one sample has min == max: join the samples with a line. A bucket of many
    // samples keeps its min..max band even when wider than a pixel (e.g. detail fetched for a
    // narrower canvas before a resize), or a loud signal would collapse to its mean.
    const singleSamples = peaks.min.every((v, i) => v === peaks.max[i]);
    if (pxPerBucket > 2 && singleSamples) {
      // Zoomed past the data: one point per sample, joined.
      const first = Math.max(0, Math.floor((this.start - peaks.start) / bucket) - 1);
      const last = Math.min(n - 1, Math.ceil((this.end - peaks.start) / bucket) + 1);
      ctx.beginPath();
      for (let i = first; i <= last; i++) {
        const x = xAt(peaks.start + (i + 0.5) * bucket);
        const v = (peaks.min[i] + peaks.max[i]) / 2;
        const y = mid - v * amp;
        if (i === first) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      }
      ctx.lineWidth = 1.5;
      ctx.stroke();
      if (pxPerBucket > 6) {
        for (let i = first; i <= last; i++) {
          const x = xAt(peaks.start + (i + 0.5) * bucket);
          const y = mid - ((peaks.min[i] + peaks.max[i]) / 2) * amp;
          ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
        }
      }
      return;
    }
    // One column per pixel: min and max over the buckets the pixel covers.
    const x0 = Math.max(0, Math.floor(xAt(peaks.start)));
    const x1 = Math.min(width, Math.ceil(xAt(peaks.end)));
    for (let x = x0; x < x1; x++) {
      const t0 = timeAt(x), t1 = timeAt(x + 1);
      let i0 = Math.floor((t0 - peaks.start) / bucket);
      let i1 = Math.ceil((t1 - peaks.start) / bucket);
      i0 = Math.max(0, i0); i1 = Math.min(n, Math.max(i1, i0 + 1));
      let lo = 1, hi = -1;
      for (let i = i0; i < i1; i++) { if (peaks.min[i] < lo) lo = peaks.min[i]; if (peaks.max[i] > hi) hi = peaks.max[i]; }
      if (hi < lo) continue;
      const y0 = Math.max(top, mid - hi * amp);
      ctx.fillRect(x, y0, 1, Math.max(1, Math.min(bottom, mid - lo * amp) - y0));
    }
  }
}

// A time ruler: ticks at a "nice" step for the visible span.
export function drawRuler(canvas, start, end) {
  const { ctx, width, height } = fitCanvas(canvas);
  ctx.clearRect(0, 0, width, height);
  const span = end - start;
  const steps = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
  const step = steps.find((s) => (s / span) * width >= 80) || 3600;
  ctx.fillStyle = "#8b94a7";
  ctx.strokeStyle = "#3a4356";
  ctx.font = "11px ui-monospace, monospace";
  ctx.beginPath();
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    const x = Math.round(((t - start) / span) * width) + 0.5;
    ctx.moveTo(x, height - 8); ctx.lineTo(x, height);
    ctx.fillText(formatTime(t, step), x + 3, height - 10);
    for (let k = 1; k < 5; k++) {
      const xs = Math.round(((t + (k * step) / 5 - start) / span) * width) + 0.5;
      ctx.moveTo(xs, height - 3); ctx.lineTo(xs, height);
    }
  }
  ctx.stroke();
}

// The span a view shows, as its zoom label says it: "2.0 min", "5.0 s", "369 ms".
export function formatSpan(span) {
  if (span >= 60) return `${(span / 60).toFixed(span >= 600 ? 0 : 1)} min`;
  return span >= 1 ? `${span.toFixed(span >= 10 ? 0 : 1)} s` : `${(span * 1000).toFixed(0)} ms`;
}

// A clip's audio as a person names it: "WAV, 64-bit float, 44100 Hz" (what the browser may
// not play: the workspace and the review page say so).
export function audioDescription(format, codec, rate) {
  const encoding = !codec ? "" : /^PCM_\d+$/.test(codec) ? `${codec.slice(4)}-bit PCM`
    : ({ FLOAT: "32-bit float", DOUBLE: "64-bit float" })[codec] || codec.replace(/_/g, " ");
  return [format, encoding, rate && `${rate} Hz`].filter(Boolean).join(", ");
}

// A segment's time as stored: 10 ms steps with 2 decimals, a clip's own end with 3 (a 4.5 ms
// segment read "1.23 – 1.23 s").
export function segmentTime(t) {
  if (Math.abs(t * 100 - Math.round(t * 100)) < 1e-6) return t.toFixed(2);
  return (Math.floor(t * 1000 + 1e-9) / 1000).toFixed(3); // down: 0.3955 is not "0.396", past it
}

// A time typed as seconds, m:ss or h:mm:ss (Alt+G, in the workspace and on the review page),
// or null.
export function parseClock(text) {
  const parts = String(text).trim().split(":");
  if (!parts.length || parts.length > 3 || parts.some((p) => !/^\d+(\.\d+)?$/.test(p.trim()))) return null;
  return parts.reduce((total, p) => total * 60 + Number(p), 0);
}

export function formatTime(t, precision = 0.01) {
  const decimals = precision >= 1 ? 0 : precision >= 0.1 ? 1 : precision >= 0.01 ? 2 : 3;
  // Rounded once, in whole steps, before it is split: 119.996 s is 2:00.00, not 1:60.00.
  const scale = 10 ** decimals;
  const steps = Math.round(Math.abs(t) * scale);
  const sign = t < 0 && steps > 0 ? "-" : "";
  const whole = Math.floor(steps / scale);
  const h = Math.floor(whole / 3600), m = Math.floor((whole % 3600) / 60), s = whole % 60;
  const sec = String(s).padStart(2, "0") + (decimals ? `.${String(steps % scale).padStart(decimals, "0")}` : "");
  return h ? `${sign}${h}:${String(m).padStart(2, "0")}:${sec}` : `${sign}${m}:${sec}`;
}

// Why an <audio> element failed. Chromium reports an answer of 503 (the media store not
// answering) or 404 as "not supported", and the pages then blamed the clip's codec: the
// server's own answer is asked for (two bytes of it) and said instead.
// {kind: "format" | "load" | "server", message}
// What a page says of it: the server's answer, or `cannotPlay` (said as each page says what to
// do with a clip the browser cannot play), or a connection's failure.
export function audioFailureText(why, cannotPlay) {
  if (why.kind === "server") return `The clip's audio could not be fetched: ${why.message}. Reload the page in a minute.`;
  return why.kind === "format" ? cannotPlay : "The clip's audio did not load: check your connection and reload the page.";
}

export async function whyAudioFailed(audio) {
  const format = Boolean(audio.error && audio.error.code === 4); // MEDIA_ERR_SRC_NOT_SUPPORTED
  const guess = { kind: format ? "format" : "load", message: "" };
  const src = audio.currentSrc || audio.src;
  if (!src) return guess;
  try {
    const answer = await fetch(src, { headers: { Range: "bytes=0-1" }, credentials: "same-origin" });
    if (answer.ok) return guess;
    const body = await answer.json().catch(() => null);
    return { kind: "server", message: (body && body.detail) || `the server answered HTTP ${answer.status}` };
  } catch {
    return { kind: "load", message: "" };
  }
}
