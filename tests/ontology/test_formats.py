"""File formats (Earmark JSON, AudioSet, paths/CSV): detection, import, export, bad input."""

from __future__ import annotations

import io
import json

import pytest

from labelapp.errors import DomainError
from ontology.formats import ontology_parse
from ontology.io import ontology_export, ontology_import
from ontology.models import Label, OntologyChange
from ontology.services import label_attributes_set

pytestmark = pytest.mark.django_db

EARMARK = {
    "labels": [
        {
            "name": "speech",
            "color": "#ff0000",
            "children": [
                {
                    "name": "command",
                    "children": [
                        {"name": "set thermostat", "hotkey": "t", "description": "HVAC"},
                        {"name": "stop", "hotkey": "s"},
                    ],
                },
            ],
        },
        {
            "name": "animal",
            "external_id": "/m/0jbk",
            "children": [
                {"name": "bird", "children": [{"name": "corvid", "deprecated": True}]},
            ],
        },
    ],
}

AUDIOSET = [
    {
        "id": "/m/0jbk",
        "name": "Animal",
        "description": "All animals.",
        "child_ids": ["/m/015p6", "/m/068hy"],
    },
    {"id": "/m/015p6", "name": "Bird", "description": "", "child_ids": ["/m/020bb7"]},
    {"id": "/m/068hy", "name": "Pets", "description": "", "child_ids": ["/m/020bb7"]},
    {
        "id": "/m/020bb7",
        "name": "Bird vocalization, bird call, bird song",
        "description": "",
        "child_ids": [],
        "restrictions": [],
    },
    {
        "id": "/t/dd00041",
        "name": "Silence",
        "description": "",
        "child_ids": [],
        "restrictions": ["blacklist"],
    },
]


def stored(project) -> dict[str, Label]:
    return {lb.path: lb for lb in Label.objects.filter(ontology=project.ontology)}


def reject(project, content, *, match: str, label: str | None = None, fmt=None) -> DomainError:
    """The file is refused with a 400 that names the label, and nothing is imported."""
    before = sorted(stored(project))
    with pytest.raises(DomainError, match=match) as exc:
        ontology_import(ontology=project.ontology, content=content, format=fmt)
    assert exc.value.status == 400
    if label is not None:
        assert exc.value.extra.get("label") == label
    assert sorted(stored(project)) == before
    return exc.value


# --- Earmark JSON ----------------------------------------------------------------------------


def test_it_imports_earmark_json_with_every_field(project):
    report = ontology_import(ontology=project.ontology, content=json.dumps(EARMARK))
    assert (report["format"], report["created"], report["updated"]) == ("earmark", 7, 0)
    labels = stored(project)
    stop = labels["speech/command/stop"]
    assert (stop.depth, stop.hotkey, stop.order) == (2, "s", 1)
    assert labels["speech/command/set thermostat"].description == "HVAC"
    assert labels["speech"].color == "#ff0000"
    assert labels["animal"].external_id == "/m/0jbk"
    assert labels["animal/bird/corvid"].deprecated is True
    assert labels["animal/bird"].parent == labels["animal"]


def test_earmark_json_round_trips(project, other_project):
    ontology_import(ontology=project.ontology, content=json.dumps(EARMARK))
    text, content_type, filename = ontology_export(ontology=project.ontology, format="earmark")
    assert content_type == "application/json" and filename.endswith("-earmark.json")
    ontology_import(ontology=other_project.ontology, content=text)
    fields = (
        "path",
        "depth",
        "order",
        "color",
        "hotkey",
        "external_id",
        "description",
        "deprecated",
    )
    assert sorted(Label.objects.filter(ontology=project.ontology).values_list(*fields)) == sorted(
        Label.objects.filter(ontology=other_project.ontology).values_list(*fields)
    )


def test_a_single_nested_node_is_earmark_json(project):
    ontology_import(
        ontology=project.ontology, content='{"name": "animal", "children": [{"name": "dog"}]}'
    )
    assert sorted(stored(project)) == ["animal", "animal/dog"]


# --- AudioSet ---------------------------------------------------------------------------------


