"""As a data lead would: reshape the label tree in the browser (rename, move by picker and by
drag, merge, delete, add, import) and see nothing lost; annotators only read it."""

from __future__ import annotations

import pytest

from labelapp.models import ClipLabel
from ontology.models import Label, OntologyChange
from ontology.services import label_attributes_set, label_create, label_get_or_create_path

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def node(path: str) -> str:
    return f"[data-testid=label-node][data-label-path='{path}']"


def row(path: str) -> str:
    return f"{node(path)} > [data-testid=label-row]"


@pytest.fixture
def tree(project):
    for path in ("animal/bird/crow", "animal/bird/raven", "animal/dog", "noise/hum", "noise/wind"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    return {lb.path: lb for lb in Label.objects.filter(ontology=project.ontology)}


@pytest.fixture
def editor(live_server, page, login, project):
    def open_as(user):
        login(page, user)
        page.goto(f"{live_server.url}/projects/{project.pk}/ontology/")
        page.wait_for_selector(node("animal"))
        return page

    return open_as


def _swatch(page, path: str) -> str:
    return page.eval_on_selector(f"{row(path)} .onto-swatch", "el => el.style.background")


def test_a_lead_renames_and_moves_labels(editor, lead, tree, screenshot):
    page = editor(lead)
    # A label without a colour of its own shows the one annotators see, and keeps it when it
    # is renamed or moved (it comes from the label's id, not its path).
    crow, dog = _swatch(page, "animal/bird/crow"), _swatch(page, "animal/dog")
    assert crow.startswith("rgb(") and dog.startswith("rgb(")
    page.click(row("animal/bird"))
    page.fill("[data-testid=edit-name]", "Aves")
    page.click("[data-testid=save-label]")
    page.wait_for_selector(node("animal/Aves/crow"))
    assert _swatch(page, "animal/Aves/crow") == crow

    page.click(row("animal/dog"))
    page.select_option("[data-testid=parent-picker]", str(tree["noise"].pk))
    page.click("[data-testid=save-label]")
    page.wait_for_selector(node("noise/dog"))
    assert _swatch(page, "noise/dog") == dog

    page.locator(row("noise/hum")).drag_to(page.locator(row("animal")))
    page.wait_for_selector(node("animal/hum"))
    assert Label.objects.get(pk=tree["noise/hum"].pk).path == "animal/hum"
    assert "move" in page.inner_text("[data-testid=change-log]")
    # Onto its own child: nothing moves, and the status line says why (it kept the last move).
    page.locator(row("animal")).drag_to(page.locator(row("animal/hum")))
    message = page.locator("[data-testid=editor-message]")
    assert message.inner_text() == "animal cannot go under itself or its own children"
    assert Label.objects.get(pk=tree["animal"].pk).parent_id is None
    screenshot(page, "ontology-editor-lead")


def _annotated(project, annotator, *label_lists) -> dict[int, list[str]]:
    """One clip per list, annotated with its labels: {annotation id: labels}."""
    from labelapp.models import Clip
    from labelapp.services.annotations import annotation_input_build, annotation_save

    made = {}
    for i, labels in enumerate(label_lists):
        clip = Clip.objects.create(
            project=project,
            file=f"{i}.wav",
            sha256=f"{i:064d}",
            original_name=f"{i}.wav",
            duration=5,
            status="ready",
        )
        data = annotation_input_build(project, clip, clip_labels=labels)
        made[annotation_save(clip=clip, user=annotator, data=data).pk] = sorted(labels)
    return made


def test_a_lead_merges_a_label_and_nothing_is_lost(editor, lead, tree, project, annotator):
    crow, both = ["animal/bird/crow"], ["animal/bird/crow", "animal/bird/raven"]
    _annotated(project, annotator, both, crow, crow)
    page = editor(lead)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(row("animal/bird/crow"))
    assert "Used by 3 clip label(s)" in page.inner_text("[data-testid=panel-uses]")
    page.select_option("[data-testid=merge-target]", str(tree["animal/bird/raven"].pk))
    page.click("[data-testid=merge-label]")
    page.wait_for_selector(f"{node('animal/bird/crow')}", state="detached")
    message = page.inner_text("[data-testid=editor-message]")
    assert "3 annotation(s) changed" in message and "1 duplicates dropped" in message
    assert ClipLabel.objects.filter(label=tree["animal/bird/raven"]).count() == 3

    page.click(row("animal/bird/raven"))
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", answer)
    page.click("[data-testid=delete-label]")
    page.wait_for_selector("[data-testid=editor-message].error")
    assert "deprecate it instead" in page.inner_text("[data-testid=editor-message]")
    assert "used 3 times" in page.inner_text("[data-testid=editor-message]")
    assert not asked  # refused at once: it asked "Delete …?" first, then refused
    page.click("[data-testid=deprecate-label]")
    page.wait_for_selector(f"{row('animal/bird/raven')}.deprecated")
    # in use: asked first, naming its uses, and said as what it was ("Saved" it said)
    assert len(asked) == 1 and "used 3 times" in asked[0], asked
    assert page.inner_text("[data-testid=editor-message]") == "Deprecated animal/bird/raven"


def test_a_lead_undoes_a_merge_from_the_change_log(
    editor, lead, tree, project, annotator, screenshot
):
    """Merged by mistake: the change log's Undo brings the label back with its uses, and the
    entry can be undone only once."""
    before = _annotated(
        project, annotator, ["animal/bird/crow", "animal/bird/raven"], ["animal/bird/crow"]
    )
    label_attributes_set(label=tree["animal/bird/crow"], hotkey="c")
    page = editor(lead)
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(row("animal/bird/crow"))
    page.select_option("[data-testid=merge-target]", str(tree["animal/bird/raven"].pk))
    page.click("[data-testid=merge-label]")
    page.wait_for_selector(f"{node('animal/bird/crow')}", state="detached")
    assert "change log below can undo it" in page.inner_text("[data-testid=editor-message]")
    # Meanwhile raven gives the key the merge passed it to a new label: the undo says so.
    label_attributes_set(label=Label.objects.get(pk=tree["animal/bird/raven"].pk), hotkey="r")
    label_create(ontology=project.ontology, name="rook", parent=tree["animal/bird"], hotkey="c")
    undo = page.locator("[data-testid=change]", has_text="merge").locator(
        "[data-testid=undo-merge]"
    )
    undo.click()
    page.wait_for_selector(row("animal/bird/crow"))
    message = page.inner_text("[data-testid=editor-message]")
    assert "is back with 2 use(s)" in message
    assert "'crow' comes back without its hotkey 'c': 'animal/bird/rook' has used it" in message
    page.wait_for_selector("[data-testid=change]:has-text('unmerge')")
    assert page.locator("[data-testid=undo-merge]").count() == 0  # once only
    assert "(undone)" in page.locator("[data-testid=change]", has_text="into").inner_text()
    after = {
        a: sorted(ClipLabel.objects.filter(annotation_id=a).values_list("label__path", flat=True))
        for a in before
    }
    assert after == before
    screenshot(page, "ontology-undo-merge")


def test_a_lead_adds_labels_and_sees_import_errors(editor, lead, tree, tmp_path):
    page = editor(lead)
    page.fill("[data-testid=add-name]", "owl")
    page.select_option("[data-testid=add-parent]", str(tree["animal/bird"].pk))
    page.fill("[data-testid=add-hotkey]", "o")
    page.fill("[data-testid=add-description]", "hoots at night")
    page.click("[data-testid=add-submit]")
    page.wait_for_selector(node("animal/bird/owl"))
    # the form stays in sight, ready for the next label (the new label's panel opened above
    # it and pushed it out of view after every add; a new user)
    assert page.locator("[data-testid=label-panel]").is_hidden()
    assert page.evaluate("() => document.activeElement.dataset.testid") == "add-name"
    assert page.locator("[data-testid=add-name]").is_visible()
    owl = Label.objects.get(ontology_id=tree["animal"].ontology_id, path="animal/bird/owl")
    assert owl.description == "hoots at night"
    assert page.inner_text(f"{row('animal/bird/owl')} [data-testid=label-hotkey]") == "o"
    # A path in the name: the missing labels before the last are made, the existing found
    # (it was refused: "must not contain '/'").
    page.select_option("[data-testid=add-parent]", "")
    page.fill("[data-testid=add-name]", "Animal/insects/cricket")
    page.fill("[data-testid=add-hotkey]", "k")
    page.evaluate(
        """() => { const p = document.querySelector('[data-testid=add-color-pick]');
                   p.value = '#aa3300'; p.dispatchEvent(new Event('input')); }"""
    )
    page.click("[data-testid=add-submit]")
    page.wait_for_selector(node("animal/insects/cricket"))
    cricket = Label.objects.get(
        ontology_id=tree["animal"].ontology_id, path="animal/insects/cricket"
    )
    assert (cricket.hotkey, cricket.color) == ("k", "#aa3300")
    assert Label.objects.filter(ontology_id=tree["animal"].ontology_id, name="animal").count() == 1

    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "a", "name": "Music", "child_ids": ["missing"]}]')
    page.set_input_files("[data-testid=import-file]", str(bad))
    page.click("[data-testid=import-submit]")
    page.wait_for_selector("[data-testid=import-error]")
    assert "'Music' (a) lists child id 'missing'" in page.inner_text("[data-testid=import-error]")

    good = tmp_path / "good.txt"
    good.write_text("vehicle/car\nvehicle/train\n")
    page.set_input_files("[data-testid=import-file]", str(good))
    page.click("[data-testid=import-submit]")
    page.wait_for_selector(node("vehicle/train"))
    assert "3 created" in page.inner_text("[data-testid=import-summary]")
    page.click("[data-testid=import-created] summary")
    assert page.inner_text("[data-testid=import-created] ul").split("\n") == [
        "vehicle",
        "vehicle/car",
        "vehicle/train",
    ]

    # The same file after a rename, dry run first: the renamed label is found by its old
    # path (listed), not made again.
    from ontology.services import label_rename

    car = Label.objects.get(ontology_id=tree["animal/bird"].ontology_id, path="vehicle/car")
    label_rename(label=car, name="automobile")
    page.check("[data-testid=import-dry-run]")
    page.set_input_files("[data-testid=import-file]", str(good))
    page.click("[data-testid=import-submit]")
    page.wait_for_selector("[data-testid=import-followed]")
    assert "0 created" in page.inner_text("[data-testid=import-summary]")
    page.click("[data-testid=import-followed] summary")
    assert page.inner_text("[data-testid=import-followed] ul") == "vehicle/car → vehicle/automobile"
    assert page.locator("[data-testid=import-created]").count() == 0


