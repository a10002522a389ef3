// The dashboard's job list: the page is drawn on the server; while a job is queued or
// running, this polls /api/projects/<id>/dashboard/jobs/ and redraws the list with its bars.
import { api } from "./api.js";
import { el } from "./dom.js";

const root = document.getElementById("dash-jobs");
const projectId = root?.dataset.project;
const LIVE = new Set(["pending", "queued", "running"]);


function jobRow(job) {
  const pct = Math.round(100 * Math.max(0, Math.min(1, job.progress || 0)));
  const fill = el("div", { class: "fill" });
  fill.style.width = `${pct}%`;
  const detail = `${job.detail || ""}${job.error ? ` — ${job.error}` : ""}`;
  return el("div", { class: `job job-${job.status}`, dataset: { testid: "dash-job", kind: job.kind, status: job.status } },
    el("div", { class: "job-head" },
      el("strong", {}, `${job.kind} #${job.id}`), " ",
      el("span", { class: `status status-${job.status}` }, job.status), " ",
      el("span", { class: "muted" }, detail)),
    el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(pct), "aria-label": `${job.kind} #${job.id} progress` }, fill));
}

function render(jobs) {
  const box = root.querySelector(".dash-jobs");
  box.replaceChildren(...(jobs.length ? jobs.map(jobRow) : [el("p", { class: "muted" }, "No jobs yet.")]));
}

async function poll() {
  try {
    const { jobs } = await api(`/api/projects/${projectId}/dashboard/jobs/`);
    render(jobs);
    if (jobs.some((j) => LIVE.has(j.status))) setTimeout(poll, 1500);
  } catch {
    setTimeout(poll, 10000); // a hiccup of the server: try again later, quietly
  }
}

if (root && root.querySelector(`[data-testid=dash-job][data-status=running], [data-testid=dash-job][data-status=queued], [data-testid=dash-job][data-status=pending]`)) {
  setTimeout(poll, 1500);
}
