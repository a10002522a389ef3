"""What the rest of Earmark tells the ML layer. Called on commit, never inside a transaction."""

from __future__ import annotations


def annotation_submitted(*, project_id: int) -> None:
    """A human submitted an annotation: count it towards the project's retraining threshold."""
    from ml_backend.training import training_maybe_start

    training_maybe_start(project_id=project_id)


def labeled_clips_ready(*, project_id: int, count: int) -> None:
    """Clips imported with labels (a labeled seed set, a manifest) finished processing: they
    count towards the threshold like submissions, counted once ready, as a training reads
    only ready clips."""
    from ml_backend.training import training_labels_added

    training_labels_added(project_id=project_id, count=count)
