"""Agreement of a large project: `project_agreement` on N clips, each labeled by every one of
A annotators, against the baseline of the same figures computed with every unit written out
(one unit per clip in single-label projects, per clip x label in multi-label ones: what the
service did before it counted the units nobody said "yes" to). Both must agree to 4 digits.

    .venv/bin/python benchmarks/agreement.py [--clips 20000] [--annotators 3] [--mode multi]
"""

from __future__ import annotations

import argparse
import random
import time


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--clips", type=int, default=20_000)
    p.add_argument("--annotators", type=int, default=3)
    p.add_argument("--labels", type=int, default=60, help="labels in the ontology")
    p.add_argument("--used", type=int, default=10, help="labels the annotators choose from")
    p.add_argument("--mode", choices=("multi", "single"), default="multi")
    return p.parse_args()


def _listed_figures(rows: dict, multi: bool) -> dict:
    """The overall figures with every unit listed, from the service's own annotation rows."""
    from labelapp.services.agreement import NONE_LABEL, _category_table, _expand
    from labelapp.services.agreement_stats import (
        _pairwise_agreement,
        fleiss_kappa,
        krippendorff_alpha_nominal,
    )

    by_clip: dict[int, dict[int, object]] = {}
    for row in rows.values():
        labels = row["labels"]
        value = _expand(labels) if multi else (sorted(labels)[0] if labels else NONE_LABEL)
        by_clip.setdefault(row["clip_id"], {})[row["annotator_id"]] = value
    compared = [vals for vals in by_clip.values() if len(vals) >= 2]
    if multi:
        universe = sorted({p for vals in compared for v in vals.values() for p in v})
        units = [[p in v for v in vals.values()] for vals in compared for p in universe]
    else:
        units = [list(vals.values()) for vals in compared]
    if not units:
        raise SystemExit("no clip has two annotations: nothing to compare")
    return {
        "n_units": len(units),
        "observed_agreement": sum(_pairwise_agreement(u) for u in units) / len(units),
        "fleiss_kappa": fleiss_kappa(_category_table(units)),
        "krippendorff_alpha": krippendorff_alpha_nominal(units),
    }


def main() -> None:
    args = _args()
    from _stack import setup, synthesize_clips

    setup("agreement")
    from django.contrib.auth import get_user_model

    from labelapp.models import Annotation, ClipLabel, Project
    from labelapp.services.agreement import _annotation_rows, project_agreement
    from labelapp.services.projects import project_create
    from ontology.services import label_create

    multi = args.mode == "multi"
    project = project_create(name="agreement", target_sample_rate=16000)
    Project.objects.filter(pk=project.pk).update(
        label_mode=Project.LabelMode.MULTI if multi else Project.LabelMode.SINGLE,
        annotation_mode=Project.AnnotationMode.CLIP,
    )
    project.refresh_from_db()
    labels = [label_create(ontology=project.ontology, name=f"l{i}") for i in range(args.labels)]
    user_model = get_user_model()
    users = [
        user_model.objects.create_user(f"a{i}", password="bench") for i in range(args.annotators)
    ]
    print(
        f"{args.clips} clips x {args.annotators} annotators, {args.mode}-label, "
        f"{args.used} of {args.labels} labels in use: writing rows...",
        flush=True,
    )
    clips = synthesize_clips(project, args.clips, duration=5.0)
    annotations = Annotation.objects.bulk_create(
        Annotation(clip=c, annotator=u) for c in clips for u in users
    )
    # Each clip has its own labels; an annotator keeps each with probability 0.8 and adds a
    # stray one with probability 0.2, so the figures sit between chance and full agreement.
    rng = random.Random(0)
    used = labels[: args.used]
    truth = {c.pk: rng.sample(used, rng.randint(1, 3) if multi else 1) for c in clips}
    rows = []
    for a in annotations:
        chosen = [lab for lab in truth[a.clip_id] if rng.random() < 0.8]
        if rng.random() < 0.2 or not chosen:
            stray = rng.choice(used)
            chosen = [stray] if not multi else [*chosen, stray]
        rows.extend(ClipLabel(annotation=a, label=lab) for lab in dict.fromkeys(chosen))
    ClipLabel.objects.bulk_create(rows)

    started = time.perf_counter()
    report = project_agreement(project)
    service_s = time.perf_counter() - started
    started = time.perf_counter()
    listed = _listed_figures(_annotation_rows(project), multi)
    listed_s = time.perf_counter() - started

    figures = report["overall"]["clip_labels"]
    print(f"project_agreement (the whole report): {service_s:.2f} s")
    print(
        f"baseline, the overall figures alone with every unit listed: {listed_s:.2f} s "
        f"({listed['n_units']} units)"
    )
    print(f"ratio (report / baseline): {service_s / listed_s:.2f}")
    for key, value in listed.items():
        mine = figures[key]
        if mine is None or value is None or key == "n_units":
            same = mine == value
        else:
            same = abs(mine - value) < 1e-4
        shown = value if value is None else round(value, 4)
        print(f"  {key}: report {mine}, listed {shown}: {'same' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit(f"{key} differs from the listed computation")


if __name__ == "__main__":
    main()
