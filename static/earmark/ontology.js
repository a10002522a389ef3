// The label tree editor: leads add, rename, move (drag or parent picker), reorder, set hotkey
// and color, deprecate, merge, delete and import; everybody else reads. The whole tree comes
// in one request; after each change it is fetched again, so what you see is what is stored.

import { api, ApiError, csrfToken } from "./api.js";
import { el } from "./dom.js";
import { labelColor, pathMatches } from "./labels.js";

const root = document.getElementById("ontology-editor");
const projectId = root.dataset.project;
const canEdit = root.dataset.canEdit === "true";
const base = `/api/projects/${projectId}/ontology/`;
const $ = (testid, scope = document) => scope.querySelector(`[data-testid="${testid}"]`);
const BIG_TREE = 150; // above this many labels, start with only the top two levels open

const state = {
  labels: [], byId: new Map(), children: new Map(), selected: null, collapsed: null,
  filter: "", showDeprecated: true, version: 0,
};


// A change's message with the server's warnings after it, said as a warning when there are any.
function sayWarned(message, warnings) {
  const warned = Boolean(warnings && warnings.length);
  say(warned ? `${message}. ${warnings.join(" ")}` : message, warned ? "warn" : "ok");
}

function say(message, kind = "ok") {
  const toast = $("editor-message");
  toast.textContent = message;
  toast.className = `onto-toast ${kind}`;
  toast.hidden = false;
  clearTimeout(say.timer);
  say.timer = setTimeout(() => { toast.hidden = true; }, { error: 9000, warn: 12000 }[kind] || 4000);
}

function failed(err) {
  say(err instanceof ApiError ? err.message : String(err), "error");
  // The tree changed under this page (another lead deleted, merged or edited a label): it
  // is drawn again as it is now, with the message still up (it kept showing the label gone).
  const code = err instanceof ApiError ? err.body?.code : null;
  if (err instanceof ApiError && (err.status === 404 || ["label_changed", "unknown_parent"].includes(code))) {
    const message = err.message.replace(/; reload to see it, then make your change again$/, "; make your change again on the tree as it is now").replace(/[.\s]*$/, ".");
    load().then(() => say(`${message} The tree is shown as it is now.`, "error")).catch(() => {});
  }
}

// --- loading and indexing -----------------------------------------------------------------

async function load() {
  const data = await api(`${base}?usage=1`);
  state.labels = data.labels;
  state.version = data.ontology.version;
  state.byId = new Map(data.labels.map((l) => [l.id, l]));
  state.children = new Map();
  for (const label of data.labels) {
    if (!state.children.has(label.parent)) state.children.set(label.parent, []);
    state.children.get(label.parent).push(label);
  }
  if (state.collapsed === null) {
    const big = data.labels.length > BIG_TREE;
    state.collapsed = new Set(data.labels.filter((l) => big && l.depth >= 1 && !l.leaf).map((l) => l.id));
  }
  if (state.selected !== null && !state.byId.has(state.selected)) state.selected = null;
  $("ontology-version").textContent = `v${state.version}`;
  renderTree();
  renderPanel();
  renderPickers();
  loadChanges();
}

const kids = (id) => state.children.get(id) || [];

function subtreeIds(id) {
  const out = new Set([id]);
  const stack = [id];
  while (stack.length) for (const child of kids(stack.pop())) { out.add(child.id); stack.push(child.id); }
  return out;
}

// --- the tree -----------------------------------------------------------------------------

function visibleIds() {
  const text = state.filter.trim().toLowerCase();
  const show = new Set();
  for (const label of state.labels) {
    if (!state.showDeprecated && label.deprecated) continue;
    const hit = !text || pathMatches(label.path, text)
      || (label.hotkey && label.hotkey.toLowerCase() === text);
    if (!hit) continue;
    // A match keeps its ancestors visible, so it is shown in context.
    for (let id = label.id; id !== null && !show.has(id); id = state.byId.get(id).parent) show.add(id);
  }
  return show;
}

