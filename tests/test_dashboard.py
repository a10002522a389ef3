"""The project dashboard: its figures against hand-built data, a query count that does not
grow with the project, escaping of user-given label names, and who may see it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelapp import plots
from labelapp.models import Annotation, AnnotationRevision, Clip, ImportJob, Membership
from labelapp.services.agreement import project_agreement
from labelapp.services.annotations import (
    AnnotationInput,
    annotation_save,
    annotation_skip,
    annotation_submit,
)
from labelapp.services.dashboard import (
    dashboard_jobs,
    dashboard_label_distribution,
    dashboard_progress,
    dashboard_throughput,
    project_dashboard,
)
from labelapp.services.projects import membership_set
from ml_backend.dataset import feature_config_for, features_root
from ml_backend.drift_service import project_drift
from ml_backend.features import cache_path
from ml_backend.models import MLConfig, ModelVersion, TrainingRun
from ontology.models import Label
from ontology.services import label_get_or_create_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Drift results are cached by project id, which SQLite hands out again after a test."""
    cache.clear()
    yield
    cache.clear()


def make_clip(project, name: str | None = None, status: str = "ready", **extra) -> Clip:
    name = name or f"{uuid.uuid4().hex[:8]}.wav"
    return Clip.objects.create(
        project=project,
        file=f"originals/{name}",
        sha256=uuid.uuid4().hex + uuid.uuid4().hex,
        original_name=name,
        duration=2.0,
        sample_rate=16000,
        channels=1,
        status=status,
        **extra,
    )


@pytest.fixture
def annotators(project, annotator, make_user):
    """Three annotators of the project: ann (the fixture's), bob and cat."""
    people = [annotator]
    for name in ("bob", "cat"):
        user = make_user(name)
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
        people.append(user)
    return people


@pytest.fixture
def tree(project):
    """animals/{birds/{robin,sparrow},mammals/fox,insects}, and noise."""
    paths = [
        "animals/birds/robin",
        "animals/birds/sparrow",
        "animals/mammals/fox",
        "animals/insects",
        "noise",
    ]
    for path in paths:
        label_get_or_create_path(ontology=project.ontology, path=path)
    return {lb.path: lb for lb in Label.objects.filter(ontology=project.ontology)}


def _row(rows, path):
    return next(r for r in rows if r["path"] == path)


# --- progress ---------------------------------------------------------------------------


def test_progress_puts_each_clip_in_exactly_one_state(project, annotators, tree):
    """Two annotations per clip wanted. By hand: c1 two submitted (in review), c2 two
    accepted (labeled), c3 one submitted (partial), c4 one skip (skipped), c5 nothing
    (unlabeled), c6 pending (processing), c7 failed, c8 two accepted but sent to adjudication
    (in review), c9 one submitted and one skip (partial), c10 one submitted and one rejected
    (waiting for its fix: it was "partial" while no queue offered it), c11 its only annotation
    rejected (it was "unlabeled")."""
    project.annotations_per_clip = 2
    project.save()
    a, b, _ = annotators
    c = {i: make_clip(project, f"c{i}.wav") for i in (1, 2, 3, 4, 5, 8, 9, 10, 11)}
    c[6] = make_clip(project, "c6.wav", status="pending")
    c[7] = make_clip(project, "c7.wav", status="failed")
    robin = ["animals/birds/robin"]
    for i in (1, 2, 8):
        annotation_submit(clip=c[i], user=a, clip_labels=robin)
        annotation_submit(clip=c[i], user=b, clip_labels=robin)
    Annotation.objects.filter(clip__in=[c[2], c[8]]).update(status="accepted")
    Clip.objects.filter(pk=c[8].pk).update(needs_adjudication=True)
    annotation_submit(clip=c[3], user=a, clip_labels=robin)
    annotation_skip(clip=c[4], user=a)
    annotation_submit(clip=c[9], user=a, clip_labels=robin)
    annotation_skip(clip=c[9], user=b)
    annotation_submit(clip=c[10], user=a, clip_labels=robin)
    annotation_submit(clip=c[10], user=b, clip_labels=robin)
    annotation_submit(clip=c[11], user=a, clip_labels=robin)
    Annotation.objects.filter(clip__in=[c[10], c[11]], annotator=a).update(status="rejected")
    from labelapp.services.annotations import clip_annotation_count_refresh

    for i in (10, 11):
        clip_annotation_count_refresh(c[i].pk)

    p = dashboard_progress(project)

    states = {s["key"]: s["clips"] for s in p["states"]}
    assert states == {
        "labeled": 1,
        "in_review": 2,
        "fixing": 2,
        "partial": 2,
        "skipped": 1,
        "unlabeled": 1,
        "processing": 1,
        "failed": 1,
    }
    assert sum(states.values()) == p["total"] == 11
    assert p["annotated"] == 3  # c1, c2, c8
    assert p["adjudication"] == 1
    assert p["done_fraction"] == round(3 / 11, 4)
    assert p["annotations"]["submitted"] == 5  # c1 twice, c3, c9, c10
    assert p["annotations"]["accepted"] == 4
    assert p["annotations"]["skipped"] == 2


