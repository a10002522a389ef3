"""`import_ontology` and `export_ontology`."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ontology.models import Label

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_detects_the_format_and_reports(project, tmp_path):
    path = tmp_path / "audioset.json"
    path.write_text(
        json.dumps(
            [
                {"id": "/m/a", "name": "Animal", "child_ids": ["/m/b"]},
                {"id": "/m/p", "name": "Pets", "child_ids": ["/m/b"]},
                {"id": "/m/b", "name": "Bird", "child_ids": []},
            ]
        )
    )
    out, err = run("import_ontology", project.name, str(path))
    assert "imported 3 labels (audioset) into Birds: 3 created" in out
    assert "warning: label 'Bird' (/m/b) has 2 parents" in err
    assert sorted(Label.objects.values_list("path", flat=True)) == ["Animal", "Animal/Bird", "Pets"]


def test_import_names_the_project_by_id_too(project, tmp_path):
    path = tmp_path / "paths.txt"
    path.write_text("a/b\n")
    run("import_ontology", str(project.pk), str(path), "--dry-run")
    assert not Label.objects.exists()
    run("import_ontology", str(project.pk), str(path))
    assert Label.objects.count() == 2


@pytest.mark.parametrize(
    "content, match",
    [
        ('[{"id": "a", "name": "A", "child_ids": ["zzz"]}]', "rejected: label 'A' \\(a\\) lists"),
        ("ok\nbad//path\n", "rejected: line 2"),
        ("{not json", "malformed"),
    ],
)
def test_a_rejected_file_exits_1_with_the_reason(project, tmp_path, content, match):
    path = tmp_path / ("bad.json" if content[:1] in "[{" else "bad.txt")
    path.write_text(content)
    with pytest.raises(CommandError, match=match) as exc:
        run("import_ontology", project.name, str(path))
    assert exc.value.returncode == 1
    assert not Label.objects.exists()


def test_import_of_a_missing_file_or_project_fails_clearly(project, tmp_path):
    with pytest.raises(CommandError, match="file not found"):
        run("import_ontology", project.name, str(tmp_path / "nope.json"))
    path = tmp_path / "ok.txt"
    path.write_text("a\n")
    with pytest.raises(CommandError, match="no project with id or name 'Nope'"):
        run("import_ontology", "Nope", str(path))


def test_the_command_exits_1_in_a_real_process(project, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the child process shares the test database only with SQLite")
    path = tmp_path / "bad.txt"
    path.write_text("a//b\n")
    env = {
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "PATH": "/usr/bin:/bin",
        "EARMARK_VAR_DIR": str(tmp_path),
    }
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "manage.py", "import_ontology", "NoSuchProject", str(path)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "no project with id or name 'NoSuchProject'" in done.stderr


def test_export_writes_each_format(project, labels, tmp_path):
    labels("animal/bird/corvid", "noise")
    out, _ = run("export_ontology", project.name, "--format", "paths")
    assert out.splitlines() == ["animal", "animal/bird", "animal/bird/corvid", "noise"]
    target = tmp_path / "tree.json"
    _, err = run("export_ontology", str(project.pk), "--format", "audioset", "--out", str(target))
    assert "wrote the audioset export of Birds" in err
    assert {item["name"] for item in json.loads(target.read_text())} == {
        "animal",
        "bird",
        "corvid",
        "noise",
    }
    out, _ = run("export_ontology", project.name)
    assert json.loads(out)["labels"][0]["children"][0]["name"] == "bird"


def test_export_then_import_into_another_project_round_trips(
    project, other_project, labels, tmp_path
):
    labels("speech/command/stop", "speech/command/go", "animal")
    for fmt in ("earmark", "audioset", "paths"):
        target = tmp_path / f"tree-{fmt}"
        run("export_ontology", project.name, "--format", fmt, "--out", str(target))
        run("import_ontology", other_project.name, str(target))
    assert sorted(
        Label.objects.filter(ontology=other_project.ontology).values_list("path", flat=True)
    ) == sorted(Label.objects.filter(ontology=project.ontology).values_list("path", flat=True))


def test_import_names_what_it_creates_and_follows(project, tmp_path):
    from ontology.services import label_rename

    path = tmp_path / "paths.txt"
    path.write_text("birds/robin\nbirds/crow\n")
    run("import_ontology", project.name, str(path))
    label_rename(label=Label.objects.get(path="birds/robin"), name="european robin")
    path.write_text("birds/robin\nbirds/crow\nbirds/wren\nbirds/owl\n")
    out, _ = run("import_ontology", project.name, str(path), "--dry-run", "--list", "1")
    assert "created (2):\n  birds/wren\n  ... and 1 more" in out
    assert "known by a former path (1):\n  birds/robin -> birds/european robin" in out
