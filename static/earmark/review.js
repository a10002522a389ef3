// Review, members and token pages: the server renders them; this module sends the decisions
// through the API and reloads, so what is shown is always what the server holds.
import { api } from "./api.js";
import { el } from "./dom.js";

// waveform.js's and bands.js's, once the correction's module is in (the members and token
// pages need none of them).
let channelName = (c) => `ch ${c + 1}`;
let bandText = (low, high) => `${low}–${high} Hz`;
let parseBand = () => null;

function showError(box, err, near = null) {
  if (!box) return;
  box.textContent = err.message || String(err);
  box.hidden = false;
  // Next to what was being done (the Save button may be far below the page's error line).
  if (near) near.before(box);
  box.scrollIntoView({ block: "nearest" });
}

// --- clip review: accept / reject with a comment / correct ---------------------------------
const SNAP_S = 0.01; // seconds: the server stores segment times in 10 ms steps

// A row of the correction's segment table. On a clip of more than one channel it has the
// segment's channel (all, or one of the clip's), kept in `tr.dataset.channel` ("" for all),
// as the correction's lane and the save read it.
function segmentRow(tbody, seg = { start: "", end: "", labels: [] }, channels = 1) {
  const tr = document.createElement("tr");
  tr.innerHTML =
    '<td><input type="text" name="start" size="6" placeholder="start"></td>' +
    '<td><input type="text" name="end" size="6" placeholder="end"></td>' +
    (channels > 1 ? '<td><select name="channel" data-testid="correct-channel" aria-label="Channel of this segment" title="The channel this segment is on (all: every channel)"></select></td>' : "") +
    '<td><input type="text" name="band" size="11" placeholder="all Hz" data-testid="correct-band" aria-label="Frequency band of this segment (blank: every frequency)" title="Frequency band: low–high in Hz or kHz (1200-4000, 1.2-4 kHz); blank: every frequency"></td>' +
    '<td><input type="text" name="labels" list="label-paths" placeholder="labels"></td>' +
    '<td><button type="button" class="link">remove</button></td>';
  // As the table shows times (10 ms steps, 2 decimals): a loaded row read "0.4" beside "2.79".
  const shown = (t) => (typeof t === "number" && Number.isFinite(t) ? t.toFixed(2) : t);
  tr.querySelector("[name=start]").value = shown(seg.start);
  tr.querySelector("[name=end]").value = shown(seg.end);
  tr.querySelector("[name=labels]").value = (seg.labels || []).join(", ");
  // Its frequency band, kept as it is unless its text is changed (read back from the text,
  // 1,494-2,493 Hz came back 1,490-2,490 from a correction of the labels only).
  if (seg.low_freq != null && seg.high_freq != null) {
    const text = bandText(seg.low_freq, seg.high_freq);
    tr.querySelector("[name=band]").value = text;
    tr.dataset.band = JSON.stringify([seg.low_freq, seg.high_freq, text]);
  }
  tr.dataset.channel = seg.channel ?? "";
  const pick = tr.querySelector("[name=channel]");
  if (pick) {
    const option = (value, text) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      return o;
    };
    pick.append(option("", "All ch"));
    for (let c = 0; c < channels; c++) pick.append(option(String(c), channelName(c, channels)));
    const now = tr.dataset.channel;
    // A channel the clip does not have (an import's): shown as it is until changed.
    if (now !== "" && !pick.querySelector(`option[value="${now}"]`)) pick.append(option(now, `ch ${Number(now) + 1}`));
    pick.value = now;
    // Before the lane hears of it (it listens on the table): the box moves to its row.
    pick.addEventListener("input", () => (tr.dataset.channel = pick.value));
  }
  // A time typed in shows as it will be saved: in 10 ms steps (a decimal comma is a point).
  for (const name of ["start", "end"]) {
    const input = tr.querySelector(`[name=${name}]`);
    input.addEventListener("change", () => {
      const t = seconds(input.value);
      if (Number.isFinite(t) && t >= 0) {
        input.value = (Math.round(t / SNAP_S) * SNAP_S).toFixed(2);
        input.dispatchEvent(new Event("input", { bubbles: true }));
      }
    });
  }
  tr.querySelector("button").addEventListener("click", () => tr.remove());
  tbody.appendChild(tr);
  return tr;
}

