// The label picker: the project's ontology as a searchable tree (type to filter, arrows and
// Enter to choose), recent labels first, and the labels' own hotkeys. One request for the
// whole tree (GET /api/projects/<id>/ontology/, cached by ETag).
import { api } from "./api.js";

const PALETTE = ["#4f7cff", "#3ccf91", "#f4b740", "#ff6b9a", "#a78bfa", "#38bdf8", "#fb923c", "#84cc16", "#f472b6", "#22d3ee"];
const RECENT_MAX = 6;

// Whether a label path matches a search: every word of it somewhere in the path, in any
// order ("piston cav" finds machines/pumps/piston/cavitation; only "piston/cav" did).
// Accents do not count: "mesange" finds "Mésange bleue" (species names are often accented).
const folded = (text) => text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();
export function pathMatches(path, query) {
  const p = folded(path);
  return folded(query).split(/\s+/).filter(Boolean).every((w) => p.includes(w));
}

export class Ontology {
  constructor(body) {
    this.version = body.ontology.version;
    this.rules = body.project;
    // Deprecated, or under a deprecated label (`available` false): not offered.
    this.labels = body.labels.filter((l) => !l.deprecated && l.available !== false);
    this.byPath = new Map(this.labels.map((l) => [l.path, l]));
    this.byId = new Map(this.labels.map((l) => [l.id, l]));
    this.byHotkey = new Map();
    for (const l of this.labels) if (l.hotkey) this.byHotkey.set(normalizeCombo(l.hotkey), l);
  }
  static async load(projectId) { return new Ontology(await api(`/api/projects/${projectId}/ontology/`)); }
  get(path) { return this.byPath.get(path); }
  name(path) { const l = this.byPath.get(path); return l ? l.name : path; }
  color(path) {
    const l = this.byPath.get(path);
    return l ? labelColor(l) : autoColor(path || "");
  }
  selectable(label) { return !(this.rules.leaves_only && !label.leaf); }
}

// A label's colour: its own, or one from the palette picked by its id, so that a rename or a
// move keeps it (the ontology editor shows the same one).
export function labelColor(label) {
  return label.color || autoColor(String(label.id));
}

function autoColor(key) {
  let h = 0;
  for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}

// "shift+B", "Ctrl+Enter", "s" -> a canonical string comparable with eventCombo().
export function normalizeCombo(text) {
  const t = text.toLowerCase();
  // "+" itself (or "ctrl++") is a key, not only the separator.
  const parts = t.endsWith("+") ? [...t.slice(0, -1).split("+").filter(Boolean), "+"] : t.split("+").filter(Boolean);
  const raw = parts.pop() || "";
  const key = raw === "space" ? " " : raw;
  const mods = new Set(parts.map((p) => (p === "control" || p === "cmd" || p === "meta" ? "ctrl" : p)));
  // As eventCombo: Shift belongs to the character a key types ("!" is shift+1), so only
  // letters and named keys keep it.
  if (!(key.length > 1 || /^\p{L}$/u.test(key))) mods.delete("shift");
  return [...["ctrl", "alt", "shift"].filter((m) => mods.has(m)), key].join("+");
}

export function eventCombo(e) {
  let key = e.key.toLowerCase();
  // AltGr (reported as Ctrl+Alt on Windows) types a character, as Shift does: "[" is AltGr+8
  // on a German keyboard, and "ctrl+alt+[" matched nothing.
  const altGraph = Boolean(e.getModifierState && e.getModifierState("AltGraph")) && [...e.key].length === 1;
  // Option+letter on a Mac types another character ("˜", "¬") or a dead key, not the letter:
  // with Alt held and no plain letter or digit, the key's place names it (code "KeyN" -> "n").
  if (e.altKey && !altGraph && !/^[a-z0-9]$/i.test(e.key)) {
    const m = /^(?:Key([A-Z])|Digit([0-9]))$/.exec(e.code || "");
    if (m) key = (m[1] || m[2]).toLowerCase();
  }
  // A letter of any script (as the server's str.isalpha): Shift+é was read as é.
  const shiftMatters = key.length > 1 || /^\p{L}$/u.test(key);
  const mods = [];
  if ((e.ctrlKey || e.metaKey) && !altGraph) mods.push("ctrl");
  if (e.altKey && !altGraph) mods.push("alt");
  if (e.shiftKey && shiftMatters) mods.push("shift");
  return [...mods, key].join("+");
}

// The character an Option (Alt) chord typed, without the Alt: "[" is Option+5 on a German Mac,
// read by its place as "alt+5". Null when no Alt, or a letter or digit was typed.
export function typedCombo(e) {
  if (!e.altKey || e.ctrlKey || e.metaKey || [...e.key].length !== 1 || /^[\p{L}\p{N}]$/u.test(e.key)) return null;
  return e.key;
}

// The combo of the key at the same place on a US keyboard (code "KeyZ" -> "z", "Digit1" ->
// "1"), or null when it is the combo already: Ctrl+Z on a Russian layout is "ctrl+я", and
// AZERTY's unshifted digit row types "&é\"'(". Tried after the typed combo matched nothing.
export function placeCombo(e) {
  const m = /^(?:Key([A-Z])|Digit([0-9]))$/.exec(e.code || "");
  if (!m || /^[a-z0-9]$/i.test(e.key)) return null;
  // Shift on the digit row types its symbols on a US keyboard ("!" is Shift+1): not the digit.
  if (m[2] && e.shiftKey) return null;
  const key = (m[1] || m[2]).toLowerCase();
  const mods = [];
  if (e.ctrlKey || e.metaKey) mods.push("ctrl");
  if (e.altKey) mods.push("alt");
  if (e.shiftKey && m[1]) mods.push("shift");
  return [...mods, key].join("+");
}

