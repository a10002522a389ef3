"""Editing the tree through the services: create, rename, move, reorder, attributes,
deprecate, delete. Rename and move keep every annotation pointing at the same label."""

from __future__ import annotations

import pytest

from labelapp.errors import Conflict, DomainError
from labelapp.models import ClipLabel, SegmentLabel
from ontology.models import Label, OntologyChange
from ontology.services import (
    label_attributes_set,
    label_create,
    label_delete,
    label_deprecate,
    label_edit,
    label_move,
    label_rename,
    label_reorder,
)

pytestmark = pytest.mark.django_db


def paths(ontology) -> list[str]:
    return sorted(Label.objects.filter(ontology=ontology).values_list("path", flat=True))


def children(label) -> list[str]:
    return list(label.children.order_by("order").values_list("name", flat=True))


# --- create ---------------------------------------------------------------------------------


def test_it_creates_labels_at_any_depth(project, lead):
    animal = label_create(ontology=project.ontology, name="animal", user=lead)
    bird = label_create(ontology=project.ontology, name="bird", parent=animal, user=lead)
    corvid = label_create(
        ontology=project.ontology,
        name=" corvid ",
        parent=bird.pk,
        user=lead,
        color="#AABBCC",
        hotkey="c",
        description="crows",
        external_id="/m/x",
    )
    assert (corvid.path, corvid.depth, corvid.name) == ("animal/bird/corvid", 2, "corvid")
    assert (corvid.color, corvid.hotkey, corvid.external_id) == ("#aabbcc", "c", "/m/x")


def test_it_places_a_new_label_at_the_position_asked(project, labels):
    tree = labels("a/x", "a/y")
    label_create(ontology=project.ontology, name="w", parent=tree["a"], position=0)
    label_create(ontology=project.ontology, name="z", parent=tree["a"])
    assert children(tree["a"]) == ["w", "x", "y", "z"]


def test_it_refuses_an_empty_name(project):
    with pytest.raises(DomainError, match="non-empty name"):
        label_create(ontology=project.ontology, name="   ")


def test_it_refuses_a_slash_in_a_name(project):
    with pytest.raises(DomainError, match="must not contain"):
        label_create(ontology=project.ontology, name="a/b")


def test_it_refuses_a_semicolon_in_a_name_which_manifests_split_on(project):
    with pytest.raises(DomainError, match="must not contain ';'") as refused:
        label_create(ontology=project.ontology, name="hum; mains")
    assert refused.value.code == "invalid_name"


def test_an_accent_written_either_way_names_one_label(project):
    """ "café" typed on a Mac (e + a combining accent, NFD) was a second label beside "café",
    or an unknown label in a submission."""
    import unicodedata

    from ontology.services import label_resolve

    nfd = unicodedata.normalize("NFD", "café")
    made = label_create(ontology=project.ontology, name=nfd)
    assert made.name == "café" and made.path == "café"
    with pytest.raises(DomainError):
        label_create(ontology=project.ontology, name="café")  # the same name
    assert label_resolve(ontology=project.ontology, ref=nfd) == made
    child = label_create(ontology=project.ontology, name="crème", parent=made)
    assert (
        label_resolve(ontology=project.ontology, ref=unicodedata.normalize("NFD", "café/crème"))
        == child
    )


def test_it_refuses_duplicate_sibling_names_ignoring_case(project, labels):
    tree = labels("animal/Bird")
    with pytest.raises(DomainError, match="already exists under 'animal'") as exc:
        label_create(ontology=project.ontology, name="bird", parent=tree["animal"])
    assert exc.value.extra["label"] == "animal/bird"
    # The same name under another parent is fine.
    label_create(ontology=project.ontology, name="bird", parent=None)


def test_it_refuses_an_unknown_parent(project, other_project, labels):
    foreign = label_create(ontology=other_project.ontology, name="elsewhere")
    with pytest.raises(DomainError, match="is not in this ontology") as exc:
        label_create(ontology=project.ontology, name="x", parent=foreign.pk)
    assert exc.value.code == "unknown_parent"
    with pytest.raises(DomainError, match="is not in this ontology"):
        label_create(ontology=project.ontology, name="x", parent=999_999)


