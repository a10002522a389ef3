"""A lead opens the dashboard of a project of real FSDD recordings labeled by two annotators,
with trained versions, a simulation and a batch of quieter new recordings: every panel draws
real figures, wide and on a phone, and the drift panel flags the quieter batch."""

from __future__ import annotations

import random
import re
from datetime import timedelta

import numpy as np
import pytest
import soundfile as sf
from django.utils import timezone

from labelapp.models import Annotation, AnnotationRevision, Clip, ImportJob, Membership
from labelapp.services.annotations import annotation_submit
from labelapp.services.imports import ImportItem, clip_import
from labelapp.services.projects import membership_set
from ml_backend.dataset import clip_features, feature_config_for
from ml_backend.models import MLConfig, ModelVersion, PrelabelRun, TrainingRun
from ontology.services import label_get_or_create_path
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _import(project, paths) -> list[Clip]:
    ids = [
        clip_import(project=project, item=ImportItem(name=p.name, path=p)).clip_id for p in paths
    ]
    wait_for(
        lambda: Clip.objects.filter(pk__in=ids, status="ready").count() == len(ids),
        timeout=120,
        message="the worker did not process the FSDD clips",
    )
    return list(Clip.objects.filter(pk__in=ids).order_by("id"))


def _confusion(rng: np.random.Generator, n_per_class: int = 6) -> list[list[int]]:
    """A plausible validation confusion matrix: mostly right, a few look-alike mistakes."""
    matrix = np.zeros((10, 10), dtype=int)
    for i in range(10):
        wrong = rng.binomial(n_per_class, 0.15)
        matrix[i, i] = n_per_class - wrong
        for _ in range(wrong):
            matrix[i, (i + rng.choice([1, 3, 7])) % 10] += 1
    return matrix.tolist()


@pytest.fixture
def digits_project(project, annotator, reviewer, make_user, fsdd, tmp_path):
    rng = np.random.default_rng(11)
    project.label_mode = "single"
    project.annotation_mode = "clip"
    project.annotations_per_clip = 2
    project.target_sample_rate = 8000
    project.save()
    # No automatic training: the versions below stand for the ones it would have made.
    MLConfig.objects.create(project=project, enabled=False)
    bob = make_user("bob-annotator")
    membership_set(project=project, user=bob, role=Membership.Role.ANNOTATOR)
    labels = {
        d: label_get_or_create_path(ontology=project.ontology, path=f"digit/{d}")[0] for d in DIGITS
    }
    label_get_or_create_path(ontology=project.ontology, path="noise")

    files = fsdd()
    picked = files[::83][:30]  # spread over digits and speakers
    clips = _import(project, picked)
    config = feature_config_for(project)
    now = timezone.now()
    Clip.objects.filter(pk__in=[c.pk for c in clips]).update(created_at=now - timedelta(days=12))
    for i, clip in enumerate(clips[:26]):
        digit = DIGITS[int(clip.original_name.split("_")[0])]
        ann_label = f"digit/{digit}"
        # Bob hears a different digit now and then: something for agreement to measure.
        bob_label = f"digit/{DIGITS[(DIGITS.index(digit) + 1) % 10]}" if i % 6 == 5 else ann_label
        for user, path, lag in ((annotator, ann_label, 0), (bob, bob_label, 1)):
            if user is bob and i >= 22:
                continue  # the last few wait for their second annotation
            a = annotation_submit(clip=clip, user=user, clip_labels=[path])
            when = now - timedelta(days=(i % 9) + lag, hours=2)
            AnnotationRevision.objects.filter(annotation=a).update(created_at=when)
            Annotation.objects.filter(pk=a.pk).update(created_at=when)
    accepted = Annotation.objects.filter(clip__in=clips[:10])
    accepted.update(status="accepted", reviewed_by=reviewer, reviewed_at=now)
    Clip.objects.filter(pk=clips[5].pk).update(needs_adjudication=True)
    for clip in clips:
        clip_features(clip, config)  # what training and pre-labeling leave in the cache

    run = TrainingRun.objects.create(
        project=project, status="succeeded", progress=1.0, message="v3 active: 26 clips"
    )
    TrainingRun.objects.filter(pk=run.pk).update(started_at=now - timedelta(minutes=3))
    paths = [labels[d].pk for d in DIGITS]
    for version, (size, acc, f1) in enumerate(
        [(20, 0.55, 0.49), (60, 0.71, 0.68), (120, 0.86, 0.84)], start=1
    ):
        ModelVersion.objects.create(
            project=project,
            version=version,
            name=f"v{version}",
            status="active" if version == 3 else "retired",
            training_size=size,
            metrics={
                "n": 60,
                "accuracy": acc,
                "macro_f1": f1,
                "mAP": min(0.97, acc + 0.06),
                "confusion": _confusion(rng),
                "evaluated_on": "validation",
            },
            classes=paths,
            feature_config=config.to_dict(),
            training_run=run if version == 3 else None,
        )
    MLConfig.objects.update_or_create(
        project=project,
        defaults={
            "enabled": False,
            "learning_curves": {
                "created_at": now.isoformat(),
                "pool_size": 400,
                "test_size": 100,
                "settings": {"seed_size": 20, "batch": 20, "budget": 200, "repeats": 3},
                "strategies": {
                    name: {
                        "mean": [
                            {
                                "labels": n,
                                "accuracy": round(top * (1 - np.exp(-n / speed)), 3),
                                "macro_f1": round(0.97 * top * (1 - np.exp(-n / speed)), 3),
                            }
                            for n in range(20, 201, 20)
                        ]
                    }
                    for name, top, speed in (
                        ("margin", 0.92, 45),
                        ("hybrid", 0.9, 50),
                        ("random", 0.88, 80),
                    )
                },
            },
        },
    )
    # A batch recorded with a quieter microphone after v3 was trained: 20 dB down.
    quiet = []
    for src in random.Random(3).sample(files[1500:], 10):
        data, sr = sf.read(src)
        out = tmp_path / f"quiet_{src.name}"
        sf.write(out, data * 0.1, sr)
        quiet.append(out)
    new_clips = _import(project, quiet)
    for clip in new_clips:
        clip_features(clip, config)
    PrelabelRun.objects.create(
        project=project,
        model_version=ModelVersion.objects.get(project=project, status="active"),
        status="running",
        total=len(new_clips),
        done=4,
    )
    ImportJob.objects.create(project=project, status="failed", error="disk full", total=3)
    return project


