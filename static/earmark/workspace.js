// The annotation workspace: wires the waveform, spectrogram, player, segments, label picker and
// keyboard together around one clip at a time. State lives here; the modules render it.
import { api, apiRetrying, newIdempotencyKey, sendKeepalive } from "./api.js";
import { Hotkeys } from "./hotkeys.js";
import { releaseAfterPointerChange } from "./dom.js";
import { LabelPicker, Ontology } from "./labels.js";
import { Player } from "./player.js";
import { placeChildren, Regions, snap, SNAP_S } from "./regions.js";
import { SpectrogramView } from "./spectrogram.js";
import { Bands, MIN_HZ, bandText, hasBand, hzText, parseBand } from "./bands.js";
import { audioDescription, channelName, drawPeaks, drawRuler, formatSpan, formatTime, parseClock, saveNormalize, segmentTime, WaveformView, audioFailureText, whyAudioFailed } from "./waveform.js";

const AUTOSAVE_MS = 800;
const root = document.getElementById("workspace");
const $ = (sel) => root.querySelector(sel);
const projectId = Number(root.dataset.project);
const trailKey = `earmark-trail-${projectId}`;

const el = {
  canvas: $("[data-testid=waveform]"),
  wave: $(".ws-wave"),
  ruler: $(".ws-ruler"),
  playhead: $(".ws-playhead"),
  mark: $(".ws-mark"),
  spec: $("[data-testid=spectrogram]"),
  mini: $(".ws-mini"),
  miniCanvas: $(".ws-mini-canvas"),
  miniBox: $(".ws-mini-box"),
  time: $("[data-testid=time]"),
  duration: $(".ws-duration"),
  zoom: $("[data-testid=zoom]"),
  play: $("[data-testid=play]"),
  loop: $("[data-testid=loop]"),
  normalize: $("[data-testid=normalize]"),
  speed: $("[data-testid=speed]"),
  volume: $("[data-testid=volume]"),
  audio: $(".ws-audio-el"),
  save: $("[data-testid=save-state]"),
  banner: $("[data-testid=banner]"),
  target: $("[data-testid=target]"),
  chips: $("[data-testid=clip-labels]"),
  segList: $("[data-testid=segment-list]"),
  segCount: $(".ws-seg-count"),
  sugg: $("[data-testid=suggestions]"),
  suggList: $(".ws-sugg-list"),
  model: $(".ws-model"),
  help: $("[data-testid=help-overlay]"),
  name: $("[data-testid=clip-name]"),
  meta: $("[data-testid=clip-meta]"),
  done: $("[data-testid=queue-empty]"),
  announce: $("[data-testid=announce]"),
  unsure: $("[data-testid=unsure]"),
  note: $("[data-testid=note]"),
};

// --- state -----------------------------------------------------------------------------------
const S = {
  ws: null, // the server's workspace payload for the clip
  segments: [], // {id, start, end, channel: null (all) | 0-based int, labels: [path], from: suggestion index | undefined}
  clipLabels: [],
  unsure: false, // the annotator's doubt, and their word to the reviewer
  note: "",
  sugg: { clip: [], segments: [] }, // suggestions with {state: pending|accepted|rejected, segId}
  selected: null,
  nextId: 1,
  baseVersion: 0,
  undo: [],
  redo: [],
  leadBase: 0,
  activeMs: 0,
  activeSince: performance.now(),
  busy: false,
  markAt: null,
  switchStarted: 0,
};
let ontology = null;
let picker = null;
const ontologyReady = Ontology.load(projectId).then((o) => { ontology = o; return o; });

const modeTakesSegments = () => S.ws && S.ws.project.annotation_mode !== "clip";
const modeTakesClip = () => S.ws && S.ws.project.annotation_mode !== "segments";
const single = () => S.ws && S.ws.project.label_mode === "single";
// A segment by id through an index, rebuilt when the list is another array or grew or shrank
// (ids are never reused within a clip): a scan of every segment per lookup made each row of
// the list and each drag step cost as much as the whole clip.
let segIndex = { of: null, length: -1, byId: new Map() };
const seg = (id) => {
  if (segIndex.of !== S.segments || segIndex.length !== S.segments.length) {
    segIndex = { of: S.segments, length: S.segments.length, byId: new Map(S.segments.map((s) => [s.id, s])) };
  }
  return segIndex.byId.get(id);
};
// A segment's channel: a 0-based index, or null for all channels (also when not given).
const channelOf = (s) => (Number.isInteger(s.channel) && s.channel >= 0 ? s.channel : null);
const clipChannels = () => (S.ws ? S.ws.clip.channels || 1 : 1);
// A channel's name on this clip ("L", "R", "ch 3"), or null for all channels (and for mono).
const channelLabel = (ch) => (ch === null || clipChannels() < 2 ? null : channelName(ch, clipChannels()));
// Two segments' channels can be the same sound's: equal, or either one all channels.
const channelsMeet = (a, b) => channelOf(a) === null || channelOf(b) === null || channelOf(a) === channelOf(b);
const colorOf = (path) => (ontology && path ? ontology.color(path) : "#8b94a7");
const nameOf = (path) => (ontology ? ontology.name(path) : path.split("/").pop());

// --- views -----------------------------------------------------------------------------------
// The page's inline script drew the first clip with a view of its own: that view must not
// redraw its clip on a resize once this one shows another.
window.earmarkFirstView?.dispose();
delete window.earmarkFirstView;
// A clip of 2 to 8 channels is drawn a lane per channel (its peaks carry each channel's).
const wave = new WaveformView(el.canvas, { clipId: 0, duration: 1, onView: () => viewChanged(), perChannel: true });
const drawMini = () => drawPeaks(el.miniCanvas, wave.overview, { color: "#3d4f80", background: "#0b0e14", gain: wave.gain, lanes: false });
// Normalized (scaled to the clip's loudest point) unless the annotator turned it off; the view
// starts with the saved choice.
function showNormalize() {
  el.normalize.setAttribute("aria-pressed", String(wave.normalize));
  el.normalize.classList.toggle("on", wave.normalize);
}
function toggleNormalize() {
  wave.normalize = !wave.normalize;
  saveNormalize(wave.normalize);
  showNormalize();
  if (wave.overview) { wave.draw(); drawMini(); }
}
showNormalize(); // no drawing yet: the page's inline script may have drawn the first clip
releaseAfterPointerChange(document); // the speed, the spectrogram's scale and top, Keep pitch
const spectro = new SpectrogramView(el.spec, {
  clipId: 0, axis: $("[data-testid=spec-axis]"), scaleSelect: $("[data-testid=spec-scale]"), topSelect: $("[data-testid=spec-top]"), bottomSelect: $("[data-testid=spec-bottom]"),
  onChange: () => renderRegions(), // the boxes follow the scale and top
});
const autoplay = $("[data-testid=autoplay]");
const AUTOPLAY_KEY = "earmark-autoplay";
const player = new Player(el.audio, { onTick: (t) => tick(t), onState: () => playerState() });
const regions = new Regions(el.wave, wave, {
  get: seg,
  create: (start, end, channel) => { const s = addSegment(start, end, [], { commit: false, channel }); return s.id; },
  change: (id, start, end) => { const s = seg(id); if (s) { s.start = start; s.end = end; renderRegions(); } },
  // A segment drawn or moved on the waveform: its row in the list's view too.
  commit: (what) => { commit(what); renderSide(); if (S.selected != null) revealRow(S.selected); },
  select: (id) => select(id),
  seek: (t) => player.seek(t),
  suggestion: (i) => focusSuggestion("segment", i),
  colorOf: (p) => colorOf(p),
  nameOf: (p) => nameOf(p),
  channelName: (ch) => channelLabel(ch),
  bandOf: (s) => (hasBand(s) ? bandText(s.low_freq, s.high_freq) : ""),
});

// Segments with a frequency band: boxes over the spectrogram, drawn and edited there.
const bands = new Bands(el.spec.parentElement, wave, spectro, {
  get: seg,
  create: (b) => {
    const s = addSegment(b.start, b.end, [], { commit: false, band: [b.low_freq, b.high_freq] });
    return s.id;
  },
  change: (id, b) => { const s = seg(id); if (s) { Object.assign(s, b); renderRegions(); } },
  commit: (what) => {
    const s = S.selected != null ? seg(S.selected) : null;
    if (s) Object.assign(s, bandKept(s)); // drawn over the whole height: every frequency
    commit(what);
    renderRegions();
    renderSide();
    if (S.selected != null) revealRow(S.selected);
  },
  select: (id) => select(id),
  seek: (t) => player.seek(t),
  colorOf: (p) => colorOf(p),
  nameOf: (p) => nameOf(p),
});

// What a band change says, for the undo list and screen readers.
const bandSaid = (s) => (hasBand(s) ? `Segment's band: ${bandText(s.low_freq, s.high_freq)}.` : "Segment's band: every frequency.");

// A segment's band as kept: {low_freq, high_freq}, both null for every frequency (none
// given, or one from 0 Hz to the clip's Nyquist frequency, as the server keeps it).
function bandKept(s) {
  const nyq = S.ws ? (S.ws.clip.sample_rate || 0) / 2 : 0;
  if (!hasBand(s) || (s.low_freq <= 0 && nyq && s.high_freq >= nyq)) return { low_freq: null, high_freq: null };
  return { low_freq: s.low_freq, high_freq: nyq ? Math.min(s.high_freq, nyq) : s.high_freq };
}

function viewChanged() {
  drawRuler(el.ruler, wave.start, wave.end);
  spectro.show(wave.start, wave.end);
  renderRegions();
  tick(player.currentTime);
  const box = el.mini.clientWidth;
  el.miniBox.style.left = `${(wave.start / wave.duration) * box}px`;
  el.miniBox.style.width = `${Math.max(3, ((wave.end - wave.start) / wave.duration) * box)}px`;
  const span = wave.end - wave.start;
  el.zoom.textContent = formatSpan(span);
  el.canvas.dataset.viewStart = wave.start.toFixed(6);
  el.canvas.dataset.viewEnd = wave.end.toFixed(6);
}

function tick(t) {
  el.time.textContent = formatTime(t);
  const x = wave.xAt(t);
  const visible = x >= 0 && x <= wave.width;
  el.playhead.style.transform = `translateX(${x}px)`;
  el.playhead.hidden = !visible;
  el.playhead.dataset.time = t.toFixed(3);
  if (player.playing) wave.follow(t);
}

function playerState() {
  el.play.textContent = player.playing ? "❚❚" : "▶";
  el.play.setAttribute("aria-label", player.playing ? "Pause" : "Play");
  el.play.dataset.playing = String(player.playing);
  el.loop.classList.toggle("on", !!player.loop);
  el.loop.setAttribute("aria-pressed", String(!!player.loop));
}

function renderRegions() {
  const states = segmentSuggestionStates();
  regions.render(S.segments, S.sugg.segments.map((s, i) => ({ ...s, state: states[i].state })), S.selected);
  bands.render(S.segments, S.selected);
}

// --- loading a clip ----------------------------------------------------------------------------
// A clip opened before its processing finished (a link, the address bar): no waveform, audio
// or labels until it is ready; the page says so, looks again every few seconds and opens it
// when it is. A clip that failed says why it cannot be labeled.
const WAIT_MS = 3000;
let waitTimer = null;
function waitForReady(ws, opts) {
  S.ws = null; // submit, skip and the keys act on nothing meanwhile
  root.dataset.state = "waiting";
  root.dataset.clip = String(ws.clip.id);
  el.name.textContent = ws.clip.original_name;
  el.canvas.dataset.drawn = "false";
  const failed = ws.clip.status === "failed";
  const next = button("Next clip", "next-clip", "Label the next clip in the queue instead", "next-clip");
  next.classList.add("ws-banner-btn");
  next.addEventListener("click", () => { clearTimeout(waitTimer); claimNext(); });
  showBanner(
    failed
      ? `${ws.clip.original_name} could not be processed, so it cannot be labeled (its clip page says why). `
      : `${ws.clip.original_name} is still being processed (${ws.clip.status}); it opens here by itself when it is ready. `,
    failed ? "error" : "info", 0, [next],
  );
  if (failed) return;
  waitTimer = setTimeout(async () => {
    let fresh = ws;
    try { fresh = await api(`/api/clips/${ws.clip.id}/workspace/`); } catch { /* try again */ }
    if (root.dataset.state === "waiting" && root.dataset.clip === String(ws.clip.id)) loadClip(fresh, opts);
  }, WAIT_MS);
}