def test_it_refuses_colliding_hotkeys_ignoring_case(project, labels):
    tree = labels("a", "b")
    label_attributes_set(label=tree["a"], hotkey="K")
    with pytest.raises(DomainError, match="already used by 'a'") as exc:
        label_create(ontology=project.ontology, name="c", hotkey="k")
    assert exc.value.code == "hotkey_collision"
    with pytest.raises(DomainError, match="already used by 'a'"):
        label_attributes_set(label=tree["b"], hotkey="k")
    label_attributes_set(label=tree["a"], hotkey="k")  # its own hotkey is no collision


def test_it_refuses_a_malformed_color_or_hotkey(project):
    with pytest.raises(DomainError, match="#rrggbb"):
        label_create(ontology=project.ontology, name="x", color="red")
    with pytest.raises(DomainError, match="without spaces"):
        label_create(ontology=project.ontology, name="x", hotkey="a b")


# --- rename ---------------------------------------------------------------------------------


def test_rename_rewrites_the_paths_below_and_keeps_the_rows(project, labels):
    tree = labels("animal/bird/corvid/crow", "animal/bird/finch", "animal/dog")
    label_rename(label=tree["animal/bird"], name="birds")
    assert paths(project.ontology) == [
        "animal",
        "animal/birds",
        "animal/birds/corvid",
        "animal/birds/corvid/crow",
        "animal/birds/finch",
        "animal/dog",
    ]
    crow = Label.objects.get(pk=tree["animal/bird/corvid/crow"].pk)
    assert (crow.path, crow.depth) == ("animal/birds/corvid/crow", 3)


def test_rename_keeps_every_annotation_on_the_same_label(project, labels, annotate, annotator):
    tree = labels("animal/bird/corvid", "animal/dog")
    for _ in range(3):
        annotate(
            project,
            annotator,
            clip_labels=["animal/bird/corvid"],
            segments=[{"start": 0, "end": 1, "labels": ["animal/bird"]}],
        )
    before = (
        ClipLabel.objects.filter(label=tree["animal/bird/corvid"]).count(),
        SegmentLabel.objects.filter(label=tree["animal/bird"]).count(),
    )
    label_rename(label=tree["animal/bird"], name="Aves")
    after = (
        ClipLabel.objects.filter(label=tree["animal/bird/corvid"]).count(),
        SegmentLabel.objects.filter(label=tree["animal/bird"]).count(),
    )
    assert before == after == (3, 3)
    assert set(ClipLabel.objects.values_list("label__path", flat=True)) == {"animal/Aves/corvid"}


def test_rename_may_change_only_the_case(project, labels):
    tree = labels("bird/crow")
    label_rename(label=tree["bird"], name="Bird")
    assert paths(project.ontology) == ["Bird", "Bird/crow"]


def test_rename_refuses_a_sibling_name(project, labels):
    tree = labels("animal/bird", "animal/dog")
    with pytest.raises(DomainError, match="'dog' already exists"):
        label_rename(label=tree["animal/bird"], name="DOG")
    assert paths(project.ontology) == ["animal", "animal/bird", "animal/dog"]


# --- move and reorder -------------------------------------------------------------------------


def test_move_carries_the_subtree_and_keeps_annotations(project, labels, annotate, annotator):
    tree = labels("animal/bird/corvid/crow", "sound/nature")
    clip_annotation = annotate(project, annotator, clip_labels=["animal/bird/corvid/crow"])
    label_move(label=tree["animal/bird"], parent=tree["sound/nature"])
    assert paths(project.ontology) == [
        "animal",
        "sound",
        "sound/nature",
        "sound/nature/bird",
        "sound/nature/bird/corvid",
        "sound/nature/bird/corvid/crow",
    ]
    crow = Label.objects.get(pk=tree["animal/bird/corvid/crow"].pk)
    assert crow.depth == 4
    assert list(clip_annotation.clip_labels.values_list("label_id", flat=True)) == [crow.pk]


def test_move_to_the_top_level(project, labels):
    tree = labels("animal/bird/crow")
    label_move(label=tree["animal/bird"], parent=None)
    moved = Label.objects.get(pk=tree["animal/bird"].pk)
    assert (moved.path, moved.depth, moved.parent_id) == ("bird", 0, None)
    assert Label.objects.get(pk=tree["animal/bird/crow"].pk).path == "bird/crow"


