"""Training runs: one per project at a time (a partial unique constraint), claimed by a
conditional UPDATE, activated atomically. A crashed or cancelled training leaves the
active version untouched: the new version only appears in the activating transaction."""

from __future__ import annotations

import functools
import io
import logging
import math
import os
import pickle
import random
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone

from labelapp.durability import PG_STATEMENT_WITHOUT_FLUSH_WAIT
from labelapp.errors import Conflict, DomainError
from labelapp.models import Clip, Project
from labelapp.queueing import enqueue, enqueue_on_commit
from ml_backend import tasks
from ml_backend.dataset import classes_in_use
from ml_backend.models import MLConfig, ModelVersion, PrelabelRun, TrainingRun

logger = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 2.0
VAL_FRACTION = 0.1
MIN_FOR_VALIDATION = 200  # labeled clips before a validation split is held out
# Optimizer steps however few the labels (EARMARK_TRAIN_MIN_STEPS; tests use fewer).
MIN_STEPS = int(os.environ.get("EARMARK_TRAIN_MIN_STEPS", "200"))
ADAPT_CLIPS = 1000  # unlabeled clips sampled for batch-norm adaptation
ADAPT_MIN_CLIPS = 32
ADAPT_WINDOWS_PER_CLIP = 8
STALE_AFTER = timedelta(minutes=5)  # a running training silent this long lost its worker
FEATURE_CHUNK = 64  # clips whose features are read (or computed together) between progress checks
# Self-supervised pretraining before a project's first training (ml_backend/pretrain.py): on
# up to PRETRAIN_CLIPS of its clips, PRETRAIN_WINDOWS_PER_CLIP windows each, once a project has
# PRETRAIN_MIN_CLIPS. EARMARK_PRETRAIN: "auto" (the default) when the first training starts from
# PRETRAIN_MIN_LABELS labeled clips or more, "1" for every first training, "0" never. A single
# training on 40-160 labels gained 4-32 points from it on FSDD's held-out speakers, but in the
# labeling loop (a first training at 20 labels, then one every 10, each warm-started from the
# last) the default strategy's curve did not move over three runs of five folds and random's
# fell 2-4 points (benchmarks/RESULTS.md, session 18): there it would cost the first training
# 40-150 s for nothing. It pays where a first training starts from many labels at once (a
# labeled seed set imported with the clips), which is what "auto" waits for.
PRETRAIN = settings.EARMARK_PRETRAIN  # "auto", "on" or "off"
PRETRAIN_MIN_LABELS = 40
PRETRAIN_CLIPS = 2000
# Steps: PRETRAIN_EPOCHS passes over the windows, within [PRETRAIN_MIN_STEPS, PRETRAIN_STEPS]
# (240 steps of 256 windows: ~150 s on one thread of a 2-core Intel Xeon; FSDD's 2,000 clips take
# them all, the demo's 300 clips the minimum, ~40 s). EARMARK_PRETRAIN_STEPS: tests use fewer.
PRETRAIN_STEPS = int(os.environ.get("EARMARK_PRETRAIN_STEPS", "240"))
PRETRAIN_MIN_STEPS = 60
PRETRAIN_EPOCHS = 30
PRETRAIN_MIN_CLIPS = 100
PRETRAIN_WINDOWS_PER_CLIP = 4
PRETRAIN_FORMAT = 1


def validation_groups(clips: list[Clip], field: str) -> list[str]:
    """Each clip's group for the validation split: its `field` metadata value (clips of one
    speaker or site together), or the clip itself when `field` is "" or the clip has none."""
    out = []
    for clip in clips:
        value = (clip.metadata or {}).get(field) if field else None
        if value is None or value == "" or isinstance(value, dict | list):
            out.append(f"clip:{clip.pk}")
        else:
            out.append(f"value:{value}")
    return out


def ml_config(project: Project | int) -> MLConfig:
    project_id = project if isinstance(project, int) else project.pk
    config, _ = MLConfig.objects.get_or_create(project_id=project_id)
    return config


def training_request(*, project: Project, user=None, trigger: str = "manual") -> TrainingRun:
    """Queue a training; 409 when one of this project is already queued or running, or the
    project was deleted."""
    if project.deleted_at is not None:
        raise Conflict("this project was deleted", code="deleted")
    # Refused here, not queued to fail: while a project has no model, every new label would
    # start another training that fails at once.
    _two_classes_check(classes_in_use(project))
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                project=project, trigger=trigger, created_by=user, message="waiting for a worker"
            )
    except IntegrityError:
        current = TrainingRun.objects.filter(
            project=project, status__in=TrainingRun.ACTIVE_STATUSES
        ).first()
        which = (
            f" (run {current.pk}: follow or cancel it on the project's model page)"
            if current
            else ""
        )
        raise Conflict(
            f"a training of this project is already queued or running{which}",
            code="training_running",
            extra={"run": current.pk if current else None},
        ) from None
    enqueue_on_commit(tasks.train, run.pk)  # broker down: the sweep re-sends queued runs
    return run


def _two_classes_check(found: int) -> None:
    if found < 2:
        raise DomainError(
            f"training needs labeled examples of at least two labels (found {found})",
            code="too_few_labels",
        )