async function loadClip(ws, { push = true } = {}) {
  S.submitWhenOnline = null; // another clip on screen: the one left keeps its draft
  // The clip left: its waiting autosave goes now (a PageDown within 0.8 s of an edit lost it).
  if (S.ws && S.ws.clip.id !== ws.clip.id) flushSave(S.ws.clip.id);
  clearTimeout(waitTimer);
  if (ws.clip.status !== "ready") return waitForReady(ws, { push });
  S.ws = ws;
  clipButtons(true);
  const clip = ws.clip;
  setSave("idle", ""); // the last clip's "Unsaved" is not this one's
  root.dataset.clip = String(clip.id);
  root.dataset.state = "ready";
  delete root.dataset.conflict; // the last clip's submit conflict is not this one's
  el.done.hidden = true;
  hideBanner();
  if (push) trailPush(clip.id);
  const url = `/clips/${clip.id}/annotate/${root.dataset.queue === "1" ? "?queue=1" : ""}`;
  if (location.pathname !== `/clips/${clip.id}/annotate/`) history.pushState({ clip: clip.id }, "", url);
  document.title = `${clip.original_name} · Labeling ${root.querySelector(".ws-project").textContent} · Earmark`;
  el.name.textContent = clip.original_name;
  say(`Now labeling ${clip.original_name}.`); // the title changed too, but is not read out
  el.meta.textContent = `${formatTime(clip.duration, 0.01)} · ${clip.sample_rate >= 1000 ? `${(clip.sample_rate / 1000).toFixed(1)} kHz` : `${clip.sample_rate} Hz`} · ${clip.channels} ch`;
  el.duration.textContent = formatTime(clip.duration, 0.01);
  el.canvas.dataset.drawn = "false";
  // Peaks first: the first paint waits on nothing else.
  wave.clipId = clip.id;
  wave.duration = clip.duration;
  wave.overview = wave.detail = null;
  wave.start = 0;
  wave.end = clip.duration;
  spectro.setClip(clip.id, clip.sample_rate);
  // The page and the `next` answer carry the whole-clip peaks inline: no round trip to draw.
  const overview = ws.overview ? Promise.resolve().then(() => { wave.overview = ws.overview; wave.draw(); }) : wave.loadOverview();
  const drawn = overview.then(() => {
    // The overview is coarse (256 samples a bucket at best): a short clip or a wide canvas
    // wants finer peaks for the whole-clip view too.
    wave.refreshDetail();
    el.canvas.dataset.drawn = "true";
    el.canvas.dataset.clip = String(clip.id);
    const mark = `earmark:waveform:${clip.id}`;
    if (!performance.getEntriesByName(mark).length) performance.mark(mark);
    if (S.switchStarted) {
      root.dataset.lastSwitchMs = (performance.now() - S.switchStarted).toFixed(1);
      S.switchStarted = 0;
    }
    drawMini();
    el.wave.title = wave.lanes > 1 ? "Drag: a segment on all channels · Shift+drag: on the channel of the lane you start in" : "";
    viewChanged();
    renderSide(); // the empty list's hint names Shift+drag once lanes are drawn
    player.warm();
    // Autoplay: the clip plays as it is drawn, one key less a clip (Prodigy's flow). A page
    // opened without a key or click yet may not play by itself: the browser's rule, said.
    if (autoplay.checked && S.ws && S.ws.clip.id === clip.id && !player.playing) {
      player.play().catch(() => showBanner("Autoplay waits for a first key or click on the page: press Space to play.", "info", 4000));
    }
  });
  player.load(clip.audio_url);
  player.setRate(Number(el.speed.value));
  restoreState(ws);
  activeSinceKeep = true; // the place on the clip, at once (full already? say so now)
  keepPlace();
  S.leadBase = (ws.draft && ws.draft.lead_time) || 0;
  S.activeMs = 0;
  S.activeSince = performance.now();
  viewChanged();
  await ontologyReady;
  await ontologyFresh(ws.project.ontology_version);
  await draftPathsFresh(ws.clip.id);
  renderSide();
  renderRegions();
  await drawn;
}

// A restored draft may name labels by the paths they had when it was written: show (and save)
// today's names. The server would accept the old paths too; the chips should not show them.
async function draftPathsFresh(clipId) {
  const stale = new Set([...S.clipLabels, ...S.segments.flatMap((s) => s.labels)].filter((p) => !ontology.get(p)));
  if (!stale.size) return;
  let now;
  try {
    const qs = [...stale].slice(0, 200).map((p) => `path=${encodeURIComponent(p)}`).join("&");
    now = (await api(`/api/projects/${projectId}/ontology/resolve/?${qs}`)).labels;
  } catch {
    return; // the old paths still save
  }
  if (!S.ws || S.ws.clip.id !== clipId) return;
  // A label a lead deleted since resolves to nothing: it is taken off the draft, and said
  // (its chip stayed, and every submit failed on "unknown label" until it was found).
  const gone = [...stale].filter((p) => p in now && now[p] === null);
  const map = (paths) => [...new Set(paths.filter((p) => !gone.includes(p)).map((p) => now[p] || p))];
  S.clipLabels = map(S.clipLabels);
  S.segments.forEach((s) => { s.labels = map(s.labels); });
  S.undo = [snapshot()];
  editNames.clear();
  S.redo = [];
  if (gone.length) {
    showBanner(`Taken off your unsaved work: ${gone.join(", ")}, deleted from the label tree since. Check the clip's labels before you submit.`, "warn", 0);
    scheduleSave();
    return;
  }
  // Still there but not in the picker's tree: deprecated since. The annotation may keep one
  // it already had; a new use is refused at submit, so it is said now.
  const had = new Set(S.ws.annotation ? [...S.ws.annotation.clip_labels, ...S.ws.annotation.segments.flatMap((x) => x.labels)] : []);
  const deprecated = [...stale].filter((p) => now[p] && !ontology.get(now[p]) && !had.has(now[p])).map((p) => now[p]);
  if (deprecated.length) {
    showBanner(`Your unsaved work uses ${[...new Set(deprecated)].join(", ")}, deprecated since: it cannot be chosen any more. Take it off and choose another label before you submit.`, "warn", 0);
  }
}

// A lead renamed, moved or merged labels since the tree was loaded: load it again, so the
// picker, the names and the colours are today's (a label's old path still saves: the server
// follows the change log).
async function ontologyFresh(version) {
  if (!ontology || version == null || version === ontology.version) return;
  try {
    ontology = await Ontology.load(projectId);
  } catch {
    return; // the old tree still works; the next clip tries again
  }
  if (picker) {
    picker.ontology = ontology;
    picker.render();
  }
  if (el.banner.hidden) showBanner("The project's labels changed since this page opened; the list is up to date.", "info", 4000);
}

// Whether a draft holds what an annotation does (labels and segments, in any order).
function sameWork(data, annotation) {
  if (!data || !Array.isArray(data.segments)) return false;
  const segKey = (x) => JSON.stringify([Number(x.start).toFixed(2), Number(x.end).toFixed(2), channelOf(x), bandKept(x), [...(x.labels || [])].sort()]);
  const key = (labels, segments) => JSON.stringify([[...(labels || [])].sort(), (segments || []).map(segKey).sort()]);
  return key(data.clip_labels, data.segments) === key(annotation.clip_labels, annotation.segments)
    && Boolean(data.unsure) === Boolean(annotation.unsure) && (data.note || "") === (annotation.note || "");
}

function restoreState(ws) {
  // Ids start from 1 again on every clip: nothing drawn for the last one is reused.
  regions.reset();
  bands.reset();
  segRows.rows.clear();
  segRows.pitch = 0;
  suggDrawn.look = null;
  S.undo = [];
  editNames.clear(); // another clip: its snapshots (5,000 segments' each) are not kept for ever
  S.redo = [];
  S.selected = null;
  S.markAt = null;
  el.mark.hidden = true;
  const sugg = ws.suggestions;
  const done = ws.annotation && ["submitted", "accepted"].includes(ws.annotation.status);
  S.sugg = {
    clip: sugg && !done ? sugg.clip_labels.map((s) => ({ ...s, state: "pending" })) : [],
    segments: sugg && !done ? sugg.segments.map((s) => ({ ...s, state: "pending", segId: null })) : [],
  };
  let local = readLocalDraft(ws.clip.id);
  if (local && ws.annotation && (local.base_version || 0) < ws.annotation.version && sameWork(local.data, ws.annotation)) {
    // Already saved as it is (a submit whose answer was lost, or one made in another tab):
    // not "unsaved work" to restore on every visit.
    localStorage.removeItem(localKey(ws.clip.id));
    local = null;
  }
  // Work begun on a version a reviewer has since decided on (rejected, accepted or corrected)
  // is set aside: restored, it hid the decision and its comment behind "saved since this page
  // loaded it", and every autosave of it was refused. The banner offers it back.
  const reviewed = ws.annotation && ["rejected", "accepted"].includes(ws.annotation.status);
  const behind = (d) => reviewed && d && (d.base_version || 0) < ws.annotation.version;
  const setAside = behind(local) ? local : behind(ws.draft) ? ws.draft : null;
  if (behind(local)) local = null;
  const server = behind(ws.draft) ? null : ws.draft;
  // The browser's copy wins while the server has not confirmed it (work kept offline), whatever
  // the two clocks say (a browser clock behind the server's lost it); a confirmed copy yields to
  // the server's, which may come from another browser since. (A copy from before `synced` was
  // kept: by the clocks, as then.)
  const unsynced = local && (local.synced === undefined
    ? !server || local.saved_at > Date.parse(server.updated_at)
    : !local.synced);
  const draft = local && (!server || unsynced) ? local : server;
  S.nextId = 1;
  if (draft && draft.data && Array.isArray(draft.data.segments)) {
    // A draft is stored as sent: what is not a segment or a label is left out, rather than
    // stop the workspace (an API client's "segments": [{"start": "x"}] did).
    const text = (v) => typeof v === "string";
    const segs = draft.data.segments.filter((s) => s && Number.isFinite(s.start) && Number.isFinite(s.end)
      && s.end > s.start && Array.isArray(s.labels) && s.labels.every(text));
    // Times outside the clip and channels it does not have (an API client's draft of
    // -3 to 9999 s on channel 7 of a 0.22 s mono clip was shown as it was) are brought in:
    // cut to the clip, or left out when nothing of it is in the clip; an unknown channel is
    // all channels. A draft written before segments kept their channel has none: all too.
    // A band above the clip's frequencies, or upside down, is every frequency (said too).
    const dur = ws.clip.duration || Infinity;
    const nyq = (ws.clip.sample_rate || 0) / 2 || Infinity;
    const chans = ws.clip.channels || 1;
    let adjusted = draft.data.segments.length - segs.length;
    let dropped = 0; // bands left out
    const inClip = [];
    for (const s of segs) {
      // Within 10 ms of the clip is in it, as the server judges a submission: the workspace's
      // own 10 ms steps put an end marked at the clip's last sample up to 5 ms past it, and a
      // reload called that "outside the clip" and cut it off the grid.
      const start = s.start >= -SNAP_S ? Math.max(0, s.start) : 0;
      const end = s.end <= dur + SNAP_S ? s.end : dur;
      let channel = channelOf(s);
      if (channel !== null && channel >= chans) channel = null;
      if (end <= start || start >= dur) { adjusted += 1; continue; }
      // a channel given that is none (-1, "1", 0.5) is all channels too: said as well
      const givenChannel = s.channel !== undefined && s.channel !== null;
      const givenBand = s.low_freq != null || s.high_freq != null;
      // "1500" as the API takes it; a band of other frequencies than the clip's is none
      // a number, or a string of one ("1500"); true, "" and the like are none
      const num = (v) => (typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN);
      const asked = { low_freq: num(s.low_freq), high_freq: num(s.high_freq) };
      const band = givenBand && hasBand(asked) && asked.low_freq >= 0 && asked.high_freq <= nyq + 1 ? [asked.low_freq, Math.min(asked.high_freq, nyq)] : [null, null];
      if (givenBand && band[0] === null) dropped += 1;
      if ((start !== s.start && s.start < -SNAP_S) || end !== s.end || (givenChannel && channel !== s.channel)) adjusted += 1;
      inClip.push({ ...s, start, end, channel, low_freq: band[0], high_freq: band[1], id: S.nextId++ });
    }
    S.segments = inClip;
    S.clipLabels = Array.isArray(draft.data.clip_labels) ? draft.data.clip_labels.filter(text) : [];
    S.unsure = draft.data.unsure === true;
    S.note = text(draft.data.note) ? draft.data.note : "";
    const list = (v) => (Array.isArray(v) ? v : []);
    list(draft.data.suggestions?.clip).forEach((st, i) => { if (S.sugg.clip[i]) S.sugg.clip[i].state = st; });
    list(draft.data.suggestions?.segments).forEach((st, i) => {
      if (S.sugg.segments[i]) S.sugg.segments[i].state = st;
    });
    S.segments.forEach((s) => { if (s.from !== undefined && S.sugg.segments[s.from]) S.sugg.segments[s.from].segId = s.id; });
    S.baseVersion = draft.base_version || 0;
    if (draft === local) S.leadBase = local.lead_time || 0;
    if (draft === local && unsynced) {
      // Kept in this browser and never confirmed (the tab closed or the clip was left before
      // it went, or the network was down): the server gets it now.
      saveLater(ws.clip.id, bodyOf(local), local.saved_at, 0);
    }
    let fixed = adjusted ? ` ${adjusted} segment${adjusted === 1 ? " was" : "s were"} outside the clip or on a channel it lacks: cut to the clip or left out.` : "";
    if (dropped) fixed += ` ${dropped} segment${dropped === 1 ? "'s band was" : "s' bands were"} not of this clip's frequencies (below 0 Hz, upside down, or above ${hzText(ws.clip.sample_rate / 2)}): ${dropped === 1 ? "it covers" : "they cover"} every frequency now.`;
    adjusted += dropped;
    showBanner(`Restored your unsaved work on this clip (autosaved ${new Date(draft === local ? local.saved_at : draft.updated_at).toLocaleTimeString()}).${fixed}`, adjusted ? "warn" : "info", adjusted ? 10000 : 6000);
    root.dataset.restored = "true";
  } else {
    const a = ws.annotation && ws.annotation.status !== "skipped" ? ws.annotation : null;
    S.segments = a ? a.segments.map((s) => ({ start: s.start, end: s.end, channel: channelOf(s), ...bandKept(s), labels: [...s.labels], id: S.nextId++ })) : [];
    S.clipLabels = a ? [...a.clip_labels] : [];
    S.unsure = Boolean(a && a.unsure);
    S.note = (a && a.note) || "";
    S.baseVersion = ws.annotation ? ws.annotation.version : 0;
    root.dataset.restored = "false";
  }
  // Edits set aside (made before the reviewer's decision): back on request, on this version.
  const restoreAside = [];
  if (setAside) {
    const back = button("Restore my earlier edits", "restore-aside", "Go on from the edits you made before this decision");
    back.classList.add("ws-banner-btn");
    back.addEventListener("click", () => {
      const stamp = Date.now();
      localStorage.setItem(localKey(ws.clip.id), JSON.stringify({ ...bodyOf(setAside), base_version: ws.annotation.version, saved_at: stamp, synced: false }));
      openClip(ws.clip.id, { push: false });
    });
    restoreAside.push(back);
  }
  const aside = setAside ? " Your edits made before it were set aside." : "";
  if (ws.annotation && ws.annotation.status === "rejected") {
    // Sent back by a reviewer: what to fix stays in view until the next clip.
    const said = ws.annotation.review_comment ? `: “${ws.annotation.review_comment}”` : ".";
    showBanner(`A reviewer sent this back${said} Fix it and submit again.${aside}`, "warn", 0, restoreAside);
  } else if (ws.annotation && ws.annotation.status === "accepted" && root.dataset.restored !== "true") {
    const a = ws.annotation;
    const who = a.reviewed_by || "A reviewer";
    const said = a.review_comment ? ` They said: “${a.review_comment}”.` : "";
    showBanner(a.corrected
      ? `${who} corrected this annotation: what you see is their version.${said} A change you submit goes back to review.${aside}`
      : `${who} accepted this annotation.${said} A change you submit goes back to review.${aside}`, "info", setAside ? 0 : a.corrected || said ? 15000 : 8000, restoreAside);
  } else if (!modeTakesClip() && S.clipLabels.length) {
    showBanner(`This project now takes segments only: this clip's label ${S.clipLabels.map(nameOf).join(", ")} is not kept at submit. Mark a segment with it instead.`, "warn");
  } else if (!modeTakesSegments() && S.segments.length) {
    showBanner(`This project now takes clip labels only: this clip's ${S.segments.length} segment(s) are not kept at submit.`, "warn");
  } else if (single() && S.clipLabels.length > 1) {
    severalLabelsSaid();
  }
  S.undo.push(snapshot());
}

