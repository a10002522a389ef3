"""The rules every label obeys, whoever writes it (editor, API, import): names, colors,
hotkeys, unique sibling names. Pure checks plus two single-row lookups."""

from __future__ import annotations

import re
import unicodedata

from labelapp.errors import DomainError
from labelapp.lookups import rows_ignoring_case
from ontology.models import PATH_SEPARATOR, Label

NAME_MAX = 200
PATH_MAX = 2000
HOTKEY_MAX = 16
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


# Format characters a name needs: the zero-width joiner of emoji sequences (👨‍👩‍👧) and the
# zero-width non-joiner of Persian spelling (می‌خواهم). The rest of the format category
# (right-to-left overrides, zero-width spaces) hides what a name says.
JOINERS = frozenset("\u200c\u200d")


def name_control_char(ch: str) -> bool:
    """A character a name must not hold: line breaks, tabs and other control or format
    characters, but for the joiners (which `joiners_misplaced` checks)."""
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch not in JOINERS


def joiners_misplaced(name: str) -> bool:
    """A joiner that joins nothing: first, last, beside a space or another joiner. Such
    joiners made names that look like no name at all ("\u200d") or like a sibling's
    ("cat\u200c" beside "cat")."""
    for i, ch in enumerate(name):
        if ch not in JOINERS:
            continue
        before, after = name[i - 1 : i], name[i + 1 : i + 2]
        if not before or not after or before in JOINERS or after in JOINERS:
            return True
        if before.isspace() or after.isspace():
            return True
    return False


def name_key(name: str) -> str:
    """A name as siblings are compared: casefolded (ß is SS), joiners left out."""
    return "".join(ch for ch in name if ch not in JOINERS).casefold()


def path_key(path: str) -> str:
    """A path as an import matches it to the tree's and to its own lines: each name by
    `name_key` ("Straße" and "STRASSE" were two labels an import made side by side)."""
    return PATH_SEPARATOR.join(name_key(n) for n in path.split(PATH_SEPARATOR))


def label_name_validate(name: str) -> str:
    # One spelling of an accent (NFC): "café" typed on a Mac (NFD) made a second label beside
    # "café", or was an unknown label.
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise DomainError("a label needs a non-empty name", code="empty_name")
    if PATH_SEPARATOR in name:
        raise DomainError(
            f"label name {name!r} must not contain {PATH_SEPARATOR!r}",
            code="invalid_name",
            extra={"label": name},
        )
    if ";" in name:
        # CSV manifests list a clip's labels separated by ";": "hum; mains" exported and
        # imported again became two labels, "hum" and "mains".
        raise DomainError(
            f"label name {name[:40]!r} must not contain ';' (it separates labels in CSV "
            "manifests); use ',' or '-' instead",
            code="invalid_name",
            extra={"label": name[:40]},
        )
    if any(name_control_char(ch) for ch in name) or joiners_misplaced(name):
        # A newline would split the name in a paths file (one path a line) into two labels.
        raise DomainError(
            f"label name {name[:40]!r} must not contain line breaks, tabs or other control "
            "characters (a zero-width joiner only between two characters it joins)",
            code="invalid_name",
            extra={"label": name[:40]},
        )
    if len(name) > NAME_MAX:
        raise DomainError(
            f"label name {name[:40]!r}... is longer than {NAME_MAX} characters",
            code="invalid_name",
            extra={"label": name[:40]},
        )
    return name


def label_color_validate(color: str | None, *, label: str = "") -> str:
    color = (color or "").strip()
    if color and not COLOR_RE.match(color):
        raise DomainError(
            f"label {label!r}: color {color!r} is not of the form #rrggbb",
            code="invalid_color",
            extra={"label": label},
        )
    return color.lower()


