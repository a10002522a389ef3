"""A path a label had before a rename, move or merge still names it: a draft, a workspace opened
before the change, or a file written before it keeps working instead of failing "unknown label"."""

from __future__ import annotations

import pytest

from labelapp.errors import DomainError
from labelapp.services.annotations import annotation_submit
from ontology.merge import label_merge
from ontology.models import Label
from ontology.services import label_create, label_move, label_rename, label_resolve
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


def resolve(project, ref):
    return label_resolve(ontology=project.ontology, ref=ref)


def test_a_renamed_label_is_found_by_its_old_path_and_a_submission_with_it_saves(
    project, labels, annotator
):
    one = labels("digit/one")["digit/one"]
    label_rename(label=one, name="uno")
    assert resolve(project, "digit/one") == one
    assert resolve(project, "DIGIT/ONE") == one  # paths match case-blind, as elsewhere

    (clip,) = ready_clips(project, 1)
    annotation = annotation_submit(clip=clip, user=annotator, clip_labels=["digit/one"])
    assert [cl.label.path for cl in annotation.clip_labels.all()] == ["digit/uno"]


def test_a_label_under_a_renamed_or_moved_parent_and_a_chain_of_changes(project, labels):
    tree = labels("digit/seven", "animal/dog", "other")
    seven, digit, other = tree["digit/seven"], tree["digit"], tree["other"]
    label_rename(label=digit, name="digits")  # digit/seven -> digits/seven
    assert resolve(project, "digit/seven") == seven
    label_move(label=seven, parent=None)  # digits/seven -> seven
    label_rename(label=seven, name="sieben")  # seven -> sieben
    assert resolve(project, "digit/seven") == seven
    assert resolve(project, "digits/seven") == seven
    assert resolve(project, "seven") == seven  # a root label's old name, bare
    label_move(label=tree["animal/dog"], parent=other)
    assert resolve(project, "animal/dog") == tree["animal/dog"]


def test_a_merged_label_and_its_children_are_found_under_the_target(project, labels):
    tree = labels("noise/hum", "background")
    label_merge(source=tree["noise"], target=tree["background"])
    assert resolve(project, "noise") == tree["background"]
    assert resolve(project, "noise/hum") == tree["noise/hum"]  # moved under the target
    assert Label.objects.get(pk=tree["noise/hum"].pk).path == "background/hum"


def test_a_path_in_use_again_is_the_new_label_and_an_unknown_one_stays_unknown(project, labels):
    old = labels("a")["a"]
    label_rename(label=old, name="b")
    new = label_create(ontology=project.ontology, name="a")  # "a" names a new label now
    assert resolve(project, "a") == new
    assert resolve(project, "b") == old
    with pytest.raises(DomainError, match="unknown label 'never/was'"):
        resolve(project, "never/was")


def test_a_later_label_with_a_former_path_is_followed_from_its_own_change(project, labels):
    """'a' renamed to 'b'; a new 'a' renamed to 'c': the path 'a' is the newer one's, 'c'."""
    first = labels("a")["a"]
    label_rename(label=first, name="b")
    second = label_create(ontology=project.ontology, name="a")
    label_rename(label=second, name="c")
    assert resolve(project, "a") == second


def test_a_child_renamed_before_its_parent_is_found_through_both(project, labels):
    """digit/one -> digit/uno, then digit -> number: 'digit/one' is number/uno, even when a
    new number/one has been made since."""
    tree = labels("digit/one", "digit/two")
    one, digit = tree["digit/one"], tree["digit"]
    label_rename(label=one, name="uno")
    label_rename(label=digit, name="number")
    assert resolve(project, "digit/one") == one
    assert resolve(project, "digit/two") == tree["digit/two"]
    decoy = label_create(ontology=project.ontology, name="one", parent=digit)
    assert decoy.path == "number/one"
    assert resolve(project, "digit/one") == one