// --- edits, undo/redo, autosave -------------------------------------------------------------
const submitting = () => root.dataset.state === "submitting";

function snapshot() {
  return JSON.stringify({ segments: S.segments, clipLabels: S.clipLabels, sugg: S.sugg, selected: S.selected, nextId: S.nextId, unsure: S.unsure, note: S.note });
}

// What an edit did, said to a screen reader (a label picked by its hotkey said nothing but
// "Unsaved", and a single-label hotkey pressed again takes its label off). Cleared first, so
// the same words twice are said twice.
let announceTimer = 0;
// What an edit did, shown for a moment at the foot of the screen when the panel that shows it
// is scrolled out of view (at 200% zoom the clip's labels sit two screens below the waveform,
// and a label key changed nothing to be seen). Screen readers hear it from `say`.
let echoTimer = 0;
function echo(text) {
  const box = $("[data-testid=echo]");
  const panel = el.chips.getBoundingClientRect();
  if (!text || (panel.bottom > 0 && panel.top < window.innerHeight)) { box.hidden = true; return; }
  box.textContent = text;
  box.hidden = false;
  clearTimeout(echoTimer);
  echoTimer = setTimeout(() => { box.hidden = true; }, 1800);
}

function say(text) {
  if (!el.announce || !text) return;
  el.announce.textContent = "";
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { el.announce.textContent = text; }, 30);
}
const editNames = new Map(); // a snapshot -> what the edit that made it did, for undo and redo

function commit(what, said = "") {
  if (submitting()) {
    // The submit sends what was there when it was pressed; an edit now would show "saved"
    // and be lost when the next clip loads. It is taken back, and the annotator told.
    restore(S.undo[S.undo.length - 1], { save: false });
    showBanner("Saving this clip: wait for it to finish before changing it.", "info", 2500);
    return;
  }
  const snap = snapshot();
  S.undo.push(snap);
  if (S.undo.length > 200) editNames.delete(S.undo.shift());
  for (const gone of S.redo) editNames.delete(gone);
  S.redo = [];
  const words = said || EDIT_WORDS[what] || what;
  editNames.set(snap, words);
  say(words);
  echo(words);
  root.dataset.lastEdit = what;
  scheduleSave();
  if (S.ws && !S.ws.placeAsked) { // the first edit of a clip opened to look: its place now
    S.ws.placeAsked = true;
    activeSinceKeep = true;
    keepPlace();
  }
}

function restore(snap, { save = true } = {}) {
  const o = JSON.parse(snap);
  // A segment the step brought back (an undone delete) is selected, as it was when deleted;
  // the snapshot's own selection is the one of its last edit, before later clicks.
  const had = new Set(S.segments.map((x) => x.id));
  const back = o.segments.find((x) => !had.has(x.id));
  const selected = back ? back.id : o.selected;
  Object.assign(S, { segments: o.segments, clipLabels: o.clipLabels, sugg: o.sugg, selected, nextId: o.nextId, unsure: Boolean(o.unsure), note: o.note || "" });
  renderRegions();
  renderSide();
  if (save) scheduleSave();
  if (back) revealRow(back.id);
}

const EDIT_WORDS = {
  "create segment": "Segment added.",
  "delete segment": "Segment deleted.",
  "change channel": "Segment's channel changed.",
  "change band": "Segment's band changed.",
  "adjust segment": "Segment changed.",
};
function undo() {
  if (submitting()) return;
  if (S.undo.length > 1) {
    const undone = S.undo.pop();
    S.redo.push(undone);
    restore(S.undo[S.undo.length - 1]);
    say(`Undone: ${editNames.get(undone) || "the last change"}`);
    echo(`Undone: ${editNames.get(undone) || "the last change"}`);
  } else say("Nothing to undo.");
}
function redo() {
  if (submitting()) return;
  if (S.redo.length) {
    const s = S.redo.pop();
    S.undo.push(s);
    restore(s);
    say(`Redone: ${editNames.get(s) || "the change"}`);
    echo(`Redone: ${editNames.get(s) || "the change"}`);
  } else say("Nothing to redo.");
}

function leadTime() {
  const now = performance.now();
  return S.leadBase + (S.activeMs + (document.hidden ? 0 : now - S.activeSince)) / 1000;
}
document.addEventListener("visibilitychange", () => {
  if (document.hidden) S.activeMs += performance.now() - S.activeSince;
  else S.activeSince = performance.now();
});

function draftData() {
  return {
    segments: S.segments.map(({ start, end, channel, low_freq, high_freq, labels, from }) => ({ start, end, channel, low_freq, high_freq, labels, from })),
    clip_labels: S.clipLabels,
    suggestions: { clip: S.sugg.clip.map((s) => s.state), segments: S.sugg.segments.map((s) => s.state) },
    unsure: S.unsure,
    note: S.note,
  };
}
const localKey = (clipId) => `earmark-draft-${root.dataset.user}-${clipId}`;
// A browser copy's draft as the server takes it (the copy adds saved_at and synced).
const bodyOf = (local) => ({ data: local.data, base_version: local.base_version || 0, lead_time: local.lead_time || 0 });
function readLocalDraft(clipId) {
  try { return JSON.parse(localStorage.getItem(localKey(clipId)) || "null"); } catch { return null; }
}

function scheduleSave() {
  if (!S.ws) return;
  const clipId = S.ws.clip.id;
  const body = { data: draftData(), base_version: S.baseVersion, lead_time: leadTime() };
  // The browser's copy first: it survives a lost connection and a closed tab.
  const stamp = Date.now();
  localStorage.setItem(localKey(clipId), JSON.stringify({ ...body, saved_at: stamp, synced: false, tab: TAB }));
  setSave("unsaved", "Unsaved");
  saveLater(clipId, body, stamp, AUTOSAVE_MS);
}

// The same clip open in two tabs of this browser: each tab's autosave replaced the other's, on
// the server and in this browser's copy, and a reload restored one tab's work without a word
// about the other's. A tab whose clip another tab edits says so, once, with the choice.
const TAB = newIdempotencyKey();
window.addEventListener("storage", (e) => {
  if (!S.ws || e.key !== localKey(S.ws.clip.id) || !e.newValue) return;
  let theirs = null;
  try { theirs = JSON.parse(e.newValue); } catch { return; }
  if (!theirs || !theirs.tab || theirs.tab === TAB || S.ws.otherTabSaid) return;
  S.ws.otherTabSaid = true;
  root.dataset.otherTab = "true";
  const clipId = S.ws.clip.id;
  const take = button("Load the other tab's work", "other-tab-load", "Open this clip as the other tab left it (the edits on this page go)", "other-tab-load");
  take.classList.add("ws-banner-btn");
  take.addEventListener("click", () => { hideBanner(); cancelSave(clipId); openClip(clipId, { push: false }); });
  const mine = button("Keep mine", "other-tab-keep", "Save what this page shows over the other tab's edits", "other-tab-keep");
  mine.classList.add("ws-banner-btn");
  mine.addEventListener("click", () => { hideBanner(); scheduleSave(); });
  showBanner("This clip is being edited in another tab too: each tab's autosave replaces the other's. Go on in one of them.", "warn", 0, [take, mine]);
});

// Autosaves waiting to go, one per clip ({ timer, body, stamp }): an edit's, 0.8 s after it,
// or a failed one's retry. A clip left sends its own at once, a retry goes on for a clip left
// meanwhile, and leaving the page sends them all.
const pendingSaves = new Map();

function saveLater(clipId, body, stamp, ms) {
  cancelSave(clipId);
  if (root.dataset.removed === "true") return; // no longer a member: kept in this browser only
  const timer = setTimeout(() => { pendingSaves.delete(clipId); saveDraft(clipId, body, { stamp }); }, ms);
  pendingSaves.set(clipId, { timer, body, stamp });
}

function cancelSave(clipId) {
  const was = pendingSaves.get(clipId);
  if (was) { clearTimeout(was.timer); pendingSaves.delete(clipId); }
}

// A submit or skip that failed: the clip's unconfirmed browser copy goes to the server again
// (the submit had taken its waiting autosave).
function resumeSave(clipId) {
  const local = readLocalDraft(clipId);
  if (local && local.synced === false && !pendingSaves.has(clipId)) {
    saveLater(clipId, bodyOf(local), local.saved_at, AUTOSAVE_MS);
  }
}

function flushSave(clipId, { keepalive = false } = {}) {
  const was = pendingSaves.get(clipId);
  if (!was) return;
  cancelSave(clipId);
  saveDraft(clipId, was.body, { stamp: was.stamp, keepalive });
}

// The server has this browser copy (the one written at `stamp`, not a later edit's).
function markSynced(clipId, stamp) {
  const local = readLocalDraft(clipId);
  if (local && local.saved_at === stamp) localStorage.setItem(localKey(clipId), JSON.stringify({ ...local, synced: true }));
}

// One autosave of a clip at a time, in the order they were made: two in flight could land
// in the other order, and the older one then stood on the server (and came back on a reload).
const savesUnderWay = new Map(); // clip id -> the promise of its last save

async function saveDraft(clipId, body, opts = {}) {
  if (opts.keepalive) return sendDraft(clipId, body, opts); // the page is going: no waiting
  const before = savesUnderWay.get(clipId);
  const run = (async () => {
    if (before) await before;
    return sendDraft(clipId, body, opts);
  })();
  savesUnderWay.set(clipId, run);
  try { await run; } finally { if (savesUnderWay.get(clipId) === run) savesUnderWay.delete(clipId); }
}

// Drop this browser's and the server's draft of the clip, then open it as it is saved.
async function discardAndReload(clipId) {
  cancelSave(clipId);
  localStorage.removeItem(localKey(clipId));
  try { await api(`/api/clips/${clipId}/draft/`, { method: "DELETE" }); } catch { /* none there */ }
  openClip(clipId, { push: false });
}

async function sendDraft(clipId, body, { keepalive = false, stamp = null } = {}) {
  const shown = () => S.ws && S.ws.clip.id === clipId; // the indicator is the open clip's
  if (shown()) setSave("saving", "Saving…");
  try {
    if (keepalive) {
      sendKeepalive(`/api/clips/${clipId}/draft/`, "PUT", body);
      return;
    }
    const answer = await api(`/api/clips/${clipId}/draft/`, { method: "PUT", body });
    if (answer && answer.stored === false) {
      // The clip was saved at a later version since (a submit in another tab, or this
      // page's own): this work is not what the server holds, and is not marked as if it were.
      if (shown()) {
        setSave("offline", "Draft not kept: this clip was saved since");
        // A submit's 409 says more (a reviewer's decision and comment, with its choices): it
        // stays up (this banner replaced it within a second).
        if (root.dataset.conflict === "true") return;
        const reload = button("Open the saved version", "reload-saved", "Discard these edits and load this clip as it is saved now");
        reload.classList.add("ws-banner-btn");
        // These edits go, in this browser and on the server: kept, the browser's copy won
        // again on opening, and the banner came back for ever.
        reload.addEventListener("click", () => { hideBanner(); discardAndReload(clipId); });
        showBanner("This clip's annotation was saved or reviewed since this page loaded it (a reviewer's decision, a submit whose answer was lost, or another tab), so these edits are not kept as a draft. Open the saved version to go on from it.", "warn", 0, [reload]);
      }
      return;
    }
    if (stamp !== null) markSynced(clipId, stamp);
    if (shown() && !pendingSaves.has(clipId)) setSave("saved", "Draft saved");
  } catch (err) {
    if (err.status === 404) {
      // A lead deleted the clip (or took this project from you): saving again cannot help.
      // The browser's copy stays, should the clip come back.
      if (!S.ws || S.ws.clip.id !== clipId) return;
      setSave("gone", "Not saved: the clip is gone, or you are no longer a member of its project");
      const next = button("Next clip", "next", "Go on to the next clip in your queue", "next-after-gone");
      next.classList.add("ws-banner-btn");
      next.addEventListener("click", () => {
        hideBanner();
        claimNext().catch((e) => showBanner(`Could not load the next clip: ${e.message}`, "error"));
      });
      showBanner(
        `Not saved: ${err.message}. The clip was deleted, or you are no longer a member of its project; this browser keeps your work on it.`,
        "error", 0, [next],
      );
      return;
    }
    if (shown()) setSave("offline", err.status ? `Draft not saved: ${err.message}` : "Offline: kept in this browser");
    // Again in 5 s, unless a later edit of the clip has its own save (older work must not
    // overwrite it) or the clip was submitted meanwhile (its browser copy is gone).
    const local = readLocalDraft(clipId);
    if (!pendingSaves.has(clipId) && local && local.saved_at === stamp) saveLater(clipId, body, stamp, 5000);
  }
}

function setSave(state, text) {
  if (root.dataset.removed === "true" && el.save.dataset.state === "offline") return; // said
  el.save.dataset.state = state;
  el.save.textContent = text;
}

window.addEventListener("pagehide", () => {
  for (const clipId of [...pendingSaves.keys()]) flushSave(clipId, { keepalive: true });
});

// --- segments and labels -------------------------------------------------------------------
function addSegment(start, end, labels, { commit: doCommit = true, from, render = true, channel = null, band = [null, null] } = {}) {
  if (!S.ws) { showBanner("No clip is open: nothing is left to label here.", "info", 3000); return { id: null }; }
  if (!modeTakesSegments()) { showBanner("This project takes clip labels only.", "warn", 3000); return { id: null }; }
  const s = { id: S.nextId++, start: snap(start), end: snap(Math.max(end, start + SNAP_S)), channel, low_freq: band[0], high_freq: band[1], labels, from };
  S.segments.push(s);
  S.selected = s.id;
  if (render) renderRegions();
  // Its row in view: "Labeling segment 34" with row 34 two thousand pixels down the list.
  if (doCommit) { commit("create segment"); renderSide(); revealRow(s.id); }
  return s;
}

