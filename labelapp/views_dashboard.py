"""The project dashboard: charts drawn on the server for leads and reviewers, and the same
figures as JSON for scripts (``GET /api/projects/<id>/dashboard/``)."""

from __future__ import annotations

import re
from datetime import date

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from labelapp import plots, selectors
from labelapp.services.dashboard import THROUGHPUT_SERIES, dashboard_jobs, project_dashboard
from labelapp.services.dashboard_model import ON_TRAINING_SET
from labelapp.views import or_404

DASHBOARD_ROLES = (selectors.LEAD, selectors.REVIEWER)
STATE_COLORS = {
    "labeled": plots.OK,
    "in_review": plots.ACCENT,
    "fixing": "#f08c5a",
    "partial": "#4fd1e8",
    "skipped": plots.WARN,
    "unlabeled": "#3a4354",
    "processing": "#b48cff",
    "failed": plots.BAD,
}
MAX_TREE_ROWS = 60
MAX_MATRIX_CLASSES = 40


@login_required
def dashboard_page(request, project_id: int):
    project = or_404(selectors.project_for_user, request.user, project_id, DASHBOARD_ROLES)
    data = project_dashboard(project)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "project": project,
            "is_lead": selectors.role_in_project(request.user, project) == selectors.LEAD,
            "data": data,
            "summary": dashboard_summary(data),
            "charts": dashboard_charts(data),
        },
    )


class ProjectDashboardApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        """Every figure of the project's dashboard (leads and reviewers)."""
        project = selectors.project_for_user(request.user, project_id, DASHBOARD_ROLES)
        return Response(project_dashboard(project))


class ProjectDashboardJobsApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        """The project's recent jobs with progress; the dashboard polls it while one runs."""
        project = selectors.project_for_user(request.user, project_id, DASHBOARD_ROLES)
        return Response({"jobs": dashboard_jobs(project)})


def dashboard_summary(data: dict) -> dict:
    """The headline figures, formatted for the stat tiles and tables of the page."""
    pct = plots.fmt
    progress = data["progress"]
    active = next((v for v in data["model_history"] if v["status"] == "active"), None)
    agreement = data["agreement"]
    overall = agreement.get("overall", {}) if agreement.get("available") else {}
    clip_labels = overall.get("clip_labels") or {}
    # Multi-label: over the labels someone chose on a clip (all of them: near 100% with a large
    # ontology, whatever the annotators did); single-label projects have only the one figure.
    chosen = clip_labels.get("observed_agreement_chosen")
    observed = chosen if chosen is not None else clip_labels.get("observed_agreement")
    segments = overall.get("segments") or {}
    clips = agreement.get("clips", []) if agreement.get("available") else []
    mvh = data["model_vs_humans"]
    versions = []
    for v in mvh.get("versions", []) if mvh.get("available") else []:
        score = v.get("accuracy") if "accuracy" in v else v.get("f1")
        versions.append(
            {
                "name": v.get("name"),
                "status": v.get("status"),
                "n_clips": v.get("n_clips"),
                "score": pct(score, percent=True),
                "acceptance": pct((v.get("suggestions") or {}).get("acceptance_rate"), True),
                "suggestions": (v.get("suggestions") or {}).get("n", 0),
                "mode_changed": bool(v.get("trained_as"))
                and v.get("trained_as") != mvh.get("label_mode"),
                "trained_as": v.get("trained_as"),
            }
        )
    days = data["throughput"]["days"]
    annotators = []
    for a in data["throughput"]["annotators"]:
        best = max(range(len(days)), key=lambda i: (a["counts"][i], i))
        annotators.append(
            {
                "username": a["username"],
                "total": a["total"],
                "active_days": sum(1 for n in a["counts"] if n),
                "best_n": a["counts"][best],
                "best_day": date.fromisoformat(days[best]).strftime("%d %b"),
            }
        )
    return {
        "annotators": annotators,
        "done": pct(progress["done_fraction"], percent=True),
        "active": active,
        "active_accuracy": pct(active["accuracy"], percent=True) if active else None,
        # On the training set when there were too few labels to hold some out (it read as a
        # plain "100.0% accuracy" beside a model agreeing with people 40% of the time).
        "active_accuracy_kind": (
            "training accuracy (too few labels to hold out)"
            if active and active.get("evaluated_on") == "training"
            else "validation accuracy"
        ),
        "kappa": clip_labels.get("krippendorff_alpha"),
        "kappa_text": pct(clip_labels.get("krippendorff_alpha")),
        "fleiss_text": pct(clip_labels.get("fleiss_kappa")),
        "observed_text": pct(observed, percent=True),
        "observed_what": "observed agreement" + (", labels chosen" if chosen is not None else ""),
        "segment_f1_text": pct(segments.get("f1"), percent=True),
        "compared_clips": overall.get("n_clips", 0),
        # The clips the κ and α are computed over: those every annotator gave a clip label
        # (a clip labeled through segments alone has none); "clips compared" counts them all.
        "label_units": clip_labels.get("n_units"),
        "disagreements": [c for c in clips if c.get("disagreement") and not c.get("settled")][:8],
        "disagreement_count": sum(
            1 for c in clips if c.get("disagreement") and not c.get("settled")
        ),
        "against_others": _against_others(agreement),
        "mvh_metric": "accuracy" if mvh.get("label_mode") != "multi" else "micro-F1",
        "mvh_versions": versions,
        "mvh_compared": any(v["n_clips"] for v in versions),
        "mvh_mode_changed": any(v["mode_changed"] for v in versions),
        "versions": [
            {
                **v,
                "accuracy": pct(v["accuracy"], percent=True),
                "macro_f1": pct(v["macro_f1"], percent=True),
                "mAP": pct(v["mAP"], percent=True),
            }
            for v in reversed(data["model_history"])
        ],
    }