# --- throughput -------------------------------------------------------------------------


def _submitted_on(annotation: Annotation, days_ago: int) -> None:
    when = timezone.now() - timedelta(days=days_ago)
    AnnotationRevision.objects.filter(annotation=annotation).update(created_at=when)


def test_throughput_counts_clips_per_annotator_per_day(project, annotators, tree, reviewer):
    ann, bob, cat = annotators
    robin = ["animals/birds/robin"]
    clips = [make_clip(project) for _ in range(9)]
    # ann: two clips today, one three days ago; a second save of a clip today counts once.
    for clip in clips[:2]:
        annotation_submit(clip=clip, user=ann, clip_labels=robin)
    annotation_submit(clip=clips[0], user=ann, clip_labels=["noise"])
    _submitted_on(annotation_submit(clip=clips[2], user=ann, clip_labels=robin), 3)
    # bob: one yesterday.
    _submitted_on(annotation_submit(clip=clips[3], user=bob, clip_labels=robin), 1)
    # cat: three 40 days ago (outside the window), one today.
    for clip in clips[4:7]:
        _submitted_on(annotation_submit(clip=clip, user=cat, clip_labels=robin), 40)
    annotation_submit(clip=clips[7], user=cat, clip_labels=robin)
    # Not anyone's throughput: an import by the system user, a reviewer's correction.
    annotation_save(
        clip=clips[8],
        user=reviewer,
        data=AnnotationInput(clip_labels=[tree["noise"]]),
        source=Annotation.Source.IMPORTED,
    )
    AnnotationRevision.objects.create(
        annotation=Annotation.objects.get(clip=clips[1], annotator=ann),
        version=99,
        author=reviewer,
        action="correct",
    )

    tp = dashboard_throughput(project)

    assert len(tp["days"]) == 30
    assert tp["days"][-1] == timezone.localdate().isoformat()
    by_name = {a["username"]: a["counts"] for a in tp["annotators"]}
    assert set(by_name) == {"ann-annotator", "bob", "cat"}
    assert by_name["ann-annotator"][-1] == 2
    assert by_name["ann-annotator"][-4] == 1
    assert sum(by_name["ann-annotator"]) == 3
    assert by_name["bob"][-2] == 1 and sum(by_name["bob"]) == 1
    assert by_name["cat"][-1] == 1 and sum(by_name["cat"]) == 1
    assert tp["total"] == 5
    assert [a["username"] for a in tp["annotators"]][0] == "ann-annotator"  # most first


# --- label distribution -----------------------------------------------------------------


def test_label_counts_roll_up_the_tree_counting_each_clip_once(project, annotators, tree):
    """By hand: clip1 has robin+sparrow (ann) and robin (bob); clip2 the clip label birds and
    a fox segment; clip3 noise; clip4 robin, but rejected (not counted).

    robin 1/1, sparrow 1/1, birds direct 1 (clip2) total 2 (clip1, clip2), fox 1/1, mammals
    0/1, animals 0/2 (clip1 and clip2, not 1+1+2), insects 0/0, noise 1/1."""
    ann, bob, _ = annotators
    c1, c2, c3, c4 = (make_clip(project) for _ in range(4))
    annotation_submit(
        clip=c1, user=ann, clip_labels=["animals/birds/robin", "animals/birds/sparrow"]
    )
    annotation_submit(clip=c1, user=bob, clip_labels=["animals/birds/robin"])
    annotation_submit(
        clip=c2,
        user=ann,
        clip_labels=["animals/birds"],
        segments=[{"start": 0.1, "end": 0.5, "labels": ["animals/mammals/fox"]}],
    )
    annotation_submit(clip=c3, user=ann, clip_labels=["noise"])
    annotation_submit(clip=c4, user=ann, clip_labels=["animals/birds/robin"])
    Annotation.objects.filter(clip=c4).update(status="rejected")

    rows = dashboard_label_distribution(project)

    got = {r["path"]: (r["direct"], r["total"]) for r in rows}
    assert got == {
        "animals": (0, 2),
        "animals/birds": (1, 2),
        "animals/birds/robin": (1, 1),
        "animals/birds/sparrow": (1, 1),
        "animals/insects": (0, 0),
        "animals/mammals": (0, 1),
        "animals/mammals/fox": (1, 1),
        "noise": (1, 1),
    }
    # tree order: the siblings' own order (as made), not the alphabet
    assert [r["path"] for r in rows] == [
        "animals",
        "animals/birds",
        "animals/birds/robin",
        "animals/birds/sparrow",
        "animals/mammals",
        "animals/mammals/fox",
        "animals/insects",
        "noise",
    ]
    assert _row(rows, "animals/birds/robin")["depth"] == 2