def test_it_imports_audioset_and_resolves_several_parents_to_the_first(project):
    report = ontology_import(ontology=project.ontology, content=json.dumps(AUDIOSET))
    assert report["format"] == "audioset" and report["created"] == 5
    labels = stored(project)
    song = labels["Animal/Bird/Bird vocalization, bird call, bird song"]
    assert song.external_id == "/m/020bb7"
    assert "Animal/Pets/Bird vocalization, bird call, bird song" not in labels
    assert report["warnings"] == [
        "label 'Bird vocalization, bird call, bird song' (/m/020bb7) has 2 parents in the file; "
        "kept under 'Bird' (the first parent in the file), dropped 'Pets'"
    ]
    assert labels["Silence"].deprecated is True  # AudioSet's blacklist
    assert labels["Animal"].description == "All animals."


def test_audioset_export_round_trips(project, other_project):
    ontology_import(ontology=project.ontology, content=json.dumps(EARMARK))
    text, _, _ = ontology_export(ontology=project.ontology, format="audioset")
    items = json.loads(text)
    assert {i["name"] for i in items} >= {"speech", "set thermostat"}
    animal = next(i for i in items if i["name"] == "animal")
    assert animal["id"] == "/m/0jbk"
    speech = next(i for i in items if i["name"] == "speech")
    assert speech["id"].startswith("earmark:")
    assert next(i for i in items if i["name"] == "corvid")["restrictions"] == ["blacklist"]
    ontology_import(ontology=other_project.ontology, content=text)
    assert sorted(stored(other_project)) == sorted(stored(project))
    assert stored(other_project)["speech"].external_id == ""  # generated ids are not kept


# --- paths and CSV ---------------------------------------------------------------------------


def test_it_imports_a_plain_list_of_paths_with_implied_ancestors(project):
    text = "# birds\nanimal/bird/corvid\n\nanimal/bird/finch\n  noise  \nanimal/bird/corvid\n"
    report = ontology_import(ontology=project.ontology, content=text)
    assert report["format"] == "paths"
    assert sorted(stored(project)) == [
        "animal",
        "animal/bird",
        "animal/bird/corvid",
        "animal/bird/finch",
        "noise",
    ]
    assert report["warnings"] == ["line 6 repeats 'animal/bird/corvid' (line 2); kept the first"]


def test_an_escaped_slash_in_a_paths_file_is_refused_not_split(project):
    """ "valves/3\\/2 way" made a label "3\\" with a child "2 way", without a word."""
    from labelapp.errors import DomainError

    with pytest.raises(DomainError, match=r"line 2: .* a label name cannot hold '/'") as err:
        ontology_import(ontology=project.ontology, content="valves\nvalves/3\\/2 way\n")
    assert err.value.code == "invalid_name"
    assert 'line 2: "valves/3\\/2 way": a label' in err.value.message  # as written, once
    assert 'write it another way, as "valves/3-2 way"' in err.value.message
    assert stored(project) == {}


def test_it_imports_csv_with_attributes(project):
    text = (
        "path,hotkey,color,description,deprecated\n"
        '"animal/bird, songbird",b,#00FF00,"small, singing",\n'
        "animal/dog,d,,,yes\n"
    )
    ontology_import(ontology=project.ontology, content=text)
    labels = stored(project)
    songbird = labels["animal/bird, songbird"]
    assert (songbird.hotkey, songbird.color, songbird.description) == (
        "b",
        "#00ff00",
        "small, singing",
    )
    assert labels["animal/dog"].deprecated is True


def test_paths_export_lists_every_label_once(project):
    ontology_import(ontology=project.ontology, content=json.dumps(EARMARK))
    text, content_type, _ = ontology_export(ontology=project.ontology, format="paths")
    lines = text.splitlines()
    assert content_type.startswith("text/plain")
    assert sorted(lines) == sorted(stored(project)) and len(lines) == len(set(lines)) == 7
    assert lines[:4] == [
        "speech",
        "speech/command",
        "speech/command/set thermostat",
        "speech/command/stop",
    ]


# --- merging into an existing tree ------------------------------------------------------------


def test_import_into_an_existing_tree_keeps_rows_and_updates_attributes(project, labels):
    existing = labels("Speech/command")
    report = ontology_import(ontology=project.ontology, content=json.dumps(EARMARK))
    assert (report["created"], report["updated"], report["unchanged"]) == (5, 1, 1)
    after = stored(project)
    assert after["Speech"].pk == existing["Speech"].pk and after["Speech"].color == "#ff0000"
    assert "Speech/command/stop" in after  # created under the existing spelling