// The segment table shows PAGE rows at a time: a correction of thousands of segments keeps
// every row (the table is what is saved), but rows out of the page are hidden, and hidden rows
// cost the browser nothing to lay out (5,000 shown rows took seconds to open). A press on a
// segment on the lane, an added row and a row with an error bring their page.
const PAGE = 100;

function mountPager(editor) {
  const tbody = editor.querySelector("tbody");
  const bar = editor.querySelector("[data-testid=correct-pager]");
  const label = bar.querySelector("[data-testid=correct-page]");
  let first = 0;
  const update = () => {
    const rows = tbody.rows;
    const total = rows.length;
    first = Math.max(0, Math.min(first, Math.floor(Math.max(0, total - 1) / PAGE) * PAGE));
    for (let i = 0; i < total; i++) {
      const inPage = i >= first && i < first + PAGE;
      if (rows[i].hidden === inPage) rows[i].hidden = !inPage; // only rows that change
    }
    bar.hidden = total <= PAGE;
    const last = Math.min(total, first + PAGE);
    label.textContent = last === first + 1 ? `Segment ${last} of ${total}` : `Segments ${first + 1}–${last} of ${total}`;
    bar.querySelector("[data-page='-1']").disabled = first === 0;
    bar.querySelector("[data-page='1']").disabled = first + PAGE >= total;
  };
  bar.addEventListener("click", (e) => {
    const step = Number(e.target.closest("[data-page]")?.dataset.page);
    if (!step) return;
    first += step * PAGE;
    update();
  });
  const watcher = new MutationObserver(update);
  watcher.observe(tbody, { childList: true });
  return {
    // the first page (a table just filled)
    top: () => {
      first = 0;
      update();
    },
    // the page that holds `tr`
    reveal: (tr) => {
      const i = Array.prototype.indexOf.call(tbody.rows, tr);
      if (i < 0 || (i >= first && i < first + PAGE)) return;
      first = Math.floor(i / PAGE) * PAGE;
      update();
    },
  };
}

// The labels typed in a comma-separated box. A label's own name may hold a comma ("x, y"):
// pieces that join into a path or name of the project's labels (the page's datalist) stay
// one, the longest such run first; other pieces are one label each.
function splitPaths(text) {
  const known = new Set();
  for (const o of document.querySelectorAll("#label-paths option")) {
    known.add(o.value.toLowerCase());
    known.add(o.value.split("/").pop().toLowerCase());
  }
  const pieces = text.split(",");
  const out = [];
  for (let i = 0; i < pieces.length;) {
    let j = pieces.length;
    while (j > i + 1 && !known.has(pieces.slice(i, j).join(",").trim().toLowerCase())) j--;
    out.push(pieces.slice(i, j).join(",").trim());
    i = j;
  }
  return out.filter(Boolean);
}

// Seconds as typed: a decimal comma is a point; blank or not a number is NaN (never 0).
function seconds(text) {
  const t = String(text).trim().replace(",", ".");
  return t === "" ? NaN : Number(t);
}

// The correction as the API takes it, or an Error naming the first row (counted from 1, as
// the table shows them) whose start or end is not a number.
function readCorrection(form) {
  const body = {};
  const labels = form.querySelector("[name=clip_labels]");
  if (labels) body.clip_labels = splitPaths(labels.value);
  const rows = [...form.querySelectorAll(".rv-seg-editor tbody tr")];
  if (form.querySelector(".rv-seg-editor")) {
    body.segments = [];
    for (const [i, tr] of rows.entries()) {
      const start = seconds(tr.querySelector("[name=start]").value);
      const end = seconds(tr.querySelector("[name=end]").value);
      for (const [what, value] of [["start", start], ["end", end]]) {
        if (!Number.isFinite(value)) {
          const err = new Error(`Segment ${i + 1}: its ${what} is not a number of seconds.`);
          err.row = tr;
          err.field = what;
          return err;
        }
      }
      const typed = tr.querySelector("[name=band]")?.value || "";
      const kept = tr.dataset.band ? JSON.parse(tr.dataset.band) : null;
      const band = kept && kept[2] === typed ? kept.slice(0, 2) : parseBand(typed);
      if (band instanceof Error) {
        const err = new Error(`Segment ${i + 1}: ${band.message}`);
        err.row = tr;
        err.field = "band";
        return err;
      }
      body.segments.push({
        start,
        end,
        channel: tr.dataset.channel === "" ? null : Number(tr.dataset.channel),
        low_freq: band ? band[0] : null,
        high_freq: band ? band[1] : null,
        labels: splitPaths(tr.querySelector("[name=labels]").value),
      });
    }
  }
  return body;
}