def training_note(project: Project) -> str:
    """What a lead asking for a training now should know before it runs: a training on fewer
    labeled clips than the first automatic one waits for gives a weak model (its figures are
    on the training set below MIN_FOR_VALIDATION). Empty when there is nothing to say."""
    from labelapp.models import Clip
    from ml_backend.dataset import clip_label_ids

    min_labels = ml_config(project).min_labels
    # The clips the training will take (a tie or a clip in adjudication waits for a
    # reviewer), not every clip with an annotation: it said 8 where the training took 5. Those
    # are never more than the clips with an annotation, so the vote (which reads every
    # annotation) is counted only when these are few already.
    if Clip.objects.filter(project=project, annotation_count__gt=0).count() >= min_labels:
        return ""
    labeled = len(clip_label_ids(project))
    if labeled >= min_labels:
        return ""
    return (
        f"Training on {labeled} labeled clip{'' if labeled == 1 else 's'}, fewer than the "
        f"{min_labels} the first automatic training waits for: expect a weak model, and "
        "figures measured on the training set."
    )


def training_waiting(project: Project, *, config: MLConfig, has_model: bool) -> str:
    """Why no training starts by itself now, for the model page; empty when one may (or one
    is queued or running). A project labeled with one label only never trained and nothing
    said why: "labels since training 52", and no job."""
    from labelapp.models import Clip

    if TrainingRun.objects.filter(project=project, status__in=TrainingRun.ACTIVE_STATUSES).exists():
        return ""
    if not config.enabled:
        return "Automatic training is off (Model settings below); Train now still trains."
    if has_model:
        return ""
    labeled = Clip.objects.filter(project=project, annotation_count__gt=0).count()
    if labeled < config.min_labels:
        return (
            f"The first training starts by itself at {config.min_labels} labeled clips "
            f"({labeled} so far)."
        )
    found = classes_in_use(project)
    if found < 2:
        return (
            f"No training can start: it needs labeled examples of at least two labels (found "
            f"{found}). Label clips with another label too; a detector of one sound needs one "
            'for the rest, such as "background".'
        )
    # Enough labels and no model: the first training was cancelled or failed (a cancel is a
    # person's choice, a failure waits for more labels), and none starts until a label comes.
    last = TrainingRun.objects.filter(project=project).order_by("-created_at", "-pk").first()
    if last is not None and last.status in (
        TrainingRun.Status.CANCELLED,
        TrainingRun.Status.FAILED,
    ):
        return (
            f"The last training {last.status}: the next label starts another, or press Train now."
        )
    return ""