def test_a_dry_run_reports_and_changes_nothing(project):
    version = project.ontology.version
    report = ontology_import(ontology=project.ontology, content=json.dumps(EARMARK), dry_run=True)
    assert report["dry_run"] is True and report["created"] == 7
    assert stored(project) == {}
    assert project.ontology.version == version
    assert not OntologyChange.objects.filter(ontology=project.ontology).exists()


def test_an_import_is_one_logged_change(project, lead):
    ontology_import(ontology=project.ontology, content=json.dumps(AUDIOSET), user=lead)
    change = OntologyChange.objects.get(ontology=project.ontology)
    assert (change.action, change.user, change.details["created"]) == ("import", lead, 5)


# --- bad input: each a 400 naming the label, nothing half-imported -----------------------------


def test_reject_a_cycle_in_audioset(project):
    items = [
        {"id": "a", "name": "A", "child_ids": ["b"]},
        {"id": "b", "name": "B", "child_ids": ["c"]},
        {"id": "c", "name": "C", "child_ids": ["a"]},
        {"id": "r", "name": "Root", "child_ids": []},
    ]
    error = reject(
        project, json.dumps(items), match=r"cycle in child_ids: 'A' \(a\) → 'B'", label="A"
    )
    assert error.code == "cycle"


def test_reject_a_label_that_is_its_own_ancestor(project):
    items = [{"id": "a", "name": "A", "child_ids": ["a"]}]
    reject(project, json.dumps(items), match="lists itself in child_ids", label="A")


def test_reject_dangling_child_ids(project):
    items = [{"id": "a", "name": "Animal", "child_ids": ["/m/nope"]}]
    error = reject(
        project,
        json.dumps(items),
        match=r"'Animal' \(a\) lists child id '/m/nope', which is not in the file",
        label="Animal",
    )
    assert error.code == "dangling_child"


def test_reject_duplicate_audioset_ids(project):
    items = [{"id": "a", "name": "A", "child_ids": []}, {"id": "a", "name": "B", "child_ids": []}]
    reject(project, json.dumps(items), match="duplicate AudioSet id 'a'", label="B")


@pytest.mark.parametrize(
    "content, where",
    [
        (
            {"labels": [{"name": "animal", "children": [{"name": "Dog"}, {"name": "dog"}]}]},
            "animal/dog",
        ),
        (
            [
                {"id": "a", "name": "Bird", "child_ids": []},
                {"id": "b", "name": "BIRD", "child_ids": []},
            ],
            "BIRD",
        ),
        ("animal/dog\nAnimal/cat\n", "Animal"),
        # ß is SS ignoring case (casefold), and a joiner changes nothing to the eye
        ("roads/Straße\nroads/STRASSE\n", "roads/STRASSE"),
        ({"labels": [{"name": "Maß"}, {"name": "MASS"}]}, "MASS"),
        ("pets/cat\npets/c\u200dat\n", "pets/c\u200dat"),
    ],
)
def test_reject_duplicate_sibling_names_ignoring_case(project, content, where):
    text = content if isinstance(content, str) else json.dumps(content)
    error = reject(project, text, match="differ", label=where)
    assert error.code == "duplicate_label"


@pytest.mark.parametrize(
    "content, match, where",
    [
        (
            {"labels": [{"name": "animal", "children": [{"name": "  "}]}]},
            "child 1 of 'animal' has an empty name",
            "animal",
        ),
        ({"labels": [{"children": []}]}, "label 1 at the top level has an empty name", ""),
        ([{"id": "x", "name": "", "child_ids": []}], "label 'x' has an empty name", ""),
        ("animal//dog\n", r"line 1: 'animal//dog' under 'animal' has an empty name", "animal"),
    ],
)
def test_reject_empty_names(project, content, match, where):
    text = content if isinstance(content, str) else json.dumps(content)
    error = reject(project, text, match=match, label=where)
    assert error.code == "empty_name"


def test_numbers_as_names_are_digits_and_other_values_are_named(project):
    doc = {"labels": [{"name": "digits", "children": [{"name": 0}, {"name": 7}]}]}
    ontology_import(ontology=project.ontology, content=json.dumps(doc))
    assert {"digits/0", "digits/7"} <= set(stored(project))
    error = reject(
        project,
        json.dumps({"labels": [{"name": "x", "children": [{"name": ["a"]}]}]}),
        match=r"child 1 of 'x': a name must be text, not \[\"a\"\]",
        label="x",
    )
    assert error.code == "invalid_name"
    reject(project, json.dumps([{"name": True}]), match="a name must be text, not true")


