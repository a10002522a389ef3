"""Label hotkeys and the annotation workspace's own keys: a label may not take a key the
workspace binds (the workspace's key wins, so the label would never be picked by it), and the
server spells combos as the browser compares them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from labelapp.errors import DomainError
from ontology.formats import ontology_parse
from ontology.rules import WORKSPACE_KEYS, hotkey_combo
from ontology.services import label_create, label_edit

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE_JS = ROOT / "static" / "earmark" / "workspace.js"
LABELS_JS = ROOT / "static" / "earmark" / "labels.js"


def workspace_bindings() -> set[str]:
    """Every key the workspace binds with K(...), as the browser normalizes it."""
    source = WORKSPACE_JS.read_text()
    keys: set[str] = set()
    for first in re.findall(r'^K\((\[[^\]]*\]|"[^"]*")', source, flags=re.M):
        keys.update(
            hotkey_combo(k) for k in json.loads(first if first.startswith("[") else f"[{first}]")
        )
    return keys


def test_the_reserved_list_is_exactly_what_the_workspace_binds():
    bound = workspace_bindings()
    assert len(bound) > 25, "the K(...) calls were not found in workspace.js"
    assert bound == set(WORKSPACE_KEYS)


@pytest.mark.parametrize(
    "text, combo",
    [
        ("b", "b"),
        ("B", "b"),
        ("Shift+B", "shift+b"),
        ("shift+ctrl+Enter", "ctrl+shift+enter"),
        ("Control+Enter", "ctrl+enter"),
        ("cmd+z", "ctrl+z"),
        ("meta+Z", "ctrl+z"),
        ("space", " "),
        ("+", "+"),
        ("ctrl++", "ctrl++"),
        ("alt+N", "alt+n"),
        ("shift+1", "1"),  # the browser reports "!" or "1": shift is never seen with it
        ("shift+space", " "),
        ("Shift+ArrowLeft", "shift+arrowleft"),
    ],
)
def test_combos_are_spelled_as_the_browser_spells_them(text, combo):
    assert hotkey_combo(text) == combo


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_python_and_javascript_normalize_alike(tmp_path):
    samples = [
        "b",
        "B",
        "Shift+B",
        "shift+ctrl+Enter",
        "Control+Enter",
        "cmd+z",
        "space",
        "+",
        "ctrl++",
        "alt+N",
        "?",
        "PageDown",
        "shift+Tab",
        "shift+1",
        "shift+space",
        "shift+/",
        "Shift+ArrowLeft",
    ]
    module = tmp_path / "labels.mjs"
    # labels.js imports api.js for its loader; normalizeCombo needs neither.
    module.write_text(re.sub(r"^import .*$", "", LABELS_JS.read_text(), flags=re.M))
    script = (
        f"import {{ normalizeCombo }} from {json.dumps(module.as_uri())};"
        f"console.log(JSON.stringify({json.dumps(samples)}.map(normalizeCombo)));"
    )
    out = subprocess.run(
        ["node", "--input-type=module", "-e", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == [hotkey_combo(s) for s in samples]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hotkey",
    ["f", "F", "ctrl+Enter", "Control+enter", "space", "Delete", "?", "[", "alt+a", "cmd+z", "+"],
)
def test_a_label_may_not_take_a_workspace_key(project, lead, hotkey):
    with pytest.raises(DomainError, match="workspace's key for") as caught:
        label_create(ontology=project.ontology, name="frog", hotkey=hotkey, user=lead)
    assert caught.value.code == "reserved_hotkey"


@pytest.mark.django_db
def test_keys_the_workspace_leaves_free_are_taken(project, lead):
    made = [
        label_create(ontology=project.ontology, name=n, hotkey=k, user=lead)
        for n, k in [("frog", "shift+f"), ("bat", "b"), ("owl", "3"), ("elk", "alt+e")]
    ]
    assert [label.hotkey for label in made] == ["shift+f", "b", "3", "alt+e"]


@pytest.mark.django_db
def test_an_edit_to_a_workspace_key_is_refused_and_blank_clears(project, lead):
    frog = label_create(ontology=project.ontology, name="frog", hotkey="g", user=lead)
    with pytest.raises(DomainError, match="submit"):
        label_edit(label=frog, user=lead, changes={"hotkey": "ctrl+enter"})
    frog.refresh_from_db()
    assert frog.hotkey == "g"
    # spaces are Space, the play key (read as none, they cleared it while the editor said
    # "Saved"); an empty hotkey clears it
    with pytest.raises(DomainError, match="hotkey Space is the workspace's key for play"):
        label_edit(label=frog, user=lead, changes={"hotkey": "   "})
    frog.refresh_from_db()
    assert frog.hotkey == "g"
    label_edit(label=frog, user=lead, changes={"hotkey": ""})
    frog.refresh_from_db()
    assert frog.hotkey == ""


def test_a_file_with_a_workspace_key_is_refused_naming_the_label():
    content = json.dumps(
        {"labels": [{"name": "animal", "children": [{"name": "frog", "hotkey": "f"}]}]}
    )
    with pytest.raises(DomainError, match="'animal/frog'.*whole clip") as caught:
        ontology_parse(content, format="earmark")
    assert caught.value.code == "reserved_hotkey"


@pytest.mark.django_db
def test_the_api_answers_a_workspace_key_with_a_400(project, client_for, lead):
    response = client_for(lead).post(
        f"/api/projects/{project.pk}/ontology/labels/",
        {"name": "frog", "hotkey": "Tab"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "reserved_hotkey" and "next segment" in body["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hotkey, says",
    [
        ("shift+1", "rather than 'shift+1'"),
        ("shift+space", "types another character"),
        ("shift+/", "types another character"),
        ("Enter+ctrl", "optional ctrl, alt or shift"),
        ("hyper+b", "optional ctrl, alt or shift"),
        ("ctrl+shift", "optional ctrl, alt or shift"),
        ("ab", "optional ctrl, alt or shift"),  # two keys: never pressed as one
        ("ctrl+xy", "optional ctrl, alt or shift"),
        ("ctrl+", "ends in '+' with no key after it (for the + key write 'ctrl++')"),
        ("shift+shift+a", "names a modifier twice"),
        ("ctrl+control+a", "names a modifier twice"),
        ("ctrl++a", "has '++' inside"),
    ],
)
def test_keys_the_browser_cannot_report_are_refused(project, lead, hotkey, says):
    with pytest.raises(DomainError, match=re.escape(says)) as caught:
        label_create(ontology=project.ontology, name="cat", hotkey=hotkey, user=lead)
    assert caught.value.code == "invalid_hotkey"


@pytest.mark.django_db
@pytest.mark.parametrize("second", ["Control+S", "cmd+s", "meta+S", "CTRL+s"])
def test_one_key_spelled_two_ways_is_a_collision(project, lead, second):
    label_create(ontology=project.ontology, name="noise", hotkey="ctrl+s", user=lead)
    with pytest.raises(DomainError, match="already used by 'noise'") as caught:
        label_create(ontology=project.ontology, name="digit", hotkey=second, user=lead)
    assert caught.value.code == "hotkey_collision"


def test_a_file_with_one_key_spelled_two_ways_is_refused():
    content = json.dumps(
        {"labels": [{"name": "a", "hotkey": "ctrl+s"}, {"name": "b", "hotkey": "Control+S"}]}
    )
    with pytest.raises(DomainError, match="used by both 'a' and 'b'"):
        ontology_parse(content, format="earmark")


@pytest.mark.django_db
@pytest.mark.parametrize("hotkey", ["F2", "shift+F3", "Insert", "x", "ctrl++", "shift+é"])
def test_a_named_key_or_one_character_is_a_hotkey(project, lead, hotkey):
    label = label_create(ontology=project.ontology, name="cat", hotkey=hotkey, user=lead)
    assert label.hotkey == hotkey


@pytest.mark.django_db
def test_a_capital_letter_is_its_key_and_kept_as_such(project, lead):
    """ "A" was kept and shown as "A", the key a (Shift+A is "shift+a"), beside a label's "a"."""
    label = label_create(ontology=project.ontology, name="cat", hotkey="A", user=lead)
    assert label.hotkey == "a"
    with pytest.raises(DomainError, match="already used by 'cat'"):
        label_create(ontology=project.ontology, name="dog", hotkey="a", user=lead)