function renderTree() {
  const list = $("label-tree");
  const show = visibleIds();
  const filtering = state.filter.trim() !== "";
  const build = (parentId) => kids(parentId).filter((l) => show.has(l.id)).map((label) => {
    const open = filtering || !state.collapsed.has(label.id);
    const hasKids = kids(label.id).length > 0;
    const uses = label.uses ? label.uses.clip + label.uses.segment : 0;
    // The row is the tree item (it takes the focus; its group is owned by aria-owns), and one
    // row is a Tab stop (↑ ↓ ← → Home End walk the rest): with every row and twisty a stop,
    // getting past 421 labels took 539 presses of Tab.
    const under = label.available === false && !label.deprecated;
    const group = hasKids && open ? `onto-group-${label.id}` : null;
    const row = el("div", {
      class: `onto-row${state.selected === label.id ? " selected" : ""}${state.justAdded === label.id ? " just-added" : ""}${label.deprecated || under ? " deprecated" : ""}`,
      tabindex: "-1", draggable: canEdit ? "true" : null, "data-testid": "label-row",
      role: "treeitem", "aria-level": String(label.depth + 1), "aria-owns": group,
      "aria-expanded": hasKids ? String(open) : null,
      "aria-selected": state.selected === label.id ? "true" : "false",
      onclick: () => select(label.id),
      onkeydown: (e) => rowKey(e, label),
      onfocus: (e) => { if (e.target === e.currentTarget) tabStop(label.id); },
    },
    hasKids
      ? el("button", { type: "button", class: "onto-twisty", "aria-label": open ? "collapse" : "expand",
        "data-testid": "toggle", text: open ? "▾" : "▸", tabindex: "-1",
        onclick: (e) => { e.stopPropagation(); toggle(label.id); } })
      : el("span", { class: "onto-twisty" }),
    el("span", {
      class: "onto-swatch", "aria-hidden": "true",
      style: `background:${labelColor(label)}`,
      title: label.color ? label.color : `${labelColor(label)} (automatic: set a colour to choose another)`,
    }),
    el("span", { class: "onto-name", "data-testid": "label-name", text: label.name }),
    label.hotkey ? el("kbd", { "data-testid": "label-hotkey", text: label.hotkey }) : null,
    label.deprecated ? el("span", { class: "badge", text: "deprecated" }) : null,
    under ? el("span", { class: "badge", title: "a label above it is deprecated: it cannot be chosen either", text: "deprecated above" }) : null,
    uses ? el("span", { class: "onto-uses", title: `${label.uses.clip} clip and ${label.uses.segment} segment uses`, "aria-label": `${uses} uses`, text: String(uses) }) : null);
    if (canEdit) dragWire(row, label);
    const item = el("li", {
      class: "onto-node", role: "none",
      "data-testid": "label-node", dataset: { labelPath: label.path, labelId: String(label.id) },
    }, row);
    if (group) item.append(el("ul", { role: "group", id: group }, ...build(label.id)));
    return item;
  });
  list.replaceChildren(...build(null));
  tabStop(state.tabStop);
  const deprecated = state.labels.filter((l) => l.deprecated).length;
  const above = state.labels.filter((l) => !l.deprecated && l.available === false).length;
  $("label-count").textContent = `${state.labels.length} labels`
    + (deprecated ? `, ${deprecated} deprecated` : "") + (above ? ` (${above} more under them)` : "")
    + (filtering ? ` · ${show.size} shown` : "");
}

// The tree's one Tab stop: the row last focused, else the selected one, else the first.
function tabStop(id) {
  const rows = [...document.querySelectorAll("[data-testid=label-tree] [data-testid=label-row]")];
  const rowOf = (labelId) => rows.find((r) => r.parentElement.dataset.labelId === String(labelId));
  const stop = rowOf(id) || rowOf(state.selected) || rows[0];
  for (const r of rows) r.tabIndex = r === stop ? 0 : -1;
  if (stop) state.tabStop = Number(stop.parentElement.dataset.labelId);
}

function toggle(id) {
  if (state.collapsed.has(id)) state.collapsed.delete(id); else state.collapsed.add(id);
  renderTree();
}