@pytest.mark.parametrize(
    "version, match, code",
    [
        (
            2,
            "format version 2, written by a newer Earmark; this one reads version 1",
            "wrong_format",
        ),
        ("1", '"format_version" must be a whole number such as 1, not "1"', "malformed_file"),
        (0, '"format_version" must be a whole number such as 1, not 0', "malformed_file"),
    ],
)
def test_a_format_version_this_earmark_cannot_read_is_named(project, version, match, code):
    doc = {"format": "earmark-ontology", "format_version": version, "labels": [{"name": "a"}]}
    assert reject(project, json.dumps(doc), match=match).code == code


def test_reject_a_slash_in_a_json_name(project):
    reject(project, json.dumps([{"name": "a/b"}]), match="must not contain '/'", label="a/b")


def test_reject_colliding_hotkeys_in_the_file(project):
    doc = {"labels": [{"name": "a", "hotkey": "x"}, {"name": "b", "hotkey": "X"}]}
    error = reject(
        project, json.dumps(doc), match="hotkey 'x' is used by both 'a' and 'b'", label="b"
    )
    assert error.code == "hotkey_collision"


def test_reject_a_hotkey_taken_by_an_existing_label(project, labels):
    tree = labels("old")
    label_attributes_set(label=tree["old"], hotkey="q")
    reject(
        project,
        json.dumps([{"name": "new", "hotkey": "Q"}]),
        match="hotkey 'q' of label 'new' is already used by 'old'",
        label="new",
    )


def test_reject_a_bad_color(project):
    reject(project, json.dumps([{"name": "a", "color": "blue"}]), match="#rrggbb", label="a")


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"labels": [{"name": "a"}', "looks like JSON but is malformed"),
        ('{"foo": 1}', "unrecognized JSON"),
        ("", "the file is empty"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "binary file"),
        (b"\xff\xfe\xfa bad", "not UTF-8"),
        ("path,colour\na,#000000\n", "unknown CSV column 'colour'"),
        ('{"labels": {"name": "a"}}', '"labels" must be a list'),
        ('[{"name": "a", "children": {"name": "b"}}]', "'a': \"children\" must be a list"),
        ('[{"id": "a", "name": "A", "child_ids": "b"}]', "must be a list of ids"),
    ],
)
def test_reject_a_malformed_or_unknown_file(project, content, match):
    reject(project, content, match=match)


def test_reject_a_file_of_another_format_than_asked(project):
    reject(
        project,
        "animal/dog\n",
        match="expected the audioset format, but this file looks like paths",
        fmt="audioset",
    )


def test_one_bad_label_deep_in_a_big_file_imports_nothing(project):
    items = [
        {"name": f"group {i}", "children": [{"name": f"leaf {j}"} for j in range(20)]}
        for i in range(30)
    ]
    items[-1]["children"][-1]["name"] = ""
    reject(project, json.dumps(items), match="child 20 of 'group 29'")


def test_parse_reports_format_and_specs_without_touching_the_database():
    parsed = ontology_parse("a/b\nc\n")
    assert parsed.format == "paths"
    assert [s.path for s in parsed.labels] == ["a", "a/b", "c"]


@pytest.mark.parametrize("body", [42, "hello", True, 3.5])
def test_a_json_body_or_json_file_holding_one_value_is_refused(client_for, lead, project, body):
    """A JSON body of `42` was a 500 (the view iterated it), and a .json file holding `42`
    imported a label named 42."""
    client = client_for(lead)
    url = f"/api/projects/{project.pk}/ontology/import/"
    res = client.post(url, body, format="json")
    assert res.status_code == 400 and res.json()["code"] == "wrong_format"
    assert "not a single value" in res.json()["detail"]
    upload = io.BytesIO(json.dumps(body).encode())
    upload.name = "labels.json"
    res = client.post(url, {"file": upload}, format="multipart")
    assert res.status_code == 400 and "not a single value" in res.json()["detail"]
    assert not stored(project)
    text = io.BytesIO(b"42\n")
    text.name = "labels.txt"  # as a list of paths, one label named 42 is fine
    assert client.post(url, {"file": text}, format="multipart").status_code == 200
    paths = io.BytesIO(b"birds/crow\n")
    paths.name = "labels.json"
    res = client.post(url, {"file": paths}, format="multipart")
    assert res.status_code == 400 and "imported from a .txt or .csv file" in res.json()["detail"]


