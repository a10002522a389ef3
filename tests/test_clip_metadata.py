"""Clip metadata from file names: a lead's pattern sets fields on every matching clip (a
manifest grouped by speaker said "the clips have no metadata" for browser uploads)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from labelapp.models import Clip
from labelapp.services.clip_metadata import metadata_from_name, name_pattern_compile

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        (
            "{digit}_{speaker}_{take}",
            "7_jackson_12.wav",
            {"digit": "7", "speaker": "jackson", "take": "12"},
        ),
        (
            "{digit}_{speaker}_{take}",
            "dir/7_george_jr_12.wav",
            {"digit": "7", "speaker": "george", "take": "jr_12"},
        ),
        ("site-{site}.{day}", "site-north.2024-05-01.flac", {"site": "north", "day": "2024-05-01"}),
        ("rec_{n}", "rec_3", {"n": "3"}),
        ("{digit}_{speaker}_{take}", "7-jackson-12.wav", None),
        ("rec_{n}", "prefix_rec_3.wav", None),
        ("{name}_{take}.wav", "x_1.wav", {"name": "x", "take": "1"}),  # its extension left out
        ("{speaker}_{n}", "lu\u0308ca\u0308s_1.wav", {"speaker": "l\u00fcc\u00e4s", "n": "1"}),
    ],
)
def test_a_name_gives_the_fields_of_the_pattern(pattern, name, expected):
    compiled, _ = name_pattern_compile(pattern)
    assert metadata_from_name(compiled, name) == expected


@pytest.mark.parametrize(
    ("pattern", "words"),
    [
        ("", "may not be blank"),
        ("no fields", "names no field"),
        ("{a}_{a}", "named twice"),
        ("{a}{b}", "nothing between them"),
        ("{1st}_x", "a field is a name in braces"),
        ("{}_{x}", "a field is a name in braces"),
        ("{" + "x" * 300 + "}", "no more than 200 characters"),
    ],
)
def test_a_pattern_that_cannot_be_read_says_why(client_for, lead, project, pattern, words):
    res = client_for(lead).post(
        f"/api/projects/{project.pk}/clips/metadata-from-names/",
        {"pattern": pattern},
        format="json",
    )
    assert res.status_code == 400 and words in res.json()["detail"], res.json()


def _clip(project, name, **metadata):
    return Clip.objects.create(
        project=project, original_name=name, sha256=name.ljust(64, "0")[:64], status="ready",
        metadata=metadata,
    )  # fmt: skip


def test_a_lead_previews_then_sets_metadata_from_the_names(client_for, lead, annotator, project):
    a = _clip(project, "7_jackson_12.wav", site="north")
    b = _clip(project, "3_theo_0.wav")
    c = _clip(project, "odd name.wav", speaker="kept")
    url = f"/api/projects/{project.pk}/clips/metadata-from-names/"
    body = {"pattern": "{digit}_{speaker}_{take}", "dry_run": True}
    preview = client_for(lead).post(url, body, format="json").json()
    assert (preview["matched"], preview["unmatched"], preview["changed"]) == (2, 1, 2)
    assert preview["unmatched_examples"] == ["odd name.wav"]
    assert preview["matched_examples"][0] == {
        "file": "7_jackson_12.wav", "fields": {"digit": "7", "speaker": "jackson", "take": "12"}
    }  # fmt: skip
    assert Clip.objects.get(pk=a.pk).metadata == {"site": "north"}  # a preview changes nothing
    done = client_for(lead).post(url, {**body, "dry_run": False}, format="json").json()
    assert done["changed"] == 2
    assert Clip.objects.get(pk=a.pk).metadata == {
        "site": "north", "digit": "7", "speaker": "jackson", "take": "12"
    }  # fmt: skip
    assert Clip.objects.get(pk=b.pk).metadata["speaker"] == "theo"
    assert Clip.objects.get(pk=c.pk).metadata == {"speaker": "kept"}
    again = client_for(lead).post(url, {**body, "dry_run": False}, format="json").json()
    assert again["changed"] == 0
    assert client_for(annotator).post(url, body, format="json").status_code == 403


def test_the_command_sets_them_and_a_manifest_groups_by_them(project, capsys):
    from labelapp.exports.manifest import group_field_check

    _clip(project, "7_jackson_12.wav")
    with pytest.raises(Exception, match="no metadata"):
        group_field_check(project, "speaker")
    call_command("clip_metadata", str(project.pk), "--from-names", "{digit}_{speaker}_{take}")
    out = capsys.readouterr().out
    assert "1 clip(s) matched (digit, speaker, take): set on 1; 0 did not match" in out
    group_field_check(project, "speaker")  # no longer refused


def test_a_name_that_almost_matches_is_read_in_linear_time():
    """Fields of "as few as the text after allows" backtracked: five fields against a name of
    an "a" and 200 underscores took 25 s a clip."""
    import time

    compiled, _ = name_pattern_compile("{f0}_{f1}_{f2}_{f3}_{f4}X")
    began = time.perf_counter()
    assert metadata_from_name(compiled, "a" + "_" * 200) is None
    assert metadata_from_name(compiled, "_".join("rec" for _ in range(40))) is None
    assert time.perf_counter() - began < 2  # it was 25 s and more