function select(id) {
  S.selected = id;
  // Space then plays the selection, as in Raven and Audacity: the playhead goes to its start
  // when it is elsewhere (Play started from 0:00 however far the segment).
  const s = id != null ? seg(id) : null;
  if (s && !player.playing && (player.currentTime < s.start || player.currentTime >= s.end)) {
    player.seek(s.start);
  }
  renderRegions();
  renderSide();
  if (id != null) revealRow(id);
}

// The list follows the selection: the selected segment's row is scrolled into the list's view
// (a long list draws the rows there first), whether it was chosen on the waveform, by Tab or
// in the list (then it is in view already, and nothing moves).
function revealRow(id) {
  let row = segRows.rows.get(id);
  if (!row || !row.li.isConnected) {
    const index = segRows.order.findIndex((x) => x.id === id);
    if (index < 0) return;
    const pitch = segRows.pitch || ROW_PX;
    el.segList.scrollTop = Math.max(0, index * pitch - el.segList.clientHeight / 2);
    segRows.scrollTop = el.segList.scrollTop;
    renderSegmentList(segRows.order);
    row = segRows.rows.get(id);
    if (!row) return;
  }
  const r = row.li.getBoundingClientRect(), box = el.segList.getBoundingClientRect();
  if (r.top < box.top) el.segList.scrollTop -= box.top - r.top;
  else if (r.bottom > box.bottom) el.segList.scrollTop += r.bottom - box.bottom;
}

function removeSegment(id) {
  const s = seg(id);
  if (!s) return;
  S.segments = S.segments.filter((x) => x.id !== id);
  if (S.selected === id) S.selected = null;
  if (player.loop && player.loop.start === s.start && player.loop.end === s.end) player.setLoop(null);
  commit("delete segment");
  renderRegions();
  renderSide();
}

function toggle(list, path) {
  if (single()) return list.length === 1 && list[0] === path ? [] : [path];
  return list.includes(path) ? list.filter((p) => p !== path) : [...list, path];
}

function applyLabel(label) {
  const s = seg(S.selected);
  const did = (before, after, where) => {
    const added = after.filter((p) => !before.includes(p));
    const removed = before.filter((p) => !after.includes(p));
    return [added.length ? `${added.join(", ")} on ${where}` : "", removed.length ? `${removed.join(", ")} taken off ${where}` : ""]
      .filter(Boolean).join("; ") + ".";
  };
  if (s && modeTakesSegments()) {
    const before = s.labels;
    s.labels = toggle(s.labels, label.path);
    commit("label segment", did(before, s.labels, "the segment"));
  } else if (modeTakesClip()) {
    const before = S.clipLabels;
    S.clipLabels = toggle(S.clipLabels, label.path);
    commit("label clip", did(before, S.clipLabels, "the clip"));
  } else {
    showBanner("Select a segment first: drag on the waveform, or press [ and ] at the playhead.", "warn", 4000);
    return;
  }
  renderRegions();
  renderSide();
}

// The segments as Tab walks them: by start, then as made.
const inTimeOrder = () => [...S.segments].sort((a, b) => a.start - b.start || a.id - b.id);

function cycleSegment(direction) {
  if (!S.segments.length) return;
  const order = inTimeOrder();
  const i = order.findIndex((s) => s.id === S.selected);
  const next = order[(i + direction + order.length + (i < 0 && direction < 0 ? 1 : 0)) % order.length];
  select(next.id);
  if (next.end < wave.start || next.start > wave.end) wave.setView(next.start - (wave.end - wave.start) * 0.2, next.start + (wave.end - wave.start) * 0.8);
}

function segmentAtPlayhead(edge) {
  const t = snap(player.currentTime);
  if (edge === "start") {
    S.markAt = t;
    el.mark.hidden = false;
    el.mark.style.transform = `translateX(${wave.xAt(t)}px)`;
    showBanner(`Segment start marked at ${formatTime(t)}; press ] at its end.`, "info", 2500);
    return;
  }
  let a, b;
  if (S.markAt !== null && Math.abs(S.markAt - t) >= SNAP_S) { a = Math.min(S.markAt, t); b = Math.max(S.markAt, t); }
  // Alone: a 1 s segment from the playhead, or the last second when less is left (at the
  // clip's end it made a 10 ms one: 3700 - 3699.99 is a hair over 10 ms in floating point).
  else { a = t; b = Math.min(wave.duration, t + 1); if (b - a < 1 - 1e-6) { a = snap(Math.max(0, b - 1)); } }
  S.markAt = null;
  el.mark.hidden = true;
  // "press ] at its end" is done: not left up for its 2.5 s beside the new segment
  if (!el.banner.hidden && el.banner.textContent.startsWith("Segment start marked")) hideBanner();
  addSegment(a, b, []);
}

// --- suggestions -----------------------------------------------------------------------------
// `batch`: part of "accept / reject all", which commits (and draws) once at the end: one
// commit per suggestion serialized the whole state each time (4,000 suggestions on a long
// recording froze the tab for a minute and a half).
function decideClip(i, accept, { batch = false } = {}) {
  const s = S.sugg.clip[i];
  if (!s || s.state !== "pending") return;
  s.state = accept ? "accepted" : "rejected";
  if (accept && !S.clipLabels.includes(s.label)) S.clipLabels = single() ? [s.label] : [...S.clipLabels, s.label];
  if (!batch) commit(`${s.state} suggestion`, `Suggestion ${s.state}: ${s.label} on the clip.`);
}

function decideSegment(i, accept, { batch = false } = {}) {
  const s = S.sugg.segments[i];
  if (!s || s.state !== "pending") return;
  s.state = accept ? "accepted" : "rejected";
  if (accept) {
    const made = addSegment(s.start, s.end, [s.label], { commit: false, from: i, render: !batch, channel: channelOf(s) });
    s.segId = made.id;
  }
  if (!batch) commit(`${s.state} suggestion`, `Suggestion ${s.state}: ${s.label}, segment ${s.start.toFixed(2)} to ${s.end.toFixed(2)} s.`);
}

// A clip suggestion's state as the clip's labels now stand: the annotator's own label decides
// one they did not click (a hotkey or the picker giving the suggested label accepts it; in a
// single-label project another label rejects it), and one accepted then unlabeled is rejected.
// What the annotator submits wins over a button: rejected, then given the label after all, is
// accepted.
function clipSuggestionState(s) {
  if (S.clipLabels.includes(s.label)) return "accepted";
  if (s.state !== "pending") return "rejected";
  if (single() && S.clipLabels.length) return "rejected";
  return "pending";
}

// Segment suggestions that segments the annotator drew by hand answer (not accepted ones: those
// answer their own): a drawn segment with the suggested label overlapping an undecided (or
// rejected) suggestion by half or more (intersection over union) answers it; each drawn segment
// answers one suggestion at most, the pairs taken by overlap, best first.
const MATCH_IOU = 0.5;
function segmentAnswers() {
  const answers = new Map();
  if (!S.sugg.segments.length) return answers;
  // The drawn segments by label, in time order, each with its place in the list: a suggestion
  // is compared with the segments of its label that can overlap it, not with every segment
  // (suggestions times segments was seconds per edit on a long recording), and pairs of equal
  // overlap keep the list's order, as a scan of the list found them.
  const byLabel = new Map();
  S.segments.forEach((x, at) => {
    if (x.from !== undefined) return;
    for (const label of new Set(x.labels)) {
      let group = byLabel.get(label);
      if (!group) byLabel.set(label, (group = { list: [], longest: 0 }));
      group.list.push({ x, at });
      group.longest = Math.max(group.longest, x.end - x.start);
    }
  });
  for (const group of byLabel.values()) group.list.sort((a, b) => a.x.start - b.x.start);
  const pairs = [];
  S.sugg.segments.forEach((s, i) => {
    if (s.state === "accepted") return;
    const group = byLabel.get(s.label);
    if (!group) return;
    const { list } = group;
    // The first segment that can still reach past the suggestion's start.
    let lo = 0, hi = list.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid].x.start < s.start - group.longest) lo = mid + 1; else hi = mid; }
    const found = [];
    for (let k = lo; k < list.length && list[k].x.start < s.end; k++) {
      const { x, at } = list[k];
      if (!channelsMeet(x, s)) continue;
      const inter = Math.min(x.end, s.end) - Math.max(x.start, s.start);
      const iou = inter > 0 ? inter / (Math.max(x.end, s.end) - Math.min(x.start, s.start)) : 0;
      if (iou >= MATCH_IOU) found.push({ i, x, iou, at });
    }
    found.sort((a, b) => a.at - b.at);
    pairs.push(...found);
  });
  pairs.sort((a, b) => b.iou - a.iou);
  const used = new Set();
  for (const { i, x } of pairs) {
    if (answers.has(i) || used.has(x.id)) continue;
    answers.set(i, x);
    used.add(x.id);
  }
  return answers;
}
// Each segment suggestion's state with the annotator's own segments counted, and the drawn
// segment that answers it (or null): one drawn over it with its label accepts it (its bounds and
// labels as suggested) or edits it. One matching for all of them, computed once per pass.
function segmentSuggestionStates() {
  const answers = segmentAnswers();
  return S.sugg.segments.map((s, i) => {
    const made = answers.get(i);
    if (!made) return { state: s.state, answer: null };
    const same = made.start === snap(s.start) && made.end === snap(s.end) && made.labels.join("|") === s.label && channelOf(made) === channelOf(s);
    return { state: same ? "accepted" : "edited", answer: made };
  });
}

// Accept all takes the rejected suggestions too (Reject all, then Accept all, accepted nothing);
// Reject all leaves what was accepted, which may have been edited since.
function decideAll(accept) {
  let decided = 0;
  S.sugg.clip.forEach((s, i) => {
    const state = clipSuggestionState(s);
    const reopen = accept && state === "rejected" && s.state === "rejected" && !(single() && S.clipLabels.length);
    if (reopen) s.state = "pending";
    if (state === "pending" || reopen) { decideClip(i, accept, { batch: true }); decided += 1; }
  });
  // An accepted suggestion's segment answers only itself: deciding one leaves the others' states.
  const states = segmentSuggestionStates();
  S.sugg.segments.forEach((s, i) => {
    const reopen = accept && states[i].state === "rejected" && !states[i].answer;
    if (reopen) s.state = "pending";
    if (states[i].state === "pending" || reopen) { decideSegment(i, accept, { batch: true }); decided += 1; }
  });
  // Accepted, the suggested segments were left selected: a digit key then relabeled one of
  // them, not the clip (a clip "nine" saved with its segment "two"). Nothing stays selected.
  if (decided && accept) S.selected = null;
  if (decided) commit(`${accept ? "accepted" : "rejected"} ${decided} suggestion(s)`, `${decided} suggestion${decided === 1 ? "" : "s"} ${accept ? "accepted" : "rejected"}.`); // one undo step
  else if (S.sugg.clip.length || S.sugg.segments.length) showBanner(accept ? "Every suggestion is accepted already." : "No suggestion is left undecided: undo (Ctrl+Z) takes a decision back.", "info", 3000);
  renderRegions();
  renderSide();
}

function focusSuggestion(kind, i) {
  const row = el.suggList.querySelector(`[data-kind=${kind}][data-index="${i}"]`);
  if (row) { row.scrollIntoView({ block: "nearest" }); row.classList.add("flash"); setTimeout(() => row.classList.remove("flash"), 600); }
  const s = S.sugg.segments[i];
  if (kind === "segment" && s) player.seek(s.start);
}

function suggestionFeedback() {
  const version = S.ws.suggestions ? S.ws.suggestions.model_version.name : "";
  const out = [];
  S.sugg.clip.forEach((s) => {
    const state = clipSuggestionState(s);
    const action = state === "pending" ? "ignored" : state;
    out.push({ kind: "clip", label: s.label, label_id: s.label_id, score: s.score, action, model_version: version });
  });
  const states = segmentSuggestionStates();
  S.sugg.segments.forEach((s, i) => {
    let action = s.state === "pending" ? "ignored" : s.state;
    let final = null;
    const { state, answer } = states[i];
    if (answer) {
      action = state;
      if (action === "edited") final = { start: answer.start, end: answer.end, channel: channelOf(answer), labels: answer.labels };
    } else if (action === "accepted") {
      const made = seg(s.segId);
      if (!made) action = "rejected";
      else if (made.start !== snap(s.start) || made.end !== snap(s.end) || made.labels.join("|") !== s.label || channelOf(made) !== channelOf(s)) {
        action = "edited";
        final = { start: made.start, end: made.end, channel: channelOf(made), labels: made.labels };
      }
    }
    out.push({ kind: "segment", label: s.label, label_id: s.label_id, score: s.score, action, start: s.start, end: s.end, final, model_version: version });
  });
  return out;
}

// --- side panel ----------------------------------------------------------------------------
function chip(path, { onRemove, cls = "", extra } = {}) {
  const c = document.createElement("span");
  c.className = `ws-chip ${cls}`;
  c.style.setProperty("--dot", colorOf(path));
  c.dataset.label = path;
  c.title = path;
  const t = document.createElement("span");
  t.className = "ws-chip-name";
  t.textContent = nameOf(path);
  c.append(t);
  if (extra) c.append(extra);
  if (onRemove) {
    const x = document.createElement("button");
    x.type = "button";
    x.className = "ws-x";
    x.setAttribute("aria-label", `Remove ${path}`);
    x.textContent = "×";
    x.addEventListener("click", (e) => { e.stopPropagation(); onRemove(); });
    c.append(x);
  }
  return c;
}

function button(text, action, title, testid) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `ws-mini-btn ${action}`;
  b.textContent = text;
  b.title = title;
  // A button of words is named by them (its title describes it); one of a symbol (✕, ✓) by
  // its title. "Load the latest" was named "Discard my changes and load the saved version".
  if (!/\p{L}/u.test(text)) b.setAttribute("aria-label", title);
  if (testid) b.setAttribute("data-testid", testid);
  return b;
}