def test_an_annotator_reads_the_tree_without_edit_controls(editor, annotator, tree):
    page = editor(annotator)
    page.click(row("animal/bird/crow"))
    assert page.is_visible("[data-testid=label-panel]")
    assert page.locator("[data-testid=edit-form]").count() == 0
    assert page.locator("[data-testid=add-form]").count() == 0
    page.fill("[data-testid=label-filter]", "raven")
    assert page.locator("[data-testid=label-node]").count() == 3  # animal, bird, raven
    page.fill("[data-testid=label-filter]", "rav anim")  # words in any order (it found none)
    assert page.locator("[data-testid=label-node]").count() == 3
    page.fill("[data-testid=label-filter]", "RÂV ANÏM")  # and accents do not count
    assert page.locator("[data-testid=label-node]").count() == 3


def test_the_change_log_pages_back_to_older_changes(editor, lead, tree, project):
    from ontology.services import label_attributes_set

    crow = tree["animal/bird/crow"]
    for i in range(60):  # 60 edits after the tree's own entries: more than a page (50)
        label_attributes_set(label=crow, description=f"take {i}")
    page = editor(lead)
    changes = page.locator("[data-testid=change]")
    page.wait_for_selector("[data-testid=older-changes]")
    assert changes.count() == 50
    total = OntologyChange.objects.filter(ontology=project.ontology).count()
    page.click("[data-testid=older-changes]")
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=change]').length == n", arg=total
    )
    assert page.locator("[data-testid=older-changes]").count() == 0
    oldest = OntologyChange.objects.filter(ontology=project.ontology).order_by("version").first()
    assert changes.last.inner_text().startswith(f"v{oldest.version} ")