// A tree's keys: Enter or Space selects, → opens (or goes to the first child), ← closes (or
// goes to the parent), ↑ ↓ Home End move between the rows shown. The focus stays on the
// label's row through the re-render (it fell to the page).
function rowKey(event, label) {
  if (event.target !== event.currentTarget) return; // the row's own buttons keep their keys
  const rows = () => [...document.querySelectorAll("[data-testid=label-tree] [data-testid=label-row]")];
  const focusRow = (id) => document.querySelector(
    `[data-testid=label-tree] [data-testid=label-node][data-label-id="${id}"] > [data-testid=label-row]`)?.focus();
  const open = kids(label.id).length && !state.collapsed.has(label.id);
  const shown = rows();
  const here = shown.indexOf(event.currentTarget);
  let handled = true;
  if (event.key === "Enter" || event.key === " ") select(label.id);
  else if (event.key === "ArrowRight" && kids(label.id).length && !open) toggle(label.id);
  else if (event.key === "ArrowRight" && open) shown[here + 1]?.focus();
  else if (event.key === "ArrowLeft" && open) toggle(label.id);
  else if (event.key === "ArrowLeft" && label.parent !== null && label.parent !== undefined) focusRow(label.parent);
  else if (event.key === "ArrowDown") shown[here + 1]?.focus();
  else if (event.key === "ArrowUp") shown[here - 1]?.focus();
  else if (event.key === "Home") shown[0]?.focus();
  else if (event.key === "End") shown[shown.length - 1]?.focus();
  else handled = false;
  if (!handled) return;
  event.preventDefault();
  if (!event.currentTarget.isConnected) focusRow(label.id); // re-rendered: the same label's row
}

function select(id) {
  state.selected = id;
  renderTree();
  renderPanel();
  const parentPicker = $("add-parent");
  if (parentPicker) parentPicker.value = String(id);
}

// --- drag and drop: onto a row = make child; top/bottom quarter = before/after ---------------

let dragged = null;

function dropZone(event, row) {
  const box = row.getBoundingClientRect();
  const y = (event.clientY - box.top) / box.height;
  return y < 0.25 ? "before" : y > 0.75 ? "after" : "inside";
}

function dragWire(row, label) {
  row.addEventListener("dragstart", (e) => {
    dragged = label.id;
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", label.path);
  });
  row.addEventListener("dragend", () => { dragged = null; });
  row.addEventListener("dragover", (e) => {
    if (dragged === null) return;
    if (subtreeIds(dragged).has(label.id)) {
      // No drop here (the cursor says so); the status line says why, instead of the last move.
      const why = `${state.byId.get(dragged).name} cannot go under itself or its own children`;
      if (label.id !== dragged && $("editor-message").textContent !== why) say(why, "error");
      return;
    }
    e.preventDefault();
    row.dataset.drop = dropZone(e, row);
  });
  row.addEventListener("dragleave", () => { delete row.dataset.drop; });
  row.addEventListener("drop", (e) => {
    e.preventDefault();
    const zone = dropZone(e, row);
    delete row.dataset.drop;
    if (dragged === null || subtreeIds(dragged).has(label.id)) return;
    const id = dragged;
    dragged = null;
    if (zone === "inside") return moveLabel(id, label.id, null);
    const siblings = kids(label.parent).filter((l) => l.id !== id);
    const index = siblings.findIndex((l) => l.id === label.id);
    return moveLabel(id, label.parent, zone === "before" ? index : index + 1);
  });
}

async function moveLabel(id, parent, position) {
  const label = state.byId.get(id);
  // what this page saw: a label another lead moved since is not moved again from here
  const body = { parent, expected: seen(label, ["parent"]) };
  if (position !== null) body.position = position;
  try {
    const moved = await api(`${base}labels/${id}/`, { method: "PATCH", body });
    if (parent !== null) state.collapsed.delete(parent);
    state.selected = id;
    sayWarned(`Moved ${label.path} → ${moved.path}`, moved.warnings);
    await load();
  } catch (err) { failed(err); }
}

// --- the selected label's panel ------------------------------------------------------------

function option(label, selected, disabled = false) {
  return el("option", { value: String(label.id), selected: selected || null, disabled: disabled || null,
    title: label.path, dataset: { path: label.path.toLowerCase() },
    text: `${"\u2003".repeat(label.depth)}${label.name}${label.deprecated ? " (deprecated)" : ""}` });
}