def test_label_distribution_of_an_empty_ontology_is_empty(project):
    assert dashboard_label_distribution(project) == []


# --- model, curves, confusion, jobs -----------------------------------------------------


@pytest.fixture
def model_versions(project, tree):
    robin, sparrow = tree["animals/birds/robin"], tree["animals/birds/sparrow"]
    ModelVersion.objects.create(
        project=project,
        version=1,
        name="v1",
        status="retired",
        training_size=20,
        metrics={"accuracy": 0.6, "macro_f1": 0.55, "mAP": 0.5, "evaluated_on": "training"},
        classes=[robin.pk, sparrow.pk],
    )
    return ModelVersion.objects.create(
        project=project,
        version=2,
        name="v2",
        status="active",
        training_size=70,
        metrics={
            "n": 10,
            "accuracy": 0.8,
            "macro_f1": 0.78,
            "mAP": 0.85,
            "confusion": [[5, 1], [1, 3]],
            "evaluated_on": "validation",
        },
        classes=[robin.pk, sparrow.pk],
    )


def test_model_history_curves_and_confusion_come_from_the_stored_metrics(project, model_versions):
    ModelVersion.objects.create(project=project, version=3, name="ls", status="external")
    data = project_dashboard(project)

    history = data["model_history"]
    assert [(v["name"], v["accuracy"], v["macro_f1"]) for v in history] == [
        ("v1", 0.6, 0.55),
        ("v2", 0.8, 0.78),
    ]
    assert history[1]["evaluated_on"] == "validation"
    cm = data["confusion"]
    assert cm["version"] == "v2"
    assert cm["labels"] == ["animals/birds/robin", "animals/birds/sparrow"]
    assert cm["matrix"] == [[5, 1], [1, 3]]
    # A model whose classes come in another order is shown in the tree's, rows and columns
    # alike (sorted by path, digits read eight, five, four, ...).
    ModelVersion.objects.filter(pk=model_versions.pk).update(
        classes=[model_versions.classes[1], model_versions.classes[0]]
    )
    cm = project_dashboard(project)["confusion"]
    assert cm["labels"] == ["animals/birds/robin", "animals/birds/sparrow"]
    assert cm["matrix"] == [[3, 1], [1, 5]]
    # Without a simulation the learning curve is the trained versions' own; v1's figures
    # are on its training set (too few labels to hold any out): a line of their own, or the
    # climb to 100% read as progress.
    curves = data["learning_curves"]
    assert curves["source"] == "versions"
    assert curves["strategies"] == {  # each point names its version
        "trained versions (held-out validation)": [
            {"labels": 70, "accuracy": 0.8, "macro_f1": 0.78, "version": "v2"}
        ],
        "on their training set (too few labels to hold any out)": [
            {"labels": 20, "accuracy": 0.6, "macro_f1": 0.55, "version": "v1"}
        ],
    }


def test_the_confusion_names_classes_merged_away_or_deleted_since_the_training(
    project, tree, model_versions
):
    """A class merged away was shown as "#8": named by the change log now."""
    from ontology.merge import label_merge
    from ontology.models import Label
    from ontology.services import label_delete

    robin, sparrow = tree["animals/birds/robin"], tree["animals/birds/sparrow"]
    label_merge(source=sparrow, target=robin)
    cm = project_dashboard(project)["confusion"]
    assert cm["labels"] == [
        "animals/birds/robin",
        "animals/birds/sparrow (merged into animals/birds/robin)",
    ]
    label_delete(label=Label.objects.get(path="animals"))  # robin goes with its parents
    assert project_dashboard(project)["confusion"]["labels"][0] == "animals/birds/robin (deleted)"


