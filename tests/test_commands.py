"""The command-line interface: import_audio, create_project, add_member, setup_demo."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from labelapp.errors import DomainError
from labelapp.models import Clip, Membership, Project
from labelapp.services.annotations import annotation_submit

pytestmark = pytest.mark.django_db


def run(*args, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err, **kwargs)
        code = 0
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_import_audio_exits_0_when_all_files_are_imported_or_duplicates(
    project, wav_factory, tmp_path
):
    a, b = wav_factory(), wav_factory()
    code, out, _ = run("import_audio", "Birds", str(a), str(b))
    assert code == 0 and "2 imported" in out
    code, out, _ = run("import_audio", str(project.pk), str(a))
    assert code == 0 and "1 duplicates" in out
    # which file, and the clip it duplicates ("1 duplicates" said neither)
    assert f"duplicate: {a.name}: same content as clip " in out and f"({a.name})" in out


def test_import_audio_exits_1_with_a_line_per_rejected_file(project, wav_factory, tmp_path):
    folder = tmp_path / "batch"
    folder.mkdir()
    wav_factory().rename(folder / "ok.wav")
    (folder / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt garbage")
    (folder / "empty.flac").write_bytes(b"")
    code, out, err = run("import_audio", "Birds", str(folder))
    assert code == 1
    rejected = [line for line in out.splitlines() if line.startswith("rejected:")]
    assert len(rejected) == 2
    assert any("empty.flac: file is empty" in line for line in rejected)
    assert "importing 3/3" in err  # the progress line
    assert Clip.objects.filter(project=project).count() == 1


def test_import_audio_names_an_unknown_project(wav_factory):
    with pytest.raises(CommandError, match="no project with id or name 'Nope'"):
        call_command("import_audio", "Nope", str(wav_factory()))


def test_import_audio_refuses_a_malformed_manifest(project, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\nx.wav\n")
    with pytest.raises(CommandError, match="'audio' column"):
        call_command("import_audio", "Birds", str(manifest))


def test_a_manifests_labels_make_a_new_tree_but_a_typo_in_an_existing_one_is_refused(
    project, wav_factory, tmp_path
):
    from ontology.models import Label

    one, two, three = (
        wav_factory(f"{n}.wav", freq=f) for n, f in (("a", 300), ("b", 500), ("c", 700))
    )
    manifest = tmp_path / "seed.csv"
    manifest.write_text(f"audio,labels\n{one},digit/one\n{two},digit/two\n")
    code, out, _ = run("import_audio", "Birds", str(manifest))
    assert code == 0 and "3 label(s) added to the project: digit, digit/one, digit/two" in out
    paths = set(Label.objects.filter(ontology=project.ontology).values_list("path", flat=True))
    assert paths == {"digit", "digit/one", "digit/two"}
    typo = tmp_path / "typo.csv"
    typo.write_text(f"audio,labels\n{three},digit/twelve\n")
    code, out, _ = run("import_audio", "Birds", str(typo))
    assert code == 1 and "unknown label 'digit/twelve'" in out and "added" not in out
    assert "--create-labels adds the labels a manifest names" in out  # the way out, said
    assert Label.objects.filter(ontology=project.ontology).count() == 3
    code, out, _ = run("import_audio", "Birds", str(typo), "--create-labels")
    assert code == 0 and "1 label(s) added to the project: digit/twelve" in out


def test_create_project_with_options():
    code, out, _ = run(
        "create_project",
        "Frogs",
        "--label-mode",
        "multi",
        "--annotation-mode",
        "segments",
        "--overlap",
        "3",
    )
    assert code == 0
    project = Project.objects.get(name="Frogs")
    assert (project.label_mode, project.annotation_mode, project.annotations_per_clip) == (
        "multi",
        "segments",
        3,
    )
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_project", "frogs", stdout=io.StringIO())


def test_add_member_reads_the_password_from_the_environment(project, monkeypatch):
    with pytest.raises(CommandError, match="EARMARK_PASSWORD"):
        call_command(
            "add_member",
            "Birds",
            "zoe",
            "--role",
            "reviewer",
            "--create-user",
            stdout=io.StringIO(),
        )
    # the password page's rules: "short", "password" and spaces were taken
    for weak, why in (("short", "too short"), ("password", "too common"), (" " * 12, "spaces")):
        monkeypatch.setenv("EARMARK_PASSWORD", weak)
        with pytest.raises(CommandError, match=f"EARMARK_PASSWORD: .*{why}"):
            call_command(
                "add_member", "Birds", "zoe", "--role", "reviewer", "--create-user",
                stdout=io.StringIO(),
            )  # fmt: skip
    assert not get_user_model().objects.filter(username="zoe").exists()
    monkeypatch.setenv("EARMARK_PASSWORD", "s3cret-pass-phrase")
    code, out, _ = run("add_member", str(project.pk), "zoe", "--role", "reviewer", "--create-user")
    assert code == 0
    zoe = get_user_model().objects.get(username="zoe")
    assert zoe.check_password("s3cret-pass-phrase")
    assert Membership.objects.get(user=zoe, project=project).role == "reviewer"
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("add_member", "Birds", "ghost", "--role", "lead", stdout=io.StringIO())
    # "ZOE" beside "zoe": no second account
    with pytest.raises(CommandError, match="an account 'zoe' exists"):
        call_command(
            "add_member", "Birds", "ZOE", "--role", "lead", "--create-user", stdout=io.StringIO()
        )


def test_setup_demo_is_idempotent(settings, tmp_path):
    settings.EARMARK_FSDD_DIR = tmp_path / "absent"  # synthesized clips: fast and offline
    settings.VAR_DIR = tmp_path
    settings.DEBUG = True  # the development default (`make run`)
    code, out, _ = run("setup_demo")
    assert code == 0 and "lead" in out and "earmark-annotator" in out
    project = Project.objects.get(name="Spoken digits (demo)")
    clips = project.clips.count()
    assert clips > 0
    settings.DEBUG = False  # production: the public passwords only when asked for by name
    with pytest.raises(CommandError, match="demo accounts' passwords are public"):
        call_command("setup_demo", stdout=io.StringIO())
    run("setup_demo", "--public-demo-passwords")
    assert Project.objects.filter(name="Spoken digits (demo)").count() == 1
    assert project.clips.count() == clips
    roles = dict(project.memberships.values_list("user__username", "role"))
    assert roles == {"lead": "lead", "reviewer": "reviewer", "annotator": "annotator"}
    # the parent "digit" names no digit: the demo takes leaves only
    clip = project.clips.first()
    annotator = get_user_model().objects.get(username="annotator")
    with pytest.raises(DomainError, match="'digit' is not a leaf"):
        annotation_submit(clip=clip, user=annotator, clip_labels=["digit"])
    annotation_submit(clip=clip, user=annotator, clip_labels=["digit/three"])


def test_ctrl_c_while_waiting_stops_the_waiting_and_says_the_job_goes_on():
    """A KeyboardInterrupt traceback, and the training went on unannounced."""
    import io

    from django.core.management.base import BaseCommand, CommandError, OutputWrapper

    from ml_backend.management.commands._wait import wait_for_row

    command = BaseCommand(stdout=io.StringIO(), stderr=io.StringIO())
    command.stderr = OutputWrapper(io.StringIO())
    polls = iter([1, 2])

    def fetch():
        n = next(polls, None)
        if n is None:
            raise KeyboardInterrupt
        return n

    with pytest.raises(CommandError) as stopped:
        wait_for_row(
            command, fetch, describe=lambda n: f"at {n}", done=lambda n: False, goes_on="; cancel"
        )
    assert str(stopped.value) == "stopped waiting; the job goes on on the worker (at 2); cancel"
    assert stopped.value.returncode == 130  # as an interrupted command exits


def test_train_while_a_training_runs_names_the_run(project, annotator):
    """It said only "already queued or running": not which run, nor where to follow it."""
    from django.core.management.base import CommandError

    from labelapp.services.annotations import annotation_submit
    from ml_backend.models import TrainingRun
    from ontology.services import label_get_or_create_path
    from tests.conftest import ready_clips

    for path in ("a", "b"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    for clip, label in zip(ready_clips(project, 2), ("a", "b"), strict=True):
        annotation_submit(clip=clip, user=annotator, clip_labels=[label])
    run = TrainingRun.objects.create(project=project, status="running")
    with pytest.raises(CommandError, match=f"run {run.pk}: follow or cancel it"):
        call_command("train", str(project.pk), stdout=io.StringIO())