// A single-label project trains on a clip's one label: a segment labeled off its path (the
// clip "nine", a segment "three": a digit key pressed with the new segment still selected) is
// said beside the clip's label, not found later in an export.
function renderOffPath() {
  const note = $("[data-testid=off-path]");
  const clip = single() && S.clipLabels.length === 1 ? S.clipLabels[0] : null;
  const onPath = (p) => p === clip || p.startsWith(`${clip}/`) || clip.startsWith(`${p}/`);
  const order = [...S.segments].sort((a, b) => a.start - b.start || a.id - b.id);
  const off = clip ? order.filter((s) => s.labels.some((p) => !onPath(p))) : [];
  note.hidden = !off.length;
  if (!off.length) return;
  const first = off[0];
  note.textContent = `Segment ${order.indexOf(first) + 1} is ${first.labels.find((p) => !onPath(p))}, the clip ${clip}`
    + `${off.length > 1 ? ` (and ${off.length - 1} more segment${off.length > 2 ? "s" : ""})` : ""}: this project takes one label a clip, and trains on the clip's.`;
}

function renderSide() {
  if (!S.ws) return;
  const s = seg(S.selected);
  // Time order, as the list shows them (the array is in id order, so ties keep it).
  const order = [...S.segments].sort((a, b) => a.start - b.start || a.id - b.id);
  el.target.innerHTML = "";
  const strong = document.createElement("strong");
  if (s) {
    strong.textContent = `Segment ${order.indexOf(s) + 1}`;
    const where = clipChannels() > 1 ? ` · ${channelLabel(channelOf(s)) || "all channels"}` : "";
    el.target.append("Labeling ", strong, ` · ${segmentTime(s.start)}–${segmentTime(s.end)} s${where}`);
  } else if (modeTakesClip()) {
    strong.textContent = "the whole clip";
    el.target.append("Labeling ", strong);
  } else {
    el.target.append("Select a segment to label it");
  }
  el.target.dataset.target = s ? `segment:${s.id}` : "clip";
  $(".ws-clip-panel").hidden = !modeTakesClip();
  $(".ws-seg-panel").hidden = !modeTakesSegments();
  // clip labels (and pending clip suggestions, pre-filled as ghosts)
  const chips = S.clipLabels.map((p) => chip(p, { onRemove: () => { S.clipLabels = S.clipLabels.filter((x) => x !== p); commit("unlabel clip", `${p} taken off the clip.`); renderSide(); } }));
  S.sugg.clip.forEach((sg, i) => {
    if (clipSuggestionState(sg) !== "pending") return;
    const score = document.createElement("small");
    score.textContent = `${Math.round(sg.score * 100)}%`;
    const c = chip(sg.label, { cls: "suggested", extra: score });
    c.title = `Suggested by the model (${sg.score.toFixed(2)}): click to review`;
    c.addEventListener("click", () => focusSuggestion("clip", i));
    chips.push(c);
  });
  if (!chips.length) { const p = document.createElement("span"); p.className = "muted"; p.textContent = "None yet: pick a label with no segment selected."; chips.push(p); }
  el.chips.replaceChildren(...chips);
  el.unsure.setAttribute("aria-pressed", String(S.unsure));
  el.unsure.classList.toggle("on", S.unsure);
  // Kept as typed while it has the focus, but never another clip's: Ctrl+Enter from the note
  // left its text in the field on the next clip, and leaving the field saved it there.
  const noteClip = String(S.ws.clip.id);
  if ((document.activeElement !== el.note || el.note.dataset.clip !== noteClip) && el.note.value !== S.note) {
    el.note.value = S.note;
    noteLimit();
  }
  el.note.dataset.clip = noteClip;
  // The single-label warning goes once one label is left (it stayed until the submit), and
  // comes back with an undo that brings the labels back.
  const several = single() && S.clipLabels.length > 1;
  // Said while there was nothing; a suggestion accepted (Alt+A) or a label given answers it.
  if (el.banner.dataset.about === "nothing-to-submit" && (S.clipLabels.length || S.segments.length)) hideBanner();
  renderOffPath();
  if (el.banner.dataset.about === "several-labels" && !several) hideBanner();
  else if (several && el.banner.dataset.about !== "several-labels" && el.banner.hidden) severalLabelsSaid();
  el.segCount.textContent = order.length ? `(${order.length})` : "";
  renderSegmentList(order);
  renderSuggestions();
  if (picker) picker.render();
}

// The segment list's rows, kept by segment id with what each shows: a render builds only the
// rows whose segment changed and renumbers the others in place. A long list has rows only in
// and near its scrolled window, between two spacers that stand for the others at the measured
// height of a row: building and laying out 5,000 rows of a dozen elements each took seconds on
// opening, and every edit laid them all out again. Up to LIST_ALL_ROWS, every row is there.
const LIST_ALL_ROWS = 200;
const LIST_OVERSCAN = 25; // rows drawn beyond the window on each side
const ROW_PX = 52; // a row and the gap after it, until one is measured
const segRows = {
  rows: new Map(), // id -> {li, look, n, num}
  ontology: null, // the one whose names and colours the rows show
  order: [], // the segments in the list's order, as last drawn
  scrollTop: 0, // the list's, kept from its scroll events: reading it forces a layout
  pitch: 0, // a row and the gap after it, measured on the clip's first long list
  gap: 0, // the list's gap between rows, read with the pitch
  before: listSpacer(),
  after: listSpacer(),
  frame: 0,
};
function listSpacer() {
  const li = document.createElement("li");
  li.className = "ws-seg-spacer";
  li.setAttribute("aria-hidden", "true");
  li.style.flex = "none"; // an empty item of the list's flex column would shrink to nothing
  return li;
}

function renderSegmentList(order) {
  const { rows } = segRows;
  if (segRows.ontology !== ontology) { rows.clear(); segRows.ontology = ontology; } // names, colours
  segRows.order = order;
  if (!order.length) {
    rows.clear();
    const p = document.createElement("li");
    p.className = "muted ws-empty";
    p.textContent = clipChannels() > 1 && wave.lanes > 1
      ? "Drag on the waveform to mark a segment on all channels, Shift+drag in a channel's lane to mark it on that channel only, or press [ then ] while playing."
      : "Drag on the waveform to mark a segment, or press [ then ] while playing; drag on the spectrogram to mark one with its frequency band (a box).";
    el.segList.replaceChildren(p);
    return;
  }
  const windowed = order.length > LIST_ALL_ROWS;
  let first = 0, last = order.length;
  if (windowed) {
    // The list is never taller than the browser's window: that many rows fill it.
    const pitch = segRows.pitch || ROW_PX;
    first = Math.max(0, Math.min(order.length - 1, Math.floor(segRows.scrollTop / pitch) - LIST_OVERSCAN));
    last = Math.min(order.length, first + Math.ceil(window.innerHeight / pitch) + 2 * LIST_OVERSCAN);
  }
  const channels = clipChannels();
  const shown = order.slice(first, last);
  const lis = shown.map((x, k) => {
    const n = first + k + 1;
    const look = `${x.id === S.selected}|${x.start}|${x.end}|${channelOf(x)}|${x.low_freq}|${x.high_freq}|${channels}|${x.labels.join("\n")}`;
    let row = rows.get(x.id);
    if (!row || row.look !== look) {
      const li = segmentRow(x);
      row = { li, look, n: 0, num: li.querySelector(".n") };
      rows.set(x.id, row);
    }
    if (row.n !== n) { row.n = n; row.num.textContent = String(n); }
    return row.li;
  });
  if (rows.size > shown.length) {
    const ids = new Set(shown.map((x) => x.id));
    for (const id of rows.keys()) if (!ids.has(id)) rows.delete(id);
  }
  if (!windowed) { placeChildren(el.segList, lis); return; }
  const { before, after } = segRows;
  placeChildren(el.segList, [...(first > 0 ? [before] : []), ...lis, ...(last < order.length ? [after] : [])]);
  if (!segRows.pitch && lis.length > 1) {
    // The mean pitch of the rows drawn (one layout, of those rows only).
    segRows.gap = parseFloat(getComputedStyle(el.segList).rowGap) || 0;
    const a = lis[0], b = lis[lis.length - 1];
    const pitch = (b.offsetTop + b.offsetHeight - a.offsetTop + segRows.gap) / lis.length;
    if (pitch > 0) segRows.pitch = pitch;
  }
  const pitch = segRows.pitch || ROW_PX;
  // A spacer takes the place of its rows and their gaps (the list adds one after it).
  before.style.height = `${Math.max(0, first * pitch - segRows.gap)}px`;
  after.style.height = `${Math.max(0, (order.length - last) * pitch - segRows.gap)}px`;
}
el.segList.addEventListener("scroll", () => {
  segRows.scrollTop = el.segList.scrollTop;
  if (!S.ws || segRows.order.length <= LIST_ALL_ROWS || segRows.frame) return;
  segRows.frame = requestAnimationFrame(() => { segRows.frame = 0; if (S.ws) renderSegmentList(segRows.order); });
}, { passive: true });

// One row of the list. Its handlers look the segment up by id when they run: the row outlives
// the object it was drawn from (an undo brings back copies).
function segmentRow(x) {
  const id = x.id;
  const li = document.createElement("li");
  li.className = "ws-seg-row" + (id === S.selected ? " selected" : "") + (x.labels.length ? "" : " unlabeled");
  li.style.setProperty("--dot", colorOf(x.labels[0]));
  li.dataset.id = String(id);
  const head = document.createElement("div");
  head.className = "ws-seg-head";
  head.innerHTML = `<span class="n"></span><span class="t">${segmentTime(x.start)} – ${segmentTime(x.end)} s</span>`;
  const play = button("▶", "play-seg", "Play this segment");
  play.addEventListener("click", (e) => {
    e.stopPropagation();
    const s = seg(id);
    if (s) { player.setLoop(null); player.seek(s.start); player.play(); stopAt(s.end); }
  });
  const del = button("✕", "del-seg", "Delete this segment (Delete)");
  del.addEventListener("click", (e) => { e.stopPropagation(); removeSegment(id); });
  if (clipChannels() > 1) head.append(channelSelect(x));
  head.append(play, del);
  const labels = document.createElement("div");
  labels.className = "ws-seg-labels";
  const unlabel = (p) => () => {
    const s = seg(id);
    if (!s) return;
    s.labels = s.labels.filter((q) => q !== p);
    commit("unlabel segment", `${p} taken off the segment.`);
    renderSide();
    renderRegions();
  };
  if (x.labels.length) labels.append(...x.labels.map((p) => chip(p, { onRemove: unlabel(p) })));
  else { const m = document.createElement("span"); m.className = "warn-text"; m.textContent = "needs a label"; labels.append(m); }
  // Its band on a line of its own: in the head it was cut to "1.49–2.49 kH" (to "2." on a
  // stereo clip, beside the channel menu).
  // A div, not a label: a click beside the field selects the row, as anywhere on it (the
  // field has its own name for screen readers).
  const freq = document.createElement("div");
  freq.className = "ws-seg-freq";
  freq.append(Object.assign(document.createElement("span"), { textContent: "Band", className: "muted", ariaHidden: "true" }), bandInput(x));
  li.append(head, labels, freq);
  li.addEventListener("click", () => {
    const s = seg(id);
    if (!s) return;
    select(id);
    if (s.start < wave.start || s.start > wave.end) wave.setView(s.start - 0.5, s.start - 0.5 + (wave.end - wave.start));
  });
  return li;
}

// The segment's frequency band, typed: "1200-4000" (Hz), "1.2-4 kHz"; blank is every
// frequency. Drawn and dragged on the spectrogram too.
function bandInput(x) {
  const id = x.id;
  const input = document.createElement("input");
  input.type = "text";
  input.className = "ws-seg-band";
  input.setAttribute("data-testid", "segment-band");
  input.setAttribute("aria-label", "Frequency band of this segment (blank: every frequency)");
  input.title = "Frequency band: low–high in Hz or kHz (1200-4000, 1.2-4 kHz); blank: every frequency. Or drag on the spectrogram.";
  input.placeholder = "all Hz";
  input.spellcheck = false;
  input.autocomplete = "off";
  const shown = (s) => (hasBand(s) ? bandText(s.low_freq, s.high_freq) : "");
  input.value = shown(x);
  input.addEventListener("click", (e) => e.stopPropagation());
  // Into the field is onto its segment: selected (its row is drawn again: the focus goes to
  // the new row's field).
  input.addEventListener("focus", () => {
    if (S.selected === id || !seg(id)) return;
    select(id);
    const again = el.segList.querySelector(`[data-id="${id}"] [data-testid=segment-band]`);
    if (again && again !== input) again.focus();
  });
  input.addEventListener("keydown", (e) => {
    e.stopPropagation(); // typed digits are no label keys
    if (e.key === "Enter") input.blur();
    if (e.key === "Escape") { const s = seg(id); input.value = s ? shown(s) : ""; input.blur(); }
  });
  input.addEventListener("change", () => {
    const s = seg(id);
    if (!s) return;
    const got = parseBand(input.value);
    const nyq = (S.ws?.clip.sample_rate || 0) / 2;
    let why = got instanceof Error ? got.message : "";
    if (!why && got && nyq && got[1] > nyq + 1) why = `This clip's frequencies end at ${hzText(nyq)} (half its sample rate).`;
    if (why) { showBanner(why, "warn", 5000); input.value = shown(s); return; }
    const before = `${s.low_freq}|${s.high_freq}`;
    Object.assign(s, bandKept({ low_freq: got ? got[0] : null, high_freq: got ? got[1] : null }));
    input.value = shown(s);
    if (`${s.low_freq}|${s.high_freq}` === before) return; // as it was: no undo step
    S.selected = id;
    const focused = document.activeElement === input;
    commit("change band", bandSaid(s));
    renderRegions();
    renderSide();
    if (focused) el.segList.querySelector(`[data-id="${id}"] [data-testid=segment-band]`)?.focus();
  });
  return input;
}