const DECIDED_KEY = "earmark.review.decided";

// After a decision's reload: say what was done, and put the focus on what comes next (the
// next annotation to decide, else the next clip in the queue).
function sayDecided(root) {
  let said = null;
  try {
    said = JSON.parse(sessionStorage.getItem(DECIDED_KEY) || "null");
    sessionStorage.removeItem(DECIDED_KEY);
  } catch { said = null; } // storage blocked: nothing to say, and the page still works
  if (!said || said.clip !== root.dataset.clip) return;
  const box = root.querySelector("[data-testid=review-decided]");
  box.hidden = false;
  // shown first, then filled: a live region filled while hidden is often not read out
  setTimeout(() => { box.textContent = said.text; }, 50);
  const next = root.querySelector("[data-testid=annotation][data-status=submitted] [data-action=accept]")
    || document.querySelector("[data-testid=next-in-queue]");
  next?.focus();
}

async function mountClipReview(root) {
  const channels = Number(root.dataset.channels) || 1;
  const errorBox = root.querySelector(".rv-error");
  sayDecided(root);
  let current = null; // annotations as the API reports them, for the correction editor
  const annotationData = async (id) => {
    if (!current) current = await api(`/api/clips/${root.dataset.clip}/review/`);
    return current.find((a) => a.id === id);
  };
  const decide = async (card, body, near = card.querySelector(".rv-actions")) => {
    errorBox.hidden = true;
    card.querySelectorAll("button").forEach((b) => (b.disabled = true));
    try {
      const out = await api(`/api/annotations/${card.dataset.annotation}/review/`, {
        method: "POST",
        body: { expected_version: Number(card.dataset.version), ...body },
      });
      // The page is drawn again from the server; what was done is said on it (a screen reader
      // heard nothing, and the focus fell to the page's top).
      const who = card.dataset.annotator ? `${card.dataset.annotator}'s annotation` : "The annotation";
      const did = { accept: "accepted", reject: "rejected", correct: "corrected" }[body.action] || "reviewed";
      try {
        const also = out && out.warning ? ` Note: ${out.warning}.` : "";
        sessionStorage.setItem(DECIDED_KEY, JSON.stringify({ clip: root.dataset.clip, text: `${who} is ${did}.${also}` }));
      } catch { /* storage blocked: the decision is saved all the same */ }
      window.location.reload();
    } catch (err) {
      card.querySelectorAll("button").forEach((b) => (b.disabled = false));
      showError(errorBox, err, near);
    }
  };
  root.querySelectorAll("[data-testid=annotation]").forEach((card) => {
    const reject = card.querySelector(".rv-reject");
    const correct = card.querySelector(".rv-correct");
    let unmountLane = null; // the correction's lane under the waveform, while the form is open
    const editor = correct?.querySelector(".rv-seg-editor");
    const pager = editor ? mountPager(editor) : null;
    let opening = 0; // the latest open or close: an earlier open still loading gives way to it
    const closeForms = () => {
      opening += 1;
      if (reject) {
        // A cancelled rejection's text is not the next one's (it came back, and was sent).
        reject.querySelector("textarea").value = "";
        reject.hidden = true;
      }
      for (const form of [reject, correct]) form?.querySelector("[data-testid=discard-note]")?.remove();
      if (correct) correct.hidden = true;
      unmountLane?.();
      unmountLane = null;
    };
    card.querySelector("[data-action=accept]")?.addEventListener("click", () =>
      decide(card, { action: "accept" }),
    );
    // Opening the other form closes this one: its changes are asked about first (Escape asks
    // too; a click threw them away without a word).
    const leaveForms = () => {
      const changed = [reject, correct].filter((f) => f && formChanged(f));
      if (changed.length && !window.confirm(`Discard your changes to the ${changed[0] === reject ? "rejection" : "correction"}?`)) return false;
      return true;
    };
    card.querySelector("[data-action=reject-open]")?.addEventListener("click", () => {
      if (!reject.hidden) { reject.querySelector("textarea").focus(); return; } // its text stays
      if (!leaveForms()) return;
      closeForms();
      reject.hidden = false;
      reject.dataset.opened = formSignature(reject);
      reject.querySelector("textarea").focus();
    });
    card.querySelector("[data-action=correct-open]")?.addEventListener("click", async () => {
      if (!correct.hidden) return; // open already: a second click must not reload the table
      if (!leaveForms()) return;
      closeForms();
      const mine = opening;
      try {
        const data = await annotationData(Number(card.dataset.annotation));
        // Loaded when needed: the members and token pages load this module too.
        const lane = await import("./review_correct.js");
        ({ channelName, bandText, parseBand } = lane);
        if (mine !== opening) return; // clicked again, or cancelled, meanwhile
        const labels = correct.querySelector("[name=clip_labels]");
        if (labels) labels.value = data.clip_labels.join(", ");
        const tbody = correct.querySelector(".rv-seg-editor tbody");
        if (tbody) {
          tbody.innerHTML = "";
          for (const s of data.segments) segmentRow(tbody, s, channels).hidden = true; // the pager shows its page
          pager.top();
          unmountLane = lane.mountCorrectionLane(tbody, {
            addRow: (seg) => segmentRow(tbody, seg, channels),
            reveal: pager.reveal,
            name: card.dataset.annotator,
            seconds,
          });
        }
        correct.hidden = false;
        correct.dataset.opened = formSignature(correct);
      } catch (err) {
        showError(errorBox, err);
      }
    });
    correct?.querySelector("[data-action=add-segment]")?.addEventListener("click", () => {
      const tr = segmentRow(correct.querySelector(".rv-seg-editor tbody"), undefined, channels);
      pager.reveal(tr);
      tr.querySelector("[name=start]").focus();
    });
    card.querySelectorAll("[data-action=cancel]").forEach((b) => b.addEventListener("click", closeForms));
    reject?.addEventListener("submit", (e) => {
      e.preventDefault();
      decide(card, { action: "reject", comment: reject.querySelector("textarea").value });
    });
    // Ctrl+Enter (⌘+Enter) in a rejection's comment sends it, and in a correction's fields
    // saves it, as in the workspace (it took a Tab to the button).
    for (const form of [reject, correct]) {
      form?.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          form.requestSubmit();
        }
      });
    }
    correct?.addEventListener("submit", (e) => {
      e.preventDefault();
      const comment = correct.querySelector("[name=comment]").value;
      const body = readCorrection(correct);
      const save = correct.querySelector("[data-testid=correct]");
      if (body instanceof Error) {
        showError(errorBox, body, save);
        if (body.row) {
          pager.reveal(body.row);
          body.row.querySelector(`[name=${body.field}]`)?.focus();
        }
        return;
      }
      decide(card, { action: "correct", comment, ...body }, save);
    });
  });
  mountReviewKeys(root);
}

