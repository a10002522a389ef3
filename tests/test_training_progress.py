"""A training's progress and cancel checks reach its row on their own clocks."""

from __future__ import annotations

import pytest

from ml_backend import training
from ml_backend.models import TrainingRun


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(training.time, "monotonic", lambda: now[0])
    return now


def test_progress_is_written_every_two_seconds_however_often_cancellation_is_polled(project, clock):
    run = TrainingRun.objects.create(project=project, status="running")
    reporter = training._Reporter(run.pk)
    reporter.progress(0.1, "epoch 1")
    seen = []
    # A training polls should_stop() every step (every 0.1 s here) and reports progress once
    # an epoch (every 0.5 s): each 2 s, one progress write must land whatever the polls do.
    for step in range(1, 81):
        clock[0] += 0.1
        assert reporter.should_stop() is False
        if step % 5 == 0:
            reporter.progress(0.1 + step / 100, f"step {step}")
            run.refresh_from_db()
            seen.append(round(run.progress, 2))
    assert seen[0] == 0.1  # 0.5 s after the first write: throttled
    assert seen[-1] >= 0.8  # 8 s: still moving at the end, not stuck at the first value
    assert len(set(seen)) >= 4  # a write about every 2 s


def test_cancellation_is_noticed_within_two_seconds_of_steps_however_often_progress_is_written(
    project, clock
):
    run = TrainingRun.objects.create(project=project, status="running")
    reporter = training._Reporter(run.pk)
    assert reporter.should_stop() is False
    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    stopped_at = None
    for step in range(1, 60):
        clock[0] += 0.1
        reporter.progress(step / 100)  # every step: must not postpone the cancel check
        if reporter.should_stop():
            stopped_at = step
            break
    assert stopped_at is not None and stopped_at <= 21
    run.refresh_from_db()
    assert run.heartbeat_at is not None
