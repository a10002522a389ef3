// Removing clips on the project page (leads): pick clips or take every failed one, confirm,
// and see what was deleted. A clip that holds someone's work (annotations, a draft, an
// annotator labeling it now) is kept unless the lead confirms a second time, naming it.
import { api } from "./api.js";
import { el } from "./dom.js";

const BATCH = 5000; // the API's most clips per request

function setup(root) {
  const projectId = root.dataset.project;
  const q = (id) => root.querySelector(`[data-testid="${id}"]`);
  const deleteSelected = q("delete-selected");
  const deleteFailed = q("delete-failed");
  const statusLine = q("delete-status");
  const bar = q("confirm-bar");
  const text = q("confirm-text");
  const list = q("confirm-list");
  const confirmButton = q("confirm-delete");
  const cancelButton = q("confirm-cancel");
  const selectAll = q("select-all");
  const picks = () => Array.from(root.querySelectorAll("input.pick"));
  const picked = () => picks().filter((p) => p.checked);
  let onConfirm = null;
  let deletedSoFar = 0; // by a first request whose held clips wait for a second confirmation

  const refresh = () => {
    const n = picked().length;
    deleteSelected.disabled = n === 0;
    deleteSelected.textContent = n ? `Delete ${n} selected` : "Delete selected";
    if (selectAll) selectAll.checked = n > 0 && n === picks().length;
  };
  root.addEventListener("change", (event) => {
    if (event.target === selectAll) picks().forEach((p) => { p.checked = selectAll.checked; });
    refresh();
  });

  const ask = (message, items, action, run) => {
    text.textContent = message;
    list.replaceChildren(...items.map((item) => el("li", { text: item })));
    confirmButton.textContent = action;
    onConfirm = run;
    bar.hidden = false;
    confirmButton.focus();
  };
  const close = () => { bar.hidden = true; onConfirm = null; };
  cancelButton.addEventListener("click", () => {
    close();
    statusLine.textContent = deletedSoFar ? `${deletedSoFar} deleted; the others kept.` : "Nothing deleted.";
    if (deletedSoFar) document.dispatchEvent(new Event("earmark:clips-changed"));
    deletedSoFar = 0;
  });
  confirmButton.addEventListener("click", () => { const run = onConfirm; close(); if (run) run(); });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !bar.hidden) cancelButton.click(); });

  async function remove(body, force = false) {
    statusLine.textContent = "Deleting…";
    const deleted = [];
    const refused = [];
    let failure = null;
    try {
      if (body.ids) {
        for (const ids of chunk(body.ids, BATCH)) {
          const result = await api(`/api/projects/${projectId}/clips/delete/`, {
            method: "POST", body: { ...body, ids, force },
          });
          deleted.push(...result.deleted);
          refused.push(...result.refused);
        }
      } else {
        // by status: 5,000 a request, in id order, until none is left
        let after = 0;
        for (;;) {
          const result = await api(`/api/projects/${projectId}/clips/delete/`, {
            method: "POST", body: { ...body, force, after },
          });
          deleted.push(...result.deleted);
          refused.push(...result.refused);
          if (!result.more) break;
          after = result.last_id;
          statusLine.textContent = `Deleting… ${deleted.length} so far`;
        }
      }
    } catch (err) {
      failure = err;
    }
    for (const id of deleted) root.querySelector(`tr[data-clip="${id}"]`)?.remove();
    refresh();
    if (failure) {
      const total = deleted.length + deletedSoFar;
      deletedSoFar = 0;
      statusLine.textContent = (total ? `${total} deleted, then: ` : "") + `could not delete: ${failure.message}`;
      return;
    }
    const held = refused.filter((r) => r.code === "has_work");
    if (held.length) {
      deletedSoFar = deleted.length;
      ask(
        `${deleted.length} deleted. ${held.length} clip${held.length > 1 ? "s hold" : " holds"} someone's work ` +
          "and would take it with them:",
        held.map((r) => `${r.name} — ${r.reason.replace(/; delete with force.*/, "")}`),
        `Delete ${held.length === 1 ? "it" : "them"} with that work`,
        () => remove({ ids: held.map((r) => r.id) }, true),
      );
      statusLine.textContent = `${deleted.length} deleted, ${held.length} kept so far.`;
      return;
    }
    const gone = refused.filter((r) => r.code === "not_found").length;
    const total = deleted.length + deletedSoFar;
    deletedSoFar = 0;
    statusLine.textContent = `${total} clip${total === 1 ? "" : "s"} deleted` +
      (gone ? ` (${gone} already gone)` : "") + ".";
    // the table and the counts above without them, read again in place: a reload under an
    // upload asked "Leave site?" and, left, lost the rest of the upload
    if (total) document.dispatchEvent(new Event("earmark:clips-changed"));
  }

  deleteSelected.addEventListener("click", () => {
    const chosen = picked();
    if (!chosen.length) return;
    ask(
      `Delete ${chosen.length} clip${chosen.length > 1 ? "s" : ""} and ${chosen.length > 1 ? "their" : "its"} stored audio? This cannot be undone.`,
      chosen.slice(0, 50).map((p) => p.dataset.name).concat(chosen.length > 50 ? [`… and ${chosen.length - 50} more`] : []),
      `Delete ${chosen.length}`,
      () => remove({ ids: chosen.map((p) => Number(p.value)) }),
    );
  });
  const retryFailed = q("retry-failed");
  if (retryFailed) {
    retryFailed.addEventListener("click", async () => {
      retryFailed.disabled = true;
      statusLine.textContent = "Sending them back…";
      try {
        const { retried } = await api(`/api/projects/${projectId}/clips/retry-failed/`, { method: "POST" });
        statusLine.textContent = `${retried} clip${retried === 1 ? "" : "s"} sent back to processing: the list shows how each fares.`;
        document.dispatchEvent(new Event("earmark:clips-changed"));
      } catch (err) {
        statusLine.textContent = `Could not retry: ${err.message}`;
        retryFailed.disabled = false;
      }
    });
  }
  if (deleteFailed) {
    deleteFailed.addEventListener("click", () => {
      const n = Number(root.dataset.failed);
      ask(
        `Delete every failed clip of this project (${n}) and its stored file? This cannot be undone.`,
        [],
        `Delete ${n} failed`,
        () => remove({ status: "failed" }),
      );
    });
  }
  refresh();
}

