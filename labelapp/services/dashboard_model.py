"""How the project's model is doing, for its dashboard: the metrics of each trained version,
the learning curves, and the confusion matrix of the active version.

The history is read once (``dashboard_model_history``) and handed to the other two, which
only reshape what training and ``simulate_al`` stored; nothing here evaluates a model.
"""

from __future__ import annotations

from labelapp.models import Project


def dashboard_model_history(project: Project) -> list[dict]:
    """Trained versions, oldest first, with the headline metrics training stores
    (``ml_backend.train``: accuracy, macro_f1, mAP on the validation split, or on the
    training set when there were too few labels to hold any out). One query, which reads
    those figures out of the metrics in the database: whole, with per-class figures and
    confusion matrices, 60 versions of a 500-label project took 1.1 s to read."""
    from ml_backend.models import ModelVersion
    from ml_backend.selectors import versions_with_headlines

    versions = versions_with_headlines(
        ModelVersion.objects.filter(project=project)
        .exclude(status__in=[ModelVersion.Status.EXTERNAL, ModelVersion.Status.FAILED])
        .order_by("version")
    )
    out = []
    for v in versions:
        m = v.headline
        out.append(
            {
                "id": v.pk,
                "version": v.version,
                "name": v.name,
                "status": v.status,
                "training_size": v.training_size,
                "accuracy": m.get("accuracy"),
                "macro_f1": m.get("macro_f1"),
                "mAP": m.get("mAP", m.get("map")),
                "evaluated_on": m.get("evaluated_on") or m.get("split"),
                "n": m.get("n"),
            }
        )
    return out


def dashboard_learning_curves(project: Project, history: list[dict]) -> dict:
    """The project's learning curves: the last ``simulate_al`` result when there is one
    (mean accuracy and macro-F1 per strategy against labels used), else the real curve of
    its trained versions (their metrics against their training-set size). One query."""
    from ml_backend.models import MLConfig

    stored = (
        MLConfig.objects.filter(project=project).values_list("learning_curves", flat=True).first()
    )
    if stored and stored.get("strategies"):
        return {
            "source": "simulation",
            "created_at": stored.get("created_at"),
            "pool_size": stored.get("pool_size"),
            "test_size": stored.get("test_size"),
            "settings": stored.get("settings", {}),
            "strategies": {
                name: [
                    {k: p.get(k) for k in ("labels", "accuracy", "macro_f1")}
                    for p in data.get("mean", [])
                ]
                for name, data in stored["strategies"].items()
            },
        }
    # Each point names its version: a later version can have trained on fewer clips (ties
    # left out once a second annotator disagreed), and the line then ran back in labels.
    # Figures on the training set (too few labels to hold any out: 100% at 30 labels) are a
    # line of their own: in one line with the validated ones they read as progress.
    lines: dict[str, list[dict]] = {}
    for v in history:
        if v["accuracy"] is None:
            continue
        line = ON_TRAINING_SET if v["evaluated_on"] == "training" else VALIDATED
        lines.setdefault(line, []).append(
            {
                "labels": v["training_size"],
                "accuracy": v["accuracy"],
                "macro_f1": v["macro_f1"],
                "version": v["name"],
            }
        )
    ordered = {name: lines[name] for name in (VALIDATED, ON_TRAINING_SET) if name in lines}
    return {"source": "versions", "strategies": ordered}


VALIDATED = "trained versions (held-out validation)"
ON_TRAINING_SET = "on their training set (too few labels to hold any out)"


def dashboard_confusion(history: list[dict], labels: list[dict]) -> dict | None:
    """The confusion matrix of the active version, as training stored it (rows: true class,
    columns: predicted, in the model's class order), with label paths. Multi-label models
    store none; then the per-class F1 of the same evaluation stands in."""
    from ml_backend.models import ModelVersion

    active = next((v for v in history if v["status"] == "active"), None)
    if active is None:
        return None
    full = (
        ModelVersion.objects.filter(pk=active["id"])
        .values("metrics", "classes", "project__ontology_id")
        .first()
    )
    if full is None:  # replaced since the history was read
        return None
    paths = {lb["id"]: lb["path"] for lb in labels}
    ids = list(full["classes"] or [])
    if any(i not in paths for i in ids):  # merged away or deleted since the training
        from ontology.selectors import gone_label_names

        paths |= gone_label_names(full["project__ontology_id"], ids)
    # Shown in the tree's order (`labels`), not the model's (its classes came sorted by
    # path: eight, five, four, ...): rows and columns permuted alike.
    place = {lb["id"]: i for i, lb in enumerate(labels)}
    order = sorted(range(len(ids)), key=lambda i: (place.get(ids[i], len(place)), i))
    classes = [paths.get(ids[i], f"#{ids[i]}") for i in order]
    m = full["metrics"] or {}
    out = {
        "version": active["name"],
        "evaluated_on": active["evaluated_on"],
        "n": active["n"],
        "labels": classes,
        "matrix": None,
        "per_class_f1": None,
    }
    matrix = m.get("confusion")
    if matrix and len(matrix) == len(classes) and all(len(row) == len(classes) for row in matrix):
        out["matrix"] = [[matrix[r][c] for c in order] for r in order]
    elif m.get("per_class") and len(m["per_class"]) == len(classes):
        out["per_class_f1"] = [m["per_class"][i].get("f1") for i in order]
    return out
