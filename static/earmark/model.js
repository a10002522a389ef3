// The model page: polls /api/projects/<id>/model/ and shows jobs with progress bars,
// versions with their metrics, the active-learning settings and simulated learning curves.
import { api } from "./api.js";
import { el } from "./dom.js";

const root = document.getElementById("model-page");
const projectId = root.dataset.project;
const isLead = root.dataset.lead === "1";
const pct = (v) => (v === undefined || v === null ? "–" : `${(100 * v).toFixed(1)}%`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");


function bar(fraction, label) {
  const fill = el("div", { class: "fill" });
  const value = Math.round(100 * Math.max(0, Math.min(1, fraction)));
  fill.style.width = `${value}%`;
  return el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": String(value), "aria-label": label }, fill);
}

// A job's status as the last poll saw it: a change (a training that succeeded, a
// pre-labeling cancelled) is said in a live region; the list itself is redrawn at every poll
// and is not one.
const seen = new Map();

function announce(jobs) {
  const changes = [];
  for (const job of jobs) {
    const key = `${job.kind}#${job.id}`;
    const before = seen.get(key);
    if (before !== undefined && before !== job.status) changes.push(`${job.kind} #${job.id} ${job.status}`);
    seen.set(key, job.status);
  }
  if (changes.length) root.querySelector("[data-testid=job-news]").textContent = `${changes.join("; ")}.`;
}

function renderJobs(data) {
  const box = root.querySelector("[data-testid=jobs]");
  box.replaceChildren();
  const all = [
    ...data.training_runs.map((r) => ({ kind: "training", ...r })),
    // A queued run has not counted its clips yet ("0/0 clips" it said).
    ...data.prelabel_runs.map((r) => ({ ...r, kind: r.job_name, message: r.total ? `${r.done}/${r.total} clips` : "" })),
  ].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  // The newest 12, and the newest of each kind however old: seven strategy changes (a
  // ranking each) pushed the last training and its pre-labeling off the list.
  const jobs = all.slice(0, 12);
  for (const job of all.slice(12)) if (!jobs.some((j) => j.kind === job.kind)) jobs.push(job);
  announce(jobs);
  // The line above the jobs says why none starts when none can; this one must not contradict it.
  if (!jobs.length) box.append(el("p", { class: "muted" }, data.waiting ? "No jobs yet." : "No jobs yet. Training starts by itself once enough clips are labeled."));
  for (const job of jobs) {
    const live = job.status === "queued" || job.status === "running";
    const row = el("div", { class: `job job-${job.status}`, dataset: { testid: "job", status: job.status, kind: job.kind } },
      el("div", { class: "job-head" },
        el("strong", {}, `${job.kind} #${job.id}`), " ",
        el("span", { class: `status status-${job.status}` }, job.status), " ",
        el("span", { class: "muted" }, `${job.message || ""} ${job.error ? `— ${job.error}` : ""} · ${when(job.created_at)}`)),
      bar(job.status === "succeeded" ? 1 : job.progress || 0, `${job.kind} #${job.id}`));
    if (live && isLead) {
      // Asked already (here, in another tab or by the API): not offered again beside its
      // "cancelling…" (the next poll drew an enabled "Cancel" back). A pre-labeling's cancel
      // takes effect at once (it stops at its next batch), so it has no "cancelling…".
      const training = job.kind === "training";
      const asked = Boolean(job.cancel_requested);
      const url = training ? `/api/training-runs/${job.id}/cancel/` : `/api/prelabel-runs/${job.id}/cancel/`;
      const keeps = training ? "The active version stays as it is."
        : "Clips scored so far keep their predictions; the queue keeps its order until the next run.";
      row.querySelector(".job-head").append(" ", el("button", {
        dataset: { testid: "cancel" },
        disabled: asked,
        "aria-label": `Cancel ${job.kind} #${job.id}`,
        onclick: async (e) => {
          if (!window.confirm(`Cancel ${job.kind} #${job.id}? ${keeps}`)) return;
          e.target.disabled = true;
          e.target.textContent = "Cancelling…";
          try { await api(url, { method: "POST" }); } catch (err) { note(err.message); }
          refresh();
        },
      }, asked ? "Cancelling…" : "Cancel"));
    }
    box.append(row);
  }
  return jobs.some((j) => j.status === "queued" || j.status === "running");
}

// A rollback: an earlier version made active again (the queue is scored by it anew).
function activateButton(v) {
  return el("button", {
    type: "button", class: "link", dataset: { testid: "activate" }, "aria-label": `Make ${v.name} the active version`,
    onclick: async (e) => {
      if (!window.confirm(`Make ${v.name} the active version again? Its predictions rank the queue, and the next training starts from it.`)) return;
      e.target.disabled = true;
      try {
        await api(`/api/model-versions/${v.id}/activate/`, { method: "POST" });
        note(`${v.name} is the active version again; the unlabeled clips are being scored by it.`);
        // Said again when that scoring ends (the end of the jobs cleared it within a second).
        afterJobs = `${v.name} is the active version again; the unlabeled clips are scored by it.`;
      } catch (err) { note(err.message); e.target.disabled = false; }
      refresh();
    },
  }, "Make active");
}

// Where a version's figures come from: with too few labels to hold some out, they are
// training figures, which flatter the model; say so in the row, not only for the active one.
// Grouped by a metadata field, the row says how many of its values were held out.
function evaluatedOn(m) {
  const by = m.validation_group_by;
  if (m.evaluated_on === "training") {
    const why = by && m.groups != null && m.groups < 4
      ? `only ${m.groups} ${by} value${m.groups === 1 ? "" : "s"} among the labeled clips: holding one out needs 4 or more`
      : "too few labels to hold out a validation set";
    return el("td", { class: "warn", dataset: { testid: "evaluated-on" }, title: `${why}: these figures flatter the model` }, "training set");
  }
  if (by && m.val_groups != null && m.groups != null) {
    const alone = m.clips_without_group ? ` (${m.clips_without_group} clips without a ${by} each count as their own)` : "";
    return el("td", { class: "muted", dataset: { testid: "evaluated-on" }, title: `whole groups held out: clips of one ${by} are never on both sides${alone}` },
      `validation set: ${m.val_groups} of ${m.groups} ${by} groups`);
  }
  return el("td", { class: "muted", dataset: { testid: "evaluated-on" } }, m.evaluated_on ? `${m.evaluated_on} set` : "–");
}

// What a version's training started from: the version before it (a warm start), the
// feature extractor pretrained on the project's own clips (a first training), or nothing.
function startedFrom(m) {
  const cell = el("td", { class: "muted", dataset: { testid: "started-from" } });
  if (m.pretraining) {
    const p = m.pretraining;
    // What changed since the version before ("the sample rate changed ... since v4") is
    // said after the word, as the plain started-from text says it.
    const note = /\(.*\)$/.exec(m.started_from || "");
    cell.textContent = note ? `pretrained ${note[0]}` : "pretrained";
    cell.title = `a feature extractor pretrained without labels on ${p.windows.toLocaleString()} windows of this project's clips (${p.steps} steps${p.seconds ? `, ${Math.round(p.seconds)} s` : ""})`;
  } else {
    cell.textContent = m.started_from || "–";
  }
  // The epochs it ran (of the planned: the setting is a floor for few labels, and said so).
  if (m.epochs_run) {
    cell.append(` · ${m.epochs_run}${m.epochs_planned ? ` of ${m.epochs_planned}` : ""} epochs`);
    if (m.epochs_note) cell.title = [cell.title, m.epochs_note].filter(Boolean).join("; ");
  }
  return cell;
}

// What the active version suggests in the workspace: nothing under 0.4 macro-F1, no segments
// before it learned from 20 clips labeled by segments (labelapp.selectors.clip_suggestions).
function suggestionsNote(active) {
  const note = root.querySelector("[data-testid=suggestions-note]");
  const m = (active && active.metrics) || {};
  let text = "";
  if (active && typeof m.macro_f1 === "number" && m.macro_f1 < 0.4) {
    text = `${active.name} suggests nothing in the workspace yet: its macro-F1 is ${m.macro_f1.toFixed(2)}, and suggestions come from 0.4.`;
  } else if (active && typeof m.segment_examples === "number" && m.segment_examples < 20) {
    text = `${active.name} suggests clip labels, not segments: it learned from ${m.segment_examples} clip${m.segment_examples === 1 ? "" : "s"} labeled by segments, and segments are suggested from 20.`;
  }
  note.textContent = text;
  note.hidden = !text;
}

function renderVersions(data) {
  suggestionsNote(data.active);
  const body = root.querySelector("[data-testid=versions] tbody");
  body.replaceChildren();
  const table = root.querySelector("[data-testid=versions]");
  let more = root.querySelector("[data-testid=versions-more]");
  if (data.versions_total > data.versions.length && !more) {
    more = el("button", { type: "button", class: "link", dataset: { testid: "versions-more" },
      onclick: () => { allVersions = true; more.remove(); refresh(); } }, `Show all ${data.versions_total} versions`);
    table.after(more);
  } else if (more) {
    more.textContent = `Show all ${data.versions_total} versions`;
  }
  for (const v of data.versions) {
    const m = v.metrics || {};
    body.append(el("tr", { dataset: { testid: "version", status: v.status } }, el("td", {}, v.name), el("td", {}, el("span", { class: `status status-${v.status}` }, v.status)),
      el("td", {}, String(v.training_size)),
      el("td", m.micro_f1 != null ? { title: "exact match: every label of a clip right" } : {}, m.micro_f1 != null ? `${pct(m.accuracy)} exact` : pct(m.accuracy)),
      el("td", {}, m.micro_f1 != null ? pct(m.micro_f1) : "–"), el("td", {}, pct(m.macro_f1)),
      el("td", {}, pct(m.map ?? m.mAP)), evaluatedOn(m), startedFrom(m), el("td", {}, when(v.created_at)),
      el("td", {}, isLead && v.status === "retired" ? activateButton(v) : null)));
  }
  const stats = root.querySelector("[data-testid=model-stats]");
  const active = data.active;
  const am = active ? active.metrics : {};
  // Multi-label: accuracy is exact match (every label of a clip right), so micro-F1 is shown
  // beside it: "0.0% accuracy" at 65% F1 read as a broken model.
  const multi = am.micro_f1 != null;
  const measured = am.evaluated_on === "training" ? "training" : "validation";
  stats.replaceChildren(...[
    el("div", { class: "stat" }, el("span", { class: "num", dataset: { testid: "active-version" } }, active ? active.name : "none"), el("span", {}, "active version")),
    el("div", { class: "stat" }, el("span", { class: "num" }, active ? pct(am.accuracy) : "–"), el("span", {}, `${measured} ${multi ? "exact-match accuracy (every label of a clip right)" : "accuracy"}${measured === "training" ? " (too few labels to hold out)" : ""}`)),
    multi ? el("div", { class: "stat" }, el("span", { class: "num", dataset: { testid: "micro-f1" } }, pct(am.micro_f1)), el("span", {}, `${measured} micro-F1 (all labels together)`)) : null,
    el("div", { class: "stat" }, el("span", { class: "num" }, String(data.config.labels_since_training)), el("span", {}, "labels since training")),
  ].filter(Boolean));
  const waiting = root.querySelector("[data-testid=model-waiting]");
  waiting.textContent = data.waiting || "";
  waiting.hidden = !data.waiting;
  renderPerClass(active);
}

// The active version's figures per class, worst F1 first (where a lead wants more labels),
// read once per version: the page's poll carries headlines only.
let perClassFor = null;

// Predictions imported with Label Studio tasks: listed by source, and what the workspace does
// with them (suggests them until the project's own model is active).
function renderExternal(sources, active) {
  const card = root.querySelector("[data-testid=external-versions]");
  card.hidden = !sources.length;
  if (!sources.length) return;
  card.querySelector(".external-note").textContent = active
    ? `The workspace suggests ${active.name}'s predictions; these stay with their clips.`
    : "The workspace suggests these until a model of the project's own is active.";
  card.querySelector("tbody").replaceChildren(...sources.map((s) => el("tr", {},
    el("td", {}, s.name),
    el("td", {}, s.clips.toLocaleString("en")),
    el("td", { class: "muted" }, new Date(s.created_at).toLocaleString()))));
}

async function renderPerClass(active) {
  const card = root.querySelector("[data-testid=per-class]");
  const key = active ? `${active.id}:${active.metrics?.evaluated_on}` : null;
  if (key === perClassFor) return;
  perClassFor = key;
  if (!active) { card.hidden = true; return; }
  let version;
  try {
    version = await api(`/api/model-versions/${active.id}/`); // its classes named as they are now
  } catch { perClassFor = null; return; } // tried again at the next poll
  if (perClassFor !== key) return; // another version became active meanwhile
  const rows = version.metrics?.per_class || [];
  const ids = version.classes || [];
  if (!rows.length || rows.length !== ids.length) { card.hidden = true; return; }
  const order = rows.map((r, i) => i).sort((a, b) => (rows[a].f1 - rows[b].f1) || (rows[a].support - rows[b].support));
  card.querySelector(".per-class-version").textContent = version.name;
  const m = version.metrics;
  card.querySelector(".per-class-note").textContent = m.evaluated_on === "training"
    ? `Measured on the ${m.n ?? ""} clips it trained on (too few labels to hold some out): these figures flatter it. Worst F1 first.`
    : `Measured on ${m.n ?? "the"} held-out clips; worst F1 first: the labels that need more examples come first.`;
  card.querySelector("tbody").replaceChildren(...order.map((i) => {
    const r = rows[i];
    return el("tr", { dataset: { testid: "per-class-row" } },
      el("td", {}, version.class_paths[i]),
      el("td", {}, pct(r.precision)), el("td", {}, pct(r.recall)), el("td", {}, pct(r.f1)),
      el("td", {}, pct(r.ap)), el("td", {}, String(r.support)));
  }));
  card.hidden = false;
}

// The settings changed on this page and not saved yet: only they are sent (a Save sent every
// field, and undid a setting changed elsewhere since the page loaded); while there are some,
// the form no longer follows the server's values.
const edited = new Set();

function renderConfig(config) {
  const form = document.getElementById("ml-config");
  // The settings follow the server's while nobody edits them here: a change made elsewhere
  // (the API, another tab) was reverted by the next Save of a page loaded before it.
  if (!edited.size) {
    form.strategy.value = config.strategy;
    form.retrain_every.value = config.retrain_every;
    form.retrain_growth_pct.value = +(config.retrain_growth * 100).toFixed(2);
    form.min_labels.value = config.min_labels;
    form.validation_group_by.value = config.validation_group_by || "";
    form.enabled.checked = config.enabled;
  }
  if (form.dataset.loaded) return;
  form.dataset.loaded = "1";
  for (const input of form.elements) input.disabled = !isLead && input.tagName !== "BUTTON";
  const note = form.querySelector(".saved-note");
  // A change after a save is not saved yet: "saved" stayed beside a value the browser then
  // refused to send (900%), as if it had been.
  form.addEventListener("input", (e) => {
    note.textContent = "not saved yet";
    edited.add(e.target.name);
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    note.textContent = "saving…";
    try {
      const all = {
        strategy: form.strategy.value, retrain_every: Number(form.retrain_every.value),
        retrain_growth: Number(form.retrain_growth_pct.value) / 100,
        min_labels: Number(form.min_labels.value), enabled: form.enabled.checked,
        validation_group_by: form.validation_group_by.value.trim() };
      const named = { retrain_growth_pct: "retrain_growth" };
      const body = {};
      for (const field of edited) body[named[field] || field] = all[named[field] || field];
      if (Object.keys(body).length) await api(`/api/projects/${projectId}/model/`, { method: "PATCH", body });
      note.textContent = "saved";
      edited.clear();
      refresh(); // what the change means (automatic training off, a new threshold) shows now
    } catch (err) { note.textContent = err.message; }
  });
}

// Learning curves of the last `simulate_al` run: one SVG line chart per metric, the mean
// curve of each strategy against labels used, random dashed.
const SVG = "http://www.w3.org/2000/svg";
const COLORS = ["#4f7cff", "#3ccf91", "#f4b740", "#ff6b6b", "#b48cff", "#4fd1e8", "#ff9f5a"];

function svg(tag, attrs = {}, text = "") {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text) node.textContent = text;
  return node;
}