def test_the_tree_is_walked_with_the_keyboard_and_keeps_the_focus(editor, lead, tree):
    """Enter, ← and → re-drew the tree and dropped the focus on the page; ↑ ↓ did nothing."""
    page = editor(lead)
    focused = "() => document.activeElement.closest('[data-testid=label-node]')?.dataset.labelPath"
    page.focus(row("animal"))
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == "animal/bird"
    page.keyboard.press("Enter")  # selects it; the focus stays on its row
    page.wait_for_selector("[data-testid=label-panel]")
    assert page.evaluate(focused) == "animal/bird"
    page.keyboard.press("ArrowLeft")  # closes it
    page.wait_for_selector(f"{row('animal/bird')}[aria-expanded=false]")
    assert page.evaluate(focused) == "animal/bird"
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == "animal/dog"  # crow and raven are hidden
    page.keyboard.press("ArrowLeft")  # a leaf: to its parent
    assert page.evaluate(focused) == "animal"
    page.keyboard.press("End")
    assert page.evaluate(focused) == "noise/wind"
    # One Tab stop for the whole tree, on the row last focused: Tab leaves the tree at once
    # (every row and twisty was a stop: 539 presses to get past 421 labels).
    stops = page.eval_on_selector_all(
        "[data-testid=label-tree] [tabindex='0']", "els => els.map(e => e.textContent)"
    )
    assert len(stops) == 1 and stops[0].startswith("wind"), stops
    page.keyboard.press("Tab")
    assert page.evaluate(focused) is None  # out of the tree
    page.keyboard.press("Shift+Tab")
    assert page.evaluate(focused) == "noise/wind"
    # the focused element is the tree item itself, named by its label, not by its swatch
    role = page.evaluate("() => document.activeElement.getAttribute('role')")
    assert role == "treeitem"
    snapshot = page.locator("[data-testid=label-tree]").aria_snapshot()
    assert 'treeitem "wind"' in snapshot and "automatic" not in snapshot, snapshot