def dashboard_charts(data: dict) -> dict:
    """The SVG figures of the page, keyed by panel; a missing key means "no data yet"."""
    charts: dict = {}
    progress = data["progress"]
    if progress["total"]:
        parts = [(s["name"], s["clips"], STATE_COLORS[s["key"]]) for s in progress["states"]]
        charts["progress"] = plots.stacked_bar(parts, title="Clips by state", unit="clips")
    charts["throughput"] = _throughput(data["throughput"])
    rows = data["label_distribution"]
    if len(rows) > MAX_TREE_ROWS:
        rows = [r for r in rows if r["total"]][:MAX_TREE_ROWS]
    if rows:
        charts["labels"] = plots.tree_bars(rows, title="Clips per label, narrower labels rolled up")
    elif data["label_distribution"]:  # a large ontology none of whose labels is used yet
        n = len(data["label_distribution"])
        charts["labels_note"] = f"No clip has a label yet ({n} labels in the ontology)."
    charts.update(_model_charts(data))
    charts.update(_drift(data["drift"]))
    charts.update(_agreement(data["agreement"]))
    return charts


def _throughput(tp: dict) -> str | None:
    if not tp["total"]:
        return None
    people = tp["annotators"]
    shown, rest = people[:THROUGHPUT_SERIES], people[THROUGHPUT_SERIES:]
    series = [
        (p["username"], p["counts"], plots.PALETTE[i % len(plots.PALETTE)])
        for i, p in enumerate(shown)
    ]
    if rest:
        others = [sum(p["counts"][i] for p in rest) for i in range(len(tp["days"]))]
        series.append((f"{len(rest)} others", others, plots.MUTED))
    days = [date.fromisoformat(d).strftime("%d %b") for d in tp["days"]]
    return plots.stacked_columns(
        days,
        series,
        title="Clips submitted per day and annotator, last 30 days",
        x_label="day",
        y_label="clips submitted",
    )