// A label picker of hundreds of labels: a filter box above it (by path) and the chosen
// label's whole path under it (closed, the list showed "male" of a dozen "male"s).
function searchable(select, name, { pick = true } = {}) {
  const chosen = el("div", { class: "muted small onto-chosen", "data-testid": `${select.dataset.testid}-path` });
  const original = select.value;
  const show = () => {
    const label = state.byId.get(Number(select.value));
    chosen.textContent = label ? label.path : "";
  };
  const matches = () => [...select.options].filter((o) => !o.hidden && !o.disabled && o.value);
  const filter = el("input", { type: "search", class: "onto-filter-pick", placeholder: "filter by path…",
    "aria-label": `Filter the ${name} list`, "data-testid": `${select.dataset.testid}-filter`,
    oninput: () => {
      const text = filter.value.trim().toLowerCase();
      for (const o of select.options) o.hidden = Boolean(text) && Boolean(o.value) && !pathMatches(o.dataset.path, text);
      if (!text) { select.value = original; show(); return; } // cleared: as it was
      // `pick`: the first match is chosen unless the choice so far still matches; else (the
      // parent, inside the form that moves the label) only Enter chooses it
      const first = matches()[0];
      if (pick && first && (!select.value || select.selectedOptions[0]?.hidden !== false)) {
        select.value = first.value;
        show();
      }
    },
    onkeydown: (e) => {
      if (e.key !== "Enter") return;
      e.preventDefault(); // not the form's submit: choosing is not saving
      const first = matches()[0];
      if (first) { select.value = first.value; show(); select.focus(); }
    } });
  select.addEventListener("change", show);
  show();
  return [filter, select, chosen];
}

// `live`: deprecated labels are shown but cannot be picked (a merge into one is refused,
// unless the label merged is deprecated too).
function labelOptions({ exclude = new Set(), selected = null, top = "(top level)", live = false } = {}) {
  const opts = top === null ? [] : [el("option", { value: "", text: top, selected: selected === null || null })];
  for (const label of state.labels) {
    if (!exclude.has(label.id)) opts.push(option(label, selected === label.id, live && (label.deprecated || label.available === false)));
  }
  return opts;
}

function renderPickers() {
  const picker = $("add-parent");
  if (!picker) return;
  const keep = picker.value ? Number(picker.value) : state.selected;
  picker.replaceChildren(...labelOptions({ selected: state.byId.has(keep) ? keep : null }));
}

