"""A project of many clips, many labels and many model versions, as an exploratory tester built
it in session 21: what a lead waits for when merging a label, what the model page polls, and
what the dashboard takes, before and after the changes that session made.

    .venv/bin/python benchmarks/large_project.py [--clips 20000] [--labels 500] [--versions 60]

Figures (the database's own time, Django's test client, SQLite): in RESULTS.md, "A large
project". The baseline columns there are the tester's, measured on the code before.
"""

from __future__ import annotations

import argparse
import random
import time

from _stack import setup, synthesize_clips


def make_data(n_clips: int, n_labels: int, n_versions: int):
    from django.contrib.auth import get_user_model

    from labelapp.services.projects import membership_set, project_create
    from ml_backend.models import MLConfig, ModelVersion, Prediction
    from ontology.services import label_create

    lead = get_user_model().objects.create_user("bench-lead", password="x")
    project = project_create(name="large", label_mode="single", created_by=lead)
    membership_set(project=project, user=lead, role="lead")
    MLConfig.objects.update_or_create(project=project, defaults={"enabled": False})
    parents = [label_create(ontology=project.ontology, name=f"group{g}") for g in range(10)]
    labels = [
        label_create(ontology=project.ontology, name=f"label{i}", parent=parents[i % 10])
        for i in range(n_labels - 10)
    ]
    ids = [lb.pk for lb in parents + labels]
    clips = synthesize_clips(project, n_clips)
    rng = random.Random(0)
    metrics = {
        "accuracy": 0.8,
        "macro_f1": 0.7,
        "evaluated_on": "validation",
        "per_class": {str(i): {"precision": 0.5, "recall": 0.5, "f1": 0.5} for i in ids},
        "confusion": [[rng.randint(0, 3) for _ in ids] for _ in ids],
    }
    versions = [
        ModelVersion(
            project=project,
            version=v,
            name=f"v{v}",
            status="active" if v == n_versions else "archived",
            metrics=metrics,
            classes=ids,
            training_size=100 * v,
        )
        for v in range(1, n_versions + 1)
    ]
    ModelVersion.objects.bulk_create(versions)
    active = ModelVersion.objects.get(project=project, status="active")
    scores = {str(i): round(rng.random() / len(ids), 5) for i in ids}
    Prediction.objects.bulk_create(
        (
            Prediction(clip=c, model_version=active, clip_scores=scores, segments=[], score=0.1)
            for c in clips
        ),
        batch_size=1000,
    )
    return project, lead, labels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=20000)
    parser.add_argument("--labels", type=int, default=500)
    parser.add_argument("--versions", type=int, default=60)
    args = parser.parse_args()
    setup("large-project")
    from django.test import Client

    started = time.perf_counter()
    project, lead, labels = make_data(args.clips, args.labels, args.versions)
    print(
        f"data: {args.clips} clips, {args.labels} labels, {args.versions} versions, "
        f"{args.clips} predictions of {args.labels} scores ({time.perf_counter() - started:.0f} s)"
    )
    client = Client()
    client.force_login(lead)

    def timed(method, url, **kw):
        t0 = time.perf_counter()
        res = getattr(client, method)(url, **kw)
        return res, (time.perf_counter() - t0) * 1000

    res, ms = timed("get", f"/api/projects/{project.pk}/model/")
    print(f"model overview (the model page polls it): {len(res.content) / 1e3:.0f} kB, {ms:.0f} ms")
    res, ms = timed("get", f"/projects/{project.pk}/dashboard/")
    print(f"dashboard page: {res.status_code}, {ms:.0f} ms")
    url = f"/api/projects/{project.pk}/ontology/labels/{labels[0].pk}/merge/"
    res, ms = timed("post", url, data={"into": labels[1].pk}, content_type="application/json")
    print(
        f"merge of an unused label (the request; the predictions follow in the worker): "
        f"{res.status_code}, {ms:.0f} ms"
    )
    from ontology.merge import predictions_relabel

    t0 = time.perf_counter()
    n = predictions_relabel(ontology_id=project.ontology_id, mapping={labels[0].pk: labels[1].pk})
    print(
        f"the worker's rewrite of the predictions: {n} rows, "
        f"{(time.perf_counter() - t0) * 1000:.0f} ms in batches of 500"
    )


if __name__ == "__main__":
    main()