// The segment's channel, changeable: all channels, or one of the clip's.
function channelSelect(x) {
  const id = x.id;
  const pick = document.createElement("select");
  pick.className = "ws-seg-channel";
  pick.setAttribute("data-testid", "segment-channel");
  pick.setAttribute("aria-label", "Channel of this segment");
  pick.title = "The channel this segment is on (all: every channel)";
  const option = (value, text) => { const o = document.createElement("option"); o.value = value; o.textContent = text; return o; };
  pick.append(option("all", "All ch"));
  for (let c = 0; c < clipChannels(); c++) pick.append(option(String(c), channelLabel(c)));
  const now = channelOf(x);
  // A channel the clip does not have (an import's): shown as it is until changed.
  if (now !== null && now >= clipChannels()) pick.append(option(String(now), `ch ${now + 1}`));
  pick.value = now === null ? "all" : String(now);
  // The row's own click selects and re-renders the list: the open menu must not go with it.
  pick.addEventListener("click", (e) => e.stopPropagation());
  pick.addEventListener("change", () => {
    const s = seg(id);
    if (!s) return;
    const focused = document.activeElement === pick;
    s.channel = pick.value === "all" ? null : Number(pick.value);
    S.selected = id;
    commit("change channel");
    renderRegions();
    renderSide();
    // The row was drawn again: the keyboard stays on this segment's menu (the next arrow key
    // went to the page, which seeks).
    if (focused) el.segList.querySelector(`[data-id="${id}"] [data-testid=segment-channel]`)?.focus();
  });
  return pick;
}

const suggDrawn = { look: null, ontology: null }; // what the suggestion list shows now
function renderSuggestions() {
  const any = S.sugg.clip.length + S.sugg.segments.length;
  // A model not good enough to suggest yet: said, rather than nothing, or noise to accept.
  const withheld = S.ws.suggestions && (S.ws.suggestions.withheld || S.ws.suggestions.segments_withheld);
  const note = $("[data-testid=suggestions-withheld]");
  note.hidden = !withheld;
  note.textContent = withheld || "";
  el.sugg.hidden = !any;
  if (!any) return;
  el.model.textContent = `· ${S.ws.suggestions.model_version.name}`;
  const segmentStates = segmentSuggestionStates();
  const clipStates = S.sugg.clip.map(clipSuggestionState);
  // The rows depend on the clip, the label names and the states only: most edits change none
  // of them, and the list is not built again for those.
  const look = `${S.ws.clip.id}|${clipStates.join()}|${segmentStates.map((x) => x.state).join()}`;
  if (suggDrawn.look === look && suggDrawn.ontology === ontology) return;
  Object.assign(suggDrawn, { look, ontology });
  const rows = [];
  const row = (kind, i, s, text) => {
    const state = kind === "clip" ? clipStates[i] : segmentStates[i].state;
    const li = document.createElement("li");
    li.className = `ws-sugg ${state}`;
    li.setAttribute("data-testid", "suggestion");
    li.dataset.kind = kind;
    li.dataset.index = String(i);
    li.dataset.label = s.label;
    li.dataset.state = state;
    li.style.setProperty("--dot", colorOf(s.label));
    // A segment's name goes to it (a 30-minute recording's suggestions were reached by
    // typing their times).
    const name = document.createElement(kind === "segment" ? "button" : "span");
    name.className = "name";
    name.textContent = text;
    name.title = s.label;
    if (kind === "segment") {
      name.type = "button";
      name.title = `${s.label}: go to ${formatTime(s.start, 0.01)}`;
      name.setAttribute("data-testid", "suggestion-go");
      name.addEventListener("click", () => seekTo(s.start));
    }
    const score = document.createElement("span");
    score.className = "score";
    score.innerHTML = `<i style="width:${Math.round(s.score * 100)}%"></i><b>${s.score.toFixed(2)}</b>`;
    li.append(name, score);
    if (state === "pending") {
      // Named as what they decide: a clip suggestion and a segment one of the same label had
      // the same names ("Accept digit/zero" twice).
      const what = kind === "clip" ? `${s.label} for the clip` : `${s.label} segment ${s.start.toFixed(2)}–${s.end.toFixed(2)} s`;
      const ok = button("✓", "accept", `Accept ${what}`, "accept");
      const no = button("✗", "reject", `Reject ${what}`, "reject");
      const decide = kind === "clip" ? decideClip : decideSegment;
      ok.addEventListener("click", () => { decide(i, true); renderRegions(); renderSide(); });
      no.addEventListener("click", () => { decide(i, false); renderRegions(); renderSide(); });
      li.append(ok, no);
    } else {
      const st = document.createElement("span");
      st.className = "state";
      st.textContent = state;
      li.append(st);
    }
    rows.push(li);
  };
  S.sugg.clip.forEach((s, i) => row("clip", i, s, `${nameOf(s.label)} (clip)`));
  S.sugg.segments.forEach((s, i) => row("segment", i, s, `${nameOf(s.label)} · ${s.start.toFixed(2)}–${s.end.toFixed(2)} s`));
  el.suggList.replaceChildren(...rows);
}

// A button that takes its own row away (a segment's ✕, a label's ×, a suggestion's ✓ or ✗)
// left the keyboard's focus on the page's body, and a screen reader's place with it: the
// focus goes to what took the button's place in its list (or the list, when it is empty).
const KEEPS_FOCUS = "[data-testid=segment-list], [data-testid=clip-labels], .ws-sugg-list";
const focusablesIn = (list) => [...list.querySelectorAll("button:not([disabled]), select:not([disabled])")];
document.addEventListener("click", (e) => {
  const b = e.target.closest && e.target.closest("button");
  const list = b && b === document.activeElement && b.closest(KEEPS_FOCUS);
  if (!list) return;
  const at = focusablesIn(list).indexOf(b);
  setTimeout(() => {
    if (b.isConnected && document.activeElement === b) return;
    if (document.activeElement && document.activeElement !== document.body) return; // moved on purpose
    const now = focusablesIn(list);
    const next = now[Math.min(Math.max(at, 0), now.length - 1)];
    if (next) { next.focus(); return; }
    list.setAttribute("tabindex", "-1");
    list.focus();
  }, 0);
}, true);

let stopTimer = 0;
function stopAt(t) {
  cancelAnimationFrame(stopTimer);
  const check = () => { if (player.currentTime >= t) player.pause(); else if (player.playing) stopTimer = requestAnimationFrame(check); };
  stopTimer = requestAnimationFrame(check);
}

// Saved before the lead made the project single-label (and kept by "Save anyway"): the clip
// counts for nothing until one label is left, and a submit as it is is refused.
function severalLabelsSaid() {
  showBanner(`This project is single-label now: this clip has ${S.clipLabels.length} labels (${S.clipLabels.map(nameOf).join(", ")}). Keep the one that is right: until then the clip is left out of the training.`, "warn", 0);
  el.banner.dataset.about = "several-labels";
}

// --- banner ----------------------------------------------------------------------------------
let bannerTimer = 0;
function showBanner(text, kind = "info", ms = 0, actions = []) {
  // Removed from the project: that stays said (the failed request's own message came after it).
  if (el.banner.dataset.about === "not-a-member" && !el.banner.hidden) return;
  clearTimeout(bannerTimer);
  // One that goes by itself lies over the page: it pushed the waveform down for its seconds,
  // and a drag begun meanwhile on the spectrogram landed on the waveform. One that stays
  // (a choice, an error) takes its place in the page.
  el.banner.className = `ws-banner ${kind}${ms ? " floating" : ""}`;
  el.banner.dataset.kind = kind;
  delete el.banner.dataset.about; // what a banner is about, where one is taken back by an edit
  el.banner.replaceChildren(document.createTextNode(text), ...actions);
  el.banner.hidden = false;
  if (ms) bannerTimer = setTimeout(hideBanner, ms);
  // A banner that asks for a choice gets the keyboard, unless it is busy elsewhere (the
  // choice took 15 Tabs to reach); from the page's body or the bar's buttons, not a field.
  const active = document.activeElement;
  if (actions.length && (!active || active === document.body || active.closest(".ws-actions"))) actions[0].focus();
}
function hideBanner() { el.banner.hidden = true; delete el.banner.dataset.about; }

// --- submit, skip, previous/next ---------------------------------------------------------------
async function submit() {
  if (S.busy || !S.ws) return;
  const unlabeled = [...S.segments].sort((a, b) => a.start - b.start).find((s) => !s.labels.length);
  if (unlabeled) { select(unlabeled.id); showBanner("This segment has no label yet: pick one, or delete the segment.", "warn", 5000); return; }
  if (!modeTakesClip() && S.clipLabels.length && !S.segments.length) {
    // A clip label kept from before the lead made the project segments-only: it would be
    // dropped at submit, leaving nothing.
    showBanner(`This project now takes segments only: the clip label ${S.clipLabels.map(nameOf).join(", ")} is not kept. Mark a segment with it (drag on the waveform), or skip the clip.`, "warn", 8000);
    return;
  }
  if (!S.segments.length && !S.clipLabels.length) {
    const offered = S.sugg.clip.length + S.sugg.segments.length;
    showBanner(offered
      ? "Nothing to submit yet: the model's suggestions count once accepted (✓, or Accept all: Alt+A). Accept one, add a label or a segment, or skip the clip."
      : "Nothing to submit yet: add a label or a segment, or skip the clip.", "warn", 5000);
    el.banner.dataset.about = "nothing-to-submit"; // gone once there is something (renderSide)
    return;
  }
  await send(S.baseVersion);
}

async function send(expectedVersion, { replaceReviewed = false, oneMore = false } = {}) {
  if (S.busy) return; // a double click on a banner's button sends one save
  const clip = S.ws.clip;
  S.submitWhenOnline = null;
  S.busy = true;
  root.dataset.state = "submitting";
  setSave("saving", "Submitting…");
  cancelSave(clip.id); // the submit carries it; a draft after it would not be kept anyway
  S.switchStarted = performance.now();
  player.pause();
  try {
    const body = await apiRetrying(`/api/clips/${clip.id}/annotations/`, {
      onRetry: (n, wait, err) => showBanner(`${err && err.status === 503 ? "The server is busy" : "The connection failed"}; saving again in ${wait} s (attempt ${n + 1})…`, "warn", wait * 1000),
      body: {
        clip_labels: modeTakesClip() ? S.clipLabels : [],
        segments: modeTakesSegments() ? S.segments.map((s) => ({ start: s.start, end: s.end, channel: channelOf(s), ...bandKept(s), labels: s.labels })) : [],
        expected_version: expectedVersion,
        lead_time: Math.round(leadTime() * 10) / 10,
        suggestion_feedback: suggestionFeedback(),
        unsure: S.unsure,
        note: S.note,
        claim_next: true,
        replace_reviewed: replaceReviewed,
        // Not one annotation more without a word: the server says when others took the clip
        // while this page's place lapsed (the heartbeat asks once a minute at most).
        only_if_needed: !oneMore,
      },
    });
    localStorage.removeItem(localKey(clip.id));
    root.dataset.lastSubmitted = String(clip.id);
    setSave("idle", "");
    if (body.next && body.next.clip.id !== clip.id) await loadClip(body.next);
    else showDone();
    showBanner(`Saved ${clip.original_name}.`, "ok", 2500);
  } catch (err) {
    S.switchStarted = 0;
    root.dataset.state = "ready";
    setSave("unsaved", "Not submitted");
    resumeSave(clip.id);
    if (err.status === 409 && err.body && err.body.code === "clip_full") {
      root.dataset.place = "full";
      const more = button("Save mine as one more", "save-one-more", "Save your annotation although the clip has the annotations the project wants", "save-one-more");
      more.classList.add("ws-banner-btn");
      more.addEventListener("click", () => send(expectedVersion, { replaceReviewed, oneMore: true }));
      const pass = button("Skip this clip", "skip-full", "Leave this clip (Ctrl+Shift+Enter) and take one that needs you", "skip-full");
      pass.classList.add("ws-banner-btn");
      pass.addEventListener("click", () => skip());
      showBanner(`${err.message[0].toUpperCase()}${err.message.slice(1)}.`, "warn", 0, [more, pass]);
    } else if (err.status === 409 && err.body && err.body.code === "reviewed") {
      // A reviewer's decision (or correction) stands until the annotator says to replace it.
      const anyway = button("Submit anyway", "replace-reviewed", "Save my change: the annotation goes back to review");
      anyway.classList.add("ws-banner-btn");
      anyway.addEventListener("click", () => send(expectedVersion, { replaceReviewed: true }));
      showBanner(`Not saved yet: ${err.message.replace(/: submit again with replace_reviewed to save it$/, ".")}`, "warn", 0, [anyway]);
    } else if (err.status === 409) {
      const reload = button("Load the latest", "reload", "Discard my changes and load the saved version");
      reload.classList.add("ws-banner-btn");
      reload.addEventListener("click", () => discardAndReload(clip.id));
      const mine = button("Save mine over it", "overwrite", "Replace the saved version with what you see here");
      mine.classList.add("ws-banner-btn");
      mine.addEventListener("click", () => send(err.body.current_version));
      showBanner(`Not saved: ${err.message}`, "error", 0, err.body && err.body.current_version ? [reload, mine] : [reload]);
      root.dataset.conflict = "true";
    } else if (err.status === 401) {
      // Signed out elsewhere: the work stays here (and in this browser's autosave); signing in
      // in a new tab and pressing Submit again saves it.
      const signIn = document.createElement("a");
      signIn.className = "button ws-banner-btn";
      signIn.href = "/accounts/login/?next=/";
      signIn.target = "_blank";
      signIn.rel = "noopener";
      signIn.textContent = "Sign in (new tab)";
      signIn.setAttribute("data-testid", "sign-in");
      showBanner(`Not saved: ${err.message}.`, "error", 0, [signIn]);
    } else if (err.body && ["unknown_label", "deprecated_label", "not_leaf"].includes(err.body.code)) {
      // A lead deleted or deprecated a label since this page loaded its tree: the picker is
      // brought up to date (it still offered the label) and the message says what to do.
      await ontologyFresh(-1);
      showBanner(`Not saved: ${err.message}. A lead has changed the label tree: take that label off (its chip's ×) and submit again.`, "error", 0);
    } else if (!err.status) {
      // No answer: the submit may or may not have reached the server. Sending it again is
      // safe (the same work twice is no conflict).
      // Sent again by itself once the browser is back online (it waited for a second press).
      S.submitWhenOnline = { clipId: clip.id, expectedVersion, replaceReviewed, oneMore };
      showBanner("Not saved: the connection failed. Your work is kept in this browser, and is submitted by itself once the connection is back (or press Submit again).", "error", 0);
    } else {
      showBanner(`Not saved: ${err.message}`, "error");
    }
  } finally {
    S.busy = false;
  }
}