def test_move_refuses_to_make_a_label_its_own_ancestor(project, labels):
    tree = labels("a/b/c")
    with pytest.raises(DomainError, match="its own descendant 'a/b/c'") as exc:
        label_move(label=tree["a"], parent=tree["a/b/c"])
    assert exc.value.code == "cycle"
    with pytest.raises(DomainError, match="under itself"):
        label_move(label=tree["a/b"], parent=tree["a/b"])
    assert paths(project.ontology) == ["a", "a/b", "a/b/c"]


def test_move_refuses_a_name_taken_in_the_new_parent(project, labels):
    tree = labels("a/x", "b/X")
    with pytest.raises(DomainError, match="'X' already exists under 'b'"):
        label_move(label=tree["a/x"], parent=tree["b"])


def test_move_refuses_an_unknown_parent(project, labels):
    tree = labels("a")
    with pytest.raises(
        DomainError, match=r"the parent label \(id 424242\) is not in this ontology"
    ):
        label_move(label=tree["a"], parent=424242)


def test_reorder_renumbers_the_siblings(project, labels):
    tree = labels("p/a", "p/b", "p/c", "p/d")
    label_reorder(label=tree["p/d"], position=0)
    assert children(tree["p"]) == ["d", "a", "b", "c"]
    label_reorder(label=tree["p/d"], position=99)
    assert children(tree["p"]) == ["a", "b", "c", "d"]
    assert list(tree["p"].children.order_by("order").values_list("order", flat=True)) == [
        0,
        1,
        2,
        3,
    ]


def test_move_with_a_position_inserts_there(project, labels):
    tree = labels("p/a", "p/b", "q/z")
    label_move(label=tree["q/z"], parent=tree["p"], position=1)
    assert children(tree["p"]) == ["a", "z", "b"]


# --- attributes, deprecate, edit ---------------------------------------------------------------


def test_deprecate_keeps_the_label_and_its_history(project, labels, annotate, annotator):
    tree = labels("animal/dog")
    annotate(project, annotator, clip_labels=["animal/dog"])
    label_deprecate(label=tree["animal/dog"])
    dog = Label.objects.get(pk=tree["animal/dog"].pk)
    assert dog.deprecated is True
    assert ClipLabel.objects.filter(label=dog).count() == 1
    label_deprecate(label=dog, deprecated=False)
    assert Label.objects.get(pk=dog.pk).deprecated is False


def test_edit_applies_several_changes_or_none(project, labels):
    tree = labels("a/x", "b", "c")
    label_attributes_set(label=tree["c"], hotkey="h")
    with pytest.raises(DomainError, match="hotkey 'h'"):
        label_edit(label=tree["a/x"], changes={"name": "y", "parent": tree["b"].pk, "hotkey": "h"})
    assert paths(project.ontology) == ["a", "a/x", "b", "c"]  # the rename was rolled back
    label_edit(
        label=tree["a/x"],
        changes={
            "name": "y",
            "parent": tree["b"].pk,
            "hotkey": "j",
            "color": "#112233",
            "deprecated": True,
        },
    )
    y = Label.objects.get(pk=tree["a/x"].pk)
    assert (y.path, y.hotkey, y.color, y.deprecated) == ("b/y", "j", "#112233", True)


# --- delete -----------------------------------------------------------------------------------


def test_delete_removes_an_unused_subtree(project, labels):
    tree = labels("a/b/c", "d")
    report = label_delete(label=tree["a"])
    assert report["deleted"] == 3
    assert paths(project.ontology) == ["d"]


def test_delete_is_refused_while_a_label_is_in_use(project, labels, annotate, annotator):
    tree = labels("a/b/c", "d")
    annotate(project, annotator, segments=[{"start": 0, "end": 1, "labels": ["a/b/c"]}])
    with pytest.raises(Conflict, match="its descendant 'a/b/c' is used by 0 clip label"):
        label_delete(label=tree["a"])
    with pytest.raises(Conflict, match="deprecate it instead") as exc:
        label_delete(label=tree["a/b/c"])
    assert exc.value.status == 409 and exc.value.extra["label"] == "a/b/c"
    assert paths(project.ontology) == ["a", "a/b", "a/b/c", "d"]


# --- versions and the change log -------------------------------------------------------------


