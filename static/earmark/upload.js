// Drag-and-drop import on the project page: one import job, files sent two at a time,
// one progress bar for the batch and a line per file from the server's report.
import { api, uploadFiles } from "./api.js";

const CONCURRENCY = 2;

function setup(root) {
  const projectId = root.dataset.project;
  const zone = root.querySelector(".dropzone");
  const input = root.querySelector("input[type=file]");
  const panel = root.querySelector(".upload-progress");
  const fill = root.querySelector(".fill");
  const summary = root.querySelector(".upload-summary");
  const report = root.querySelector(".upload-report");

  async function run(fileList) {
    const files = Array.from(fileList);
    if (!files.length) return;
    panel.hidden = false;
    report.innerHTML = "";
    const totalBytes = files.reduce((s, f) => s + f.size, 0) || 1;
    let doneBytes = 0;
    const counts = { imported: 0, duplicate: 0, rejected: 0 };
    let job;
    try {
      job = await api(`/api/projects/${projectId}/imports/`, { method: "POST", body: { total: files.length } });
    } catch (err) {
      // Nothing was sent: say so, rather than an empty bar that never moves.
      summary.textContent = `Nothing uploaded: ${err.message || "the server could not be reached"}. ` +
        "Check your connection (or log in again) and choose the files again.";
      summary.dataset.done = "failed";
      return;
    }
    const render = (inflight = 0) => {
      const pct = Math.min(100, ((doneBytes + inflight) / totalBytes) * 100);
      fill.style.width = `${pct.toFixed(1)}%`;
      const done = counts.imported + counts.duplicate + counts.rejected;
      summary.textContent = `${done} of ${files.length} files · ${counts.imported} imported, ` +
        `${counts.duplicate} duplicates, ${counts.rejected} rejected`;
    };
    const queue = files.slice();
    const inflight = new Map();
    async function worker() {
      while (queue.length) {
        const file = queue.shift();
        const { status, data } = await uploadFiles(
          `/api/projects/${projectId}/clips/`, [file], { import_job: job.id },
          (fraction) => { inflight.set(file, fraction * file.size); render(sum(inflight)); },
        ).catch((err) => ({ status: 0, data: { detail: err.message } }));
        inflight.delete(file);
        doneBytes += file.size;
        const outcomes = (data && data.files) || [{ name: file.name, status: "rejected",
          error: (data && data.detail) || `upload failed (HTTP ${status})` }];
        for (const o of outcomes) {
          counts[o.status] = (counts[o.status] || 0) + 1;
          const li = document.createElement("li");
          li.className = `outcome outcome-${o.status}`;
          li.textContent = `${o.name}: ${o.status}${o.error ? ` — ${o.error}` : ""}`;
          report.appendChild(li);
        }
        render(sum(inflight));
      }
    }
    render();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    summary.textContent += " · done";
    summary.dataset.done = "true";
    const refresh = document.createElement("a");
    refresh.href = window.location.pathname;
    refresh.textContent = " Refresh the clip list";
    summary.appendChild(refresh);
  }

  const sum = (m) => Array.from(m.values()).reduce((a, b) => a + b, 0);
  input.addEventListener("change", () => run(input.files));
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    run(e.dataTransfer.files);
  });
}

const root = document.getElementById("upload");
if (root) setup(root);
