// Drag-and-drop import on the project page: one import job a batch, files sent two at a time,
// one progress bar for the batch and a line per file from the server's report.
import { api, sendKeepalive, uploadFiles } from "./api.js";

const CONCURRENCY = 2;

function setup(root) {
  const projectId = root.dataset.project;
  const maxBytes = Number(root.dataset.maxBytes) || Infinity;
  const zone = root.querySelector(".dropzone");
  const input = root.querySelector("input[type=file]");
  const panel = root.querySelector(".upload-progress");
  const bar = root.querySelector(".bar");
  const fill = root.querySelector(".fill");
  const summary = root.querySelector(".upload-summary");
  const report = root.querySelector(".upload-report");
  // Files dropped while a batch is under way wait for it: two batches wrote over one bar,
  // summary and report (the first's lines were wiped, the summary counted the second only).
  let busy = false;
  const waiting = [];
  let batches = 0;

  // Leaving mid-upload drops the files not yet sent: the browser asks first, and if the page
  // goes anyway, the job is told which files will not come (it stayed "running" a day).
  let current = null; // the batch under way: its job and the files it has not finished
  window.addEventListener("beforeunload", (e) => {
    if (!busy) return;
    e.preventDefault();
    e.returnValue = "";
  });
  window.addEventListener("pagehide", () => {
    if (!current) return;
    const files = [];
    let bytes = 0;
    for (const file of current.unfinished()) { // a keepalive request carries 64 kB at most
      bytes += (file.name.length + file.reason.length) * 3 + 40;
      if (bytes > 60000) break;
      files.push(file);
    }
    if (!files.length) return;
    sendKeepalive(`/api/imports/${current.job}/not-sent/`, "POST", { files });
  });

  function line(name, status, text) {
    const li = document.createElement("li");
    li.className = `outcome outcome-${status}`;
    // The name in its own direction: a rejected name's right-to-left override turned the
    // reason after it around ("...eman elif — detcejer").
    const isolated = document.createElement("bdi");
    isolated.textContent = name;
    li.append(isolated, `: ${text}`);
    // A batch's problems (rejected, duplicate, not sent) come before its imported files: 4
    // rejections among 313 lines sat near the bottom of the box.
    if (status === "imported") {
      report.appendChild(li);
      firstImported = firstImported || li;
    } else {
      report.insertBefore(li, firstImported);
    }
  }
  let firstImported = null; // this batch's first imported line (null: none yet)

  function setBar(pct) {
    fill.style.width = `${pct.toFixed(1)}%`;
    bar.setAttribute("aria-valuenow", String(Math.round(pct)));
  }

  function take(fileList) {
    const files = Array.from(fileList);
    if (!files.length) return;
    if (busy) {
      waiting.push(...files);
      summary.dataset.waiting = String(waiting.length);
      summary.textContent = summary.textContent.replace(/ · \d+ more waiting.*$/, "") +
        ` · ${waiting.length} more waiting for this upload to finish`;
      return;
    }
    run(files);
  }

  async function run(files) {
    busy = true;
    delete summary.dataset.waiting;
    panel.hidden = false;
    batches += 1;
    firstImported = null;
    if (batches > 1) {
      const sep = document.createElement("li");
      sep.className = "outcome-batch muted";
      sep.textContent = `Next batch: ${files.length} file${files.length === 1 ? "" : "s"}`;
      report.appendChild(sep);
    }
    delete summary.dataset.done;
    const totalBytes = files.reduce((s, f) => s + f.size, 0) || 1;
    let doneBytes = 0;
    const counts = { imported: 0, duplicate: 0, rejected: 0, notSent: 0 };
    let announced = 0; // imported files the page's list was last told of
    const notSent = [];
    let job;
    try {
      job = await api(`/api/projects/${projectId}/imports/`, { method: "POST", body: { total: files.length } });
    } catch (err) {
      // Nothing was sent: say so, rather than an empty bar that never moves.
      summary.textContent = `Nothing uploaded: ${err.message || "the server could not be reached"}. ` +
        "Check your connection (or log in again) and choose the files again.";
      summary.dataset.done = "failed";
      return next();
    }
    const render = (inflight = 0) => {
      const share = Math.min(100, ((doneBytes + inflight) / totalBytes) * 100);
      setBar(share);
      const done = counts.imported + counts.duplicate + counts.rejected + counts.notSent;
      // The bar is the bytes, the count the files: "41 of 43 files" beside a bar at 26% (a
      // large recording still on its way) said both, and neither which.
      const bytes = done < files.length ? ` (${Math.floor(share)}% of ${human(totalBytes)})` : "";
      // "not sent" apart from "rejected": the server refused none of those
      summary.textContent = `${done} of ${files.length} files${bytes} · ${counts.imported} imported, ` +
        `${counts.duplicate} duplicate${counts.duplicate === 1 ? "" : "s"}, ${counts.rejected} rejected` +
        (counts.notSent ? `, ${counts.notSent} not sent` : "");
      if (waiting.length) summary.textContent += ` · ${waiting.length} more waiting for this upload to finish`;
    };
    const queue = files.slice();
    const inflight = new Map(); // file -> bytes sent so far, from its request's start to its answer
    // What the job would never hear of if the page went now: the files it already knows were
    // not sent (refused here, or failed) and those under way or waiting.
    const left = "the page was left before it was sent";
    current = { job: job.id, unfinished: () => [
      ...notSent, ...[...inflight.keys(), ...queue].map((f) => ({ name: f.name, reason: left })),
    ] };
    const sum = (m) => Array.from(m.values()).reduce((a, b) => a + b, 0);
    async function worker() {
      while (queue.length) {
        const file = queue.shift();
        if (file.size > maxBytes) {
          // Refused here, before its bytes cross the network only to be refused there.
          notSent.push({ name: file.name, reason: `larger than the ${human(maxBytes)} limit` });
        } else {
          inflight.set(file, 0);
          const { status, data } = await uploadFiles(
            `/api/projects/${projectId}/clips/`, [file], { import_job: job.id },
            (fraction) => { inflight.set(file, fraction * file.size); render(sum(inflight)); },
          ).catch((err) => ({ status: 0, data: { detail: err.message } }));
          inflight.delete(file);
          if (data && data.files) {
            for (const o of data.files) {
              if (o.code === "media_unavailable") {
                // Nothing wrong with the file: the store did not answer. Said as not sent (it
                // read "rejected", beside files the server refused), to choose again.
                counts.notSent += 1;
                line(o.name, "not-sent", "not imported — the media store is not answering; choose it again in a minute");
                continue;
              }
              counts[o.status] = (counts[o.status] || 0) + 1;
              line(o.name, o.status, `${o.status}${o.error ? ` — ${o.error}` : ""}`);
            }
            if (data.files.some((o) => o.code === "media_unavailable")) {
              // The media store is not answering: each file left would wait out its timeouts
              // again (a minute a file). They are not sent, and said so.
              const why = "the media store was not answering; send it again in a minute";
              while (queue.length) {
                const rest = queue.shift();
                doneBytes += rest.size;
                notSent.push({ name: rest.name, reason: why });
              }
            }
            if (counts.imported - announced >= 25) { // a long upload: the list grows as it goes
              announced = counts.imported;
              document.dispatchEvent(new Event("earmark:clips-changed"));
            }
          } else {
            // The server never recorded it (connection lost, logged out, an answer without
            // a report): not "rejected" by the server, and the job is told, so that it
            // finishes instead of waiting 24 hours for it.
            const why = (data && data.detail) || (status ? `the server answered HTTP ${status}` : "the connection failed");
            notSent.push({ name: file.name, reason: why });
          }
        }
        doneBytes += file.size;
        render(sum(inflight));
      }
    }
    render();
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    current = null;
    if (notSent.length) {
      for (const f of notSent) line(f.name, "not-sent", `not sent — ${f.reason.replace(/[.\s]+$/, "")}; choose it again to upload it`);
      counts.notSent += notSent.length;
      try {
        for (let i = 0; i < notSent.length; i += 1000) { // the endpoint takes 1,000 at a time
          await api(`/api/imports/${job.id}/not-sent/`, { method: "POST", body: { files: notSent.slice(i, i + 1000) } });
        }
      } catch {
        line(`import job #${job.id}`, "not-sent", "could not be told which files did not arrive; it is closed by itself within a day");
      }
    }
    render();
    summary.textContent += " · done";
    summary.dataset.done = "true";
    document.dispatchEvent(new Event("earmark:clips-changed")); // the page's counts and list follow
    const refresh = document.createElement("a");
    refresh.href = window.location.pathname;
    refresh.textContent = " Refresh the clip list";
    summary.appendChild(refresh);
    return next();
  }

  function next() {
    busy = false;
    if (waiting.length) run(waiting.splice(0));
  }

  input.addEventListener("change", () => { take(input.files); input.value = ""; });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    take(e.dataTransfer.files);
  });
}

function human(bytes) {
  const units = ["bytes", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (bytes >= 1024 && i < units.length - 1) { bytes /= 1024; i += 1; }
  return `${Number.isInteger(bytes) ? bytes : bytes.toFixed(1)} ${units[i]}`;
}

const root = document.getElementById("upload");
if (root) setup(root);