def _count_label(project_id: int) -> tuple[bool, int, int, int, bool] | None:
    """Add one to the project's labels since its last training and read what deciding on a
    training needs (enabled, that count, the labels a retraining waits for, min_labels, has
    an active model), in one statement: this runs after every submission. None when the
    project has no MLConfig.

    The count only decides when to retrain: on PostgreSQL its commit does not wait for the
    disk (labelapp.durability); a crash may lose the last few, which delays a retraining by
    as many labels."""
    # Only in a transaction of its own: the setting would last to the end of an enclosing one.
    alone = connection.vendor == "postgresql" and not connection.in_atomic_block
    no_flush_wait = f" AND {PG_STATEMENT_WITHOUT_FLUSH_WAIT}" if alone else ""
    with connection.cursor() as cursor:
        # table names from the models, values as parameters
        cursor.execute(
            f"UPDATE {MLConfig._meta.db_table} "  # noqa: S608
            "SET labels_since_training = labels_since_training + 1 "
            f"WHERE project_id = %s{no_flush_wait} "
            "RETURNING enabled, labels_since_training, retrain_every, retrain_growth, "
            "last_training_labels, min_labels, "
            f"EXISTS (SELECT 1 FROM {ModelVersion._meta.db_table} "
            "WHERE project_id = %s AND status = %s)",
            [project_id, project_id, ModelVersion.Status.ACTIVE],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    enabled, since, every, growth, last_labels, min_labels, has_model = row
    return (
        bool(enabled),
        since,
        retrain_interval(every, growth, last_labels),
        min_labels,
        bool(has_model),
    )


def retrain_interval(every: int, growth: float, labeled: int) -> int:
    """New labels before the next training: `every`, or `growth` times the labeled clips of
    the last training when that is more. The simulation's rounds use the same rule."""
    return max(every, round(growth * labeled))


def training_maybe_start(*, project_id: int) -> TrainingRun | None:
    """Count a new human annotation; start a training when the project's threshold is met."""
    counted = _count_label(project_id)
    if counted is None:
        MLConfig.objects.get_or_create(project_id=project_id)
        counted = _count_label(project_id)
    return _start_if_due(project_id, *counted)


def training_labels_added(*, project_id: int, count: int) -> TrainingRun | None:
    """`count` labeled clips came at once (an import's, once processed): counted as that many
    submissions, then a training starts if one is due."""
    MLConfig.objects.get_or_create(project_id=project_id)
    MLConfig.objects.filter(project_id=project_id).update(
        labels_since_training=F("labels_since_training") + count
    )
    return training_start_if_due(project_id=project_id)


def training_start_if_due(*, project_id: int) -> TrainingRun | None:
    """After a training: the labels that came in while it ran may have met the threshold
    already, and a training starts for them now. Otherwise they waited for one label more, and
    a burst that ended during the training was never trained on."""
    config = MLConfig.objects.filter(project_id=project_id).first()
    if config is None or config.labels_since_training == 0:  # (a retrain_every of 0 would loop)
        return None
    has_model = ModelVersion.objects.filter(
        project_id=project_id, status=ModelVersion.Status.ACTIVE
    ).exists()
    return _start_if_due(
        project_id,
        config.enabled,
        config.labels_since_training,
        retrain_interval(config.retrain_every, config.retrain_growth, config.last_training_labels),
        config.min_labels,
        has_model,
    )


def _start_if_due(
    project_id: int,
    enabled: bool,
    since_training: int,
    retrain_after: int,
    min_labels: int,
    has_model: bool,
) -> TrainingRun | None:
    if not enabled:
        return None
    if has_model and since_training < retrain_after:
        return None
    if TrainingRun.objects.filter(
        project_id=project_id, status__in=TrainingRun.ACTIVE_STATUSES
    ).exists():
        return None
    from labelapp.models import Clip

    labeled = Clip.objects.filter(project_id=project_id, annotation_count__gt=0).count()
    if labeled < min_labels:
        return None
    if not has_model and clips_in_processing(project_id):
        # A first training waits for the import under way: started when 25 of a labeled set's
        # 110 clips were ready, it trained on 45 labels without the pretrained features (the
        # project seemed too small) and adapted to none of the rest. The processing's end
        # starts it (`training_start_if_due`).
        return None
    try:
        return training_request(project=Project.objects.get(pk=project_id), trigger="auto")
    except (DomainError, Project.DoesNotExist):  # running, deleted, or one label so far
        return None


# Clips waiting this long for processing are stuck (the sweep re-sends them): a first
# training no longer waits for them.
PROCESSING_WAIT = timedelta(hours=1)


def clips_in_processing(project_id: int) -> bool:
    from labelapp.models import Clip

    return Clip.objects.filter(
        project_id=project_id,
        status__in=(Clip.Status.PENDING, Clip.Status.PROCESSING),
        created_at__gte=timezone.now() - PROCESSING_WAIT,
    ).exists()


@transaction.atomic
def version_activate(*, version: ModelVersion) -> ModelVersion:
    """A lead's rollback: an earlier (retired) version becomes the active one again, in one
    transaction, and scores and ranks the unlabeled clips anew; the next training warm-starts
    from it. Refused while a training runs (its end would make its own version active) and
    for a version whose model file is gone."""
    Project.objects.select_for_update().filter(pk=version.project_id).first()
    version = ModelVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == ModelVersion.Status.ACTIVE:
        return version
    if version.status != ModelVersion.Status.RETIRED:
        raise DomainError(
            f"{version.name} is {version.status}: only a retired version can be made active again",
            status=409,
            code="not_retired",
        )
    if TrainingRun.objects.filter(
        project_id=version.project_id, status__in=TrainingRun.ACTIVE_STATUSES
    ).exists():
        raise DomainError(
            "a training is queued or running: its version would take over when it ends; "
            "cancel it first",
            status=409,
            code="training_running",
        )
    if not version.artifact_path or not default_storage.exists(version.artifact_path):
        raise DomainError(
            f"the model file of {version.name} is gone", status=409, code="artifact_missing"
        )
    ModelVersion.objects.filter(
        project_id=version.project_id, status=ModelVersion.Status.ACTIVE
    ).update(status=ModelVersion.Status.RETIRED)
    version.status = ModelVersion.Status.ACTIVE
    version.save(update_fields=["status"])
    from ml_backend.prelabel import prelabel_request

    project = version.project
    transaction.on_commit(
        lambda: prelabel_request(project=project, model_version=version), robust=True
    )
    return version


def training_cancel(*, run: TrainingRun) -> TrainingRun:
    if run.status == TrainingRun.Status.QUEUED:
        TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.CANCELLED,
            finished_at=timezone.now(),
            message="before it started",
        )
    elif run.status == TrainingRun.Status.RUNNING:
        TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True, message="cancelling...")
    else:
        raise DomainError(
            f"this training has already ended ({run.status})",
            status=409,
            code="finished",
        )
    run.refresh_from_db()
    return run


def _claim(run_id: int) -> bool:
    now = timezone.now()
    return (
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
            status=TrainingRun.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            message="reading labels and features",
            worker=current_worker(),
        )
        == 1
    )


def current_worker() -> str:
    """The Celery node running the current task ("celery@host"), or "" outside one."""
    from celery import current_task

    request = getattr(current_task, "request", None)
    if request is None or getattr(request, "called_directly", True):
        return ""
    return str(getattr(request, "hostname", "") or "")