# --- a file written before a rename, move or merge ---------------------------------------------


def test_an_older_file_follows_renames_moves_and_merges_instead_of_making_duplicates(project):
    from ontology.merge import label_merge
    from ontology.services import label_move, label_rename, label_resolve

    older = "\n".join(
        [
            "animal/bird/robin",
            "animal/bird/blackbird",
            "animal/bird/wren",
            "animal/insect/cricket",
        ]
    )
    ontology_import(ontology=project.ontology, content=older, format="paths")
    labels = stored(project)
    ids_before = {path: label.pk for path, label in labels.items()}
    label_rename(label=labels["animal/bird/wren"], name="winter wren")
    label_move(label=labels["animal/insect"], parent=None)
    label_merge(source=labels["animal/bird/blackbird"], target=labels["animal/bird/robin"])
    label_attributes_set(label=stored(project)["animal/bird/winter wren"], description="today")

    # The older file again, with one new label under a moved one and one under a renamed one.
    newer_of_older = older + "\nanimal/insect/ant\nanimal/bird/wren/juvenile"
    report = ontology_import(
        ontology=project.ontology, content=newer_of_older, format="paths", dry_run=True
    )
    assert sorted(report["created_paths"]) == ["animal/bird/winter wren/juvenile", "insect/ant"]
    assert {(f["file"], f["now"]) for f in report["followed"]} >= {
        ("animal/bird/wren", "animal/bird/winter wren"),
        ("animal/insect", "insect"),
        ("animal/insect/cricket", "insect/cricket"),
        ("animal/bird/blackbird", "animal/bird/robin"),
    }
    assert "matched by their former paths" in report["warnings"][0]

    report = ontology_import(ontology=project.ontology, content=newer_of_older, format="paths")
    after = stored(project)
    assert sorted(after) == [
        "animal",
        "animal/bird",
        "animal/bird/robin",
        "animal/bird/winter wren",
        "animal/bird/winter wren/juvenile",
        "insect",
        "insect/ant",
        "insect/cricket",
    ]
    assert report["created"] == 2
    assert after["animal/bird/winter wren"].pk == ids_before["animal/bird/wren"]
    assert after["animal/bird/winter wren"].description == "today"  # the older file's is not
    # An old path still names the label it became (drafts, API clients, manifests).
    assert (
        label_resolve(ontology=project.ontology, ref="animal/bird/wren").pk
        == (ids_before["animal/bird/wren"])
    )
    assert (
        label_resolve(ontology=project.ontology, ref="animal/insect/cricket").pk
        == (ids_before["animal/insect/cricket"])
    )


def test_a_file_naming_a_label_at_its_old_and_new_path_makes_it_once(project):
    from ontology.services import label_move

    ontology_import(ontology=project.ontology, content="a/b\nc", format="paths")
    label_move(label=stored(project)["a/b"], parent=stored(project)["c"])
    report = ontology_import(ontology=project.ontology, content="a/b/new\nc/b/new", format="paths")
    assert report["created"] == 1
    assert sorted(stored(project)) == ["a", "c", "c/b", "c/b/new"]


def test_a_label_renamed_under_a_parent_moved_since_is_followed_not_made_again(project):
    """The parent moved, then the child renamed (and the other order): the child was made
    again under the parent's new place, an empty label that took over the child's old path."""
    from ontology.services import label_create, label_move, label_rename

    ontology_import(ontology=project.ontology, content="noise/hum\nnoise/wind", format="paths")
    tree = stored(project)
    env = label_create(ontology=project.ontology, name="env")
    label_move(label=tree["noise"], parent=env)
    label_rename(label=stored(project)["env/noise/hum"], name="mains hum")
    report = ontology_import(
        ontology=project.ontology, content="noise/hum\nnoise/wind\nnoise/hiss", format="paths"
    )
    assert report["created_paths"] == ["env/noise/hiss"]
    assert ("noise/hum", "env/noise/mains hum") in {
        (f["file"], f["now"]) for f in report["followed"]
    }
    assert sorted(stored(project)) == [
        "env",
        "env/noise",
        "env/noise/hiss",
        "env/noise/mains hum",
        "env/noise/wind",
    ]