// Whether an open form was changed since it opened.
function formChanged(form) {
  return !form.hidden && form.dataset.opened !== undefined && formSignature(form) !== form.dataset.opened;
}

// What a form holds now (its fields' values, the correction's rows included), to tell
// whether it was changed since it opened.
function formSignature(form) {
  return JSON.stringify([...form.querySelectorAll("input, select, textarea")]
    .filter((f) => f.type !== "hidden" && f.type !== "submit")
    .map((f) => (f.type === "checkbox" ? f.checked : f.value)));
}

// Keys, as in the workspace (its Hotkeys: not while typing in a form, Space and Enter on a focused
// button keep their meaning): Space plays or pauses, N opens the next clip in the queue, and A
// accepts / R starts a rejection when the clip has one submitted annotation waiting for a
// decision (otherwise the buttons say which). A and N wait while a rejection or correction is
// open (its draft would be lost); a held key acts once. + (or =), - and F (or 0) zoom the
// waveform in, out and to the whole clip, as the workspace's keys do, through the player's
// buttons (review_player.js); a held zoom key goes on zooming.
async function mountReviewKeys(root) {
  // Loaded here, not with the module: the members and token pages need none of it, and their
  // forms are ready sooner without it.
  const { Hotkeys } = await import("./hotkeys.js");
  const audio = document.querySelector("[data-testid=review-audio]");
  const next = document.querySelector("[data-testid=next-in-queue]");
  const waitingOne = () => {
    const waiting = [...root.querySelectorAll("[data-testid=annotation][data-status=submitted]")]
      .filter((card) => card.querySelector("[data-action=accept]"));
    return waiting.length === 1 ? waiting[0] : null;
  };
  const drafting = () => [...root.querySelectorAll(".rv-reject, .rv-correct")].some((f) => !f.hidden);
  const once = (run) => (e) => e.repeat || run();
  const keys = new Hotkeys();
  if (audio) {
    keys.bind("space", "Play or pause", once(() => (audio.paused ? audio.play().catch(() => {}) : audio.pause())));
  }
  if (next) {
    keys.bind("n", "Next clip in the queue", once(() => drafting() || (window.location.href = next.href)));
  }
  // With none or several waiting, A and R say which buttons to use (they did nothing).
  const errorBox = root.querySelector(".rv-error");
  const decideOne = (action) => once(() => {
    if (drafting()) return;
    const card = waitingOne();
    if (card) {
      card.querySelector(`[data-action=${action}]`).click();
      return;
    }
    const waiting = [...root.querySelectorAll("[data-testid=annotation][data-status=submitted]")].filter((c) => c.querySelector("[data-action=accept]")).length;
    showError(errorBox, {
      message: waiting
        ? `${waiting} annotations wait for a decision: use the Accept and Reject… buttons of the one you mean (A and R act when one waits).`
        : "No submitted annotation waits for your decision on this clip.",
    });
  });
  keys.bind("a", "Accept", decideOne("accept"));
  keys.bind("r", "Start a rejection", decideOne("reject-open"));
  // Escape closes an open rejection or correction (its Cancel), from its fields too. One with
  // changes asks first: Escape is also how a field's suggestion list is dismissed, and it
  // threw a reviewer's edits away without a word.
  keys.bind("escape", "Close the rejection or correction", () => {
    // The form the focus is in (two cards may each have one open), else the first open one.
    const forms = [...root.querySelectorAll(".rv-reject, .rv-correct")].filter((f) => !f.hidden);
    const open = forms.find((f) => f.contains(document.activeElement)) || forms[0];
    if (!open) return;
    const changed = formChanged(open);
    const note = open.querySelector("[data-testid=discard-note]");
    if (changed && !note) {
      const asked = el("p", { class: "rv-discard-note", role: "status", "data-testid": "discard-note",
        text: "You have changed this form: press Escape again to discard the changes (or Cancel), or go on editing." });
      open.append(asked);
      open.addEventListener("input", () => asked.remove(), { once: true }); // asks again later
      return;
    }
    open.querySelector("[data-action=cancel]")?.click();
    // back on the button that opened it (the focus fell to the page)
    const opener = open.classList.contains("rv-reject") ? "reject-open" : "correct-open";
    open.closest("[data-testid=annotation]")?.querySelector(`[data-action=${opener}]`)?.focus();
  }, { inInputs: true });
  if (audio) {
    // An hour-long recording's end was dozens of Shift+wheel scrolls away: Home, End and a
    // typed time (Alt+G), as in the workspace. The waveform follows the seek.
    const { formatTime, parseClock } = await import("./waveform.js");
    const length = () => Number(document.getElementById("rv-player")?.dataset.duration) || audio.duration || 0;
    keys.bind("home", "To the start", () => { audio.currentTime = 0; });
    keys.bind("end", "To the end", () => { audio.currentTime = Math.max(0, length() - 0.01); });
    keys.bind("alt+g", "Go to a time (typed)", () => {
      const typed = window.prompt(`Go to time (seconds, m:ss or h:mm:ss; the clip is ${formatTime(length(), 0.01)})`, formatTime(audio.currentTime, 0.01));
      if (typed === null) return;
      const t = parseClock(typed);
      if (t === null || t > length()) {
        showError(errorBox, { message: `Not a time in this clip: “${typed}”.` });
        return;
      }
      audio.currentTime = t;
    });
  }
  const zoom = (action) => document.querySelector(`#rv-player .rv-view [data-action=${action}]`);
  if (zoom("zoom-in")) {
    keys.bind(["+", "="], "Zoom in", () => zoom("zoom-in").click());
    keys.bind("-", "Zoom out", () => zoom("zoom-out").click());
    keys.bind(["f", "0"], "Whole clip (fit)", () => zoom("zoom-fit").click());
  }
  root.dataset.keys = "ready"; // keys pressed before this do nothing (tests wait for it)
}

