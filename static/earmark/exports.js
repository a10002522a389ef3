// The exports page: start an export job from the form, poll the project's jobs and show each
// with a progress bar, its counts and a download link once it is done.
import { api } from "./api.js";
import { el } from "./dom.js";

const root = document.getElementById("exports-page");
const projectId = root.dataset.project;
const form = document.getElementById("export-form");
const POLL_MS = 1000;
let timer = null;


function bar(fraction, label) {
  const fill = el("div", { class: "fill", dataset: { testid: "export-bar" } });
  const pct = Math.round(100 * Math.max(0, Math.min(1, fraction)));
  fill.style.width = `${pct}%`;
  return el("div", { class: "bar", role: "progressbar", "aria-valuenow": String(pct), "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": label }, fill);
}

const size = (n) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KB` : `${n} B`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");

function describe(job) {
  const parts = [];
  const f = job.filters || {};
  for (const [key, value] of Object.entries(f)) parts.push(`${key}: ${[].concat(value).join(", ")}`);
  const s = job.summary;
  if (s && s.split_sizes) {
    if (s.group_by) parts.push(`grouped by ${s.group_by}`);
    parts.push(Object.entries(s.split_sizes).map(([k, v]) => `${k} ${v}`).join(" · "));
    if (s.kept_splits_of) parts.push(`${s.clips_kept} clip${s.clips_kept === 1 ? "" : "s"} kept their split from #${s.kept_splits_of}`);
  }
  else if (s && s.tasks !== undefined) parts.push(`${s.tasks} tasks, ${s.annotations} annotations`);
  else if (s && s.clips !== undefined) parts.push(`${s.clips} clips, ${s.annotations} annotations`);
  else if (s && s.rows !== undefined) parts.push(`${s.rows} row${s.rows === 1 ? "" : "s"}`);
  else if (s && s.selections !== undefined) parts.push(`${s.selections} selection${s.selections === 1 ? "" : "s"}`);
  // What the agreement filter compared each annotation with, and what it could not compare.
  if (s && s.agreement) {
    const versions = Object.entries(s.agreement.compared_with || {}).map(([v, n]) => `${n} with ${v}`);
    if (versions.length) parts.push(`compared: ${versions.join(", ")}`);
    if (s.agreement.without_prediction) parts.push(`${s.agreement.without_prediction} annotation${s.agreement.without_prediction === 1 ? "" : "s"} left out: no prediction of the clip`);
  }
  return parts.join(" · ");
}

function renderJobs(jobs) {
  const box = root.querySelector("[data-testid=export-jobs]");
  box.replaceChildren();
  if (!jobs.length) box.append(el("p", { class: "muted" }, "No exports yet."));
  for (const job of jobs) {
    const live = job.status === "pending" || job.status === "running";
    const head = el("div", { class: "job-head" },
      el("strong", {}, `${job.format_label} #${job.id}`), " ",
      el("span", { class: `status status-${job.status}`, dataset: { testid: "export-status" } }, job.status), " ",
      el("span", { class: "muted" }, `${live ? (job.total ? `${job.done}/${job.total} clips · ` : "waiting for a worker · ") : ""}${describe(job)} · ${job.created_by || ""} ${when(job.created_at)}`));
    if (job.download_url) {
      head.append(" ", el("a", { class: "button", href: job.download_url, dataset: { testid: "download" } }, `Download (${size(job.size_bytes)})`));
    }
    const row = el("div", { class: `job job-${job.status}`, dataset: { testid: "export-job", status: job.status, id: String(job.id) } },
      head, bar(job.status === "done" ? 1 : job.progress || 0, `${job.format_label} export #${job.id}`));
    if (job.error) row.append(el("p", { class: "error" }, job.error));
    box.append(row);
  }
  keepSplitsChoices(jobs);
  return jobs.some((j) => j.status === "pending" || j.status === "running");
}

// "Keep the splits of": every finished manifest, the one just made included (the list was
// the page's, and a manifest made here was missing from it until a reload).
function keepSplitsChoices(jobs) {
  const select = form.elements.keep_splits;
  if (!select) return;
  const have = new Set([...select.options].map((o) => o.value));
  const done = jobs.filter((j) => j.format === "manifest" && j.status === "done" && !have.has(String(j.id)));
  for (const job of done.sort((a, b) => a.id - b.id)) {
    const s = job.summary || {};
    const sizes = s.split_sizes ? ` · ${s.split_sizes.train}/${s.split_sizes.validation}/${s.split_sizes.test} clips` : "";
    const grouped = s.group_by ? ` · by ${s.group_by}` : "";
    select.options[0].after(el("option", { value: String(job.id), text: `#${job.id} · ${when(job.finished_at || job.created_at)}${grouped}${sizes}` }));
  }
}

async function refresh() {
  clearTimeout(timer);
  try {
    const jobs = await api(`/api/projects/${projectId}/exports/`);
    if (renderJobs(jobs)) timer = setTimeout(refresh, POLL_MS);
  } catch (err) {
    root.querySelector("[data-testid=export-jobs]").replaceChildren(el("p", { class: "error" }, err.message));
  }
}

function chosenFormat() {
  return form.querySelector("input[name=format]:checked").value;
}

function showFormat() {
  const format = chosenFormat();
  for (const node of form.querySelectorAll("[data-for]")) node.hidden = node.dataset.for !== format;
}

function body() {
  const format = chosenFormat();
  const filters = {};
  const statuses = [...form.querySelectorAll("input[name=status]:checked")].map((i) => i.value);
  if (statuses.length) filters.status = statuses;
  for (const name of ["label", "annotator", "since", "until", "agreement"]) {
    const value = form.elements[name].value.trim();
    if (value) filters[name] = value;
  }
  const options = {};
  const names = format === "label_studio" ? ["base_url", "clip_labels"]
    : format === "manifest" ? ["group_by", "splits", "seed", "manifest_format", "keep_splits"] : [];
  for (const name of names) {
    const value = form.elements[name].value.trim();
    if (value) options[name] = value;
  }
  return { format, filters, options };
}

form.addEventListener("change", (e) => {
  if (e.target.name === "format") showFormat();
  // The labeling config that fits the clip labels' form chosen.
  if (e.target.name === "clip_labels") {
    for (const pre of form.querySelectorAll("[data-for-clip-labels]")) pre.hidden = pre.dataset.forClipLabels !== e.target.value;
  }
});
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = form.querySelector("[data-testid=export-error]");
  const button = form.querySelector("[data-testid=start-export]");
  error.textContent = "";
  button.disabled = true;
  try {
    await api(`/api/projects/${projectId}/exports/`, { method: "POST", body: body() });
  } catch (err) {
    const detail = err.body && !err.body.detail
      ? Object.entries(err.body).map(([k, v]) => `${k}: ${[].concat(v).join(" ")}`).join("; ")
      : err.message;
    error.textContent = detail;
  } finally {
    button.disabled = false;
  }
  refresh();
});

showFormat();
refresh();
