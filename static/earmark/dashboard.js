// The dashboard's job list: the page is drawn on the server; this polls
// /api/projects/<id>/dashboard/jobs/ (every 1.5 s while a job is queued or running, every 15 s
// otherwise) and redraws the list with its bars.
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
  return el("div", { class: `job job-${job.status}`, dataset: { testid: "dash-job", kind: job.kind, status: job.status, job: String(job.id) } },
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

// A training that ends after the page was drawn makes its model figures (the version card,
// metrics, confusion, model against annotators) the last version's: the jobs redrew, the rest
// did not, and a lead read "v10 active" beside "training #11 succeeded". Said, with a reload.
const IDLE_MS = 15000; // looked at while nothing runs too: a training starts by itself
let timer = 0;
let inFlight = false;
let again = false;
const later = (ms) => { clearTimeout(timer); timer = setTimeout(poll, ms); };
// Each job's status as the page was drawn (then as last seen): a training that ended before
// the first look is one that ended after the page was drawn too.
const known = new Map(
  [...(root ? root.querySelectorAll("[data-testid=dash-job]") : [])].map((row) => [row.dataset.job + row.dataset.kind, row.dataset.status]),
);

function staleNotice(job) {
  if (root.querySelector("[data-testid=dash-stale]")) return;
  const reload = el("button", { type: "button" }, "Reload");
  reload.addEventListener("click", () => window.location.reload());
  const notice = el("p", { class: "flash", role: "status", dataset: { testid: "dash-stale" } },
    `${job.kind} #${job.id} finished (${job.detail || job.status}) after this page was drawn: the figures on it are from before. `, reload);
  // At the top, above the "active model" tile it contradicts (in the jobs card, 2,000 px down,
  // a lead reading the top never saw it).
  const top = document.querySelector("[data-testid=dash-stats]");
  if (top) top.before(notice); else root.prepend(notice);
}

async function poll() {
  if (document.hidden) { later(IDLE_MS); return; }
  if (inFlight) { again = true; return; } // asked while one is under way: once more after it
  inFlight = true;
  try {
    const { jobs } = await api(`/api/projects/${projectId}/dashboard/jobs/`);
    render(jobs);
    root.dataset.polled = String(Number(root.dataset.polled || 0) + 1);
    for (const j of jobs) {
      const was = known.get(j.id + j.kind);
      if (j.kind === "training" && j.status === "succeeded" && (was === undefined || LIVE.has(was))) staleNotice(j);
      known.set(j.id + j.kind, j.status);
    }
    later(jobs.some((j) => LIVE.has(j.status)) ? 1500 : IDLE_MS);
  } catch {
    later(10000); // a hiccup of the server: try again later, quietly
  } finally {
    inFlight = false;
    if (again) { again = false; later(0); }
  }
}

if (root) {
  poll();
  // A lead coming back to the tab sees the jobs as they are now, not up to 15 s later.
  window.addEventListener("focus", () => poll());
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
}