# The annotation workspace's own keys, as `hotkey_combo` writes them, with what each does
# (static/earmark/workspace.js binds them; tests/ontology/test_hotkeys.py keeps the two equal).
# The workspace's key wins, so a label hotkey on one of them would never pick the label.
WORKSPACE_KEYS = {
    " ": "play / pause",
    "arrowleft": "back 1 s",
    "arrowright": "forward 1 s",
    "shift+arrowleft": "back 5 s",
    "shift+arrowright": "forward 5 s",
    "home": "to the start",
    "end": "to the end",
    "alt+g": "go to a time",
    "<": "slower",
    ">": "faster",
    "alt+l": "loop the selected segment",
    "+": "zoom in",
    "=": "zoom in",
    "-": "zoom out",
    "f": "whole clip (fit)",
    "alt+n": "normalize the waveform",
    "[": "mark a segment's start",
    "]": "end a segment",
    "tab": "next segment",
    "shift+tab": "previous segment",
    "ctrl+arrowleft": "move a segment's start earlier",
    "ctrl+arrowright": "move a segment's start later",
    "ctrl+shift+arrowleft": "move a segment's end earlier",
    "ctrl+shift+arrowright": "move a segment's end later",
    "ctrl+arrowup": "move a segment's band's top higher",
    "ctrl+arrowdown": "move a segment's band's top lower",
    "ctrl+shift+arrowup": "move a segment's band's bottom higher",
    "ctrl+shift+arrowdown": "move a segment's band's bottom lower",
    "delete": "delete the selected segment",
    "backspace": "delete the selected segment",
    "escape": "deselect / close",
    "/": "search labels",
    "alt+a": "accept all suggestions",
    "alt+r": "reject all suggestions",
    "alt+u": "mark the clip not sure",
    "ctrl+enter": "submit",
    "ctrl+shift+enter": "skip the clip",
    "pageup": "previous clip",
    "pagedown": "next clip",
    "ctrl+z": "undo",
    "ctrl+shift+z": "redo",
    "ctrl+y": "redo",
    "?": "help",
}
# Keys the browser keeps for itself: a page never sees ctrl+w (the tab closes), and the
# reloads leave the clip. A label's hotkey on one of them could not be pressed.
BROWSER_KEYS = {
    "ctrl+w": "closes the tab",
    "ctrl+shift+w": "closes the window",
    "ctrl+t": "opens a tab",
    "ctrl+shift+t": "reopens a tab",
    "ctrl+n": "opens a window",
    "ctrl+shift+n": "opens a private window",
    "ctrl+tab": "goes to the next tab",
    "ctrl+shift+tab": "goes to the previous tab",
    "ctrl+l": "goes to the address bar",
    "ctrl+r": "reloads the page",
    "ctrl+shift+r": "reloads the page",
    "f5": "reloads the page",
    "ctrl+f5": "reloads the page",
    "shift+f5": "reloads the page",
    "alt+f4": "closes the window",
    "ctrl+pageup": "goes to the previous tab",
    "ctrl+pagedown": "goes to the next tab",
    **{f"ctrl+{n}": "goes to another tab" for n in range(1, 10)},
    "ctrl+shift+q": "quits the browser",
    "f11": "switches to full screen",
    "f12": "opens the developer tools",
}
_MODIFIER_ALIASES = {"control": "ctrl", "cmd": "ctrl", "meta": "ctrl"}
MODIFIERS = ("ctrl", "alt", "shift")


# Keys that a browser names (KeyboardEvent.key, lower-cased as the workspace compares them):
# a hotkey is one character or one of these. "ab" was accepted and could never be pressed.
NAMED_KEYS = frozenset(
    {f"f{n}" for n in range(1, 13)}
    | {"enter", "tab", "escape", "backspace", "delete", "insert", "home", "end"}
    | {"pageup", "pagedown", "arrowup", "arrowdown", "arrowleft", "arrowright"}
)


def _combo_parts(text: str) -> tuple[set[str], str]:
    text = text.lower()
    if text.endswith("+"):  # "+" itself, or "ctrl++"
        parts = [p for p in text[:-1].split("+") if p] + ["+"]
    else:
        parts = [p for p in text.split("+") if p]
    key = parts.pop() if parts else ""
    return {_MODIFIER_ALIASES.get(p, p) for p in parts}, " " if key == "space" else key


def _shift_matters(key: str) -> bool:
    # As the browser reports keys (eventCombo in labels.js): Shift is part of the key a
    # character names ("!" is shift+1, "?" is shift+/), so only letters and named keys
    # (Tab, ArrowLeft) keep it.
    return len(key) > 1 or key.isalpha()


def hotkey_combo(text: str) -> str:
    """A hotkey in the one spelling the browser compares (normalizeCombo in labels.js):
    lower case, modifiers as ctrl, alt, shift in that order, "space" as " ", and no shift
    beside a key that is one character other than a letter."""
    mods, key = _combo_parts(text)
    if not _shift_matters(key):
        mods.discard("shift")
    return "+".join([m for m in MODIFIERS if m in mods] + [key])


def _spelling_check(hotkey: str, label: str) -> None:
    """What was read otherwise than meant: "ctrl+" (half typed) as Ctrl and "+", and
    "shift+shift+a" as shift+a."""
    mods = [_MODIFIER_ALIASES.get(w, w) for w in hotkey.lower().split("+")[:-1] if w]
    why = ""
    if hotkey.endswith("+") and not hotkey.endswith("++") and hotkey != "+":
        why = f"ends in '+' with no key after it (for the + key write '{hotkey}+')"
    elif len(mods) != len(set(mods)):
        why = "names a modifier twice"
    elif "++" in (hotkey[:-2] if hotkey.endswith("++") else hotkey):
        why = "has '++' inside: write one '+' between the parts ('ctrl++' is Ctrl and +)"
    if why:
        raise DomainError(
            f"label {label!r}: hotkey {hotkey!r} {why}",
            code="invalid_hotkey",
            extra={"label": label},
        )


