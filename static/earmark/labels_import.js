// "Labels for clips already here" on the project page (leads): a CSV manifest or a Raven
// selection table sent once; the server checks it (a 400 says what is wrong: no 'audio'
// column, labels the tree lacks...) and its worker labels the clips, whose progress this
// follows to a report of the recordings it could not label.
import { api, csrfToken, ApiError } from "./api.js";

const POLL_MS = 700;
const WORKER_WAIT_S = 15; // pending this long: no worker is taking it, said
const SHOWN_DONE = 50; // clips labeled listed under the summary

const root = document.querySelector("[data-testid=labels-import]");
if (root) {
  const form = root.querySelector("form");
  const input = form.querySelector("input[type=file]");
  const send = root.querySelector("[data-testid=labels-import-send]");
  const panel = root.querySelector("[data-testid=labels-import-progress]");
  const bar = panel.querySelector(".bar");
  const fill = panel.querySelector(".fill");
  const said = root.querySelector("[data-testid=labels-import-said]");
  const report = root.querySelector("[data-testid=labels-import-report]");
  let busy = false;

  const say = (text, error = false) => {
    said.textContent = text;
    said.classList.toggle("error", error);
  };
  const showProgress = (done, total) => {
    const pct = total ? Math.round((100 * done) / total) : 0;
    fill.style.width = `${pct}%`;
    bar.setAttribute("aria-valuenow", String(pct));
  };
  const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

  const sourceField = root.querySelector("[data-testid=labels-import-source-field]");
  const asSuggestions = () => form.kind.value === "suggestions";
  form.kind.addEventListener("change", () => { sourceField.hidden = !asSuggestions(); });

  async function upload(file, createLabels, suggestionsFrom) {
    const body = new FormData();
    body.append("file", file, file.name);
    body.append("create_labels", createLabels ? "true" : "false");
    if (suggestionsFrom) body.append("suggestions_from", suggestionsFrom);
    const response = await fetch(`/api/projects/${root.dataset.project}/label-imports/`, {
      method: "POST", body, credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": csrfToken() },
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }

  async function follow(job) {
    const since = Date.now();
    for (;;) {
      showProgress(job.processed, job.total);
      if (job.status === "done" || job.status === "failed") return job;
      const waited = Math.round((Date.now() - since) / 1000);
      say(job.status !== "pending"
        ? `Labeling: ${job.processed} of ${plural(job.total, "recording")}…`
        : waited < WORKER_WAIT_S
          ? "Waiting for the worker…"
          : `Waiting for the worker: none has taken it for ${waited} s. It may be busy (a training or another import goes first) or stopped (the administrator's /healthz?deep=1 says which). It starts when the worker takes it; this page can be left.`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      job = await api(`/api/imports/${job.id}/`);
    }
  }

  // The recordings it could not label first, in the file's order, then at most SHOWN_DONE
  // of the others (a 2,500-clip file listed 2,500 "labeled" lines).
  function finished(job, source) {
    report.replaceChildren();
    const entries = job.report || [];
    const line = (entry, text, ok) => {
      const li = document.createElement("li");
      li.className = `outcome outcome-${ok ? "imported" : "rejected"}`;
      const name = document.createElement("bdi");
      name.textContent = entry.name;
      li.append(name, `: ${text}`);
      report.appendChild(li);
    };
    for (const entry of entries) if (entry.status === "rejected") line(entry, entry.error, false);
    const others = entries.filter((e) => e.status !== "rejected");
    const WHAT = { labeled: "labeled", suggested: "suggestions", unchanged: "unchanged" };
    for (const entry of others.slice(0, SHOWN_DONE)) {
      line(entry, `${WHAT[entry.status] || entry.status}${entry.error ? ` (${entry.error})` : ""}`, true);
    }
    if (others.length > SHOWN_DONE) {
      const li = document.createElement("li");
      li.className = "muted";
      li.textContent = `and ${others.length - SHOWN_DONE} more (GET /api/imports/${job.id}/ lists them all)`;
      report.appendChild(li);
    }
    const unchanged = job.duplicates ? `, ${job.duplicates} unchanged (they had these labels already, or a reviewer's or a member's annotation was kept)` : "";
    const added = job.labels_file?.labels_added?.length ? ` Added to the label tree: ${job.labels_file.labels_added.join(", ")}.` : "";
    const text = `${plural(job.imported, "clip")} ${source ? `given suggestions from ${source}` : "labeled"}${unchanged}` +
      (job.rejected ? `; ${plural(job.rejected, "recording")} of the file not labeled (below, with why)` : "") +
      (job.error ? `. Stopped: ${job.error}` : ".") + added;
    say(text, Boolean(job.error || (job.rejected && !job.imported && !job.duplicates)));
  }

  const chosen = root.querySelector("[data-testid=labels-import-chosen]");
  input.addEventListener("change", () => {
    send.disabled = busy || !input.files.length;
    chosen.textContent = input.files.length ? input.files[0].name : "no file chosen";
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = input.files[0];
    if (!file || busy) return;
    busy = true;
    send.disabled = true;
    report.replaceChildren();
    panel.hidden = false;
    showProgress(0, 1);
    say(`Sending ${file.name}…`);
    try {
      const source = asSuggestions() ? form.suggestions_from.value.trim() : "";
      if (asSuggestions() && !source) throw new Error("name the suggestions' source (e.g. birdnet-2.4)");
      finished(await follow(await upload(file, form.create_labels.checked, source)), source);
    } catch (err) {
      panel.hidden = true;
      say(`Not imported: ${err.message}`, true);
    } finally {
      busy = false;
      send.disabled = !input.files.length;
      // The button was disabled while it ran, which let the focus go to the page.
      if (document.activeElement === document.body) send.focus();
    }
  });
}