function renderPanel() {
  const panel = $("label-panel");
  const label = state.byId.get(state.selected);
  if (!label) { panel.hidden = true; panel.replaceChildren(); return; }
  panel.hidden = false;
  const uses = label.uses || { clip: 0, segment: 0 };
  const head = [
    el("h2", { "data-testid": "panel-path", text: label.path }),
    el("p", { class: "muted", "data-testid": "panel-uses",
      text: `Used by ${uses.clip} clip label(s) and ${uses.segment} segment label(s)`
        + ` · ${kids(label.id).length} child label(s)` }),
  ];
  if (!canEdit) {
    const dl = el("dl", { class: "onto-details" });
    for (const [k, v] of [["Hotkey", label.hotkey], ["Color", label.color], ["External id", label.external_id],
      ["Description", label.description], ["Status", label.deprecated ? "deprecated" : "active"]]) {
      dl.append(el("dt", { text: k }), el("dd", { text: v || "—" }));
    }
    panel.replaceChildren(...head, dl);
    return;
  }
  const subtree = subtreeIds(label.id);
  const form = el("form", { class: "onto-form", "data-testid": "edit-form", autocomplete: "off" },
    el("label", {}, "Name ", el("input", { type: "text", name: "name", value: label.name, maxlength: "200", required: true, "data-testid": "edit-name" })),
    el("label", {}, "Parent ", ...searchable(el("select", { name: "parent", "data-testid": "parent-picker" }, ...labelOptions({ exclude: subtree, selected: label.parent })), "parent", { pick: false })),
    el("div", { class: "onto-row2" },
      el("label", {}, "Hotkey ", el("input", { type: "text", name: "hotkey", value: label.hotkey, maxlength: "16", "data-testid": "edit-hotkey" })),
      el("label", {}, "Color ", el("span", { class: "onto-color" },
        el("input", { type: "text", name: "color", value: label.color, placeholder: "#rrggbb", maxlength: "7", "data-testid": "edit-color" }),
        el("input", { type: "color", value: labelColor(label), "aria-label": "pick a color",
          oninput: (e) => { form.elements.color.value = e.target.value; } })))),
    el("label", {}, "External id ", el("input", { type: "text", name: "external_id", value: label.external_id, maxlength: "200", "data-testid": "edit-external-id" })),
    el("label", {}, "Description ", el("textarea", { name: "description", rows: "2", "data-testid": "edit-description" }, label.description)),
    el("div", { class: "onto-buttons" },
      el("button", { type: "submit", class: "primary", "data-testid": "save-label", text: "Save" }),
      el("button", { type: "button", title: "Move up among siblings", "data-testid": "move-up", text: "↑",
        onclick: () => reorder(label, -1) }),
      el("button", { type: "button", title: "Move down among siblings", "data-testid": "move-down", text: "↓",
        onclick: () => reorder(label, +1) }),
      el("button", { type: "button", "data-testid": "deprecate-label", text: label.deprecated ? "Restore" : "Deprecate",
        onclick: () => deprecate(label) })));
  form.addEventListener("submit", (e) => { e.preventDefault(); save(label, form); });

  const mergeSelect = el("select", { "data-testid": "merge-target", "aria-label": `Merge ${label.path} into` },
    ...labelOptions({ exclude: subtree, top: "merge into…", live: !label.deprecated }));
  const deep = el("input", { type: "checkbox", "data-testid": "merge-children" });
  const danger = el("div", { class: "onto-danger" },
    // The checkbox wraps inside the merge block: beside it, it pushed Delete out of the panel.
    el("div", { class: "onto-merge" }, ...searchable(mergeSelect, "merge target"),
      el("button", { type: "button", "data-testid": "merge-label", text: "Merge",
        onclick: () => merge(label, mergeSelect.value, deep.checked) }),
      kids(label.id).length
        ? el("label", { class: "onto-check", title: "a child named as one of the target's children is merged into it (and so on down); without it such a merge is refused" },
          deep, " merge children into the target's children of the same name")
        : null),
    el("button", { type: "button", class: "onto-delete", "data-testid": "delete-label", text: "Delete",
      onclick: () => remove(label) }));
  panel.replaceChildren(...head, form, danger);
}

// A label in use is deprecated after a question naming its uses (as a merge asks), and the
// message says what was done ("Saved" it said).
function deprecate(label) {
  const on = !label.deprecated;
  const uses = [...subtreeIds(label.id)].reduce((sum, id) => {
    const u = state.byId.get(id)?.uses;
    return sum + (u ? u.clip + u.segment : 0);
  }, 0);
  if (on && uses && !window.confirm(`Deprecate “${label.path}”? It is used ${uses} time${uses === 1 ? "" : "s"}: those annotations keep it, but no one can choose it (or a label under it) again.`)) return;
  return patch(label, { deprecated: on, expected: seen(label, ["deprecated"]) },
    `${on ? "Deprecated" : "Restored"} ${label.path}`);
}

async function patch(label, body, message) {
  try {
    const out = await api(`${base}labels/${label.id}/`, { method: "PATCH", body });
    sayWarned(message || `Saved ${out.path}`, out.warnings);
    await load();
  } catch (err) { failed(err); }
}

// A hotkey of spaces only: Space typed into the field. Sent, it was read as no hotkey (and
// cleared one) while the page said "Saved".
const SPACE_HOTKEY = "Space plays and pauses in the workspace: it cannot be a label's hotkey; choose another (a letter or a digit)";
const spaceOnly = (value) => value !== "" && value.trim() === "";

function save(label, form) {
  const f = form.elements;
  if (spaceOnly(f.hotkey.value)) return say(SPACE_HOTKEY, "error");
  const body = {};
  if (f.name.value.trim() !== label.name) body.name = f.name.value;
  const parent = f.parent.value === "" ? null : Number(f.parent.value);
  if (parent !== label.parent) body.parent = parent;
  for (const key of ["hotkey", "color", "external_id", "description"]) {
    if (f[key].value.trim() !== (label[key] || "")) body[key] = f[key].value;
  }
  if (!Object.keys(body).length) return say("Nothing to save");
  return patch(label, { ...body, expected: seen(label, Object.keys(body)) });
}