def runs_of_restarted_worker_fail(worker: str) -> int:
    """A Celery node started: the trainings and pre-labelings it was running died with its
    last process (killed, or a redeploy's stop that did not wait for them). They are failed
    now, not after the sweep's 5 minutes of "running" in which "Train now" was a 409.
    Returns how many."""
    if not worker:
        return 0
    now = timezone.now()
    reason = f"the worker ({worker}) was restarted while it ran"
    trainings = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, worker=worker).update(
        status=TrainingRun.Status.FAILED,
        finished_at=now,
        error=reason,
        message="failed; the active model is unchanged",
    )
    prelabels = PrelabelRun.objects.filter(status=PrelabelRun.Status.RUNNING, worker=worker).update(
        status=PrelabelRun.Status.FAILED, finished_at=now, error=reason
    )
    if trainings or prelabels:
        logger.warning(
            "%s: %d training(s), %d pre-labeling(s) failed", reason, trainings, prelabels
        )
    return trainings + prelabels


class _Reporter:
    """Progress and cancellation through the run's row: at most one progress write and one
    cancel check (with a heartbeat) every 2 s. The two keep their own clocks: `should_stop`
    runs every step, and with one shared clock its heartbeats kept resetting the clock that
    `progress` (once an epoch) waits on, so progress reached the row only by chance."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.last_progress = -math.inf
        self.last_check = -math.inf
        self.cancelled = False

    def progress(self, fraction: float, message: str = "") -> None:
        now = time.monotonic()
        if now - self.last_progress < HEARTBEAT_EVERY_S and fraction < 1.0:
            return
        self.last_progress = now
        TrainingRun.objects.filter(pk=self.run_id).update(
            progress=max(0.0, min(1.0, fraction)),
            message=message[:500],
            heartbeat_at=timezone.now(),
        )

    def should_stop(self) -> bool:
        now = time.monotonic()
        if now - self.last_check >= HEARTBEAT_EVERY_S:
            self.last_check = now
            self.cancelled = TrainingRun.objects.filter(
                pk=self.run_id, cancel_requested=True
            ).exists()
            TrainingRun.objects.filter(pk=self.run_id).update(heartbeat_at=timezone.now())
        return self.cancelled


def training_execute(run_id: int) -> str:
    """Run a queued training to its end. Idempotent: a second delivery finds it claimed."""
    # torch, here and below: the web side imports this module to count labels and ask for
    # trainings, and torch would cost each of its processes ~500 MB and a second to start.
    from ml_backend.dataset import clips_features, feature_config_for, labeled_set
    from ml_backend.model import ModelConfig
    from ml_backend.train import TrainConfig, TrainingCancelled, self_train, train_model

    if not _claim(run_id):
        return "skipped"
    run = TrainingRun.objects.select_related("project", "project__ontology").get(pk=run_id)
    project = run.project
    reporter = _Reporter(run_id)
    counted_before = None
    try:
        # The count first, then the labels: a label that comes between the two is in the
        # training and still in the count (the next training comes a label early), where read
        # the other way round it was in neither (and a burst's last label never trained on).
        config = ml_config(project)
        data = labeled_set(project)
        _two_classes_check(len(data.classes))  # the labels may have changed since the request
        counted_before = (config.labels_since_training, config.last_training_labels)
        MLConfig.objects.filter(pk=config.pk).update(
            labels_since_training=Greatest(F("labels_since_training") - counted_before[0], 0),
            last_training_labels=len(data),
        )
        feature_config = feature_config_for(project)
        features = []
        for part in _feature_slices(data.clips):
            done = part.start
            reporter.progress(0.2 * done / len(data.clips), f"features {done}/{len(data.clips)}")
            if reporter.should_stop():
                raise TrainingCancelled()
            # Cropped batch by batch: a long recording's whole features are not kept.
            features.extend(
                _labeled_frames(
                    clips_features(data.clips[part], feature_config),
                    data.spans[part] if data.spans else None,
                    feature_config,
                )
            )
        previous = ModelVersion.objects.filter(
            project=project, status=ModelVersion.Status.ACTIVE
        ).first()
        changed = _features_changed(previous, feature_config)
        init_state = None if changed else _previous_state(previous, data.classes)
        # Where the training's own epochs sit on the progress bar: after a pretraining, the
        # bar's middle went to it.
        start, share = 0.2, 0.65
        started_from = previous.name if init_state is not None else "random weights"
        # Said beside whatever the training starts from (a pretraining wrote over it).
        changed_note = f" ({changed} since {previous.name})" if changed else ""
        pretraining = None
        if init_state is None and wants_pretraining(len(data)):
            pretraining = project_backbone(
                project,
                feature_config,
                progress=lambda f, m="": reporter.progress(
                    0.2 + 0.5 * f, f"learning the project's sounds: {m}"
                ),
                should_stop=reporter.should_stop,
            )
            if pretraining is not None:
                init_state, pretraining = pretraining
                start, share = 0.7, 0.15
                started_from = "pretrained on the project's clips"
        started_from += changed_note
        batch_size, epochs = training_schedule(features, feature_config, config.epochs)
        train_config = TrainConfig(
            batch_size=batch_size,
            model=ModelConfig(
                n_mels=feature_config.n_mels,
                n_classes=len(data.classes),
                multi_label=data.multi_label,
            ),
            epochs=epochs,
            parents=data.parents if data.multi_label else None,
            # Early stopping needs a validation set worth the labels it takes from training.
            val_fraction=VAL_FRACTION if len(data) >= MIN_FOR_VALIDATION else 0.0,
            window_frames=feature_config.window_frames,
            window_hop_frames=feature_config.window_hop_frames,
        )
        groups = validation_groups(data.clips, config.validation_group_by)
        result = train_model(
            features,
            data.targets,
            groups=groups,
            config=train_config,
            init_state=init_state,
            progress=lambda f, m="": reporter.progress(start + share * f, m or "training"),
            should_stop=reporter.should_stop,
        )
        # The training's own epochs: self-training's shorter second pass replaced them, and
        # every version said "6 epochs" after 100.
        main_epochs = {k: result.metrics.get(k) for k in ("epochs_run", "best_epoch")}
        reporter.progress(0.9, "adapting to the unlabeled clips")
        unlabeled, unlabeled_total = _unlabeled_sample(project, feature_config, seed=len(data))
        adapt = _adaptation(unlabeled, feature_config)
        adapt(result.model)
        result, pseudo = self_train(
            result,
            features,
            data.targets,
            groups,
            unlabeled,
            adapt=adapt,
            unlabeled_total=unlabeled_total,
            progress=lambda f, m="": reporter.progress(0.9 + 0.09 * f, f"self-training: {m}"),
            should_stop=reporter.should_stop,
        )
        if pseudo:
            result.metrics["self_training_epochs"] = result.metrics.get("epochs_run")
        result.metrics.update(main_epochs)
        # The epochs asked for are a floor: few labels get more, for MIN_STEPS optimizer
        # steps (epochs=1 trained 25 and nothing said why).
        result.metrics["epochs_planned"] = epochs
        if epochs > config.epochs:
            result.metrics["epochs_note"] = (
                f"{epochs} epochs, not the {config.epochs} set: a training takes at least "
                f"{MIN_STEPS} optimizer steps, and these labels make fewer per epoch"
            )
        if config.validation_group_by:
            result.metrics["validation_group_by"] = config.validation_group_by
            result.metrics["clips_without_group"] = sum(1 for g in groups if g.startswith("clip:"))
        # Clips labeled by their segments: a model trained on none never learned where a sound
        # is, and its segment suggestions are withheld (labelapp.selectors.clip_suggestions).
        result.metrics["segment_examples"] = sum(1 for spans in (data.spans or []) if spans)
        result.metrics["adapted_on_clips"] = len(unlabeled)
        result.metrics["started_from"] = started_from
        if pretraining is not None:
            result.metrics["pretraining"] = pretraining
        result.metrics["pseudo_labeled_clips"] = pseudo
        if not _weights_finite(result.model.state_dict()):
            # Made active, such a model scored every clip NaN, and every later training
            # warm-started from it and failed too.
            raise DomainError(
                "the trained model holds NaN or infinite weights (from a clip's broken audio?): "
                "it was not made active"
            )
        artifact = _save_artifact(project, run_id, result.model, data, feature_config)
        _activate(run_id, project, data, result, artifact, feature_config)
    except TrainingCancelled:
        TrainingRun.objects.filter(pk=run_id).update(
            status=TrainingRun.Status.CANCELLED,
            finished_at=timezone.now(),
            message="the active model is unchanged",
        )
        if counted_before is not None:
            # The labels it would have used still wait for a training: the count says so, and
            # the next label past the threshold starts one (a failed training, by contrast,
            # waits for as many new labels again before it is retried).
            since, last = counted_before
            MLConfig.objects.filter(project=project).update(
                labels_since_training=F("labels_since_training") + since,
                last_training_labels=last,
            )
        return "cancelled"
    except Exception as exc:
        if isinstance(exc, DomainError):  # a rule said no: the reason is the message
            reason = exc.message
            logger.warning("training %s of project %s failed: %s", run_id, project.pk, reason)
        else:
            from labelapp.media import local_store_gone

            reason = f"{type(exc).__name__}: {exc}"
            if local_store_gone():  # not a bug of the training: the clips could not be read
                reason = (
                    "the media store is not answering (the media folder is not there): train "
                    "again once it is back"
                )
            logger.exception("training %s of project %s failed", run_id, project.pk)
        TrainingRun.objects.filter(pk=run_id).update(
            status=TrainingRun.Status.FAILED,
            finished_at=timezone.now(),
            error=reason[:2000],
            log=traceback.format_exc()[-20000:],
            message="the active model is unchanged",
        )
        return "failed"
    try:  # the run succeeded whatever happens here: a start that fails waits for a label
        training_start_if_due(project_id=project.pk)
    except Exception:
        logger.exception("project %s: the next training did not start", project.pk)
    return "succeeded"


def training_schedule(features: list[np.ndarray], feature_config, epochs: int) -> tuple[int, int]:
    """The batch size and epochs of a training on `features` (a clip's (n_mels, T) frames, or
    its (k, n_mels, window_frames) windows when `_labeled_frames` bounded them):
    small label sets still get MIN_STEPS optimizer steps, in smaller batches over more epochs.
    Counted in the windows the training cuts, not the clips: 12 tagged 5-minute recordings are
    228 windows (bounded by MAX_LABELED_FRAMES), and counted as 12 rows they made 200 epochs of
    29 steps (5,800) where MIN_STEPS asked for 200."""
    from ml_backend.features import n_windows_for

    window = (feature_config.window_frames, feature_config.window_hop_frames)
    rows = sum(len(f) if f.ndim == 3 else n_windows_for(f.shape[1], *window) for f in features)
    batch_size = int(min(64, max(8, rows // 8)))
    steps_per_epoch = max(1, rows // batch_size)
    return batch_size, max(epochs, -(-MIN_STEPS // steps_per_epoch))


# Frames a labeled clip trains on, at most (10 s, ~19 windows): a 2-hour recording, tagged
# as a whole or labeled through one 90 s segment, is one example among the others, not 7,200
# windows of it (which would also hold 180 MB of features through the training).
MAX_LABELED_FRAMES = 1000


def _labeled_frames(
    features: list[np.ndarray], spans: list | None, feature_config
) -> list[np.ndarray]:
    """What each labeled clip trains on: a clip labeled only through segments (its `spans` not
    None) its segments' frames; past MAX_LABELED_FRAMES, windows spread evenly over them (over
    the whole clip for a clip-level tag, which names the recording, not one part of it), given
    pre-cut, (k, n_mels, window_frames)."""
    from ml_backend.features import bound_windows, crop_to_spans

    fps = feature_config.frames_per_second
    return [
        bound_windows(
            f if clip_spans is None else crop_to_spans(f, clip_spans, fps),
            max_frames=MAX_LABELED_FRAMES,
            window_frames=feature_config.window_frames,
        )
        for f, clip_spans in zip(features, spans or [None] * len(features), strict=True)
    ]


def _unlabeled_sample(
    project: Project, feature_config, *, seed: int
) -> tuple[list[np.ndarray], int]:
    """Features of up to ADAPT_CLIPS unlabeled clips, what the model will meet next, and how
    many unlabeled clips there are. Empty when there are fewer than ADAPT_MIN_CLIPS (nothing
    worth estimating from). The sample is seeded (positions among the clips in id order), so
    a training on the same clips and labels adapts to the same clips on any database: it was
    ORDER BY RANDOM(), unseeded on PostgreSQL (no two runs alike) and on SQLite Django's
    RAND(), which follows whatever state Python's global random generator was left in."""
    from labelapp.chunks import id_chunks
    from ml_backend.dataset import clips_features
    from ml_backend.prelabel import unlabeled_clips

    ids = list(unlabeled_clips(project).order_by("id").values_list("id", flat=True))
    if len(ids) < ADAPT_MIN_CLIPS:
        return [], len(ids)
    chosen = sorted(random.Random(seed).sample(ids, min(ADAPT_CLIPS, len(ids))))
    clips = [
        clip
        for chunk in id_chunks(chosen)
        for clip in unlabeled_clips(project).filter(pk__in=chunk)
    ]
    features = []
    for part in _feature_slices(clips):
        features.extend(
            centre_crop(f, MAX_UNLABELED_FRAMES)
            for f in clips_features(clips[part], feature_config)
        )
    return features, len(ids)