function curveChart(strategies, metric, title) {
  const W = 460, H = 260, L = 44, R = 12, T = 26, B = 36;
  const names = Object.keys(strategies);
  const xs = names.flatMap((n) => strategies[n].mean.map((p) => p.labels));
  const xMax = Math.max(1, ...xs);
  const x = (v) => L + (v / xMax) * (W - L - R);
  const y = (v) => T + (1 - v) * (H - T - B);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "curve-chart", role: "img",
    "aria-label": `${title} against labels used`, "data-testid": `curve-${metric}` });
  chart.append(svg("text", { x: L, y: 16, fill: "currentColor", "font-size": 13 }, title));
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { x1: L, x2: W - R, y1: y(t), y2: y(t), stroke: "#2a3242" }),
      svg("text", { x: L - 6, y: y(t) + 4, "text-anchor": "end", fill: "#8b94a7", "font-size": 10 }, t.toFixed(2)));
  }
  for (const t of [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * xMax))) {
    chart.append(svg("text", { x: x(t), y: H - B + 14, "text-anchor": "middle", fill: "#8b94a7", "font-size": 10 }, String(t)));
  }
  chart.append(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", fill: "#8b94a7", "font-size": 11 }, "labels used"));
  names.forEach((name, i) => {
    const pts = strategies[name].mean.filter((p) => p[metric] !== null && p[metric] !== undefined);
    if (!pts.length) return;
    const color = name === "random" ? "#e6e9ef" : COLORS[i % COLORS.length];
    const line = svg("polyline", { fill: "none", stroke: color, "stroke-width": 2,
      points: pts.map((p) => `${x(p.labels).toFixed(1)},${y(p[metric]).toFixed(1)}`).join(" "),
      "data-strategy": name });
    if (name === "random") line.setAttribute("stroke-dasharray", "5 4");
    chart.append(line);
    for (const p of pts) {
      const dot = svg("circle", { cx: x(p.labels), cy: y(p[metric]), r: 2.5, fill: color });
      dot.append(svg("title", {}, `${name}: ${p.labels} labels, ${title.toLowerCase()} ${pct(p[metric])}`));
      chart.append(dot);
    }
    // Bottom right: learning curves end high on the right, where the names lay on them.
    chart.append(svg("text", { x: W - R - 4, y: H - B - 8 - 14 * (names.length - 1 - i), "text-anchor": "end", fill: color, "font-size": 11, "data-legend": name }, name));
  });
  return chart;
}