@pytest.mark.parametrize(
    "hotkey", ["ctrl+w", "Control+R", "F5", "cmd+t", "ctrl+F5", "ctrl+PageDown", "ctrl+3", "F12"]
)
def test_a_key_the_browser_keeps_is_refused(project, hotkey):
    """ctrl+w closed the tab instead of labeling; F5 reloaded the clip away."""
    from labelapp.errors import DomainError
    from ontology.services import label_create

    with pytest.raises(DomainError, match="is the browser's") as refused:
        label_create(ontology=project.ontology, name="bird", hotkey=hotkey)
    assert refused.value.code == "reserved_hotkey"


def test_an_export_with_a_hotkey_the_browser_keeps_imports_again(project, other_project):
    """A label given F5 before such keys were refused: its project's own export was then
    refused whole on import."""
    import json

    from ontology.io import ontology_export, ontology_import
    from ontology.models import Label
    from ontology.services import label_create

    label = label_create(ontology=project.ontology, name="bird")
    Label.objects.filter(pk=label.pk).update(hotkey="f5")  # set before the rule
    exported, _type, _name = ontology_export(ontology=project.ontology, format="earmark")
    report = ontology_import(ontology=other_project.ontology, content=exported)
    assert report["created"] == 1
    assert Label.objects.get(ontology=other_project.ontology, name="bird").hotkey == "f5"
    assert json.loads(exported)


def test_space_as_a_hotkey_through_the_api_or_a_file_is_refused(project, client_for, lead):
    """The editor refused Space, but the API and an Earmark JSON file cleared the hotkey."""
    frog = label_create(ontology=project.ontology, name="frog", hotkey="g", user=lead)
    url = f"/api/projects/{project.pk}/ontology/labels/{frog.pk}/"
    for space in (" ", "\u00a0"):
        res = client_for(lead).patch(url, {"hotkey": space}, format="json")
        assert res.status_code == 400 and "Space" in res.json()["detail"], res.json()
    frog.refresh_from_db()
    assert frog.hotkey == "g"
    content = json.dumps({"labels": [{"name": "frog", "hotkey": " "}]})
    with pytest.raises(DomainError, match="'frog'.*hotkey Space"):
        ontology_parse(content, format="earmark")