// What this page last saw of the fields it changes: another lead's change to one of them
// since is refused (409), not silently overwritten.
function seen(label, fields) {
  return Object.fromEntries(fields.map((key) => [key, key === "parent" ? label.parent : (label[key] ?? "")]));
}

function reorder(label, delta) {
  const siblings = kids(label.parent);
  const index = siblings.findIndex((l) => l.id === label.id) + delta;
  if (index < 0 || index >= siblings.length) return;
  patch(label, { position: index, expected: seen(label, ["parent"]) }, `Moved ${label.name} ${delta < 0 ? "up" : "down"}`);
}

async function merge(label, into, deep = false) {
  if (!into) return say("Choose the label to merge into", "error");
  const target = state.byId.get(Number(into));
  const children = deep ? " Its children named as children of the target are merged into those." : "";
  if (!confirm(`Merge “${label.path}” into “${target.path}”? Every annotation using it will use ${target.path}; “${label.path}” is deleted.${children}`)) return;
  try {
    const body = { into: target.id, ...(deep ? { children: "merge" } : {}) };
    const out = await api(`${base}labels/${label.id}/merge/`, { method: "POST", body });
    state.selected = target.id;
    const also = out.children_merged && out.children_merged.length ? ` (and ${out.children_merged.length} label(s) under it into their namesakes)` : "";
    say(`Merged ${out.source_path} into ${out.target_path}${also}: ${out.annotations_changed} annotation(s) changed`
      + ` (${out.clip_labels_moved + out.segment_labels_moved} uses moved, `
      + `${out.clip_labels_deduplicated + out.segment_labels_deduplicated} duplicates dropped)`
      + (out.warnings.length ? `. ${out.warnings.join(" ")}` : "")
      + (out.undoable ? ". The change log below can undo it." : ""), out.warnings.length ? "warn" : "ok");
    await load();
  } catch (err) { failed(err); }
}

async function remove(label) {
  const n = subtreeIds(label.id).size - 1;
  // In use (this page has the counts): refused without asking first, as the server would.
  const uses = [...subtreeIds(label.id)].reduce((sum, id) => {
    const u = state.byId.get(id)?.uses;
    return sum + (u ? u.clip + u.segment : 0);
  }, 0);
  if (uses) {
    say(`“${label.path}”${n ? " or a label under it" : ""} is used ${uses} time${uses === 1 ? "" : "s"} in annotations, so it cannot be deleted: deprecate it instead (no one chooses it again; the annotations keep it), or merge it into another label.`, "error");
    return;
  }
  if (!confirm(`Delete “${label.path}”${n ? ` and its ${n} descendant(s)` : ""}?`)) return;
  try {
    const out = await api(`${base}labels/${label.id}/`, { method: "DELETE" });
    state.selected = label.parent;
    const drafts = out && out.drafts_affected;
    say(`Deleted ${label.path}` + (drafts ? `. ${drafts} unsaved draft(s) used it: the label is taken off each when its annotator opens the clip again (they are told).` : ""));
    await load();
  } catch (err) { failed(err); }
}

// --- adding, importing, the change log -----------------------------------------------------

// "insects/cricket" in the name: the labels before the last are found under the parent chosen
// (by name, any case) or made there, as an imported path makes them; the form's hotkey, colour
// and description go to the last. (It was refused: "must not contain '/'", where the file
// import takes exactly that.)
// `made` collects the labels made here: a last label refused (its hotkey taken) takes them
// back, as it left "ponds" behind with no "newt" under it.
async function parentFor(parts, parent, made) {
  for (const name of parts) {
    const found = kids(parent).find((l) => l.name.toLowerCase() === name.toLowerCase());
    if (found) { parent = found.id; continue; }
    parent = (await api(`${base}labels/`, { method: "POST", body: { name, parent } })).id;
    made.push(parent);
  }
  return parent;
}