def label_hotkey_validate(hotkey: str | None, *, label: str = "", browser_keys: bool = True) -> str:
    """A label's hotkey, stripped; blank means none. Spaces only are Space, the workspace's
    play key (read as none, they cleared a hotkey while the editor said "Saved").
    `browser_keys`: refuse the keys the browser keeps (a lead choosing one); an imported
    file's are let through (an export made before they were refused must import again)."""
    if hotkey and not hotkey.strip():
        raise DomainError(
            f"label {label!r}: hotkey Space is the workspace's key for play / pause, so it "
            "would never pick the label; choose another (e.g. a digit or a letter other than "
            "f), or send an empty hotkey for none",
            code="reserved_hotkey",
            extra={"label": label},
        )
    hotkey = (hotkey or "").strip()
    if len(hotkey) > HOTKEY_MAX or any(ch.isspace() for ch in hotkey):
        raise DomainError(
            f"label {label!r}: hotkey {hotkey!r} must be at most {HOTKEY_MAX} characters "
            "without spaces (e.g. 'b', '3', 'shift+b')",
            code="invalid_hotkey",
            extra={"label": label},
        )
    if len(hotkey) == 1:
        # "A" is the key a (Shift+A is "shift+a"): kept as "A" it was shown as another key
        # than a label's "a", which it is.
        hotkey = hotkey.lower()
    if hotkey and browser_keys:
        _spelling_check(hotkey, label)
    if hotkey:
        mods, key = _combo_parts(hotkey)
        unknown = sorted(mods - set(MODIFIERS))
        named = len(key) == 1 or key in NAMED_KEYS
        if unknown or not key or key in MODIFIERS or key in _MODIFIER_ALIASES or not named:
            raise DomainError(
                f"label {label!r}: hotkey {hotkey!r} is not a key with optional ctrl, alt or "
                "shift in front (e.g. 'b', '3', 'shift+b', 'alt+e')",
                code="invalid_hotkey",
                extra={"label": label},
            )
        if "shift" in mods and not _shift_matters(key):
            raise DomainError(
                f"label {label!r}: hotkey {hotkey!r}: shift with {key!r} types another "
                "character on most keyboards, so browsers cannot tell it from that key; write "
                "the character it types instead (e.g. '!' rather than 'shift+1')",
                code="invalid_hotkey",
                extra={"label": label},
            )
    taken = WORKSPACE_KEYS.get(hotkey_combo(hotkey)) if hotkey else None
    if taken is not None:
        raise DomainError(
            f"label {label!r}: hotkey {hotkey!r} is the annotation workspace's key for "
            f"{taken}, so it would never pick the label; choose another (e.g. a digit or "
            "a letter other than f)",
            code="reserved_hotkey",
            extra={"label": label},
        )
    browser = BROWSER_KEYS.get(hotkey_combo(hotkey)) if hotkey and browser_keys else None
    if browser is not None:
        raise DomainError(
            f"label {label!r}: hotkey {hotkey!r} is the browser's: it {browser}, so the "
            "workspace never sees it; choose another",
            code="reserved_hotkey",
            extra={"label": label},
        )
    return hotkey


def path_join(parent: Label | None, name: str) -> str:
    return name if parent is None else f"{parent.path}{PATH_SEPARATOR}{name}"


def deprecated_ancestor(label: Label) -> Label | None:
    """The nearest deprecated label above `label`, if any: under it, `label` cannot be chosen."""
    above = label.parent
    while above is not None and not above.deprecated:
        above = above.parent
    return above


def is_same_or_descendant(candidate: Label, of: Label) -> bool:
    a, b = candidate.path.lower(), of.path.lower()
    return a == b or a.startswith(b + PATH_SEPARATOR)


def sibling_name_check(
    *, ontology_id: int, parent: Label | None, name: str, exclude_id: int | None = None
) -> None:
    siblings = Label.objects.filter(ontology_id=ontology_id, parent=parent).exclude(pk=exclude_id)
    # "c\u200dat" beside "cat": equal to the eye, and to this comparison (name_key)
    clash = next(iter(rows_ignoring_case(siblings, "name", name, key=name_key)), None)
    if clash is not None:
        where = f"under {parent.path!r}" if parent else "at the top level"
        raise DomainError(
            f"a label named {clash.name!r} already exists {where} ({clash.path!r}); sibling "
            "names must differ (ignoring case)",
            code="duplicate_label",
            extra={"label": path_join(parent, name)},
        )


def hotkey_check_free(
    *, ontology_id: int, hotkey: str, label_path: str, exclude_id: int | None = None
) -> None:
    """No other label of the ontology has the same key, however it is spelled (ctrl+s,
    Control+S and cmd+s are one key to the browser)."""
    if not hotkey:
        return
    combo = hotkey_combo(hotkey)
    others = (
        Label.objects.filter(ontology_id=ontology_id)
        .exclude(hotkey="")
        .exclude(pk=exclude_id)
        .only("id", "path", "hotkey")
    )
    clash = next((label for label in others if hotkey_combo(label.hotkey) == combo), None)
    if clash is not None:
        raise DomainError(
            f"hotkey {hotkey!r} of label {label_path!r} is already used by {clash.path!r}",
            code="hotkey_collision",
            extra={"label": label_path, "other": clash.path},
        )