// --- adjudication buttons (queue page and clip review page) --------------------------------
function mountAdjudication() {
  document.querySelectorAll("[data-adjudicate]").forEach((button) => {
    button.addEventListener("click", async () => {
      button.disabled = true;
      const method = button.dataset.needed === "0" ? "DELETE" : "POST";
      try {
        await api(`/api/clips/${button.dataset.adjudicate}/adjudication/`, { method });
        window.location.reload();
      } catch (err) {
        button.disabled = false;
        button.title = err.message;
        button.textContent = `Failed: ${err.message}`;
      }
    });
  });
}

// --- members (leads) -----------------------------------------------------------------------
function mountMembers(root) {
  const base = `/api/projects/${root.dataset.project}/members/`;
  const errorBox = root.querySelector(".rv-error");
  const status = root.querySelector("[data-testid=members-status]");
  // What an invite or a removal did, said on the page drawn again after it (the row just
  // appeared or went, without a word).
  const SAID_KEY = "earmark.members.said";
  try {
    const said = sessionStorage.getItem(SAID_KEY);
    sessionStorage.removeItem(SAID_KEY);
    if (said) setTimeout(() => { status.textContent = said; }, 50);
  } catch { /* storage blocked: nothing to say */ }
  const run = async (fn, undo = () => {}, then = null, said = "") => {
    errorBox.hidden = true;
    status.textContent = ""; // an earlier success is not said beside a new error
    try {
      await fn();
      // Said on this page drawn again only: leaving it (oneself removed), the next members
      // page, of any project, said it.
      try { if (said && !then) sessionStorage.setItem(SAID_KEY, said); } catch { /* blocked */ }
      if (then) window.location.assign(then); else window.location.reload();
    } catch (err) {
      undo(); // a refused change leaves the page showing what is, not what was tried
      showError(errorBox, err);
    }
  };
  root.querySelector("#invite").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target;
    const who = form.username.value.trim();
    const password = form.password.value;
    const body = { username: who, role: form.role.value };
    if (password) body.password = password;
    const role = form.role.selectedOptions[0].textContent.toLowerCase();
    run(
      () => api(base, { method: "POST", body }),
      undefined,
      null,
      password
        ? `Account made and added: ${who} is now ${role} of this project. Give them their username and first password; they choose their own when they first sign in.`
        : `Added: ${who} is now ${role} of this project.`,
    );
  });
  root.querySelectorAll("[data-testid=member-row]").forEach((row) => {
    // A role is saved when chosen with the mouse, or with Enter (or on leaving the list)
    // after the arrows: in Chromium an arrow on a closed list changes it at once, and every
    // step was saved (annotator to lead went through reviewer) and the page reloaded, the
    // focus lost. Escape puts back the saved role. Saved in place: the focus stays.
    const select = row.querySelector("[data-role]");
    const saved = () => [...select.options].find((o) => o.defaultSelected)?.value;
    let byKeys = false;
    const save = async () => {
      byKeys = false;
      const was = saved();
      if (select.value === was) return;
      errorBox.hidden = true;
      // A lead who gives up their own lead role loses this page at once: asked first.
      const self = row.dataset.self === "1";
      if (self && was === "lead" && !window.confirm(`Make yourself ${select.selectedOptions[0].textContent.toLowerCase()}? You stop being a lead of this project: this page and the project's settings close to you, and only another lead can give the role back.`)) {
        select.value = was;
        return;
      }
      try {
        await api(`${base}${row.dataset.user}/`, { method: "PATCH", body: { role: select.value } });
        for (const o of select.options) o.defaultSelected = o.value === select.value;
        status.textContent = `Saved: ${row.dataset.username} is now ${select.selectedOptions[0].textContent.toLowerCase()}.`;
        if (self && was === "lead") window.location.assign(row.dataset.after);
      } catch (err) {
        select.value = was; // a refused change leaves the page showing what is
        showError(errorBox, err);
      }
    };
    select.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); save(); }
      else if (e.key === "Escape") { select.value = saved(); byKeys = false; }
      else if (!e.key.startsWith("Tab")) byKeys = true;
    });
    select.addEventListener("change", () => {
      if (byKeys) { status.textContent = "Press Enter to save the role (Escape to keep it)."; return; }
      save();
    });
    select.addEventListener("blur", () => { if (select.value !== saved()) save(); });
    row.querySelector("[data-release]")?.addEventListener("click", async (e) => {
      errorBox.hidden = true;
      try {
        const out = await api(`${base}${row.dataset.user}/release/`, { method: "POST" });
        row.querySelector("[data-testid=member-held]").textContent = "0 clips";
        status.textContent = `${out.released} clip${out.released === 1 ? "" : "s"} ${row.dataset.username} held went back to the queue.`;
      } catch (err) { showError(errorBox, err, e.target); }
    });
    row.querySelector("[data-remove]").addEventListener("click", () => {
      if (row.dataset.self === "1" && !window.confirm("Remove yourself from the project? You lose access to it at once; only a lead can add you again.")) return;
      if (row.dataset.self !== "1" && !window.confirm(`Remove ${row.dataset.username} from the project? Their annotations stay; the clips they hold go back to the queue; their unsaved drafts are kept, hidden, and come back if they are added again.`)) return;
      // Oneself removed: this page is closed to them now; their projects are not.
      run(
        () => api(`${base}${row.dataset.user}/`, { method: "DELETE" }),
        undefined,
        row.dataset.self === "1" ? "/" : null,
        `Removed: ${row.dataset.username} is no longer a member; their annotations stay.`,
      );
    });
  });
}