async function skip() {
  if (S.busy || !S.ws) return;
  S.busy = true;
  S.switchStarted = performance.now();
  player.pause();
  const clip = S.ws.clip;
  try {
    cancelSave(clip.id);
    const body = await api(`/api/clips/${clip.id}/skip/`, { method: "POST", body: { lead_time: leadTime(), claim_next: true } });
    localStorage.removeItem(localKey(clip.id));
    if (body.next && body.next.clip.id !== clip.id) await loadClip(body.next);
    else showDone();
    showBanner(`Skipped ${clip.original_name}.`, "ok", 2500); // (the last "Saved …" stayed up)
  } catch (err) {
    resumeSave(clip.id);
    showBanner(`Could not skip: ${err.message}`, "error");
  } finally {
    S.busy = false;
  }
}

// What acts on an open clip is off while none is (the empty queue's Submit and Skip did
// nothing and said nothing, and Tab walked through them); Prev and Next still look for one.
function clipButtons(on) {
  for (const action of ["undo", "redo", "skip", "submit"]) {
    const b = root.querySelector(`header [data-action=${action}]`);
    if (b) b.disabled = !on;
  }
}

function showDone() {
  S.ws = null;
  root.dataset.state = "empty";
  el.done.hidden = false;
  el.name.textContent = el.done.querySelector("h2").textContent; // the page's heading was "…"
  el.meta.textContent = "";
  clipButtons(false);
  player.load("");
  setSave("idle", "");
}

async function claimNext() {
  S.switchStarted = performance.now();
  const body = await api(`/api/projects/${projectId}/next/`, { method: "POST" });
  if (body) await loadClip(body); else showDone();
}

async function openClip(id, opts) {
  await loadClip(await api(`/api/clips/${id}/workspace/`), opts);
}

function trail() { try { return JSON.parse(sessionStorage.getItem(trailKey) || "[]"); } catch { return []; } }
// A new tab, or one reloaded after its trail was lost, starts from the clips annotated last (the
// server's list): "No earlier clip in this session." met the annotator who had just reloaded.
if (!trail().length && root.dataset.recent) {
  sessionStorage.setItem(trailKey, JSON.stringify(root.dataset.recent.split(",").map(Number).filter(Boolean)));
}
function trailPush(id) {
  const t = trail().filter((x) => x !== id);
  t.push(id);
  sessionStorage.setItem(trailKey, JSON.stringify(t.slice(-100)));
}
// While a submit is on its way the clip stays: its answer (or its conflict, and the buttons
// that settle it) belongs to this clip, and landed on the next one opened meanwhile.
function stayWhileSubmitting() {
  if (!submitting()) return false;
  showBanner("Saving this clip: wait for it to finish before moving on.", "info", 2500);
  return true;
}

async function goPrev() {
  if (stayWhileSubmitting()) return;
  const t = trail();
  const i = t.indexOf(S.ws?.clip.id);
  const prev = i > 0 ? t[i - 1] : i < 0 && t.length ? t[t.length - 1] : null;
  if (prev === null) { showBanner("No earlier clip: this is the first of those you opened or annotated last.", "info", 2500); return; }
  await openClip(prev, { push: false });
}
async function goNext() {
  if (stayWhileSubmitting()) return;
  const t = trail();
  const i = t.indexOf(S.ws?.clip.id);
  if (i >= 0 && i < t.length - 1) { await openClip(t[i + 1], { push: false }); return; }
  const before = S.ws?.clip.id;
  await claimNext();
  if (S.ws && S.ws.clip.id === before) showBanner("This is your current clip from the queue: submit or skip it to move on.", "info", 3500);
}

// --- controls and keys -----------------------------------------------------------------------
const zoomIn = () => wave.zoomBy(2, player.currentTime >= wave.start && player.currentTime <= wave.end ? player.currentTime : undefined);
const zoomOut = () => wave.zoomBy(0.5, player.currentTime >= wave.start && player.currentTime <= wave.end ? player.currentTime : undefined);
// The focus back where it was before a dialog or the search took it, if that is still on
// the page (and not the page itself, or the search); whether it went.
function focusBack(element) {
  if (!element || !element.isConnected || element === document.body || element.matches("[data-testid=label-search]")) return false;
  element.focus();
  return true;
}

// The help is a dialog: the focus goes into it (arrows scroll it), nothing acts behind it,
// Tab stays in it, and Escape or ? gives the focus back where it was.
let helpReturn = null;
const toggleHelp = () => {
  const opening = el.help.hidden;
  el.help.hidden = !opening;
  if (opening) {
    helpReturn = document.activeElement;
    el.help.querySelector(".ws-help-card").focus();
  } else {
    focusBack(helpReturn);
  }
};
el.help.addEventListener("keydown", (e) => {
  if (e.key !== "Tab") return;
  e.preventDefault();
  const card = el.help.querySelector(".ws-help-card");
  const close = card.querySelector("[data-action=help]");
  (document.activeElement === close ? card : close).focus();
});

// Seeking by key moves the view to the playhead when it leaves it (zoomed in, the arrows
// took the playhead off screen and the view stayed where it was).
function seekTo(t) {
  player.seek(Math.max(0, Math.min(t, wave.duration)));
  const at = player.currentTime;
  const span = wave.end - wave.start;
  if (at < wave.start || at > wave.end) wave.setView(at - span * 0.2, at + span * 0.8);
}

// Alt+G: a time to go to, typed (seconds, m:ss or h:mm:ss): on an hours-long recording the
// arrows' 5 s steps took 720 presses to reach the hour.
function goToTime() {
  const typed = window.prompt(`Go to time (seconds, m:ss or h:mm:ss; the clip is ${formatTime(wave.duration, 0.01)})`, formatTime(player.currentTime, 0.01));
  if (typed === null) return;
  const t = parseClock(typed);
  if (t === null || t > wave.duration) { showBanner(`Not a time in this clip: “${typed}”.`, "warn", 3000); return; }
  seekTo(t);
}

// Ctrl+← / Ctrl+→ move the selected segment's start, with Shift its end, by a hundredth of
// the view (10 ms at least): with the keyboard alone a segment could be drawn and deleted,
// never adjusted.
const NUDGE_MAX_S = 0.1;

function nudgeEdge(edge, direction) {
  const s = seg(S.selected);
  if (!s) { showBanner("Select a segment first (Tab on the waveform, or click it).", "info", 2500); return; }
  // A hundredth of the view, 10 ms to 100 ms: on a 30-minute clip seen whole a press moved an
  // edge 18 s, and a 0.38 s segment was 10 ms after two presses.
  const step = Math.min(NUDGE_MAX_S, Math.max(SNAP_S, snap((wave.end - wave.start) / 100)));
  const was = [s.start, s.end];
  if (edge === "start") s.start = snap(Math.max(0, Math.min(s.start + direction * step, s.end - SNAP_S)));
  else s.end = snap(Math.min(wave.duration, Math.max(s.end + direction * step, s.start + SNAP_S)));
  if (s.start === was[0] && s.end === was[1]) return; // at its limit: no undo step, no save
  renderRegions();
  commit("adjust segment");
  renderSide();
  root.dataset.nudged = `${s.start.toFixed(2)}-${s.end.toFixed(2)}`;
}

// Ctrl+↑ / Ctrl+↓ move the selected segment's band's top, with Shift its bottom, by a
// fiftieth of the spectrogram's height (in its scale: mel steps are finer low down): a box
// could be drawn with the mouse only. A segment of every frequency starts from the range
// shown, so the keyboard alone gives it a band.
const BAND_STEPS = 50;

function nudgeBand(edge, direction) {
  const s = seg(S.selected);
  if (!s) { showBanner("Select a segment first (Tab on the waveform, or click it).", "info", 2500); return; }
  const nyq = (S.ws?.clip.sample_rate || 0) / 2;
  if (!nyq) return;
  const was = hasBand(s) ? [s.low_freq, s.high_freq] : [spectro.shownBottom, spectro.shownTop];
  const move = (hz) => {
    const f = spectro.fracOf(hz);
    if (f < 0 || f > 1) { // an edge outside the picture: a step of the range shown, in Hz
      return Math.round(hz + (direction * (spectro.shownTop - spectro.shownBottom)) / BAND_STEPS);
    }
    return Math.round(spectro.hzAt(f + direction / BAND_STEPS));
  };
  let [low, high] = was;
  if (edge === "high") high = Math.min(nyq, Math.max(low + MIN_HZ, move(high)));
  else low = Math.max(0, Math.min(high - MIN_HZ, move(low)));
  if (low === was[0] && high === was[1]) {
    if (!hasBand(s)) showBanner(`This segment covers every frequency shown: ${edge === "high" ? "Ctrl+↓ lowers its top" : "Ctrl+Shift+↑ raises its bottom"}.`, "info", 3000);
    return; // at its limit
  }
  const before = `${s.low_freq}|${s.high_freq}`;
  Object.assign(s, bandKept({ low_freq: low, high_freq: high }));
  if (`${s.low_freq}|${s.high_freq}` === before) return;
  renderRegions();
  commit("change band", bandSaid(s));
  renderSide();
}

// Tab on the waveform walks the segments, then goes on to the next control after the last
// (before the first with Shift): elsewhere it moves the focus as everywhere.
function segmentAfter(direction) {
  if (!S.segments.length) return false;
  const order = inTimeOrder();
  const i = order.findIndex((x) => x.id === S.selected);
  if (i < 0) return true;
  return i + direction >= 0 && i + direction < order.length;
}
const toggleLoop = () => {
  const s = seg(S.selected);
  if (player.loop || !s) { player.setLoop(null); if (!s) showBanner("Select a segment to loop it.", "info", 2500); return; }
  player.setLoop(s);
  player.seek(s.start);
  player.play();
};

// A clip the browser cannot play (AIFF, CAF, W64 or AU in Chromium) or whose audio did not
// load: the audio element's error says which, once; a failed play() adds nothing to it.
const togglePlay = () => Promise.resolve(player.toggle()).catch(() => {});
el.audio.addEventListener("error", async () => {
  if (!S.ws) return;
  const c = S.ws.clip;
  const why = await whyAudioFailed(el.audio);
  if (!S.ws || S.ws.clip.id !== c.id) return; // another clip since
  // Named, encoding and rate: a 64-bit float or ADPCM WAV (or one at 1 Hz) is a WAV too, and
  // "import it as WAV" was no help.
  const what = audioDescription(c.format, c.codec, c.sample_rate);
  showBanner(audioFailureText(why, `This browser cannot play this clip's audio (${what}): label it from its waveform and spectrogram, or ask a lead to convert it (16-bit PCM WAV, FLAC, MP3 or OGG at 8 kHz or more) and import it again.`), "warn");
  root.dataset.audioError = why.kind;
});

const actions = {
  play: () => togglePlay(), submit, skip, prev: goPrev, next: goNext, undo, redo, help: toggleHelp,
  loop: toggleLoop, normalize: toggleNormalize, "zoom-in": zoomIn, "zoom-out": zoomOut, "zoom-fit": () => wave.setView(0, wave.duration),
  "accept-all": () => decideAll(true), "reject-all": () => decideAll(false),
};
// An action that fails says so (Prev and Next fetch a clip: offline, they did nothing and said
// nothing). Submit and skip keep their own messages.
const failing = (name, run) => async (...args) => {
  try { await run(...args); } catch (err) {
    // offline, fetch says "Failed to fetch": said in words, and taken down when back online
    const offline = !err.status;
    showBanner(`Could not ${name}: ${offline ? "the connection failed" : err.message || err}. Try again${offline ? " once it is back" : ""}.`, "error");
    if (offline) root.dataset.offlineBanner = "true";
  }
};
// A lead removed this annotator: nothing more is asked of the server from this page (it kept
// saving drafts, renewing its place and offering "Try again", eleven 403s in 8 s).
window.addEventListener("earmark:not-a-member", (e) => {
  if (root.dataset.removed === "true") return;
  root.dataset.removed = "true";
  for (const id of [...pendingSaves.keys()]) cancelSave(id);
  S.ws = null; // keys, saves and the lock's renewal act on nothing now
  clipButtons(false);
  setSave("offline", "Not saved: no longer a member"); // it said "Saving…" for ever
  const home = document.createElement("a");
  Object.assign(home, { href: "/", className: "button ws-banner-btn", textContent: "Your projects" });
  showBanner(`${e.detail[0].toUpperCase()}${e.detail.slice(1)}. What you had not saved stays in this browser.`, "error", 0, [home]);
  el.banner.dataset.about = "not-a-member";
});
window.addEventListener("online", () => {
  if (root.dataset.offlineBanner) { delete root.dataset.offlineBanner; hideBanner(); }
  const pending = S.submitWhenOnline;
  if (pending && S.ws && S.ws.clip.id === pending.clipId && !S.busy) {
    hideBanner();
    send(pending.expectedVersion, { replaceReviewed: pending.replaceReviewed, oneMore: pending.oneMore });
  }
});
for (const [name, verb] of [["prev", "open the previous clip"], ["next", "open the next clip"]]) actions[name] = failing(verb, actions[name]);
root.addEventListener("click", (e) => {
  const b = e.target.closest("[data-action]");
  if (b && actions[b.dataset.action]) { e.preventDefault(); actions[b.dataset.action](); }
});
el.help.addEventListener("click", (e) => { if (e.target === el.help) toggleHelp(); });
// "Not sure" and a note for the reviewer: part of the annotation (undone, autosaved, sent).
function toggleUnsure() {
  if (!S.ws) return;
  S.unsure = !S.unsure;
  commit("unsure", S.unsure ? "Marked not sure: the reviewer will see it." : "No longer marked not sure.");
  renderSide();
}
el.unsure.addEventListener("click", toggleUnsure);
// The field keeps what the server keeps; a paste past it was cut without a word. A paste is
// put in here, cut to the room left (the browser's own cut dropped a paste over a selection
// in a full field), and what was not kept is counted in characters, not UTF-16 units.
const NOTE_MAX = el.note.maxLength;
function noteLimit() {
  $("[data-testid=note-limit]").textContent = el.note.value.length >= NOTE_MAX
    ? `${NOTE_MAX.toLocaleString("en")} characters at most.` : "";
}
el.note.addEventListener("paste", (e) => {
  if (!e.clipboardData) return;
  e.preventDefault();
  const text = e.clipboardData.getData("text").replace(/[\r\n]+/g, " "); // one line
  const { selectionStart: start, selectionEnd: end, value } = el.note;
  let put = text.slice(0, Math.max(0, NOTE_MAX - (value.length - (end - start))));
  if (/[\ud800-\udbff]$/.test(put)) put = put.slice(0, -1); // never half a character
  el.note.setRangeText(put, start, end, "end");
  el.note.dispatchEvent(new Event("input", { bubbles: true }));
  const lost = [...text].length - [...put].length;
  if (lost > 0) {
    $("[data-testid=note-limit]").textContent = `${NOTE_MAX.toLocaleString("en")} characters at most: `
      + `${lost.toLocaleString("en")} pasted character${lost === 1 ? " is" : "s are"} not kept.`;
  }
});
// Escape leaves the note for the waveform, where the keys act again ("5" typed into the note
// where the label was meant, and only Tab or the mouse got out).
el.note.addEventListener("keydown", (e) => {
  if (e.key !== "Escape" || e.isComposing) return;
  e.preventDefault();
  root.querySelector(".ws-wave").focus();
});
el.note.addEventListener("input", () => {
  if (!S.ws || el.note.dataset.clip !== String(S.ws.clip.id)) return;
  if (el.note.value.length < NOTE_MAX || !$("[data-testid=note-limit]").textContent) noteLimit();
  S.note = el.note.value.slice(0, NOTE_MAX);
  scheduleSave();
});
el.note.addEventListener("change", () => {
  if (!S.ws || el.note.dataset.clip !== String(S.ws.clip.id)) return;
  S.note = el.note.value.trim().slice(0, NOTE_MAX);
  commit("note", S.note ? "Note for the reviewer kept." : "Note for the reviewer cleared.");
});
el.speed.addEventListener("change", () => player.setRate(Number(el.speed.value)));
// Off: a slower speed lowers the pitch as well (time expansion), as bat workers listen.
$("[data-testid=keep-pitch]").addEventListener("change", (e) => { el.audio.preservesPitch = e.target.checked; });
autoplay.checked = localStorage.getItem(AUTOPLAY_KEY) === "1";
autoplay.addEventListener("change", () => localStorage.setItem(AUTOPLAY_KEY, autoplay.checked ? "1" : "0"));
el.audio.addEventListener("ratechange", () => { el.speed.value = String(el.audio.playbackRate); });
el.volume.addEventListener("input", () => player.setVolume(Number(el.volume.value)));