# Frames of an unlabeled clip that a training adapts to and pseudo-labels, at most (10 s, as
# for a labeled clip): its middle. Whole, a 1-hour recording would be 7,200 windows to
# score at every training and, once pseudo-labeled, 7,200 training windows of one clip.
MAX_UNLABELED_FRAMES = MAX_LABELED_FRAMES
# Audio whose features are read together, at most: 64 clips or 10 minutes (a 1-hour
# recording's log-mel is ~92 MB at 16 kHz; 64 of them at once would be 6 GB).
FEATURE_BATCH_SECONDS = 600.0


def centre_crop(features: np.ndarray, max_frames: int) -> np.ndarray:
    """The middle `max_frames` frames of (n_mels, T) features (all of them when fewer)."""
    frames = features.shape[1]
    if frames <= max_frames:
        return features
    start = (frames - max_frames) // 2
    return np.ascontiguousarray(features[:, start : start + max_frames])


def _feature_slices(clips: list):
    """Consecutive slices of `clips` of at most FEATURE_CHUNK clips and FEATURE_BATCH_SECONDS
    of audio (a longer clip alone), whose features are read together: what is held at once
    stays bounded whatever the recordings. Slices, so a caller indexes what runs beside the
    clips (their spans) too."""
    seconds, size = FEATURE_BATCH_SECONDS, FEATURE_CHUNK
    start, total = 0, 0.0
    for i, clip in enumerate(clips):
        duration = float(clip.duration or 0.0)
        if i > start and (i - start >= size or total + duration > seconds):
            yield slice(start, i)
            start, total = i, 0.0
        total += duration
    if start < len(clips):
        yield slice(start, len(clips))


