"""Celery tasks of the ML layer: take ids, call a service; services are idempotent."""

from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def train(run_id: int) -> None:
    from ml_backend.training import training_execute

    training_execute(run_id)


@shared_task(ignore_result=True)
def prelabel(run_id: int) -> None:
    from ml_backend.prelabel import prelabel_execute

    prelabel_execute(run_id)


@shared_task(ignore_result=True)
def rank(run_id: int) -> None:
    """A run of kind `rank`: priorities from stored predictions, no model."""
    from ml_backend.prelabel import prelabel_execute

    prelabel_execute(run_id)


@shared_task(ignore_result=True, acks_late=True)
def predictions_relabel(ontology_id: int, mapping: dict) -> None:
    """After a label merge or delete: its id in stored predictions becomes the target's (or
    goes). Idempotent."""
    from ontology.merge import predictions_relabel as relabel

    relabel(ontology_id=ontology_id, mapping=mapping)


@shared_task(ignore_result=True, acks_late=True)
def predictions_rescore_labeled(project_id: int, label_id: int) -> None:
    """After a merge's undo: labeled clips' predictions that name its target, scored again."""
    from ml_backend.prelabel import predictions_rescore_labeled as rescore

    rescore(project_id=project_id, label_id=label_id)


@shared_task(ignore_result=True, acks_late=True)
def predictions_prune(project_id: int, keep: int) -> None:
    """Each clip keeps its predictions from its `keep` newest versions. Idempotent."""
    from ml_backend.services import predictions_prune as prune

    prune(project_id=project_id, keep=keep)


@shared_task(ignore_result=True)
def trainings_sweep() -> None:
    from ml_backend.training import trainings_sweep_stale

    trainings_sweep_stale()