el.wave.addEventListener("wheel", (e) => {
  e.preventDefault();
  const rect = el.wave.getBoundingClientRect();
  if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
    wave.scrollBy(((e.shiftKey ? e.deltaY : e.deltaX) / rect.width) * (wave.end - wave.start));
  } else {
    wave.zoomBy(Math.pow(1.0015, -e.deltaY), wave.timeAt(e.clientX - rect.left - el.wave.clientLeft));
  }
}, { passive: false });

let miniDrag = false;
const miniSeek = (e) => {
  const rect = el.mini.getBoundingClientRect();
  const t = ((e.clientX - rect.left) / rect.width) * wave.duration;
  const span = wave.end - wave.start;
  wave.setView(t - span / 2, t + span / 2);
};
el.mini.addEventListener("pointerdown", (e) => { miniDrag = true; el.mini.setPointerCapture(e.pointerId); miniSeek(e); });
el.mini.addEventListener("pointermove", (e) => miniDrag && miniSeek(e));
el.mini.addEventListener("pointerup", () => { miniDrag = false; });

new ResizeObserver(() => { if (S.ws) { wave.draw(); if (wave.overview) drawMini(); viewChanged(); } }).observe(el.wave);

const keys = new Hotkeys();
const K = (k, help, run, opts) => keys.bind(k, help, run, opts);
K(" ", "Play / pause", () => togglePlay(), { group: "Playback" });
// A tenth of the view, 1 s at most (Shift: half of it, 5 s at most), 10 ms at least: a short
// clip or a zoomed view is walked by key, not jumped over (→ went from a 0.4 s clip's start
// straight to its end, so `[` and `]` could mark nothing inside it).
const seekStep = (wide) => Math.max(SNAP_S, Math.min(wide ? 5 : 1, (wave.end - wave.start) / (wide ? 2 : 10)));
K("ArrowLeft", "Back 1 s (a tenth of a shorter view)", () => seekTo(player.currentTime - seekStep(false)), { group: "Playback" });
K("ArrowRight", "Forward 1 s (a tenth of a shorter view)", () => seekTo(player.currentTime + seekStep(false)), { group: "Playback" });
K("shift+ArrowLeft", "Back 5 s (half a shorter view)", () => seekTo(player.currentTime - seekStep(true)), { group: "Playback" });
K("shift+ArrowRight", "Forward 5 s (half a shorter view)", () => seekTo(player.currentTime + seekStep(true)), { group: "Playback" });
K("Home", "To the start", () => seekTo(0), { group: "Playback" });
K("End", "To the end", () => seekTo(wave.duration - 0.01), { group: "Playback" });
K("alt+g", "Go to a time (typed)", goToTime, { group: "Playback" });
K(["<", ">"], "Slower / faster (0.1× to 2×)", (e) => player.stepRate(e.key === "<" ? -1 : 1), { group: "Playback" });
K("alt+l", "Loop the selected segment", toggleLoop, { group: "Playback" });
K(["+", "="], "Zoom in", zoomIn, { group: "View" });
K("-", "Zoom out", zoomOut, { group: "View" });
K("f", "Whole clip (fit)", () => wave.setView(0, wave.duration), { group: "View" });
K("alt+n", "Normalize the waveform on / off (scale it to the clip's loudest point)", toggleNormalize, { group: "View" });
K("[", "Mark a segment's start at the playhead", () => segmentAtPlayhead("start"), { group: "Segments" });
K("]", "End the segment at the playhead (alone: a 1 s segment)", () => segmentAtPlayhead("end"), { group: "Segments" });
K(["Tab", "shift+Tab"], "On the waveform: next / previous segment (then on to the other controls)", (e) => cycleSegment(e.shiftKey ? -1 : 1), {
  group: "Segments",
  when: (e) => Boolean(e.target.closest && e.target.closest(".ws-wave")) && segmentAfter(e.shiftKey ? -1 : 1),
});
K(["ctrl+ArrowLeft", "ctrl+ArrowRight"], "Move the selected segment's start earlier / later", (e) => nudgeEdge("start", e.key === "ArrowLeft" ? -1 : 1), { group: "Segments" });
K(["ctrl+shift+ArrowLeft", "ctrl+shift+ArrowRight"], "Move its end earlier / later", (e) => nudgeEdge("end", e.key === "ArrowLeft" ? -1 : 1), { group: "Segments" });
K(["ctrl+ArrowUp", "ctrl+ArrowDown"], "Move the selected segment's band's top higher / lower (a segment of every frequency gets a band)", (e) => nudgeBand("high", e.key === "ArrowUp" ? 1 : -1), { group: "Segments" });
K(["ctrl+shift+ArrowUp", "ctrl+shift+ArrowDown"], "Move its band's bottom higher / lower", (e) => nudgeBand("low", e.key === "ArrowUp" ? 1 : -1), { group: "Segments" });
K(["Delete", "Backspace"], "Delete the selected segment", () => S.selected !== null && removeSegment(S.selected), { group: "Segments" });
K("Escape", "Deselect / close", () => { if (!el.help.hidden) toggleHelp(); else { S.markAt = null; el.mark.hidden = true; select(null); } }, { group: "Segments", inModal: true });
let searchReturn = null; // the focus before "/": it goes back there after Enter or Escape
K("/", "Search labels (↑ ↓ Enter to pick, Esc to leave)", () => {
  searchReturn = document.activeElement;
  $("[data-testid=label-search]").focus();
}, { group: "Labels" });
K("alt+a", "Accept all suggestions", () => decideAll(true), { group: "Labels" });
K("alt+r", "Reject all suggestions", () => decideAll(false), { group: "Labels" });
K("alt+u", "Not sure of this clip's labels (on / off): the reviewer sees it", toggleUnsure, { inInputs: true, group: "Labels" });
K("ctrl+Enter", "Submit and load the next clip", submit, { inInputs: true, group: "Clip" });
K("ctrl+shift+Enter", "Skip this clip", skip, { inInputs: true, group: "Clip" });
K("PageUp", "Previous clip", actions.prev, { group: "Clip" });
K("PageDown", "Next clip", actions.next, { group: "Clip" });
K("ctrl+z", "Undo", undo, { group: "Clip" });
K(["ctrl+shift+z", "ctrl+y"], "Redo", redo, { group: "Clip" });
K("?", "This help", toggleHelp, { group: "Clip", inModal: true });
keys.modal = () => !el.help.hidden;
keys.fallback = (combo) => {
  const label = ontology && ontology.byHotkey.get(combo);
  if (!label) return false;
  if (!ontology.selectable(label)) { showBanner(`${label.path} has kinds now; this project takes leaf labels: choose one of its kinds.`, "warn", 3000); return true; }
  picker.pick(label.path);
  return true;
};

window.addEventListener("popstate", () => {
  const m = location.pathname.match(/^\/clips\/(\d+)\/annotate\/$/);
  if (!m || (S.ws && Number(m[1]) === S.ws.clip.id)) return;
  if (stayWhileSubmitting()) {
    history.pushState({ clip: S.ws.clip.id }, "", `/clips/${S.ws.clip.id}/annotate/${root.dataset.queue === "1" ? "?queue=1" : ""}`);
    return;
  }
  openClip(Number(m[1]), { push: false });
});

// --- keeping the clip's place ------------------------------------------------------------------
// The queue locks a clip to an annotator for the project's lock time; drafts renewed it, so one
// who listened for a quarter of an hour without an edit lost it, and the queue handed the clip
// on with no word here. While the annotator is active (a key or a press in the last minute) the
// workspace renews it; an idle tab lets it go, as it should. The answer `full` (the clip has all
// the annotations it wants without this one: taken meanwhile, or opened by its address when
// full) is said once per clip: submitting still saves, one annotation more.
const KEEP_MS = 60_000;
let activeSinceKeep = true;
let lastKeep = performance.now();
// Back at work after an idle spell: the place is asked for at once, not at the next minute's
// beat (a quick submit meanwhile made one annotation more without a word).
for (const type of ["keydown", "pointerdown"]) {
  document.addEventListener(type, () => {
    const back = !activeSinceKeep && performance.now() - lastKeep > KEEP_MS;
    activeSinceKeep = true;
    if (back) keepPlace();
  }, { capture: true, passive: true });
}
async function keepPlace() {
  const ws = S.ws;
  if (!ws || !activeSinceKeep || document.hidden) return;
  activeSinceKeep = false;
  lastKeep = performance.now();
  try {
    // A place is taken for a clip the queue handed out (it holds one already) or once the
    // annotator works on it; a clip opened by its address only to look takes none.
    const take = Boolean(ws.lock_expires_at || ws.draft || S.undo.length > 1);
    const kept = await api(`/api/clips/${ws.clip.id}/lock/`, { method: "POST", body: { take } });
    root.dataset.place = kept.held ? "held" : kept.full ? "full" : "free";
    if (kept.full && S.ws === ws && !ws.fullSaid) {
      ws.fullSaid = true;
      const wants = kept.wanted === 1 ? "the annotation" : `the ${kept.wanted} annotations`;
      // Full of annotations, or of annotators at work on it (their places are held).
      const why = kept.annotations >= kept.wanted
        ? `This clip has ${wants} the project wants without yours`
        : `Other annotators are at work on this clip, in the places the project has for it (${kept.wanted})`;
      showBanner(`${why}: yours would be one more (Submit asks first). Skip it (Ctrl+Shift+Enter) for a clip that needs you.`, "warn", 0);
    }
  } catch {
    // a heartbeat that fails says nothing: the next one, or the submission, will
  }
}
setInterval(keepPlace, KEEP_MS);

// --- start -----------------------------------------------------------------------------------
async function start() {
  const data = JSON.parse(document.getElementById("workspace-data").textContent);
  const first = data ? loadClip(data) : claimNext();
  const o = await ontologyReady;
  picker = new LabelPicker(root.querySelector(".ws-side"), o, {
    projectId,
    onPick: (label) => applyLabel(label),
    isActive: () => { const s = seg(S.selected); return s ? s.labels : S.clipLabels; },
    onLeave: () => {
      const back = searchReturn;
      searchReturn = null;
      if (!focusBack(back)) document.activeElement.blur();
    },
  });
  const labelKeys = [...o.byHotkey.entries()].map(([combo, l]) => ({
    keys: [l.hotkey],
    help: keys.has(combo) ? `${l.path} (taken by the workspace)` : o.selectable(l) ? l.path : `${l.path} (has kinds: choose one of them)`,
    group: "Label hotkeys",
  }));
  const gestures = [
    { keys: ["drag"], help: "Mark a segment on all channels", group: "Segments" },
    { keys: ["wheel"], help: "Zoom around the pointer (a trackpad's pinch too)", group: "View" },
    { keys: ["shift+wheel"], help: "Scroll (a sideways swipe too)", group: "View" },
    { keys: ["shift+drag"], help: "A new segment even over another one (overlapping sounds); on a multi-channel clip, on the channel whose lane the drag starts in (the segment list changes a segment's channel)", group: "Segments" },
    { keys: ["drag on the spectrogram"], help: "Mark a segment with a frequency band (a box); drag a box to move it, its edges or corners to resize it, or type its band in the segment list", group: "Segments" },
    { keys: ["shift+drag on the spectrogram"], help: "A new box even where the drag starts on another one", group: "Segments" },
  ];
  keys.renderHelp($(".ws-help-body"), [...gestures, ...labelKeys]);
  renderSide();
  await first;
  root.dataset.ready = "true";
}
start().catch((err) => { console.error(err); showBanner(`The workspace could not start: ${err.message}`, "error"); });