def _adaptation(unlabeled: list[np.ndarray], feature_config):
    """A function that moves a model's batch-norm statistics to the clips it is about to score
    (AdaBN); their windows are cut once, however often it is called.

    New voices, microphones and sites shift those statistics; the unlabeled clips are at hand,
    so the model meets them without a label. On FSDD's held-out speakers this raised accuracy
    by 1-7 points (benchmarks/RESULTS.md). No clips: the training statistics are kept."""
    from ml_backend.features import cut_windows
    from ml_backend.model import adapt_batchnorm

    if not unlabeled:
        return lambda model: None
    windows = np.concatenate(
        [
            cut_windows(feats, feature_config.window_frames, feature_config.window_hop_frames)[
                :ADAPT_WINDOWS_PER_CLIP  # a long recording does not dominate
            ]
            for feats in unlabeled
        ]
    )
    return functools.partial(adapt_batchnorm, windows=windows)


def _features_changed(previous: ModelVersion | None, feature_config) -> str:
    """What of the feature settings changed since `previous` was trained ("" when nothing):
    its weights learned other inputs (a sample rate changed after a model existed moved
    every mel band, and the next training warm-started from them as if not)."""
    from ml_backend.feature_config import FeatureConfig

    if previous is None or not previous.feature_config:
        return ""
    try:
        before = FeatureConfig.from_dict(previous.feature_config)
    except (TypeError, ValueError, KeyError):
        return ""
    if before.key() == feature_config.key():
        return ""
    if before.sample_rate != feature_config.sample_rate:
        now = feature_config.sample_rate
        return f"the sample rate changed from {before.sample_rate} to {now} Hz"
    return "the feature settings changed"