def _model_charts(data: dict) -> dict:
    out: dict = {}
    history = [v for v in data["model_history"] if v["accuracy"] is not None]
    if history:
        series = []
        # Figures on a training set (too few labels to hold any out) are not joined to the
        # validated ones: 100% -> 100% -> 85% read as a regression.
        held_out = [v for v in history if v["evaluated_on"] != "training"]
        on_training = [v for v in history if v["evaluated_on"] == "training"]

        def where(v):
            return f"{v['name']}, {v['training_size']} clips, {v['evaluated_on'] or 'evaluated'}"

        for key, name, color in (
            ("accuracy", "accuracy", plots.ACCENT),
            ("macro_f1", "macro-F1", plots.OK),
            ("mAP", "mAP", plots.WARN),
        ):
            shown = [v for v in held_out if v[key] is not None]
            if shown:
                pts = [(v["version"], v[key]) for v in shown]
                series.append(plots.Series(name, pts, color, labels=[where(v) for v in shown]))
        if on_training:
            pts = [(v["version"], v["accuracy"]) for v in on_training]
            series.append(
                plots.Series(
                    "accuracy on the training set",
                    pts,
                    plots.MUTED,
                    dashed=True,
                    labels=[where(v) for v in on_training],
                )
            )
        out["history"] = plots.line_chart(
            series,
            title="Metrics of each trained version",
            x_label="model version",
            y_label="score",
            y_range=(0.0, 1.0),
            percent=True,
            x_ticks=[(v["version"], v["name"]) for v in history],
        )
    curves = data["learning_curves"]
    if curves["strategies"]:
        for metric, title in (("macro_f1", "Macro-F1"), ("accuracy", "Accuracy")):
            series = []
            for i, (name, pts) in enumerate(curves["strategies"].items()):
                shown = [p for p in pts if p.get(metric) is not None]
                xy = [(p["labels"], p[metric]) for p in shown]
                # random's baseline, and figures on a training set: not progress to read
                random = name in ("random", ON_TRAINING_SET)
                color = plots.MUTED if random else plots.PALETTE[i % len(plots.PALETTE)]
                where = [
                    f"{p['version']}, {p['labels']} labels" if p.get("version") else ""
                    for p in shown
                ]
                labels = where if any(where) else []
                series.append(plots.Series(name, xy, color, dashed=random, labels=labels))
            out[f"curve_{metric}"] = plots.line_chart(
                series,
                title=f"{title} against labels used",
                x_label="labels used",
                y_label=title,
                y_range=(0.0, 1.0),
                percent=True,
                x_whole=True,
            )
    out.update(_confusion(data))
    return out


def short_names(paths: list[str]) -> list[str]:
    """Each label path's last part, or as many of its last parts as tell it apart from the
    others' ("a/alpha" and "b/alpha", not "alpha" twice). A class gone from the tree keeps a
    short note: "digit/six (merged into digit/seven)" is "six (merged)" (it read "seven)")."""
    notes = [_GONE.search(p) for p in paths]
    paths = [p[: m.start()] if m else p for p, m in zip(paths, notes, strict=True)]
    short = _short_paths(paths)
    return [f"{n} ({m['what']})" if m else n for n, m in zip(short, notes, strict=True)]


_GONE = re.compile(r" \((?P<what>merged|deleted)\b[^()]*\)$")


def _short_paths(paths: list[str]) -> list[str]:
    parts = [p.split("/") for p in paths]
    depth = [1] * len(paths)
    while True:
        names = ["/".join(pp[-d:]) for pp, d in zip(parts, depth, strict=True)]
        seen: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            seen.setdefault(name, []).append(i)
        grow = [
            i for same in seen.values() if len(same) > 1 for i in same if depth[i] < len(parts[i])
        ]
        if not grow:
            return names
        for i in grow:
            depth[i] += 1


def _confusion(data: dict) -> dict:
    cm = data["confusion"]
    if cm is None:
        return {}
    labels, matrix, full = cm["labels"], cm["matrix"], cm["labels"]
    if matrix is None:
        matrix, labels = _confusion_from_suggestions(data, cm)
        full = labels
    if matrix:
        if len(labels) > MAX_MATRIX_CLASSES:
            # The classes with the most true examples; the rest would be unreadable slivers.
            keep = sorted(range(len(labels)), key=lambda i: -sum(matrix[i]))[:MAX_MATRIX_CLASSES]
            keep.sort()
            matrix = [[matrix[i][j] for j in keep] for i in keep]
            full = [full[i] for i in keep]
        short = short_names(full)
        return {
            "confusion": plots.heatmap(
                short, matrix, title=f"Confusion matrix of {cm['version']}", full_names=full
            )
        }
    if cm["per_class_f1"]:
        items = list(zip(cm["labels"], cm["per_class_f1"], strict=True))
        return {
            "confusion": plots.bar_chart(
                items,
                title=f"F1 per label of {cm['version']}",
                value_label="F1",
                percent=True,
                max_value=1.0,
            )
        }
    return {}


