// Keyboard bindings for the workspace and the help overlay that lists them. Workspace keys win
// over label hotkeys that use the same key; while typing in a field only a few keys act.
import { eventCombo, normalizeCombo, placeCombo, typedCombo } from "./labels.js";

export class Hotkeys {
  constructor() {
    this.bindings = []; // {combo, keys (shown), help, run, inInputs, group}
    this.fallback = null; // (combo, event) => handled, e.g. label hotkeys
    this.modal = null; // () => true while a dialog is open: then only its own keys act
    document.addEventListener("keydown", (e) => this._key(e));
    // The button a pointer pressed last: focused by the mouse, not the keyboard (Tab clears
    // it). Browsers mark any focus visible once a key is pressed, so :focus-visible cannot
    // tell the two apart when Space comes.
    this.pointerButton = null;
    document.addEventListener("pointerdown", (e) => { this.pointerButton = e.target.closest && e.target.closest("button"); }, true);
    document.addEventListener("keydown", (e) => { if (e.key === "Tab") this.pointerButton = null; }, true);
  }

  // `when(event)`: the binding acts only when it says so, and the key keeps its own meaning
  // otherwise (Tab moves the focus unless it has a segment to go to). `inModal`: it acts
  // while a dialog is open (Escape closes it); the others wait.
  bind(keys, help, run, { inInputs = false, group = "Workspace", when = null, inModal = false } = {}) {
    for (const k of [].concat(keys)) this.bindings.push({ combo: normalizeCombo(k), keys: [].concat(keys), help, run, inInputs, group, when, inModal });
  }

  has(combo) { return this.bindings.some((b) => b.combo === combo); }

  _key(e) {
    if (e.defaultPrevented || e.isComposing) return;
    const first = eventCombo(e);
    // The digit row unshifted types a digit's place first (AZERTY's "-" on 6 and a Czech
    // keyboard's "+" on 1 zoomed instead of labeling): a label hotkey on that digit wins.
    const place = placeCombo(e);
    if (place && /^\d$/.test(place) && !typingIn(e.target) && this.fallback && this._keyAs(e, place, { fallbackOnly: true })) return;
    if (this._keyAs(e, first) || typingIn(e.target)) return;
    // Nothing took the key as read: the key at its place on a US keyboard (Ctrl+Z on a Russian
    // layout, AZERTY's digit row), then the character an Option chord typed (a German Mac's
    // "[").
    for (const combo of [place, typedCombo(e)]) {
      if (combo && combo !== first && this._keyAs(e, combo)) return;
    }
  }

  // True when `combo` was the key's to act on (done, or left to the control that owns it).
  // `fallbackOnly`: only the fallback (label hotkeys) may take it.
  _keyAs(e, combo, { fallbackOnly = false } = {}) {
    const target = e.target;
    if (fallbackOnly) {
      if (controlOwns(target, combo) || (this.modal && this.modal())) return false;
      if (this.fallback(combo, e)) { e.preventDefault(); return true; }
      return false;
    }
    // A control's own keys keep their meaning there (a list's arrows, a checkbox's Space, a
    // slider's arrows); the others act as anywhere. Every key stopped acting on a checkbox,
    // a slider or a list, and Tab from the waveform lands in the spectrogram's lists.
    if (controlOwns(target, combo)) return true;
    const typing = typingIn(target);
    const modal = this.modal && this.modal();
    const binding = this.bindings.find((b) => b.combo === combo && (b.inInputs || !typing)
      && (!modal || b.inModal) && (!b.when || b.when(e)));
    if (modal && !binding) return true; // arrows scroll the dialog; nothing acts behind it
    if (!binding && combo === "enter" && target.tagName === "BUTTON" && target === this.pointerButton) {
      // A button the mouse pressed keeps the focus: Enter on the next clip pressed it again
      // (a mouse-clicked Submit saved the next clip unreviewed).
      e.preventDefault();
      return true;
    }
    if (binding) {
      // Space and Enter on a button the keyboard moved to (Tab) keep their native meaning. A
      // button focused by a mouse click is not the keyboard's: Space there plays, as anywhere
      // (it pressed Skip or Submit again on the next clip). A focused audio player's Space is
      // its own play button (the page's started and stopped it at once).
      const keyboardFocus = (target.tagName === "BUTTON" && target !== this.pointerButton)
        || target.tagName === "AUDIO" || target.tagName === "VIDEO";
      if (!typing && keyboardFocus && (combo === " " || combo === "enter")) return true;
      e.preventDefault();
      binding.run(e);
      return true;
    }
    if (!typing && this.fallback && this.fallback(combo, e)) {
      e.preventDefault();
      return true;
    }
    return typing; // typed into a field: the character was the field's
  }

  // The overlay's table: one row per binding (deduplicated), grouped.
  renderHelp(container, extra = []) {
    const groups = new Map();
    const seen = new Set();
    for (const b of [...this.bindings, ...extra]) {
      const id = b.keys.join("/") + b.help;
      if (seen.has(id)) continue;
      seen.add(id);
      if (!groups.has(b.group)) groups.set(b.group, []);
      groups.get(b.group).push(b);
    }
    const parts = [];
    for (const [group, rows] of groups) {
      const section = document.createElement("section");
      const h = document.createElement("h3");
      h.textContent = group;
      const dl = document.createElement("dl");
      for (const b of rows) {
        const dt = document.createElement("dt");
        b.keys.forEach((k, i) => {
          if (i) dt.append(" ");
          const kbd = document.createElement("kbd");
          kbd.textContent = pretty(k);
          dt.append(kbd);
        });
        const dd = document.createElement("dd");
        dd.textContent = b.help;
        dl.append(dt, dd);
      }
      section.append(h, dl);
      parts.push(section);
    }
    container.replaceChildren(...parts);
  }
}

// Fields that take text: while typing in them only keys bound `inInputs` act.
const TEXT_TYPES = new Set(["text", "search", "number", "email", "password", "url", "tel", "date", "datetime-local", "month", "time", "week", ""]);
function typingIn(t) {
  return Boolean(t) && (t.isContentEditable || t.tagName === "TEXTAREA"
    || (t.tagName === "INPUT" && TEXT_TYPES.has((t.getAttribute("type") || "").toLowerCase())));
}

const NAV = new Set(["arrowleft", "arrowright", "arrowup", "arrowdown", "home", "end", "pageup", "pagedown"]);
function controlOwns(t, combo) {
  if (!t || !t.tagName) return false;
  const type = t.tagName === "INPUT" ? (t.getAttribute("type") || "").toLowerCase() : "";
  if (t.tagName === "SELECT") return NAV.has(combo) || combo === " " || combo === "enter";
  if (type === "range") return NAV.has(combo);
  if (type === "checkbox") return combo === " ";
  if (type === "radio") return combo === " " || NAV.has(combo);
  return false;
}

function pretty(k) {
  return k.replace(/^ $/, "Space").replace("ArrowLeft", "←").replace("ArrowRight", "→").replace("ArrowUp", "↑").replace("ArrowDown", "↓")
    .replace(/\bctrl\b/i, "Ctrl").replace(/\bshift\b/i, "Shift").replace(/\balt\b/i, "Alt");
}