def _previous_state(previous: ModelVersion | None, classes: list[int]):
    if previous is None or not previous.artifact_path:
        return None
    try:
        from ml_backend.inference import load_model

        model, _, _ = load_model(previous.artifact_path)
    except (OSError, ValueError, RuntimeError, KeyError):
        logger.warning("could not warm-start from %s", previous)
        return None
    state = model.state_dict()
    if not _weights_finite(state):  # a version saved before they were checked: not again
        logger.warning("%s holds non-finite weights: starting from random weights", previous)
        return None
    return state


def _weights_finite(state: dict) -> bool:
    import torch

    return all(bool(torch.isfinite(t).all()) for t in state.values() if torch.is_floating_point(t))


def backbone_name(project: Project, feature_config) -> str:
    """Where a project's pretrained feature extractor is kept: per feature settings, and per
    project row (a project id that SQLite gives again after a deletion is another project)."""
    import hashlib

    identity = f"{project.created_at.isoformat()}|{feature_config.key()}"
    return f"models/{project.pk}/backbone-{hashlib.sha256(identity.encode()).hexdigest()[:12]}.pt"


def wants_pretraining(labeled_clips: int) -> bool:
    """Whether a first training on `labeled_clips` starts from a pretrained extractor (see
    PRETRAIN)."""
    return PRETRAIN == "on" or (PRETRAIN == "auto" and labeled_clips >= PRETRAIN_MIN_LABELS)


def pretrain_steps(windows: int, batch_size: int = 256) -> int:
    """PRETRAIN_EPOCHS passes over `windows`, bounded (see PRETRAIN_STEPS)."""
    steps = math.ceil(PRETRAIN_EPOCHS * windows / batch_size)
    return max(min(PRETRAIN_MIN_STEPS, PRETRAIN_STEPS), min(PRETRAIN_STEPS, steps))