def test_the_dashboard_draws_real_figures_wide_and_narrow(
    celery_worker_process, live_server, page, login, lead, digits_project, screenshot
):
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{digits_project.pk}/")
    page.click("[data-testid=dashboard-link]")
    page.wait_for_url(f"{live_server.url}/projects/{digits_project.pk}/dashboard/")

    assert page.inner_text("[data-testid=stat-clips]") == "40"
    assert page.inner_text("[data-testid=stat-model]") == "v3"
    assert page.inner_text("[data-testid=stat-drift]") == "shift"
    assert "shift detected" in page.inner_text("[data-testid=drift-flag]")
    for panel in ("progress", "throughput", "labels", "confusion", "history", "curves"):
        svg = page.locator(f"[data-testid=panel-{panel}] svg.plot").first
        assert svg.is_visible(), panel
        box = svg.bounding_box()
        assert box["width"] > 300 and box["height"] > 30, panel
    # Agreement: 22 clips with two annotations; Bob disagreed on 4 of them.
    agreement = page.inner_text("[data-testid=panel-agreement]")
    if "not available" not in agreement:
        assert "22" in agreement
        # each disagreement opens its review (the clip page showed no annotations), with
        # its figure in percent
        item = page.locator("[data-testid=disagreements] li").first
        assert item.locator("a").get_attribute("href").endswith("/review/")
        assert re.search(r"label agreement \d+\.\d%", item.inner_text())
    assert page.locator("[data-testid=dash-job][data-kind=pre-labeling]").count() == 1
    screenshot(page, "dashboard-wide")

    page.set_viewport_size({"width": 420, "height": 900})
    page.reload()
    page.wait_for_selector("[data-testid=panel-drift]")
    screenshot(page, "dashboard-narrow")
    # Nothing spills out of the page sideways on a phone: wide charts scroll in their card.
    spilling = page.evaluate(
        """[...document.querySelectorAll('main *')]
            .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1
                && !e.closest('.plot-fig, .table-scroll'))
            .map((e) => e.tagName + '.' + e.className + ' ' + e.getAttribute('data-testid'))"""
    )
    assert spilling == []
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 1


def test_the_job_bar_follows_a_running_job_without_a_reload(
    celery_worker_process, live_server, page, login, lead, project
):
    # A project without a model: a cold-start ranking, named as the model page names it.
    run = PrelabelRun.objects.create(project=project, status="running", total=10, done=2)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    bar = '[data-testid=dash-job][data-kind="cold-start ranking"] [role=progressbar]'
    assert page.get_attribute(bar, "aria-valuenow") == "20"

    PrelabelRun.objects.filter(pk=run.pk).update(done=7)
    page.wait_for_function(
        f"() => document.querySelector('{bar}').getAttribute('aria-valuenow') === '70'",
        timeout=15_000,
    )
    PrelabelRun.objects.filter(pk=run.pk).update(done=10, status="succeeded")
    page.wait_for_selector(
        '[data-testid=dash-job][data-kind="cold-start ranking"][data-status=succeeded]',
        timeout=15_000,
    )


def test_a_training_that_ends_after_the_page_was_drawn_is_said_with_a_reload(
    live_server, page, login, lead, project
):
    """The jobs redrew "training #11 succeeded v11 active" while the version card and the
    model's figures stayed v10's until a reload; and a training that started after the page
    was drawn was not followed at all (now every 15 s, and when the lead comes back to the
    tab)."""
    running = TrainingRun.objects.create(project=project, status="running", message="epoch 2")
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/dashboard/")
    page.wait_for_selector("[data-testid=dash-job][data-kind=training][data-status=running]")
    # the page has looked once (under CI's load the training ended before its first look,
    # which then saw it succeeded already: nothing had changed since the page was drawn)
    page.wait_for_selector("#dash-jobs[data-polled]")
    assert page.locator("[data-testid=dash-stale]").count() == 0
    TrainingRun.objects.filter(pk=running.pk).update(status="succeeded", message="v1 active")
    notice = page.wait_for_selector("[data-testid=dash-stale]", timeout=15_000)
    assert f"training #{running.pk} finished (v1 active)" in notice.text_content()
    # above the tiles it contradicts, not in the jobs card far down the page
    assert (
        page.evaluate(
            "() => document.querySelector('[data-testid=dash-stale]').nextElementSibling"
            ".dataset.testid"
        )
        == "dash-stats"
    )
    with page.expect_navigation():
        page.click("[data-testid=dash-stale] button")
    page.wait_for_selector("#dash-jobs[data-polled]")  # the reloaded page has looked once
    assert page.locator("[data-testid=dash-stale]").count() == 0

    # Nothing running when the page was drawn: a training started later is seen too.
    later = TrainingRun.objects.create(project=project, status="succeeded", message="v2 active")
    page.evaluate("window.dispatchEvent(new Event('focus'))")  # back to the tab: looked at now
    notice = page.wait_for_selector("[data-testid=dash-stale]", timeout=15_000)
    assert f"training #{later.pk} finished (v2 active)" in notice.text_content()