def test_a_simulation_replaces_the_versions_learning_curve(project, model_versions):
    point = {"labels": 10, "accuracy": 0.5, "macro_f1": 0.4, "n": 1}
    MLConfig.objects.create(
        project=project,
        learning_curves={
            "created_at": "2025-01-01T00:00:00+00:00",
            "pool_size": 100,
            "test_size": 20,
            "settings": {"repeats": 2},
            "strategies": {
                "margin": {"mean": [point, {**point, "labels": 20, "macro_f1": 0.7}]},
                "random": {"mean": [point, {**point, "labels": 20, "macro_f1": 0.5}]},
            },
        },
    )
    curves = project_dashboard(project)["learning_curves"]
    assert curves["source"] == "simulation"
    assert [p["macro_f1"] for p in curves["strategies"]["margin"]] == [0.4, 0.7]
    assert set(curves["strategies"]) == {"margin", "random"}


def test_jobs_of_every_kind_newest_first_with_progress(project, lead):
    old = ImportJob.objects.create(project=project, status="done", total=4, processed=4)
    ImportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    ImportJob.objects.create(project=project, status="running", total=10, processed=5)
    TrainingRun.objects.create(project=project, status="running", progress=0.4, message="epoch 2")

    jobs = dashboard_jobs(project)

    assert [(j["kind"], j["status"]) for j in jobs] == [
        ("training", "running"),
        ("import", "running"),
        ("import", "done"),
    ]
    assert jobs[0]["progress"] == 0.4 and jobs[0]["live"]
    assert jobs[1]["progress"] == 0.5
    assert jobs[2]["progress"] == 1.0 and not jobs[2]["live"]


# --- the page and the API ---------------------------------------------------------------


def test_the_page_draws_every_panel_with_real_figures(
    client, project, lead, annotators, tree, model_versions
):
    ann, bob, _ = annotators
    for _ in range(3):
        clip = make_clip(project)
        annotation_submit(clip=clip, user=ann, clip_labels=["animals/birds/robin"])
        annotation_submit(clip=clip, user=bob, clip_labels=["animals/birds/sparrow"])
    client.force_login(lead)

    response = client.get(f"/projects/{project.pk}/dashboard/")

    assert response.status_code == 200
    html = response.content.decode()
    for testid in ("panel-progress", "panel-throughput", "panel-labels", "panel-confusion"):
        assert f'data-testid="{testid}"' in html
    assert html.count("<svg") >= 6  # progress, throughput, labels, confusion, history, curve
    assert 'role="img"' in html and "<title" in html and "<desc" in html
    assert "Confusion matrix of v2" in html
    assert ">robin<" in html and ">sparrow<" in html
    # the learning curve's points name their versions (a later one may have trained on fewer)
    assert "<title>trained versions (held-out validation), v2, " in html
    # the metrics by version: v1's training-set figures are a line of their own, not joined
    # to v2's validated ones (100% -> 85% read as a regression)
    assert "<title>accuracy on the training set, v1, " in html
    assert "<title>accuracy, v1, " not in html and "<title>accuracy, v2, " in html
    # The stored n counts labeled examples (a clip, or a labeled span), as the training
    # scores them since it joins a clip's windows: "windows" was a count of clips.
    assert ">10 clips</span>" in html and "windows" not in html
    assert "80.0% validation accuracy" in html
    # a version scored on its own training set says so (it read as plain "accuracy")
    ModelVersion.objects.filter(pk=model_versions.pk).update(
        metrics={**model_versions.metrics, "evaluated_on": "training"}
    )
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "80.0% training accuracy (too few labels to hold out)" in html


@pytest.fixture
def hostile_label(project, annotator):
    """A label whose name is markup (a name may hold anything but `/`)."""
    name = '<script>alert("earmark")'
    label = Label.objects.create(ontology=project.ontology, name=name, path=name, depth=0)
    clip = make_clip(project)
    annotation_submit(clip=clip, user=annotator, clip_labels=[label.pk])
    ModelVersion.objects.create(
        project=project,
        version=1,
        name="v1",
        status="active",
        metrics={"accuracy": 1.0, "macro_f1": 1.0, "confusion": [[1, 0], [0, 1]]},
        classes=[label.pk, label.pk],
    )
    return name


def test_label_names_are_escaped_everywhere_on_the_page(client, project, lead, hostile_label):
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "<script>alert(" not in html
    assert "&lt;script&gt;alert(&quot;earmark&quot;)" in html