def test_a_new_label_named_at_a_former_and_a_current_path_keeps_both_entries_attributes(project):
    from ontology.services import label_rename

    ontology_import(ontology=project.ontology, content="birds/robin", format="paths")
    label_rename(label=stored(project)["birds/robin"], name="european robin")
    content = "path,description,hotkey\nbirds/robin/j4,,\nbirds/european robin/j4,From file,j\n"
    report = ontology_import(ontology=project.ontology, content=content, format="paths")
    assert report["created"] == 1
    made = stored(project)["birds/european robin/j4"]
    assert (made.description, made.hotkey) == ("From file", "j")


def test_an_import_of_a_name_in_another_case_finds_the_label_there(project):
    """With "Straße" in the tree, an import of "STRASSE" made a second one beside it."""
    from ontology.models import Label

    ontology_import(ontology=project.ontology, content="Straße\n", format="paths")
    report = ontology_import(ontology=project.ontology, content="STRASSE\n", format="paths")
    assert report["created"] == 0
    assert list(Label.objects.filter(ontology=project.ontology).values_list("name", flat=True)) == [
        "Straße"
    ]


def test_a_label_studio_task_list_is_named_as_such():
    """It was read as a label tree: "label 1 at the top level has an empty name"."""
    import json

    tasks = [{"data": {"audio": "/data/upload/1/a.wav"}, "annotations": []}]
    with pytest.raises(DomainError, match="this is a list of Label Studio tasks"):
        ontology_parse(json.dumps(tasks))


@pytest.mark.parametrize(
    "labels, said",
    [
        ([{"path": "a", "name": "b"}], "is named 'b', not 'a'"),
        ([{"path": "x/y", "name": "y"}], "has no parent 'x' in the file"),
        ([{"path": "a/c", "name": "c"}, {"path": "a", "name": "a"}], "comes before its parent"),
    ],
)
def test_a_hand_edited_project_export_is_refused_saying_how(labels, said):
    """The tree came from the names when they disagreed with the paths, without a word."""
    import json

    with pytest.raises(DomainError, match=said):
        ontology_parse(json.dumps({"ontology": {"labels": labels}, "clips": []}))


def test_an_import_names_the_labels_the_file_does_not_hold(project):
    """A weekly file with "piston" renamed "piston pump": the import created a second subtree
    beside the used one, and nothing named the label the file no longer held."""
    ontology_import(ontology=project.ontology, content="pumps/piston\npumps/gear\n")
    report = ontology_import(ontology=project.ontology, content="pumps/piston pump\npumps/gear\n")
    assert report["created"] == 1 and report["not_in_file"] == 1
    assert report["not_in_file_paths"] == ["pumps/piston"]
    assert report["warnings"][0].startswith(
        "1 label(s) of the tree are not in the file (e.g. pumps/piston): an import adds and "
        "updates labels, it never renames or removes them"
    )
    # a renamed branch that is most of the tree: still the whole tree's file (it said nothing)
    ontology_import(ontology=project.ontology, content="noise\n")
    big = ontology_import(
        ontology=project.ontology,
        content="machines/piston pump\nmachines/gear\nmachines/piston\nnoise\n",
    )
    assert big["created"] == 4 and any("not in the file" in w for w in big["warnings"])
    # a file adding a label or two to a part of the tree says nothing of the kind
    quiet = ontology_import(ontology=project.ontology, content="pumps/gear/worn\n")
    assert quiet["not_in_file"] == 7, quiet
    assert not any("not in the file" in w for w in quiet["warnings"]), quiet["warnings"]


def test_an_import_says_which_labels_it_added_under_deprecated_ones(project):
    """Labels a file added under a deprecated label could never be chosen, and nothing said."""
    from ontology.services import label_deprecate

    ontology_import(ontology=project.ontology, content="animals/amphibians\nanimals/birds\n")
    label_deprecate(label=stored(project)["animals/amphibians"])
    report = ontology_import(
        ontology=project.ontology, content="animals/amphibians/toad/call\nanimals/birds/wren\n"
    )
    assert report["warnings"][0] == (
        "2 label(s) added under deprecated labels cannot be chosen until those are restored "
        "(e.g. animals/amphibians/toad, animals/amphibians/toad/call)"
    )