function chunk(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

// Clips waiting for the worker: their counts follow it every few seconds (two count
// queries), and the page's parts that list clips (the counts, the clip table, the import
// jobs) are read again when something changed: at most every FULL_MS while clips wait, and
// once none is left; at once after an upload. No reload: one, once the last pending clip was
// processed, came in the middle of a second batch's upload and asked "Leave site?" (leaving
// lost the rest). A lead with clips ticked keeps their table and is told; a part that holds
// the focus is left as it is.
const WATCH_MS = 3000;
const FULL_MS = 15000;

async function refreshParts(root) {
  const res = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!res.ok) return;
  const fresh = new DOMParser().parseFromString(await res.text(), "text/html");
  // A part holding the focus, or an open "which files were rejected", is left as it is.
  const busy = (node) => node.contains(document.activeElement) || node.querySelector("details[open]");
  const swap = (selector, scope = document, from = fresh) => {
    const here = scope.querySelector(selector);
    const there = from && from.querySelector(selector);
    if (here && there && !busy(here)) here.replaceWith(document.importNode(there, true));
  };
  swap("section.stats");
  swap("ul.jobs");
  const freshClips = fresh.getElementById("clips");
  const line = root.querySelector("[data-testid=delete-status]");
  const failedNow = Number(freshClips?.dataset.failed || 0);
  if (line && !line.textContent && failedNow > Number(root.dataset.failed || 0)) {
    line.textContent = `${failedNow} clips failed: reload the page to delete them.`;
  }
  const waitNote = "New clips are listed after a reload (clips are ticked here).";
  if (root.querySelector("input.pick:checked")) {
    if (line && !line.textContent) line.textContent = waitNote;
    return;
  }
  if (line && line.textContent === waitNote) line.textContent = "";
  swap("[data-testid=clip-table] tbody", root, freshClips);
  const pager = root.querySelector("nav.pager");
  const freshPager = freshClips && freshClips.querySelector("nav.pager");
  if (pager && freshPager) swap("nav.pager", root, freshClips);
  else if (pager) pager.remove();
  else if (freshPager) root.append(document.importNode(freshPager, true)); // a second page now
  const picker = root.querySelector("[data-testid=select-all]");
  if (picker) picker.checked = false;
  root.dispatchEvent(new Event("change")); // "Delete N selected" counts the new table's ticks
}

async function countWaiting(root) {
  let sum = 0;
  for (const status of ["pending", "processing"]) {
    const page = await api(`/api/clips/?project=${root.dataset.project}&status=${status}`);
    const node = document.querySelector(`[data-testid=count-${status}]`);
    if (node) node.textContent = String(page.count);
    sum += page.count;
  }
  return sum;
}

// One chain of ticks at a time: an upload's event while a tick is under way waits for it
// (each event started another chain, every one of them reading the page every 3 s).
const watch = { timer: null, running: false, again: false, lastFull: 0, lastWaiting: -1 };

function watchProcessing(root, now = false) {
  if (watch.running) { watch.again = watch.again || now; return; }
  clearTimeout(watch.timer);
  const tick = async (full) => {
    watch.running = true;
    let waitingNow = 0;
    try {
      waitingNow = await countWaiting(root);
      const changed = waitingNow !== watch.lastWaiting;
      if (full || (changed && (!waitingNow || Date.now() - watch.lastFull >= FULL_MS))) {
        await refreshParts(root);
        watch.lastFull = Date.now();
      }
      watch.lastWaiting = waitingNow;
    } catch { /* the next tick tries again */ }
    watch.running = false;
    const again = watch.again;
    watch.again = false;
    if (again) watch.timer = setTimeout(() => tick(true), 0);
    else if (waitingNow) watch.timer = setTimeout(() => tick(false), WATCH_MS);
  };
  if (now) tick(true);
  else if (["pending", "processing"].some((s) => Number(document.querySelector(`[data-testid=count-${s}]`)?.textContent || 0))) {
    watch.timer = setTimeout(() => tick(false), WATCH_MS);
  }
}

const root = document.getElementById("clips");
if (root && root.querySelector(".clip-tools")) setup(root);
if (root) {
  watchProcessing(root);
  // upload.js says when files have landed, a deletion when clips went: the counts and the
  // list follow at once.
  document.addEventListener("earmark:clips-changed", () => watchProcessing(root, true));
}