def test_every_change_bumps_the_version_and_is_logged(project, lead):
    ontology = project.ontology
    start = ontology.version
    a = label_create(ontology=ontology, name="a", user=lead)
    b = label_create(ontology=ontology, name="b", user=lead)
    label_rename(label=a, name="A", user=lead)
    label_move(label=b, parent=a, user=lead)
    label_attributes_set(label=b, color="#000000", user=lead)
    label_deprecate(label=b, user=lead)
    label_delete(label=b, user=lead)
    ontology.refresh_from_db()
    assert ontology.version == start + 7
    log = list(OntologyChange.objects.filter(ontology=ontology).order_by("version"))
    assert [c.action for c in log] == [
        "create",
        "create",
        "rename",
        "move",
        "update",
        "deprecate",
        "delete",
    ]
    assert [c.version for c in log] == list(range(start + 1, start + 8))
    assert {c.user for c in log} == {lead}
    assert log[2].details == {"label": a.pk, "from": "a", "to": "A"}
    assert log[3].details["to"] == "A/b"
    assert log[4].details["changes"] == {"color": ["", "#000000"]}


def test_a_change_that_changes_nothing_is_not_logged(project, labels):
    tree = labels("a")
    version = project.ontology.__class__.objects.get(pk=project.ontology_id).version
    label_rename(label=tree["a"], name="a")
    label_attributes_set(label=tree["a"], color="")
    label_deprecate(label=tree["a"], deprecated=False)
    assert project.ontology.__class__.objects.get(pk=project.ontology_id).version == version


def test_it_refuses_sibling_names_that_differ_only_in_the_case_of_non_ascii_letters(project):
    """SQLite's case-insensitive match folds ASCII only: the check compares itself."""
    label_create(ontology=project.ontology, name="Äpfel")
    with pytest.raises(DomainError, match="already exists at the top level") as exc:
        label_create(ontology=project.ontology, name="äpfel")
    assert exc.value.code == "duplicate_label"


def test_sibling_names_are_compared_casefolded(project):
    """ß is SS ignoring case ("Straße" and "STRASSE" were two labels side by side); a joiner
    inside a name does not make it another ("c\u200dat" beside "cat", either way round)."""
    label_create(ontology=project.ontology, name="Straße")
    with pytest.raises(DomainError, match="already exists at the top level"):
        label_create(ontology=project.ontology, name="STRASSE")
    label_create(ontology=project.ontology, name="cat")
    with pytest.raises(DomainError, match="already exists at the top level"):
        label_create(ontology=project.ontology, name="c\u200dat")
    label_create(ontology=project.ontology, name="d\u200dog")
    with pytest.raises(DomainError, match="already exists at the top level"):
        label_create(ontology=project.ontology, name="dog")


@pytest.mark.parametrize("name", ["👨\u200d👩\u200d👧 family", "می\u200cخواهم"])
def test_joiners_that_emoji_and_persian_need_are_allowed(project, name):
    """The zero-width joiner and non-joiner were refused as "control characters"."""
    assert label_create(ontology=project.ontology, name=name).name == name


@pytest.mark.parametrize(
    "name",
    [
        "new\nline",
        "tab\there",
        "zero\u200bwidth",
        "nul\x00",
        "right\u202eleft",
        # joiners that join nothing: names that look like none, or like another
        "\u200d",
        "\u200c\u200d",
        "cat\u200c",
        "\u200dcat",
        "a \u200d b",
        "a\u200d\u200db",
    ],
)
def test_it_refuses_control_characters_in_a_name(project, name):
    """A newline would split the name into two labels in a paths file."""
    with pytest.raises(DomainError, match="control characters") as exc:
        label_create(ontology=project.ontology, name=name)
    assert exc.value.code == "invalid_name"


def test_paths_and_names_with_other_letters_than_ascii_resolve_ignoring_case(project):
    """As ASCII ones do ("Birds" is "birds"): SQLite's own match folds ASCII only."""
    from ontology.services import label_get_or_create_path, label_resolve

    apples = label_create(ontology=project.ontology, name="Äpfel")
    owl = label_create(ontology=project.ontology, name="Öwl", parent=apples)
    assert label_resolve(ontology=project.ontology, ref="äpfel/öwl") == owl
    assert label_resolve(ontology=project.ontology, ref="öwl") == owl
    assert label_get_or_create_path(ontology=project.ontology, path="ÄPFEL/ÖWL") == (owl, False)


