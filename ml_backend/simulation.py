"""Active-learning simulation: replay the labeling loop with an oracle to measure strategies.

For each strategy and repeat, a throwaway project (the source project's ontology, label mode
and target rate) imports the pool's audio *without* its labels, processes it, ranks it for a
cold start, then loops: the next clips in queue order are answered by the oracle (the
manifest's labels) through `annotation_submit`, a training runs through `training_request` and
the worker's `training_execute`, pre-labeling re-ranks the rest (`prelabel_execute`), and the
active version is scored on a held-out test manifest. The result, learning curves per
strategy, is stored on the source project's MLConfig for the model page.

Everything runs in this process with Celery tasks eager: no broker message is sent, so a
running worker never races the simulation for its jobs.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from labelapp.chunks import id_chunks
from labelapp.errors import DomainError
from labelapp.models import Clip, Membership, Project
from labelapp.services.annotations import annotation_skip, annotation_submit
from labelapp.services.clips import clip_process
from labelapp.services.imports import ImportItem, import_job_create, import_run
from labelapp.services.manifests import items_from_csv
from labelapp.services.project_removal import purge_rows
from labelapp.services.projects import membership_set, project_create
from labelapp.services.queue import clips_available_to
from ml_backend.dataset import features_root
from ml_backend.features import load_or_compute
from ml_backend.infer import predict_batch
from ml_backend.inference import load_version
from ml_backend.metrics import compute_metrics, mean_curve
from ml_backend.models import MLConfig, ModelVersion, PrelabelRun, TrainingRun
from ml_backend.prelabel import prelabel_execute, prelabel_request
from ml_backend.training import (
    ml_config,
    retrain_interval,
    training_execute,
    training_request,
)
from ml_backend.uncertainty import STRATEGIES
from ontology.services import label_resolve

BASELINE = "random"
SIMULATION_USERNAME = "earmark-simulator"
SELECTABLE = sorted(set(STRATEGIES) - {"cold_start"})


@dataclass
class SimulationConfig:
    """What to simulate. The first round labels `seed_size` clips, each later one `batch`, or
    `growth` times the labels so far when that is more (0.25: rounds of 25% more labels, so a
    long curve costs a few dozen trainings; every strategy gets the same schedule)."""

    strategies: list[str]
    seed_size: int = 50
    batch: int = 50
    budget: int = 400
    repeats: int = 3
    # Repeats are numbered first_repeat, first_repeat + 1, ...; each number is one import order
    # (and so one run), so a later simulation with first_repeat=3 adds three new runs to an
    # earlier one's three.
    first_repeat: int = 0
    growth: float = 0.0
    keep: bool = False  # keep the simulation projects (to inspect them) instead of deleting
    # The test clips join each simulated project as unlabeled clips the oracle skips (never
    # answered, never among a batch's diverse picks), like recordings waiting there to be
    # pre-labeled: training adapts to them (batch norm, self-training) as it adapts to any
    # project's unlabeled clips. Off: the test set stays outside, unseen until it is scored.
    test_in_project: bool = False

    def __post_init__(self) -> None:
        names = list(dict.fromkeys(self.strategies))
        unknown = [n for n in names if n not in SELECTABLE]
        if unknown:
            raise DomainError(
                f"unknown strategy {', '.join(unknown)}; choose from {', '.join(SELECTABLE)}"
            )
        if BASELINE not in names:  # every comparison needs the baseline
            names.append(BASELINE)
        self.strategies = names
        if min(self.seed_size, self.batch, self.budget, self.repeats) < 1:
            raise DomainError("seed size, batch, budget and repeats must be at least 1")
        if self.seed_size > self.budget:
            # The first round is no strategy's pick: the cold start's diverse clips (random's
            # is the shuffled import order). Cut short by the budget, the curves would
            # compare strategies that never picked a clip.
            raise DomainError(
                f"the seed size ({self.seed_size}) is more than the budget ({self.budget}): "
                "the strategies pick the labels after the first round"
            )
        if self.first_repeat < 0:
            raise DomainError("the first repeat's number must be 0 or more")
        if not 0.0 <= self.growth <= 4.0:
            raise DomainError("growth must be between 0 and 4")

    def round_size(self, used: int) -> int:
        """Labels the round after `used` labels asks for (before the budget caps it)."""
        if not used:
            return self.seed_size
        return retrain_interval(self.batch, self.growth, used)


@dataclass
class _Oracle:
    items: list[ImportItem]  # the pool, labels stripped
    answers: list[list[int]]  # label ids per item, in the same order
    test_paths: list[Path]
    test_labels: list[list[int]]
    test_features: dict[str, list[np.ndarray]] = field(default_factory=dict)
    backbone: bytes | None = None  # the first project's pretrained feature extractor, stored


def _share_backbone(sim: Project, oracle: _Oracle) -> None:
    """Every simulated project holds the same clips, so the feature extractor the first one's
    first training pretrained on them (``training.project_backbone``) is theirs too: it is kept
    once made and given to each later project before its first training, rather than made
    again for each (~150 s on FSDD's 2,000 clips)."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from ml_backend import training
    from ml_backend.dataset import feature_config_for

    if training.PRETRAIN == "off":
        return
    name = training.backbone_name(sim, feature_config_for(sim))
    if oracle.backbone is None:
        if default_storage.exists(name):
            with default_storage.open(name, "rb") as fh:
                oracle.backbone = fh.read()
    elif not default_storage.exists(name):
        default_storage.save(name, ContentFile(oracle.backbone))


Progress = Callable[[str], None]


def _read_labeled(project: Project, manifest: Path) -> tuple[list[ImportItem], list[list[int]]]:
    """Items of a CSV manifest without their labels, and the labels as ids of the ontology."""
    items, answers = [], []
    for item in items_from_csv(manifest):
        if item.error:
            raise DomainError(f"{manifest.name}: {item.name}: {item.error}")
        refs = list(item.clip_labels) + [lb for seg in item.segments for lb in seg["labels"]]
        if not refs:
            raise DomainError(f"{manifest.name}: {item.name} has no labels: the oracle needs them")
        # By name or path always: labels_resolve would read a digit string as a label id.
        labels = list({label_resolve(ontology=project.ontology, ref=r).pk: r for r in refs})
        if project.label_mode == Project.LabelMode.SINGLE and len(labels) > 1:
            raise DomainError(f"{manifest.name}: {item.name} has several labels (single-label)")
        items.append(ImportItem(name=item.name, path=item.path, metadata=item.metadata))
        answers.append(labels)
    if not items:
        raise DomainError(f"{manifest.name} names no audio")
    return items, answers


def _in_both(pool: list[Path], test_items: list[ImportItem]) -> list[str]:
    """The test items whose audio is one of the pool's: the same file, or a copy of it under
    another name (train/ and test/ folders copied from one set; a path check let it by).
    Contents are compared only between files of one size."""
    import functools

    from ml_backend.features import file_sha256

    pool_hash = functools.cache(file_sha256)  # a pool file read once, however many test twins
    resolved = {p.resolve() for p in pool}
    by_size: dict[int, list[Path]] = {}
    for p in resolved:
        by_size.setdefault(p.stat().st_size, []).append(p)
    out = []
    for t in test_items:
        path = Path(t.path).resolve()
        if path in resolved:
            out.append(t.name)
            continue
        twins = by_size.get(path.stat().st_size, [])
        if twins:
            mine = file_sha256(path)
            if any(pool_hash(p) == mine for p in twins):
                out.append(t.name)
    return out


def _simulator():
    user, created = get_user_model().objects.get_or_create(
        username=SIMULATION_USERNAME,
        defaults={"is_active": False, "first_name": "Earmark", "last_name": "simulation"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


@contextlib.contextmanager
def _tasks_in_process() -> Iterator[None]:
    """Celery tasks run inline (on commit, as a worker would run them) for the duration."""
    from labelapp.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = previous


def _project_for(source: Project, strategy: str, repeat: int, user, epochs: int) -> Project:
    sim = project_create(
        name=f"{source.name[:120]} · simulate {strategy} #{repeat} {uuid.uuid4().hex[:6]}",
        description=f"active-learning simulation of project {source.pk}; deleted when done",
        ontology=source.ontology,
        label_mode=source.label_mode,
        # The oracle answers with clip labels; no segments means no segment extraction either.
        annotation_mode=Project.AnnotationMode.CLIP,
        target_sample_rate=source.target_sample_rate,
        leaves_only=source.leaves_only,
    )
    membership_set(project=sim, user=user, role=Membership.Role.ANNOTATOR)
    # No automatic trigger: the simulation trains after each batch itself.
    MLConfig.objects.update_or_create(
        project=sim, defaults={"enabled": False, "strategy": strategy, "epochs": epochs}
    )
    return sim


def _import_pool(
    sim: Project, oracle: _Oracle, order: list[int], user, *, with_test: bool
) -> tuple[dict[int, list[int]], set[int]]:
    """Import the pool in `order` (then, `with_test`, the test clips), process every clip here.
    Returns the answers keyed by clip id, and the ids of the test clips (never answered)."""
    items = [oracle.items[i] for i in order]
    if with_test:
        items += [ImportItem(name=p.name, path=str(p)) for p in oracle.test_paths]
    job = import_job_create(project=sim, user=user, source="cli", total=len(items))
    job = import_run(project=sim, items=items, job=job)
    if job.error:
        raise DomainError(job.error)
    answers: dict[int, list[int]] = {}
    held_out: set[int] = set()
    for k, outcome in enumerate(job.report):
        if outcome["status"] == "rejected":
            raise DomainError(f"{outcome['name']}: {outcome['error']}")
        if k < len(order):
            answers.setdefault(outcome["clip_id"], oracle.answers[order[k]])
        else:
            held_out.add(outcome["clip_id"])
    # A test clip with the content of a pool clip is that clip: the oracle answers it.
    held_out -= set(answers)
    for clip_id in (*answers, *held_out):  # a no-op ("skipped") where the eager task ran
        clip_process(clip_id)
    return answers, held_out


def _run_prelabel(sim: Project) -> None:
    for run_id in PrelabelRun.objects.filter(
        project=sim, status=PrelabelRun.Status.QUEUED
    ).values_list("pk", flat=True):
        prelabel_execute(run_id)


def _evaluate(sim: Project, oracle: _Oracle) -> dict:
    """Accuracy and macro-F1 of the project's active version on the test manifest."""
    version = ModelVersion.objects.filter(project=sim, status=ModelVersion.Status.ACTIVE).first()
    if version is None:
        return {"accuracy": None, "macro_f1": None, "model_version": None}
    model, extra, fc = load_version(version)
    key = f"{fc.key()}:{fc.window_s}:{fc.window_hop_s}"
    if key not in oracle.test_features:
        oracle.test_features[key] = [
            load_or_compute(p, fc, cache_root=features_root()) for p in oracle.test_paths
        ]
    multi = bool(extra.get("multi_label"))
    out = predict_batch(
        model,
        oracle.test_features[key],
        fc,
        parents=extra.get("parents") if multi else None,
    )
    # Test labels the model never saw still count: as classes it scores 0 for.
    classes = list(version.classes or extra["classes"])
    for labels in oracle.test_labels:
        classes.extend(lb for lb in labels if lb not in classes)
    probs = np.zeros((len(oracle.test_paths), len(classes)))
    probs[:, : out["clip_probs"].shape[1]] = out["clip_probs"]
    index = {lb: i for i, lb in enumerate(classes)}
    if multi:
        y = np.zeros_like(probs, dtype=np.int64)
        for row, labels in enumerate(oracle.test_labels):
            y[row, [index[lb] for lb in labels]] = 1
    else:
        y = np.array([index[labels[0]] for labels in oracle.test_labels])
    metrics = compute_metrics(y, probs, multi_label=multi)
    return {
        "accuracy": round(float(metrics["accuracy"]), 4),
        "macro_f1": round(float(metrics["macro_f1"]), 4),
        "model_version": version.name,
    }


def _simulate_one(
    source: Project,
    oracle: _Oracle,
    strategy: str,
    repeat: int,
    config: SimulationConfig,
    epochs: int,
    progress: Progress,
) -> list[dict]:
    user = _simulator()
    sim = _project_for(source, strategy, repeat, user, epochs)
    try:
        order = list(range(len(oracle.items)))
        random.Random(repeat).shuffle(order)  # one import order per repeat, shared by strategies
        answers, held_out = _import_pool(sim, oracle, order, user, with_test=config.test_in_project)
        # The oracle cannot answer the test clips: it passes on them (`skipped`), as an
        # annotator passes on what they cannot label. They leave its queue and every batch of
        # diverse picks, and stay unlabeled clips for training to adapt to.
        for chunk in id_chunks(sorted(held_out)):
            for clip in Clip.objects.filter(pk__in=chunk).select_related("project__ontology"):
                annotation_skip(clip=clip, user=user)
        if strategy != BASELINE:  # the baseline labels in (shuffled) import order
            prelabel_execute(prelabel_request(project=sim).pk)
        points: list[dict] = []
        used = 0
        _share_backbone(sim, oracle)
        while used < config.budget:
            started = time.monotonic()
            want = min(config.round_size(used), config.budget - used)
            clips = list(clips_available_to(sim, user, timezone.now())[:want])
            if not clips:
                break
            for clip in clips:
                annotation_submit(clip=clip, user=user, clip_labels=answers[clip.pk])
            used += len(clips)
            error = ""
            try:
                run = training_request(project=sim, user=user, trigger="simulate")
            except DomainError as exc:  # one class so far: the round is measured untrained
                error = exc.message
            else:
                training_execute(run.pk)  # a no-op when the eager task ran it on commit
                run.refresh_from_db()
                if run.status != TrainingRun.Status.SUCCEEDED:
                    error = run.error or run.message
            if oracle.backbone is None:  # the first training made it: kept for the others
                _share_backbone(sim, oracle)
            _run_prelabel(sim)
            point = {"labels": used, **_evaluate(sim, oracle)}
            if error:
                point["error"] = error[:300]
            point["seconds"] = round(time.monotonic() - started, 2)
            points.append(point)
            acc = "n/a" if point["accuracy"] is None else f"{point['accuracy']:.3f}"
            f1 = "n/a" if point["macro_f1"] is None else f"{point['macro_f1']:.3f}"
            progress(
                f"{strategy:>16} run {repeat - config.first_repeat + 1}/{config.repeats}"
                + (f" (run {repeat} of the seeds)" if config.first_repeat else "")
                + ": "
                f"{used:>5} labels  "
                f"accuracy {acc}  macro-F1 {f1}  ({point['seconds']:.1f} s)"
                + (f"  [{point['error']}]" if "error" in point else "")
            )
        return points
    finally:
        if not config.keep:
            purge_rows(sim)  # rows and stored files; the shared features cache stays


def simulate(
    *,
    project: Project,
    manifest: Path,
    test_manifest: Path,
    config: SimulationConfig,
    progress: Progress | None = None,
    store: bool = True,
) -> dict:
    """Learning curves of each strategy on `manifest` (pool) scored on `test_manifest`.

    Returns {"strategies": {name: {"repeats": [[point, ...], ...], "mean": [...]}}, ...} with
    points {"labels", "accuracy", "macro_f1", "model_version", "seconds"}; with `store`, also
    saves it on the project's MLConfig.learning_curves."""
    progress = progress or (lambda line: None)
    items, answers = _read_labeled(project, Path(manifest))
    test_items, test_labels = _read_labeled(project, Path(test_manifest))
    missing = [t.name for t in test_items if t.path is None or not Path(t.path).is_file()]
    if missing:
        raise DomainError(f"test audio not found: {', '.join(missing[:5])}")
    # A clip in both is learned from and then tested on: the curves would say nothing of
    # new audio (the same manifest twice ran, and the page said "60 held out").
    both = _in_both([Path(i.path) for i in items if i.path is not None], test_items)
    if both:
        raise DomainError(
            f"{len(both)} test clip(s) are in the pool as well ({', '.join(both[:5])}): the "
            "test manifest must hold other audio than the pool's"
        )
    oracle = _Oracle(items, answers, [Path(t.path) for t in test_items], test_labels)
    epochs = ml_config(project).epochs
    started = time.monotonic()
    result: dict = {
        "project": project.pk,
        "created_at": timezone.now().isoformat(),
        "manifest": Path(manifest).name,
        "test_manifest": Path(test_manifest).name,
        "pool_size": len(items),
        "test_size": len(test_items),
        "settings": {
            "seed_size": config.seed_size,
            "batch": config.batch,
            "growth": config.growth,
            "budget": min(config.budget, len(items)),
            "repeats": config.repeats,
            "first_repeat": config.first_repeat,
            "epochs": epochs,
            "label_mode": project.label_mode,
            "test_in_project": config.test_in_project,
        },
        "strategies": {},
    }
    with _tasks_in_process():
        for strategy in config.strategies:
            repeats = [
                _simulate_one(project, oracle, strategy, r, config, epochs, progress)
                for r in range(config.first_repeat, config.first_repeat + config.repeats)
            ]
            result["strategies"][strategy] = {"repeats": repeats, "mean": mean_curve(repeats)}
    result["seconds"] = round(time.monotonic() - started, 1)
    if store:
        MLConfig.objects.filter(pk=ml_config(project).pk).update(learning_curves=result)
    return result


def plot_learning_curves(result: dict, path: Path) -> Path:
    """Accuracy and macro-F1 against labels used, the mean curve of each strategy (a band
    of one standard deviation across repeats); the random baseline dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for ax, metric, title in zip(
        axes, ("accuracy", "macro_f1"), ("Accuracy", "Macro-F1"), strict=True
    ):
        for name, data in result["strategies"].items():
            pts = [p for p in data["mean"] if p[metric] is not None]
            if not pts:
                continue
            x = np.array([p["labels"] for p in pts])
            y = np.array([p[metric] for p in pts])
            sd = np.array([p[f"{metric}_std"] or 0.0 for p in pts])
            style = {"linestyle": "--", "color": "black"} if name == BASELINE else {}
            (line,) = ax.plot(x, y, marker="o", markersize=3, label=name, **style)
            ax.fill_between(x, y - sd, y + sd, alpha=0.12, color=line.get_color())
        ax.set_title(title)
        ax.set_xlabel("labels used")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # labels come whole
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    if axes[0].get_legend_handles_labels()[0]:  # no curve when no round was measured
        axes[0].legend(loc="best", framealpha=0.85)  # "lower right" lay on the curves' ends
    s = result.get("settings", {})
    repeats = s.get("repeats")
    fig.suptitle(
        f"Active learning: pool {result.get('pool_size')}, test {result.get('test_size')}, "
        + ("1 run" if repeats == 1 else f"mean of {repeats} runs")
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
