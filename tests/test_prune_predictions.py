"""Old versions' predictions pruned: each clip keeps those of its N newest versions (the
active one's first), by the `prune_predictions` command, or after each scoring run when
EARMARK_KEEP_PREDICTION_VERSIONS is set."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from ml_backend import prelabel
from ml_backend.models import ModelVersion, Prediction, PrelabelRun
from ml_backend.services import predictions_prune
from tests.conftest import ready_clips

pytestmark = pytest.mark.django_db


def _versions(project, active: int, n: int = 3) -> dict[int, ModelVersion]:
    return {
        v: ModelVersion.objects.create(
            project=project,
            version=v,
            name=f"v{v}",
            status="active" if v == active else "retired",
            classes=[1],
        )
        for v in range(1, n + 1)
    }


def _predict(clip, *versions):
    for v in versions:
        Prediction.objects.create(clip=clip, model_version=v, clip_scores={"1": 0.5})


def _kept(clip) -> list[int]:
    return sorted(
        Prediction.objects.filter(clip=clip).values_list("model_version__version", flat=True)
    )


@pytest.fixture
def history(project, other_project):
    """Three versions (v3 active). Clip a was scored by all three; b, labeled after v1, only
    by v1; c by v2 and v3. Another project's clip has all three of its own."""
    v = _versions(project, active=3)
    a, b, c = ready_clips(project, 3)
    _predict(a, v[1], v[2], v[3])
    _predict(b, v[1])
    _predict(c, v[2], v[3])
    (elsewhere,) = ready_clips(other_project, 1)
    w = _versions(other_project, active=3)
    _predict(elsewhere, w[1], w[2], w[3])
    return project, (a, b, c), elsewhere


def test_each_clip_keeps_its_newest_versions_and_a_labeled_clip_its_last(history):
    project, (a, b, c), elsewhere = history
    counts = predictions_prune(project_id=project.pk, keep=2, chunk=2)
    assert counts == {"clips": 3, "deleted": 1, "kept": 5}
    assert (_kept(a), _kept(b), _kept(c)) == ([2, 3], [1], [2, 3])
    assert _kept(elsewhere) == [1, 2, 3]  # another project is not touched

    assert predictions_prune(project_id=project.pk, keep=1)["deleted"] == 2
    assert (_kept(a), _kept(b), _kept(c)) == ([3], [1], [3])
    # idempotent: nothing left to delete
    assert predictions_prune(project_id=project.pk, keep=1) == {
        "clips": 3,
        "deleted": 0,
        "kept": 3,
    }


def test_after_a_rollback_the_active_versions_predictions_are_the_ones_kept(project):
    v = _versions(project, active=1)  # a lead made v1 active again
    (clip,) = ready_clips(project, 1)
    _predict(clip, v[1], v[2], v[3])
    predictions_prune(project_id=project.pk, keep=1)
    assert _kept(clip) == [1]  # the queue and the workspace read v1's


def test_a_dry_run_counts_and_deletes_nothing(history):
    project, (a, _b, _c), _ = history
    assert predictions_prune(project_id=project.pk, keep=1, dry_run=True) == {
        "clips": 3,
        "deleted": 3,
        "kept": 3,
    }
    assert _kept(a) == [1, 2, 3]


def test_the_command_prunes_with_a_progress_line_and_refuses_keep_0(history):
    project, (a, _b, _c), _ = history
    out, err = io.StringIO(), io.StringIO()
    call_command("prune_predictions", str(project.pk), "--keep", "1", stdout=out, stderr=err)
    assert out.getvalue().strip() == (
        f"deleted 3 predictions of {project.name!r}; 3 kept over 3 clips "
        "(each clip's 1 newest version)"
    )
    assert "pruning 3/3 clips (100%)" in err.getvalue()
    assert _kept(a) == [3]

    with pytest.raises(CommandError, match="--keep must be 1 or more"):
        call_command("prune_predictions", str(project.pk), "--keep", "0")
    with pytest.raises(CommandError, match="no-such-project"):
        call_command("prune_predictions", "no-such-project", "--keep", "1")


@pytest.mark.parametrize("keep, left", [(0, [1, 2, 3]), (2, [2, 3])])
def test_a_finished_scoring_run_prunes_when_the_setting_asks(
    project, settings, monkeypatch, keep, left
):
    settings.EARMARK_KEEP_PREDICTION_VERSIONS = keep
    v = _versions(project, active=3)
    (clip,) = ready_clips(project, 1)
    _predict(clip, v[1], v[2])

    def scoring(run, run_id):  # the scoring itself, without a model: v3's prediction written
        _predict(clip, run.model_version)

    monkeypatch.setattr(prelabel, "_prelabel", scoring)
    run = PrelabelRun.objects.create(project=project, model_version=v[3])
    assert prelabel.prelabel_execute(run.pk) == "succeeded"
    assert _kept(clip) == left


def test_a_ranking_run_prunes_nothing(project, settings, monkeypatch):
    """A ranking re-orders from stored predictions: it wrote no new version's."""
    settings.EARMARK_KEEP_PREDICTION_VERSIONS = 1
    v = _versions(project, active=3)
    (clip,) = ready_clips(project, 1)
    _predict(clip, v[1], v[2], v[3])
    monkeypatch.setattr(prelabel, "_prelabel", lambda run, run_id: None)
    run = PrelabelRun.objects.create(project=project, model_version=v[3], kind="rank")
    assert prelabel.prelabel_execute(run.pk) == "succeeded"
    assert _kept(clip) == [1, 2, 3]