@pytest.mark.parametrize(
    "draw",
    [
        lambda n: plots.bar_chart([(n, 1.0)], title=n, value_label=n),
        lambda n: plots.stacked_bar([(n, 2, "#4f7cff")], title=n, unit=n),
        lambda n: plots.stacked_columns(
            ["d"], [(n, [1], "#4f7cff")], title=n, x_label=n, y_label=n
        ),
        lambda n: plots.line_chart(
            [plots.Series(n, [(0, 0.5), (1, 0.7)], labels=[n, n])],
            title=n,
            x_label=n,
            y_label=n,
            guides=[(0.5, n)],
        ),
        lambda n: plots.heatmap([n, n], [[1, 2], [3, 4]], title=n, full_names=[n, n]),
        lambda n: plots.tree_bars(
            [{"name": n, "path": n, "depth": 0, "total": 2, "direct": 1}], title=n
        ),
    ],
    ids=["bars", "stacked", "columns", "lines", "heatmap", "tree"],
)
def test_every_chart_escapes_the_strings_it_is_given(draw):
    html = str(draw('<img src=x onerror="alert(1)">'))
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert html.startswith('<figure class="plot-fig"><svg class="plot')


def test_the_api_answers_the_same_figures_as_json(client_for, project, lead, tree):
    clip = make_clip(project)
    ann = Membership.objects.get(project=project, role="annotator").user
    annotation_submit(clip=clip, user=ann, clip_labels=["noise"])

    response = client_for(lead).get(f"/api/projects/{project.pk}/dashboard/")

    assert response.status_code == 200
    body = response.json()
    assert body["progress"]["labeled"] == 0 and body["progress"]["in_review"] == 1
    assert _row(body["label_distribution"], "noise")["total"] == 1
    assert {"agreement", "model_vs_humans", "drift", "jobs", "throughput"} <= set(body)
    jobs = client_for(lead).get(f"/api/projects/{project.pk}/dashboard/jobs/")
    assert jobs.status_code == 200 and jobs.json() == {"jobs": []}


@pytest.mark.parametrize(
    ("who", "page_status", "api_status"),
    [
        ("lead", 200, 200),
        ("reviewer", 200, 200),
        ("annotator", 403, 403),
        ("outsider", 404, 404),
    ],
)
def test_only_leads_and_reviewers_see_the_dashboard(
    request, client, client_for, project, other_project, who, page_status, api_status
):
    user = request.getfixturevalue(who)
    client.force_login(user)
    assert client.get(f"/projects/{project.pk}/dashboard/").status_code == page_status
    api = client_for(user)
    assert api.get(f"/api/projects/{project.pk}/dashboard/").status_code == api_status
    assert api.get(f"/api/projects/{project.pk}/dashboard/jobs/").status_code == api_status


def test_a_refused_page_says_why_and_links_back(client, project, annotator, outsider):
    client.force_login(annotator)
    refused = client.get(f"/projects/{project.pk}/dashboard/")
    html = refused.content.decode()
    assert refused.status_code == 403 and 'data-testid="error-403"' in html
    assert "Your role in this project (annotator) does not allow this." in html
    assert '<a href="/">Back to your projects</a>' in html
    assert "Log out ann-annotator" in html  # in the site's own frame
    client.force_login(outsider)
    hidden = client.get(f"/projects/{project.pk}/dashboard/")
    assert hidden.status_code == 404 and 'data-testid="error-404"' in hidden.content.decode()


