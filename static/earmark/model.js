// The model page: polls /api/projects/<id>/model/ and shows jobs with progress bars,
// versions with their metrics, and the active-learning settings.
import { api } from "./api.js";

const root = document.getElementById("model-page");
const projectId = root.dataset.project;
const isLead = root.dataset.lead === "1";
const pct = (v) => (v === undefined || v === null ? "–" : `${(100 * v).toFixed(1)}%`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function bar(fraction) {
  const fill = el("div", { class: "fill" });
  fill.style.width = `${Math.round(100 * Math.max(0, Math.min(1, fraction)))}%`;
  return el("div", { class: "bar" }, fill);
}

function renderJobs(data) {
  const box = root.querySelector("[data-testid=jobs]");
  box.replaceChildren();
  const jobs = [
    ...data.training_runs.map((r) => ({ kind: "training", ...r })),
    ...data.prelabel_runs.map((r) => ({ kind: "pre-labeling", ...r, message: `${r.done}/${r.total} clips` })),
  ].sort((a, b) => (a.created_at < b.created_at ? 1 : -1)).slice(0, 12);
  if (!jobs.length) box.append(el("p", { class: "muted" }, "No jobs yet. Training starts by itself once enough clips are labeled."));
  for (const job of jobs) {
    const live = job.status === "queued" || job.status === "running";
    const row = el("div", { class: `job job-${job.status}`, dataset: { testid: "job", status: job.status, kind: job.kind } },
      el("div", { class: "job-head" },
        el("strong", {}, `${job.kind} #${job.id}`), " ",
        el("span", { class: `status status-${job.status}` }, job.status), " ",
        el("span", { class: "muted" }, `${job.message || ""} ${job.error ? `— ${job.error}` : ""} · ${when(job.created_at)}`)),
      bar(job.status === "succeeded" ? 1 : job.progress || 0));
    if (live && isLead && job.kind === "training") {
      row.querySelector(".job-head").append(" ", el("button", {
        dataset: { testid: "cancel" },
        onclick: async () => { await api(`/api/training-runs/${job.id}/cancel/`, { method: "POST" }); refresh(); },
      }, "Cancel"));
    }
    box.append(row);
  }
  return jobs.some((j) => j.status === "queued" || j.status === "running");
}

function renderVersions(data) {
  const body = root.querySelector("[data-testid=versions] tbody");
  body.replaceChildren();
  for (const v of data.versions) {
    const m = v.metrics || {};
    body.append(el("tr", {}, el("td", {}, v.name), el("td", {}, el("span", { class: `status status-${v.status}` }, v.status)),
      el("td", {}, String(v.training_size)), el("td", {}, pct(m.accuracy)), el("td", {}, pct(m.macro_f1)),
      el("td", {}, pct(m.map ?? m.mAP)), el("td", {}, when(v.created_at))));
  }
  const stats = root.querySelector("[data-testid=model-stats]");
  const active = data.active;
  stats.replaceChildren(
    el("div", { class: "stat" }, el("span", { class: "num", dataset: { testid: "active-version" } }, active ? active.name : "none"), el("span", {}, "active version")),
    el("div", { class: "stat" }, el("span", { class: "num" }, active ? pct(active.metrics.accuracy) : "–"), el("span", {}, active && active.metrics.evaluated_on === "training" ? "training accuracy (too few labels to hold out)" : "validation accuracy")),
    el("div", { class: "stat" }, el("span", { class: "num" }, String(data.config.labels_since_training)), el("span", {}, "labels since training")));
}

function renderConfig(config) {
  const form = document.getElementById("ml-config");
  if (form.dataset.loaded) return;
  form.dataset.loaded = "1";
  form.strategy.value = config.strategy;
  form.retrain_every.value = config.retrain_every;
  form.min_labels.value = config.min_labels;
  form.enabled.checked = config.enabled;
  for (const input of form.elements) input.disabled = !isLead && input.tagName !== "BUTTON";
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const note = form.querySelector(".saved-note");
    try {
      await api(`/api/projects/${projectId}/model/`, { method: "PATCH", body: {
        strategy: form.strategy.value, retrain_every: Number(form.retrain_every.value),
        min_labels: Number(form.min_labels.value), enabled: form.enabled.checked } });
      note.textContent = "saved";
    } catch (err) { note.textContent = err.message; }
  });
}

let timer = 0;
async function refresh() {
  clearTimeout(timer);
  const data = await api(`/api/projects/${projectId}/model/`);
  renderVersions(data);
  renderConfig(data.config);
  const busy = renderJobs(data);
  timer = setTimeout(refresh, busy ? 1000 : 5000);
}

async function post(path, button) {
  button.disabled = true;
  try { await api(path, { method: "POST" }); } catch (err) { alert(err.message); }
  button.disabled = false;
  refresh();
}

document.getElementById("train")?.addEventListener("click", (e) => post(`/api/projects/${projectId}/train/`, e.target));
document.getElementById("prelabel")?.addEventListener("click", (e) => post(`/api/projects/${projectId}/prelabel/`, e.target));
refresh();