export class LabelPicker {
  constructor(root, ontology, { projectId, onPick, isActive = () => false, onLeave = null }) {
    this.root = root;
    // Where the focus goes after Enter or Escape in the search (the workspace: back where it
    // was before "/", so that Tab walks on from the waveform); without it, nowhere.
    this.onLeave = onLeave || (() => this.input.blur());
    this.ontology = ontology;
    this.onPick = onPick;
    this.isActive = isActive;
    this.recentKey = `earmark-recent-${projectId}`;
    this.input = root.querySelector("[data-testid=label-search]");
    this.list = root.querySelector(".ws-tree");
    this.cursor = -1;
    this.items = [];
    this.input.addEventListener("input", () => { this.cursor = -1; this.render(); });
    this.input.addEventListener("keydown", (e) => this._key(e));
    this.list.addEventListener("click", (e) => {
      const item = e.target.closest("[data-label-path]");
      if (item && !item.classList.contains("disabled")) this.pick(item.dataset.labelPath);
    });
    this.render();
  }

  recent() {
    try { return JSON.parse(localStorage.getItem(this.recentKey) || "[]").filter((p) => this.ontology.get(p)); } catch { return []; }
  }

  pick(path) {
    const label = this.ontology.get(path);
    if (!label || !this.ontology.selectable(label)) return false;
    const recent = [path, ...this.recent().filter((p) => p !== path)].slice(0, RECENT_MAX);
    localStorage.setItem(this.recentKey, JSON.stringify(recent));
    this.onPick(label);
    this.render();
    return true;
  }

  render() {
    const q = this.input.value.trim().toLowerCase();
    const labels = this.ontology.labels;
    let shown;
    if (q) {
      // A match shows with its ancestors, for context; the matches are what arrows walk.
      // Names and paths first; descriptions only when no name or path matches: in an
      // AudioSet-like tree of prose descriptions, "cla" matched all 499 labels through "class".
      let matches = labels.filter((l) => pathMatches(l.path, q));
      if (!matches.length) matches = labels.filter((l) => (l.description || "").toLowerCase().includes(q));
      const matched = new Set(matches);
      const keep = new Set();
      for (const m of matches) { const parts = m.path.split("/"); for (let i = 1; i <= parts.length; i++) keep.add(parts.slice(0, i).join("/")); }
      shown = labels.filter((l) => keep.has(l.path)).map((l) => ({ label: l, match: matched.has(l) }));
    } else {
      shown = labels.map((l) => ({ label: l, match: true }));
    }
    const recent = q ? [] : this.recent().map((p) => ({ label: this.ontology.get(p), match: true, recent: true }));
    const active = new Set(this.isActive());
    const rows = [];
    this.items = [];
    const add = ({ label, match, recent: isRecent }) => {
      const row = document.createElement("div");
      const selectable = this.ontology.selectable(label) && match;
      row.className = "ws-label" + (selectable ? "" : " disabled") + (active.has(label.path) ? " on" : "");
      row.setAttribute("data-label-path", label.path);
      // An option of the list box (the search field's list): a screen reader says which are
      // on the target, which cannot be chosen, and which one the arrows are at.
      row.setAttribute("role", "option");
      row.id = `ws-label-${rows.length}`;
      row.setAttribute("aria-selected", active.has(label.path) ? "true" : "false");
      if (!selectable) row.setAttribute("aria-disabled", "true");
      row.style.paddingLeft = `${isRecent ? 8 : 8 + label.depth * 14}px`;
      row.style.setProperty("--dot", this.ontology.color(label.path));
      row.title = label.description || label.path;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = isRecent ? label.path.replaceAll("/", " › ") : label.name;
      row.append(name);
      // A label that cannot be chosen (given kinds in a leaves-only project) shows no hotkey:
      // pressing it only says to choose one of its kinds.
      if (label.hotkey && this.ontology.selectable(label)) { const k = document.createElement("kbd"); k.textContent = label.hotkey; row.append(k); }
      if (selectable) this.items.push(row);
      rows.push(row);
    };
    if (recent.length) {
      rows.push(heading("Recent"));
      recent.forEach(add);
      rows.push(heading("All labels"));
    }
    shown.forEach(add);
    if (!shown.length) { const none = document.createElement("p"); none.className = "muted ws-empty"; none.textContent = "No label matches."; rows.push(none); }
    this.list.replaceChildren(...rows);
    if (q && this.cursor < 0 && this.items.length) this.cursor = 0;
    this._highlight();
  }

  _highlight() {
    this.items.forEach((el, i) => el.classList.toggle("cursor", i === this.cursor));
    const el = this.items[this.cursor];
    if (el) el.scrollIntoView({ block: "nearest" });
    if (el) this.input.setAttribute("aria-activedescendant", el.id);
    else this.input.removeAttribute("aria-activedescendant");
  }

  _key(e) {
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const n = this.items.length;
      if (!n) return;
      this.cursor = (this.cursor + (e.key === "ArrowDown" ? 1 : -1) + n) % n;
      this._highlight();
    } else if (e.key === "Enter" && !(e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      const el = this.items[this.cursor];
      if (el && this.pick(el.getAttribute("data-label-path"))) {
        this.input.value = "";
        this.cursor = -1;
        this.render();
        this.onLeave();
      }
    } else if (e.key === "Escape") {
      e.preventDefault();
      this.input.value = "";
      this.cursor = -1;
      this.render();
      this.onLeave();
    }
  }
}

function heading(text) {
  const h = document.createElement("div");
  h.className = "ws-tree-head";
  h.setAttribute("role", "presentation");
  h.textContent = text;
  return h;
}