def test_a_form_over_the_data_limit_gets_the_sites_400_page(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = client.post("/accounts/login/", {"username": "x" * 500, "password": "y"})
    html = response.content.decode()
    assert response.status_code == 400 and 'data-testid="error-400"' in html
    assert "Nothing was saved." in html


@pytest.mark.parametrize(
    ("who", "linked"), [("lead", True), ("reviewer", True), ("annotator", False)]
)
def test_the_project_page_links_the_dashboard_for_those_who_may_see_it(
    request, client, project, who, linked
):
    client.force_login(request.getfixturevalue(who))
    html = client.get(f"/projects/{project.pk}/").content.decode()
    assert (f'href="/projects/{project.pk}/dashboard/"' in html) is linked


def test_anonymous_visitors_are_sent_to_log_in(client, client_for, project):
    response = client.get(f"/projects/{project.pk}/dashboard/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    assert client_for().get(f"/api/projects/{project.pk}/dashboard/").status_code in (401, 403)


def test_a_missing_project_is_404_not_500(client, lead):
    client.force_login(lead)
    assert client.get("/projects/999999/dashboard/").status_code == 404


# --- cost -------------------------------------------------------------------------------


def _fill(project, people, n_clips: int) -> None:
    labels = ["animals/birds/robin", "animals/mammals/fox", "noise"]
    for i in range(n_clips):
        clip = make_clip(project)
        for j, user in enumerate(people[: 1 + i % 3]):
            annotation_submit(clip=clip, user=user, clip_labels=[labels[(i + j) % 3]])


def test_the_dashboard_costs_the_same_queries_for_few_or_many_clips(
    project, annotators, tree, model_versions, django_assert_max_num_queries
):
    """Counting and grouping happen in the database: more clips, annotators and labels add no
    query. (The agreement panels belong to another module and are counted too.)"""
    _fill(project, annotators, 4)
    with CaptureQueriesContext(connection) as few:
        project_dashboard(project)
    _fill(project, annotators, 30)
    with CaptureQueriesContext(connection) as many:
        project_dashboard(project)
    assert len(many) == len(few)
    with django_assert_max_num_queries(40):
        project_dashboard(project)


def test_the_figures_of_a_large_project_arrive_in_a_fixed_handful_of_queries(
    project, annotators, tree, django_assert_max_num_queries
):
    """The core figures without the optional agreement panels: at most 12 queries."""
    _fill(project, annotators, 12)
    with django_assert_max_num_queries(12):
        dashboard_progress(project)
        dashboard_throughput(project)
        dashboard_label_distribution(project)
        dashboard_jobs(project)


# --- drift ------------------------------------------------------------------------------


def _cache_features(clip: Clip, feats: np.ndarray, config) -> None:
    """Features as training and pre-labeling leave them in the cache."""
    path = cache_path(features_root(), clip.sha256, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, feats.astype(np.float32), allow_pickle=False)


def _drift_project(project, annotator, new_mean: float, new_clips: int = 8):
    """8 training clips (labeled before v1 was trained) around -5, then `new_clips` clips
    imported after it around `new_mean`, both with a spread of 2 per band."""
    config = feature_config_for(project)
    rng = np.random.default_rng(7)
    trained_at = timezone.now() - timedelta(minutes=10)
    for _ in range(8):
        clip = make_clip(project)
        Clip.objects.filter(pk=clip.pk).update(created_at=trained_at - timedelta(hours=1))
        annotation_submit(clip=clip, user=annotator, clip_labels=["noise"])
        Annotation.objects.filter(clip=clip).update(created_at=trained_at - timedelta(minutes=5))
        _cache_features(clip, rng.normal(-5.0, 2.0, (64, 120)), config)
    version = ModelVersion.objects.create(
        project=project, version=1, name="v1", status="active", feature_config=config.to_dict()
    )
    ModelVersion.objects.filter(pk=version.pk).update(created_at=trained_at)
    for _ in range(new_clips):
        _cache_features(make_clip(project), rng.normal(new_mean, 2.0, (64, 120)), config)
    return config


def test_drift_flags_new_clips_louder_than_the_training_set(project, annotator, tree):
    _drift_project(project, annotator, new_mean=-3.0)  # one pooled SD louder in every band

    drift = project_drift(project, use_cache=False)

    assert drift.get("reason") is None
    assert drift["available"] and drift["enough_data"]
    assert drift["flagged"] is True
    assert drift["reference_clips"] == 8 and drift["current_clips"] == 8
    assert drift["shifted_bands"] == 64
    assert 0.8 < float(np.mean(drift["smd"])) < 1.2
    assert "since v1 was trained" in drift["basis"]


def test_drift_stays_quiet_when_new_clips_sound_like_the_training_set(project, annotator, tree):
    _drift_project(project, annotator, new_mean=-5.0)
    drift = project_drift(project, use_cache=False)
    assert drift["available"] and drift["flagged"] is False
    assert drift["shifted_bands"] <= 3


def test_drift_measures_new_clips_against_all_the_models_clips_not_its_labeled_picks(
    project, annotator, tree
):
    """Active learning labels the unusual clips: 8 labeled ones around -5 while the 12 left
    unlabeled sit around -3. New clips from the same source (a like mix) are no shift, though
    against the labeled picks alone they would be half a pooled SD away in every band."""
    config = _drift_project(project, annotator, new_mean=-5.0, new_clips=0)
    rng = np.random.default_rng(11)
    trained_at = ModelVersion.objects.get(project=project).created_at
    for _ in range(12):
        clip = make_clip(project)
        Clip.objects.filter(pk=clip.pk).update(created_at=trained_at - timedelta(hours=1))
        _cache_features(clip, rng.normal(-3.0, 2.0, (64, 120)), config)
    for mean in [-5.0] * 8 + [-3.0] * 12:  # the same mix, imported after the training
        _cache_features(make_clip(project), rng.normal(mean, 2.0, (64, 120)), config)

    drift = project_drift(project, use_cache=False)

    assert drift["reference_clips"] == 20 and drift["current_clips"] == 20
    assert drift["available"] and drift["enough_data"]
    assert drift["flagged"] is False and drift["shifted_bands"] <= 3
    assert "adapted on" in drift["basis"]


def test_drift_with_no_clip_imported_since_the_training_says_so(project, annotator, tree):
    _drift_project(project, annotator, new_mean=-5.0, new_clips=0)
    drift = project_drift(project, use_cache=False)
    assert drift["available"] is False
    assert drift["reason"].startswith("no clips imported since v1 was trained: ")


def test_drift_counts_clips_whose_features_are_not_computed_yet(project, annotator, tree):
    _drift_project(project, annotator, new_mean=-5.0)
    make_clip(project)  # imported, not pre-labeled: no features on disk

    drift = project_drift(project, use_cache=False)

    assert drift["current_clips"] == 9
    assert drift["sampled"]["current"]["used"] == 8
    assert drift["sampled"]["current"]["missing"] == 1


def test_drift_before_any_features_of_new_clips_says_why(project, annotator, tree):
    _drift_project(project, annotator, new_mean=-5.0, new_clips=0)
    for _ in range(6):
        make_clip(project)  # imported after v1, never pre-labeled

    drift = project_drift(project, use_cache=False)

    assert drift["available"] is False
    assert "features are not computed yet" in drift["reason"]
    assert drift["sampled"]["current"] == {"used": 0, "missing": 6, "skipped_long": 0}


def test_drift_without_labeled_clips_says_why(project, tree):
    make_clip(project)
    drift = project_drift(project, use_cache=False)
    assert drift["available"] is False
    assert "no labeled clips" in drift["reason"]


def test_the_page_shows_a_flagged_drift(client, project, lead, annotator, tree):
    _drift_project(project, annotator, new_mean=-2.0)
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "shift detected" in html
    assert "64 of 64 mel bands" in html


def test_the_page_says_plainly_when_nothing_was_imported_since_the_training(
    client, project, lead, annotator, tree
):
    _drift_project(project, annotator, new_mean=-5.0, new_clips=0)
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "No clips imported since v1 was trained: drift compares" in html
    assert html.count("imported since v1 was trained") == 1  # not repeated as the basis


def test_matrix_names_are_as_short_as_tells_them_apart():
    from labelapp.views_dashboard import short_names

    assert short_names(["digit/one", "digit/two"]) == ["one", "two"]
    assert short_names(["a/x/alpha", "b/x/alpha", "c/beta", "alpha"]) == [
        "a/x/alpha",
        "b/x/alpha",
        "beta",
        "alpha",
    ]
    # A label path cannot repeat, but its last parts can: depth stops at the whole path.
    assert short_names(["b/alpha", "alpha"]) == ["b/alpha", "alpha"]
    # A class gone from the tree keeps its own name and a short note ("seven)" before)
    assert short_names(
        ["digit/seven", "digit/six (merged into digit/seven)", "digit/two (deleted)"]
    ) == ["seven", "six (merged)", "two (deleted)"]


def test_a_wide_part_of_a_stacked_bar_names_itself():
    """The progress bar printed a bare "96.0%" on the unlabeled part: read as "96% done"."""
    from labelapp import plots

    bar = str(
        plots.stacked_bar(
            [("labeled", 4, "#4f7cff"), ("unlabeled", 96, "#333")], title="t", unit="clips"
        )
    )
    assert 'class="on-bar">unlabeled 96.0%</text>' in bar
    assert "labeled 4.0%" not in bar  # too narrow for a name, and for a share


def test_a_large_ontology_none_of_whose_labels_is_used_is_not_called_empty(client, project, lead):
    """500 labels and no annotation: the panel said "The ontology has no labels yet"."""
    from ontology.services import label_create

    for i in range(61):
        label_create(ontology=project.ontology, name=f"l{i:02d}")
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "No clip has a label yet (61 labels in the ontology)." in html
    assert "The ontology has no labels yet" not in html


def test_an_observed_agreement_of_zero_on_the_labels_chosen_is_shown_as_zero():
    """0.0 over the labels chosen fell through to the figure over every clip x label unit
    (near 100% with a large ontology), shown under the name of the first."""
    from labelapp.views_dashboard import dashboard_summary

    data = {
        "progress": {"done_fraction": 0.0},
        "model_history": [],
        "agreement": {
            "available": True,
            "clips": [],
            "overall": {
                "clip_labels": {"observed_agreement": 0.989, "observed_agreement_chosen": 0.0}
            },
        },
        "model_vs_humans": {"available": False},
        "throughput": {"days": [], "annotators": []},
    }
    summary = dashboard_summary(data)
    assert summary["observed_what"] == "observed agreement, labels chosen"
    assert summary["observed_text"].startswith("0")


def test_more_disagreements_than_shown_link_to_all_and_a_segment_says_what_the_clip_is(
    client, project, lead, annotators, tree
):
    """ "Disagreements (10)" listed 8 clips with no way to the rest. A clip labeled through a
    segment alone was a disagreement with the same label given to the clip, and was left out
    of κ and α (single-label: its clip label, or its segments' when it has none, as the
    manifest reads it)."""
    project.annotations_per_clip = 2
    project.label_mode = "single"
    project.save()
    ann, bob, _ = annotators
    for _ in range(10):
        clip = make_clip(project)
        annotation_submit(clip=clip, user=ann, clip_labels=["animals/birds/robin"])
        annotation_submit(clip=clip, user=bob, clip_labels=["animals/birds/sparrow"])
    by_segment = make_clip(project)
    annotation_submit(clip=by_segment, user=ann, clip_labels=["animals/birds/robin"])
    annotation_submit(
        clip=by_segment,
        user=bob,
        segments=[{"start": 0, "end": 1, "labels": ["animals/birds/robin"]}],
    )
    report = project_agreement(project)
    row = next(c for c in report["clips"] if c["id"] == by_segment.pk)
    assert row["agreement"] == 1.0 and row["segment_f1"] is None and not row["disagreement"]
    assert report["overall"]["clip_labels"]["n_units"] == 11
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert "Disagreements (10)" in html
    assert 'data-testid="all-disagreements"' in html
    assert f'href="/projects/{project.pk}/review/#disagreements"' in html
    assert html.count('<li><a href="/clips/') == 8
    assert 'data-testid="label-units"' not in html  # every compared clip is a unit


def test_the_units_of_a_multi_label_projects_agreement_are_named(
    client, project, lead, annotators, tree
):
    """ "clips compared" beside figures computed over clip × label pairs."""
    project.annotations_per_clip = 2
    project.save()
    ann, bob, _ = annotators
    clip = make_clip(project)
    annotation_submit(clip=clip, user=ann, clip_labels=["animals/birds/robin"])
    annotation_submit(clip=clip, user=bob, clip_labels=["animals/birds/sparrow"])
    client.force_login(lead)
    html = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    units = project_agreement(project)["overall"]["clip_labels"]["n_units"]
    assert units > 1
    assert "clip × label units" in html
    assert html.split('data-testid="label-units">')[1].split("<")[0] == str(units)


def test_a_labels_axis_has_whole_ticks():
    """Two versions at 50 labels: the x axis read 49, 49.5, 50, 50.5, 51."""
    import re

    from labelapp import plots

    def ticks(**kw):
        html = str(
            plots.line_chart(
                [plots.Series("hybrid", [(50, 0.5), (50, 0.6)])],
                title="t",
                x_label="labels used",
                y_label="y",
                **kw,
            )
        )
        return re.findall(r'text-anchor="middle">([^<]+)</text>', html)

    assert "49.5" in ticks()
    whole = ticks(x_whole=True)
    assert whole and all(t.replace("−", "-").lstrip("-").isdigit() for t in whole), whole


def test_a_long_label_path_keeps_its_own_name_when_cut():
    """Two rows read "Bird/Songbird/Chirp…" (Chirp up and Chirp down) and could not be told
    apart (a new user)."""
    from labelapp import plots

    up, down = (f"Animals/Birds/Songbirds/Passerines/Chirp {w}" for w in ("up", "down"))
    html = str(plots.bar_chart([(up, 0.5), (down, 0.7)], title="agreement", value_label="x"))
    assert ">…Birds/Songbirds/Passerines/Chirp up<" in html
    assert ">…rds/Songbirds/Passerines/Chirp down<" in html
    assert f">{up}: " in html  # the whole name on hover
    # names up to 36 characters are whole (the column widens): 20 cut two annotators alike
    html = str(plots.bar_chart([("Bird/Songbird/Chirp up", 0.5)], title="a", value_label="x"))
    assert ">Bird/Songbird/Chirp up<" in html