def test_a_stale_tab_does_not_overwrite_another_leads_edit_and_shows_the_tree_as_it_is(
    editor, lead, tree
):
    """Two tabs: A saved a description; B, loaded before, saved its own over it without a
    word, and after A deleted a label B kept showing it."""
    page = editor(lead)
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector(node("animal"))
    # A (page) describes the dog; B (other) then tries to, from what it loaded
    page.click(row("animal/dog"))
    page.fill("[data-testid=edit-description]", "A: barks")
    page.click("[data-testid=save-label]")
    page.wait_for_selector("[data-testid=editor-message]:has-text('Saved')")
    other.click(row("animal/dog"))
    other.fill("[data-testid=edit-description]", "B: woofs")
    other.click("[data-testid=save-label]")
    other.wait_for_selector("[data-testid=editor-message].error")
    message = other.inner_text("[data-testid=editor-message]")
    assert "another lead changed 'animal/dog'" in message and "'A: barks'" in message
    assert Label.objects.get(pk=tree["animal/dog"].pk).description == "A: barks"
    # A deletes a label; B, adding under it, is told and sees the tree as it is now
    page.on("dialog", lambda dialog: dialog.accept())
    page.click(row("noise/wind"))
    page.click("[data-testid=delete-label]")
    page.wait_for_selector(node("noise/wind"), state="detached")
    other.click(row("noise/wind"))
    other.fill("[data-testid=edit-description]", "gusts")
    other.click("[data-testid=save-label]")
    other.wait_for_selector(node("noise/wind"), state="detached")
    assert "The tree is shown as it is now" in other.inner_text("[data-testid=editor-message]")
    other.close()