def _confusion_from_suggestions(data: dict, cm: dict) -> tuple[list | None, list]:
    """Multi-label models store no confusion matrix; the active version's suggestions against
    the humans' final labels (``model_vs_humans``, deepest level) stand in when available."""
    mvh = data["model_vs_humans"]
    if not mvh.get("available"):
        return None, cm["labels"]
    for version in mvh.get("versions", []):
        if version.get("name") == cm["version"] and version.get("levels"):
            level = version["levels"][-1]
            cm["source"] = "suggestions against the annotators' labels"
            return level["matrix"], level["labels"]
    return None, cm["labels"]


def _drift(drift: dict) -> dict:
    if not drift.get("available"):
        return {}
    bands = range(drift["n_mels"])
    t = drift["thresholds"]["smd"]
    smd = plots.line_chart(
        [plots.Series("standardized mean difference", list(zip(bands, drift["smd"], strict=True)))],
        title="Shift of each mel band, new clips against the model's clips",
        x_label="mel band (low to high frequency)",
        y_label="mean shift (pooled SD)",
        guides=[(t, f"+{t}"), (-t, f"−{t}")],
    )
    mean = plots.line_chart(
        [
            plots.Series(
                "the model's clips",
                list(zip(bands, drift["reference"]["mean"], strict=True)),
                plots.MUTED,
                dashed=True,
                markers=False,
            ),
            plots.Series(
                "new clips",
                list(zip(bands, drift["current"]["mean"], strict=True)),
                plots.BAD if drift["flagged"] else plots.ACCENT,
                markers=False,
            ),
        ],
        title="Mean log-mel energy per band",
        x_label="mel band (low to high frequency)",
        y_label="log mel energy",
    )
    return {"drift_smd": smd, "drift_mean": mean}


def _against_others(agreement: dict) -> list[dict]:
    """Annotators who differ from the others' majority, most often first."""
    rows = []
    for a in agreement.get("annotators", []) if agreement.get("available") else []:
        said = a.get("against_others")
        if not said or not said["n_differ"]:
            continue
        share = plots.fmt(said["n_differ"] / said["n_clips"], True)
        rows.append({"username": a["username"], "share": share, **said})
    # most differences first: one of one clip (100%) sat above 7 of 29
    rows.sort(key=lambda r: (-r["n_differ"], -r["n_differ"] / r["n_clips"], r["username"]))
    return rows


def _agreement(agreement: dict) -> dict:
    if not agreement.get("available"):
        return {}
    out: dict = {}
    labels = [
        (row["label"], row["kappa"])
        for row in agreement.get("labels", [])
        if row.get("kappa") is not None
    ]
    if labels:
        labels.sort(key=lambda lv: lv[1])
        out["agreement_labels"] = plots.bar_chart(
            labels[:25],
            title="Agreement per label (Fleiss' kappa), lowest first",
            value_label="kappa",
            max_value=1.0,
        )
    # How many clips each figure rests on, beside it: one who labeled 14 clips (skipping half)
    # at 96.5% and a reviewer's one clip at 100% read as the team's best.
    rows = [row for row in agreement.get("annotators", []) if row.get("agreement") is not None]
    if rows:
        out["agreement_annotators"] = plots.bar_chart(
            [(row["username"], row["agreement"]) for row in rows],
            notes=[f"{row['n_clips']} clip{'' if row['n_clips'] == 1 else 's'}" for row in rows],
            title="Agreement of each annotator with the others",
            value_label="share of pairs agreeing",
            color=plots.OK,
            percent=True,
            max_value=1.0,
        )
    return out