// --- personal API tokens -------------------------------------------------------------------
function mountTokens(root) {
  const errorBox = root.querySelector(".rv-error");
  root.querySelector("#token-create").addEventListener("submit", async (e) => {
    e.preventDefault();
    errorBox.hidden = true;
    try {
      const token = await api("/api/tokens/", { method: "POST", body: { name: e.target.name.value } });
      // The key exists only in this answer: show it, and list the token without reloading.
      const box = root.querySelector("[data-testid=token-key-box]");
      box.querySelector("[data-testid=token-key]").textContent = token.key;
      box.hidden = false;
      e.target.reset();
      const tr = document.createElement("tr");
      tr.dataset.testid = "token-row";
      tr.dataset.token = String(token.id);
      tr.innerHTML = "<td></td><td><code></code></td><td class=muted>just now</td><td class=muted>never</td><td></td>";
      tr.children[0].textContent = token.name;
      tr.querySelector("code").textContent = `${token.prefix}…`;
      // revocable at once, as the rows the page came with (it had no button until a reload)
      tr.children[4].append(el("button", { "data-revoke": true, "data-testid": "token-revoke", "aria-label": `Revoke ${token.name}`, text: "Revoke" }));
      const tbody = root.querySelector("[data-testid=token-table] tbody");
      tbody.querySelector("[data-empty]")?.remove();
      tbody.prepend(tr);
    } catch (err) {
      showError(errorBox, err);
    }
  });
  // Revoked in place after a confirmation: a reload threw away a new token's key still on
  // screen (shown once), and a revoke cannot be undone.
  root.addEventListener("click", async (e) => {
    const button = e.target.closest && e.target.closest("[data-revoke]");
    if (!button) return;
    const row = button.closest("tr");
    const name = row.children[0].textContent;
    if (!window.confirm(`Revoke the token “${name}”? Anything using it stops working; this cannot be undone.`)) return;
    try {
      await api(`/api/tokens/${row.dataset.token}/`, { method: "DELETE" });
      const done = el("span", { class: "status rv-status-rejected", role: "status", text: `revoked ${new Date().toISOString().slice(0, 10)}` });
      button.replaceWith(done);
    } catch (err) {
      showError(errorBox, err);
    }
  });
}

const clipReview = document.getElementById("clip-review");
if (clipReview) mountClipReview(clipReview);
mountAdjudication();
const members = document.getElementById("members");
if (members) mountMembers(members);
const tokens = document.getElementById("tokens");
if (tokens) mountTokens(tokens);