async function add(event) {
  event.preventDefault();
  const f = event.target.elements;
  if (spaceOnly(f.hotkey.value)) return say(SPACE_HOTKEY, "error");
  const parts = f.name.value.split("/").map((p) => p.trim());
  if (parts.length > 1 && parts.some((p) => !p)) return say("A path's names are not empty: insects/cricket, not insects//cricket.", "error");
  const chosen = f.parent.value === "" ? null : Number(f.parent.value);
  const made = [];
  try {
    const parent = parts.length > 1 ? await parentFor(parts.slice(0, -1), chosen, made) : chosen;
    const body = { name: parts[parts.length - 1], parent,
      hotkey: f.hotkey.value, color: f.color.value, description: f.description.value };
    const label = await api(`${base}labels/`, { method: "POST", body });
    if (label.parent !== null) state.collapsed.delete(label.parent);
    f.name.value = f.hotkey.value = f.color.value = f.description.value = "";
    // The form stays where it is, for the next label under the same parent: selecting the new
    // label opened its panel above the form and pushed it out of sight after every add.
    state.justAdded = label.id;
    sayWarned(`Added ${label.path}`, label.warnings);
    await load();
    document.querySelector(`[data-testid=label-tree] [data-label-id="${label.id}"]`)?.scrollIntoView({ block: "nearest" });
    f.name.focus();
    event.target.scrollIntoView({ block: "nearest" });
  } catch (err) {
    for (const id of made.reverse()) {
      try { await api(`${base}labels/${id}/`, { method: "DELETE" }); } catch { /* said below */ }
    }
    if (made.length) await load();
    failed(err);
  }
}