def test_the_merge_and_parent_pickers_filter_by_path_and_say_the_whole_path(editor, lead, tree):
    """Plain lists of ~414 labels without a search, whose closed list showed "male" of a
    dozen "male"s."""
    page = editor(lead)
    page.click(row("animal/bird/crow"))
    page.fill("[data-testid=merge-target-filter]", "rav")
    visible = page.eval_on_selector_all(
        "[data-testid=merge-target] option", "os => os.filter(o => !o.hidden).map(o => o.title)"
    )
    assert visible == ["", "animal/bird/raven"] or visible == [None, "animal/bird/raven"]
    assert page.input_value("[data-testid=merge-target]") == str(tree["animal/bird/raven"].pk)
    assert page.inner_text("[data-testid=merge-target-path]") == "animal/bird/raven"
    # the parent, in the form that moves the label: typing filters, only Enter chooses, and
    # Enter there does not save
    page.fill("[data-testid=parent-picker-filter]", "noise")
    assert page.inner_text("[data-testid=parent-picker-path]") == "animal/bird"
    page.fill("[data-testid=parent-picker-filter]", "")
    page.fill("[data-testid=parent-picker-filter]", "noise")
    page.press("[data-testid=parent-picker-filter]", "Enter")
    assert page.inner_text("[data-testid=parent-picker-path]") == "noise"
    assert Label.objects.get(pk=tree["animal/bird/crow"].pk).path == "animal/bird/crow"
    page.click("[data-testid=save-label]")
    page.wait_for_selector(row("noise/crow"))
    assert Label.objects.get(pk=tree["animal/bird/crow"].pk).path == "noise/crow"


@pytest.mark.parametrize("width", [1280, 1920])
def test_a_parents_panel_keeps_delete_and_the_merge_controls_inside_it(editor, lead, tree, width):
    """A label with children: its "merge children" checkbox stood beside the merge controls,
    squeezed the target list to "merg" and pushed Delete out of the panel (x 1355 of 1256)."""
    page = editor(lead)
    page.set_viewport_size({"width": width, "height": 1000})
    page.click(row("animal/bird"))
    page.wait_for_selector("[data-testid=merge-children]")
    box = page.eval_on_selector(
        ".onto-panel",
        """panel => {
            const r = (s) => panel.querySelector(s).getBoundingClientRect();
            const p = panel.getBoundingClientRect();
            return { right: p.right, del: r('[data-testid=delete-label]').right,
                     select: r('[data-testid=merge-target]').width,
                     check: r('.onto-check').right };
        }""",
    )
    assert box["del"] <= box["right"] and box["check"] <= box["right"], box
    assert box["select"] >= 150, box
    page.click("[data-testid=delete-label]", trial=True)  # visible, and nothing covers it


def test_space_typed_as_a_hotkey_is_refused_not_saved_as_none(editor, lead, tree):
    """Space typed into the hotkey field was read as no hotkey: the label's "c" was cleared
    and the page said "Saved"."""
    label_attributes_set(label=tree["animal/bird/crow"], hotkey="c")
    page = editor(lead)
    page.click(row("animal/bird/crow"))
    page.fill("[data-testid=edit-hotkey]", " ")
    page.click("[data-testid=save-label]")
    page.wait_for_selector("[data-testid=editor-message].error")
    assert "Space plays and pauses" in page.inner_text("[data-testid=editor-message]")
    assert Label.objects.get(pk=tree["animal/bird/crow"].pk).hotkey == "c"