function renderCurves(curves) {
  const box = root.querySelector("[data-testid=learning-curves]");
  const key = curves && curves.created_at;
  if (!key || box.dataset.shown === key) return;
  box.dataset.shown = key;
  const s = curves.settings || {};
  box.querySelector(".curves-note").textContent =
    `Simulated ${new Date(curves.created_at).toLocaleString()}: a pool of ${curves.pool_size} labeled clips, ` +
    `tested on ${curves.test_size} other clips; ${s.seed_size} labels first (the cold start's diverse clips; ` +
    `random's in shuffled order), then ${s.batch} per round up to ${s.budget}; ` +
    (s.repeats === 1 ? "one run per strategy." : `mean of ${s.repeats} runs per strategy.`);
  box.querySelector(".curves").replaceChildren(
    curveChart(curves.strategies, "accuracy", "Accuracy"),
    curveChart(curves.strategies, "macro_f1", "Macro-F1"));
}

let timer = 0;
let wasBusy = false;
let lostPoll = false;
// The newest 50 versions, or every one once asked for ("Show all N versions").
let allVersions = false;

async function refresh() {
  clearTimeout(timer);
  let data;
  try {
    data = await api(`/api/projects/${projectId}/model/${allVersions ? "?versions=all" : ""}`);
  } catch (err) {
    // One failed poll stopped the page for good (the next was never set): said, and tried
    // again.
    note(`Could not refresh (${err.message || "the connection failed"}); trying again.`);
    lostPoll = true;
    timer = setTimeout(refresh, 5000);
    return;
  }
  if (lostPoll) { lostPoll = false; note(""); }
  renderVersions(data);
  renderExternal(data.external_versions || [], data.active);
  renderConfig(data.config);
  renderCurves(data.config.learning_curves);
  const busy = renderJobs(data);
  // A note about the jobs ("a training is already queued or running", "a training on few
  // labels") is out of date once they are over.
  if (wasBusy && !busy) { note(afterJobs); afterJobs = ""; }
  wasBusy = busy;
  timer = setTimeout(refresh, busy ? 1000 : 5000);
}

// What the note says once the jobs running are over ("" clears it): what an action that
// started them did, rather than nothing.
let afterJobs = "";

// What a refused action says (a training already running: 409), beside the buttons, not in an
// alert that blocks the page.
function note(text) {
  const box = document.querySelector("[data-testid=action-note]");
  if (!box) return;
  box.textContent = text;
  box.hidden = !text;
}

async function post(path, button) {
  button.disabled = true;
  note("");
  afterJobs = "";
  // A refusal, or what the server says about a request it took (a training on few labels).
  try { note((await api(path, { method: "POST" }))?.note || ""); } catch (err) { note(err.message); }
  button.disabled = false;
  refresh();
}

document.getElementById("train")?.addEventListener("click", (e) => post(`/api/projects/${projectId}/train/`, e.target));
document.getElementById("prelabel")?.addEventListener("click", (e) => post(`/api/projects/${projectId}/prelabel/`, e.target));
refresh();