def test_delete_counts_the_unsaved_drafts_that_used_the_label(
    project, labels, make_clip, annotator
):
    from labelapp.services.annotations import annotation_draft_save

    tree = labels("animal/owl/barn", "animal/dog")
    for i, data in enumerate(
        [
            {"clip_labels": ["animal/owl"], "segments": []},
            {
                "clip_labels": [],
                "segments": [{"start": 0, "end": 1, "labels": ["Animal/Owl/barn"]}],
            },
            {"clip_labels": ["animal/dog"], "segments": []},
            {"clip_labels": "not a list", "segments": [None]},  # drafts are stored as sent
        ]
    ):
        annotation_draft_save(clip=make_clip(project, f"d{i}.wav"), user=annotator, data=data)
    out = label_delete(label=tree["animal/owl"])
    assert out["deleted"] == 2 and out["drafts_affected"] == 2


def test_labels_named_in_nfd_before_are_brought_to_nfc_by_the_migration(project):
    """Names typed on a Mac before names were stored NFC could no longer be named at all:
    references are read as NFC."""
    import importlib
    import unicodedata

    from django.apps import apps

    from ontology.services import label_resolve

    migration = importlib.import_module("ontology.migrations.0003_label_names_nfc")
    nfd = unicodedata.normalize("NFD", "Élan")
    parent = label_create(ontology=project.ontology, name="tmp-parent")
    child = label_create(ontology=project.ontology, name="tmp-child", parent=parent)
    Label.objects.filter(pk=parent.pk).update(name=nfd, path=nfd)
    Label.objects.filter(pk=child.pk).update(path=f"{nfd}/tmp-child")
    label_create(ontology=project.ontology, name="Crème")
    twin = label_create(ontology=project.ontology, name="tmp-twin")  # NFD "Crème" beside it
    nfd_twin = unicodedata.normalize("NFD", "Crème")
    Label.objects.filter(pk=twin.pk).update(name=nfd_twin, path=nfd_twin)
    migration.forwards(apps, None)
    parent.refresh_from_db()
    child.refresh_from_db()
    assert (parent.name, parent.path, child.path) == ("Élan", "Élan", "Élan/tmp-child")
    assert label_resolve(ontology=project.ontology, ref=nfd) == parent
    assert label_resolve(ontology=project.ontology, ref="élan/tmp-child") == child
    assert Label.objects.get(pk=twin.pk).name == nfd_twin  # its NFC name is taken: left


def test_a_path_with_spaces_around_its_slashes_names_the_label_it_made(project):
    """A manifest's " digits / three " made "digits/three", and the same manifest imported
    again was refused: unknown label 'digits / three'."""
    from ontology.services import label_resolve

    made = label_resolve(ontology=project.ontology, ref=" digits / three ", create=True)
    assert made.path == "digits/three"
    assert label_resolve(ontology=project.ontology, ref=" digits / three ").pk == made.pk
    assert label_resolve(ontology=project.ontology, ref="digits /three").pk == made.pk


def test_merges_imports_and_project_names_compare_names_as_siblings_are(project, lead):
    """A merge compared children with lower() (Straße and STRASSE ended side by side), an
    import naming "pets/c\\u200dat" made a look-alike beside "pets/cat", and a project
    "Birds\\u200d" was made beside "Birds"."""
    from labelapp.services.projects import project_create
    from ontology.merge import label_merge
    from ontology.services import label_get_or_create_path, label_resolve

    a, _ = label_get_or_create_path(ontology=project.ontology, path="roads/a/Straße")
    b, _ = label_get_or_create_path(ontology=project.ontology, path="roads/b/STRASSE")
    with pytest.raises(DomainError, match="would collide"):
        label_merge(source=a.parent, target=b.parent)
    cat, _ = label_get_or_create_path(ontology=project.ontology, path="pets/cat")
    assert label_resolve(ontology=project.ontology, ref="pets/c\u200dat", create=True).pk == cat.pk
    assert project.name == "Birds"
    with pytest.raises(DomainError, match="already exists"):
        project_create(name="Bir\u200dds", created_by=lead)
    with pytest.raises(DomainError, match="control"):
        project_create(name="Birds\u200d", created_by=lead)
