"""What the rest of Earmark tells the ML layer. Called on commit, never inside a transaction."""

from __future__ import annotations


def annotation_submitted(*, project_id: int) -> None:
    """A human submitted an annotation: count it towards the project's retraining threshold."""
    from ml_backend.services import training_maybe_trigger

    training_maybe_trigger(project_id=project_id)