async function importFile(event) {
  event.preventDefault();
  const file = $("import-file").files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  form.append("dry_run", $("import-dry-run").checked ? "true" : "false");
  const report = $("import-report");
  report.replaceChildren(el("p", { class: "muted", text: `Importing ${file.name}…` }));
  const response = await fetch(`${base}import/`, {
    method: "POST", body: form, credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = (data && data.detail) || `import failed (${response.status})`;
    report.replaceChildren(el("p", { class: "error", "data-testid": "import-error", text: message }));
    return;
  }
  report.replaceChildren(
    el("p", { "data-testid": "import-summary", text: `${data.dry_run ? "Dry run: would import" : "Imported"} `
      + `${data.labels_in_file} labels (${data.format}): ${data.created} created, ${data.updated} updated, `
      + `${data.unchanged} unchanged.` }),
    ...(data.warnings.length ? [el("ul", { class: "onto-warnings" },
      ...data.warnings.map((w) => el("li", { text: w })))] : []),
    ...importLists(data));
  if (!data.dry_run) await load();
}

// Which labels an import makes, changes and finds by a former path, so that a dry run says
// what it would do, not only how much.
function importLists(data) {
  const shown = 20;
  // `total`: the count the report gives (its lists stop at 200 paths).
  const list = (testid, title, items, total) => {
    if (!items || !items.length) return [];
    const rest = total - Math.min(items.length, shown);
    const more = rest > 0 ? [el("li", { class: "muted", text: `… and ${rest} more` })] : [];
    return [el("details", { class: "onto-import-list", "data-testid": testid },
      el("summary", { text: `${title} (${total})` }),
      el("ul", {}, ...items.slice(0, shown).map((text) => el("li", { text })), ...more))];
  };
  const followed = data.followed || [];
  return [
    ...list("import-created", data.dry_run ? "Would create" : "Created", data.created_paths, data.created),
    ...list("import-updated", data.dry_run ? "Would update" : "Updated", data.updated_paths, data.updated),
    ...list("import-followed", "Known by a former path", followed.map((f) => `${f.file} → ${f.now}`),
      data.followed_count ?? followed.length),
  ];
}

const CHANGE_TEXT = {
  create: (d) => d.path, rename: (d) => `${d.from} → ${d.to}`, move: (d) => `${d.from} → ${d.to}`,
  reorder: (d) => `${d.path} to position ${d.position}`, delete: (d) => `${d.path} (${d.deleted} label(s))`,
  update: (d) => `${d.path}: ${Object.keys(d.changes || {}).join(", ")}`,
  deprecate: (d) => d.path, undeprecate: (d) => d.path,
  merge: (d) => `${d.source_path} into ${d.target_path}: ${d.annotations_changed} annotation(s)`
    + (d.undone_by ? " (undone)" : ""),
  unmerge: (d) => `${d.source_path} back out of ${d.target_path}: `
    + `${d.clip_labels_moved_back + d.clip_labels_restored + d.segment_labels_moved_back + d.segment_labels_restored} use(s) restored`
    + (d.uses_kept_as_edited ? `, ${d.uses_kept_as_edited} left as edited since` : "")
    + (d.warnings && d.warnings.length ? `; ${d.warnings.join("; ")}` : ""),
  import: (d) => `${d.format}: ${d.created} created, ${d.updated} updated`,
};

const changeRow = (c) => el("li", { "data-testid": "change" },
  el("span", { class: "badge", text: `v${c.version}` }), " ",
  el("strong", { text: c.action }), " ",
  el("span", { text: (CHANGE_TEXT[c.action] || (() => ""))(c.details) }),
  el("span", { class: "muted", text: ` · ${c.user || "command line"} · ${new Date(c.created_at).toLocaleString()}` }),
  canEdit && c.undoable ? el("button", { type: "button", class: "link", "data-testid": "undo-merge", text: "Undo",
    onclick: () => undoMerge(c) }) : null);

// The log a page at a time (the API's pages), newest first; "Older changes" reads the next.
async function loadChanges(url = `${base}changes/`, { append = false } = {}) {
  try {
    const page = await api(url);
    const list = $("change-log");
    list.querySelector("[data-testid=older-changes]")?.closest("li").remove();
    const rows = page.results.map(changeRow);
    if (page.next) {
      const next = page.next;
      rows.push(el("li", { class: "more" }, el("button", { type: "button", class: "link", "data-testid": "older-changes",
        text: "Older changes…", onclick: () => loadChanges(next, { append: true }) })));
    }
    if (append) list.append(...rows);
    else list.replaceChildren(...rows);
  } catch (err) { failed(err); }
}

async function undoMerge(change) {
  const d = change.details;
  const kids = d.children_moved || (d.children_changes || []).length ? " with its children" : "";
  if (!confirm(`Undo the merge of “${d.source_path}” into “${d.target_path}”? “${d.source_path}” comes back${kids}, and the uses the merge moved go back to it (annotations written since keep their labels).`)) return;
  try {
    const out = await api(`${base}changes/${change.id}/undo/`, { method: "POST" });
    state.selected = out.source;
    const uses = out.clip_labels_moved_back + out.clip_labels_restored + out.segment_labels_moved_back + out.segment_labels_restored;
    say(`Undid the merge: ${out.source_path} is back with ${uses} use(s)`
      + (out.children_unmerged.length ? `, and ${out.children_unmerged.length} of its children merged with it (${out.children_unmerged.join(", ")})` : "")
      + (out.uses_kept_as_edited ? `; ${out.uses_kept_as_edited} use(s) edited since stay on ${out.target_path}` : "")
      + (out.projects_rescored ? "; the model scores the clips again" : "")
      + (out.warnings.length ? `. ${out.warnings.join(". ")}.` : ""), out.warnings.length ? "warn" : "ok");
    await load();
  } catch (err) { failed(err); }
}

// --- wiring -------------------------------------------------------------------------------

$("label-filter").addEventListener("input", (e) => { state.filter = e.target.value; renderTree(); });
$("show-deprecated").addEventListener("change", (e) => { state.showDeprecated = e.target.checked; renderTree(); });
$("expand-all").addEventListener("click", () => { state.collapsed.clear(); renderTree(); });
$("collapse-all").addEventListener("click", () => {
  state.collapsed = new Set(state.labels.filter((l) => !l.leaf).map((l) => l.id));
  renderTree();
});
if (canEdit) {
  $("add-form").addEventListener("submit", add);
  // The colour picker fills the text field, as the edit form's does.
  $("add-color-pick")?.addEventListener("input", (e) => { $("add-form").elements.color.value = e.target.value; });
  $("import-form").addEventListener("submit", (e) => importFile(e).catch(failed));
}
load().catch(failed);