def test_the_resolve_api_gives_each_path_today_and_null_for_none(
    project, labels, client_for, annotator
):
    tree = labels("digit/one", "digit/two", "noise")
    label_rename(label=tree["digit/one"], name="uno")
    label_merge(source=tree["noise"], target=tree["digit/two"])
    response = client_for(annotator).get(
        f"/api/projects/{project.pk}/ontology/resolve/",
        {"path": ["digit/one", "noise", "digit/two", "DIGIT/UNO", "never/was", "Digit/One"]},
    )
    assert response.status_code == 200
    assert response.json()["labels"] == {
        "digit/one": "digit/uno",
        "noise": "digit/two",
        "digit/two": "digit/two",
        "DIGIT/UNO": "digit/uno",
        "never/was": None,
        "Digit/One": "digit/uno",  # each spelling given is answered
    }


def test_the_resolve_api_reads_accents_written_either_way(project, labels, client_for, annotator):
    """A path typed with decomposed accents (NFD, a Mac's), now or former, was null."""
    import unicodedata

    tree = labels("vögel/crème", "vögel/café")
    label_rename(label=tree["vögel/café"], name="kaffee")
    nfd = {p: unicodedata.normalize("NFD", p) for p in ("vögel/crème", "vögel/café")}
    response = client_for(annotator).get(
        f"/api/projects/{project.pk}/ontology/resolve/", {"path": list(nfd.values())}
    )
    assert response.json()["labels"] == {
        nfd["vögel/crème"]: "vögel/crème",
        nfd["vögel/café"]: "vögel/kaffee",
    }


def test_the_resolve_api_refuses_no_paths_too_many_and_outsiders(
    project, client_for, annotator, outsider
):
    url = f"/api/projects/{project.pk}/ontology/resolve/"
    empty = client_for(annotator).get(url)
    assert empty.status_code == 400 and "path" in empty.json()
    many = client_for(annotator).get(url, {"path": [f"a/{i}" for i in range(201)]})
    assert many.status_code == 400 and many.json()["code"] == "too_many_paths"
    assert client_for(outsider).get(url, {"path": ["a"]}).status_code == 404


def test_a_submission_whose_label_is_merged_away_as_it_commits_is_saved_again(
    project, labels, annotator, monkeypatch
):
    """PostgreSQL checks foreign keys at commit: a save of label a fails there when a lead's
    merge of a into b committed first. The submission is tried once more from its paths,
    which now name b, instead of answering a 500."""
    from django.db import IntegrityError

    from labelapp.services import annotations

    tree = labels("x/a", "x/b")
    (clip,) = ready_clips(project, 1)
    real_build, builds = annotations.annotation_input_build, []

    def build(*args, **kwargs):
        builds.append(1)
        if len(builds) == 2:  # the lead's merge had committed when the save failed
            label_merge(source=tree["x/a"], target=tree["x/b"])
        return real_build(*args, **kwargs)

    def save_failing_at_commit(**kwargs):
        raise IntegrityError("insert on cliplabel violates foreign key constraint")

    real_save = annotations.annotation_save
    monkeypatch.setattr(annotations, "annotation_input_build", build)
    monkeypatch.setattr(
        annotations,
        "annotation_save",
        lambda **kw: save_failing_at_commit(**kw) if len(builds) == 1 else real_save(**kw),
    )
    saved = annotation_submit(clip=clip, user=annotator, clip_labels=["x/a"], idempotency_key="k1")
    assert len(builds) == 2
    assert [cl.label.path for cl in saved.clip_labels.all()] == ["x/b"]


def test_resolve_compares_paths_as_siblings_are(project, client_for, lead):
    """resolve?path=animals/STRASSE answered null beside "animals/Straße", which an import maps
    to it."""
    from ontology.services import label_get_or_create_path

    label_get_or_create_path(ontology=project.ontology, path="animals/Straße")
    url = f"/api/projects/{project.pk}/ontology/resolve/"
    for asked in ("animals/STRASSE", "Animals / straße", "animals/Stra\u200dße"):
        answer = client_for(lead).get(url, {"path": asked}).json()
        assert answer["labels"][asked] == "animals/Straße", answer