def project_backbone(project: Project, feature_config, *, progress=None, should_stop=None):
    """The feature extractor pretrained on the project's own clips (``pretrain.py``), for a
    training with no earlier version to start from, and the pretraining's summary: read from
    the store, or made and stored (once per project and feature settings; a second training
    finds it). None when the project has fewer than PRETRAIN_MIN_CLIPS ready clips."""
    import torch

    from labelapp.chunks import id_chunks
    from labelapp.models import Clip
    from ml_backend.dataset import clips_features
    from ml_backend.features import spread_windows
    from ml_backend.model import ModelConfig
    from ml_backend.pretrain import PretrainConfig, contrastive_pretrain

    name = backbone_name(project, feature_config)
    if default_storage.exists(name):
        try:
            with default_storage.open(name, "rb") as fh:  # a few MB; any store
                payload = torch.load(io.BytesIO(fh.read()), map_location="cpu", weights_only=True)
            if payload.get("format") == PRETRAIN_FORMAT:
                return payload["state_dict"], payload["summary"]
        except (
            OSError,
            ValueError,
            RuntimeError,
            KeyError,
            EOFError,
            AttributeError,  # a payload that is not a dict
            pickle.UnpicklingError,  # what torch.load(weights_only=True) refuses
        ) as exc:
            logger.warning("unreadable backbone %s (%s): made again", name, type(exc).__name__)
    ids = list(
        Clip.objects.filter(project=project, status=Clip.Status.READY)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if len(ids) < PRETRAIN_MIN_CLIPS:
        return None
    chosen = sorted(random.Random(0).sample(ids, min(PRETRAIN_CLIPS, len(ids))))

    parts = []
    clips = [
        c for chunk in id_chunks(chosen) for c in Clip.objects.filter(pk__in=chunk).order_by("id")
    ]
    for part in _feature_slices(clips):
        if should_stop is not None and should_stop():
            from ml_backend.train import TrainingCancelled

            raise TrainingCancelled()
        if progress is not None:
            progress(0.1 * part.start / len(clips), f"features {part.start}/{len(clips)}")
        for feats in clips_features(clips[part], feature_config):
            parts.append(
                spread_windows(feats, feature_config.window_frames, PRETRAIN_WINDOWS_PER_CLIP)
            )
    windows = np.concatenate(parts)
    state, summary = contrastive_pretrain(
        windows,
        ModelConfig(n_mels=feature_config.n_mels),
        PretrainConfig(steps=pretrain_steps(len(windows))),
        progress=None if progress is None else lambda f, m: progress(0.1 + 0.9 * f, m),
        should_stop=should_stop,
    )
    logger.info("project %s: backbone pretrained %s", project.pk, summary)
    payload = {"format": PRETRAIN_FORMAT, "state_dict": state, "summary": summary}
    _store_replacing(name, functools.partial(torch.save, payload))
    return state, summary


def _store_replacing(name: str, write) -> str:
    """Store under `name`, replacing what is there, the file `write(path)` writes to a local
    path; returns the stored name."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(name).name
        write(path)
        if default_storage.exists(name):
            default_storage.delete(name)
        with open(path, "rb") as fh:
            return default_storage.save(name, File(fh))


def _save_artifact(project, run_id, model, data, feature_config) -> str:
    from ml_backend.model import save_checkpoint

    extra = {
        "classes": data.classes,
        "paths": data.paths,
        "parents": data.parents,
        "feature": feature_config.to_dict(),
        "multi_label": data.multi_label,
    }
    return _store_replacing(
        f"models/{project.pk}/run-{run_id}.pt",
        lambda path: save_checkpoint(path, model, model.config, extra=extra),
    )


@transaction.atomic
def _activate(run_id, project, data, result, artifact, feature_config) -> None:
    """Make the trained model the active version, in one transaction; TrainingCancelled when
    a cancel came in meanwhile (the caller marks the run and gives its labels back)."""
    from ml_backend.train import TrainingCancelled

    run = TrainingRun.objects.select_for_update().get(pk=run_id)
    if run.cancel_requested:
        default_storage.delete(artifact)
        raise TrainingCancelled("cancelled before its version became active")
    top = ModelVersion.objects.filter(project=project).aggregate(m=Max("version"))["m"] or 0
    own = (
        ModelVersion.objects.filter(project=project)
        .exclude(status=ModelVersion.Status.EXTERNAL)
        .count()
    )
    ModelVersion.objects.filter(project=project, status=ModelVersion.Status.ACTIVE).update(
        status=ModelVersion.Status.RETIRED
    )
    version = ModelVersion.objects.create(
        project=project,
        version=top + 1,
        # Named by the project's own versions: predictions imported from elsewhere take a
        # version number too, and a project's first model was called "v2".
        name=f"v{own + 1}",
        status=ModelVersion.Status.ACTIVE,
        ontology_version=project.ontology.version,
        training_size=len(data),
        metrics={
            **_jsonable(result.metrics),
            # From the split made: a validation fraction asked for may find too few groups.
            "evaluated_on": "validation" if result.metrics.get("val_size") else "training",
        },
        artifact_path=artifact,
        classes=data.classes,
        feature_config=feature_config.to_dict(),
        training_run=run,
    )
    run.status = TrainingRun.Status.SUCCEEDED
    run.progress = 1.0
    run.finished_at = timezone.now()
    run.message = f"{version.name} active: {len(data)} clips, {len(data.classes)} classes"
    run.save(update_fields=["status", "progress", "finished_at", "message"])
    from ml_backend.prelabel import prelabel_request

    transaction.on_commit(
        lambda: prelabel_request(project=project, model_version=version), robust=True
    )


def _jsonable(value):
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def trainings_sweep_stale() -> int:
    """Runs whose worker died (no heartbeat) are marked failed with the reason; queued runs
    whose message was lost are sent again."""
    now = timezone.now()
    stale = TrainingRun.objects.filter(
        status=TrainingRun.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    count = stale.update(
        status=TrainingRun.Status.FAILED,
        finished_at=now,
        error="the worker stopped responding (killed or crashed)",
        message="failed; the active model is unchanged",
    )
    for run_id in TrainingRun.objects.filter(
        status=TrainingRun.Status.QUEUED, created_at__lt=now - timedelta(minutes=2)
    ).values_list("pk", flat=True):
        enqueue(tasks.train, run_id)
    # Pre-labeling runs are queued on commit of an activation: the same outage strands them.
    # (The `prelabel` task runs either kind of run, `rank` ones included.) A running one whose
    # worker died would hold its project's queued ones back: it is failed first.
    from ml_backend.prelabel import prelabels_sweep_stale

    prelabels_sweep_stale()
    for run_id in PrelabelRun.objects.filter(
        status=PrelabelRun.Status.QUEUED, created_at__lt=now - timedelta(minutes=2)
    ).values_list("pk", flat=True):
        enqueue(tasks.prelabel, run_id)
    return count
