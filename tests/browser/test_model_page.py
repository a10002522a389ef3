"""A data lead trains on demand from the model page and watches the job's progress; a
second training can be cancelled from the page and leaves the active version in place."""

from __future__ import annotations

import pytest

from labelapp.models import Clip
from labelapp.services.annotations import annotation_submit
from labelapp.services.imports import ImportItem, clip_import
from ml_backend.models import MLConfig, ModelVersion, PrelabelRun, TrainingRun
from ontology.services import label_get_or_create_path
from tests.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tones_project(project, annotator, wav_factory):
    """Two easy classes: low and high tones, 8 labeled clips each."""
    project.label_mode = "single"
    project.annotation_mode = "clip"
    project.target_sample_rate = 8000
    project.save()
    MLConfig.objects.create(project=project, enabled=False, epochs=5)
    for name in ("low", "high"):
        label_get_or_create_path(ontology=project.ontology, path=f"tone/{name}")
    ids = []
    for i in range(16):
        freq = 300 if i % 2 else 2000
        out = clip_import(
            project=project,
            item=ImportItem(
                name=f"tone{i}.wav", path=wav_factory(seconds=1.0, sr=8000, freq=freq + 10 * i)
            ),
        )
        ids.append((out.clip_id, "low" if freq == 300 else "high"))
    wait_for(
        lambda: Clip.objects.filter(project=project, status="ready").count() == 16,
        timeout=60,
        message="clips were not processed",
    )
    for clip_id, label in ids:
        annotation_submit(
            clip=Clip.objects.get(pk=clip_id), user=annotator, clip_labels=[f"tone/{label}"]
        )
    return project


def test_a_lead_trains_from_the_model_page_and_sees_progress(
    celery_worker_process, live_server, page, login, lead, tones_project, screenshot
):
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{tones_project.pk}/model/")
    page.click("[data-testid=train]")
    page.wait_for_selector("[data-testid=job][data-kind=training]", timeout=10_000)
    # 16 labeled clips, under the 20 the first automatic training waits for: the page says so
    page.wait_for_selector("[data-testid=action-note]:not([hidden])")
    assert "Training on 16 labeled clips" in page.inner_text("[data-testid=action-note]")
    page.wait_for_selector(
        "[data-testid=job][data-kind=training][data-status=succeeded]", timeout=180_000
    )
    assert page.inner_text("[data-testid=active-version]") == "v1"
    assert "v1" in page.inner_text("[data-testid=versions]")
    # the row says where its figures come from (few labels: the training set)
    measured = ModelVersion.objects.get(project=tones_project, version=1).metrics["evaluated_on"]
    cell = page.inner_text("[data-testid=versions] [data-testid=evaluated-on]")
    assert cell == f"{measured} set"
    # 16 clips, too few to pretrain on: the first training started from random weights
    started = page.inner_text("[data-testid=versions] [data-testid=started-from]")
    version = ModelVersion.objects.get(project=tones_project, status="active")
    # and the epochs of its training, not of self-training's second pass (every version said
    # "6 epochs"); the setting is a floor for few labels, said in the cell's title
    m = version.metrics
    assert started == f"random weights · {m['epochs_run']} of {m['epochs_planned']} epochs"
    assert m["epochs_run"] >= 1 and m["epochs_planned"] >= m["epochs_run"]
    screenshot(page, "model-page")
    assert version.training_size == 16


def test_cancel_from_the_page_keeps_the_active_version(
    celery_worker_process, live_server, page, login, lead, tones_project
):
    from ml_backend.training import training_request

    first = training_request(project=tones_project)
    wait_for(lambda: TrainingRun.objects.get(pk=first.pk).status == "succeeded", timeout=180)
    MLConfig.objects.filter(project=tones_project).update(epochs=2000)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{tones_project.pk}/model/")
    page.click("[data-testid=train]")
    page.wait_for_selector(
        "[data-testid=job][data-status=running] [data-testid=cancel]", timeout=60_000
    )
    # A second Train now while one runs is refused beside the buttons, not in an alert.
    page.click("[data-testid=train]")
    page.wait_for_selector("[data-testid=action-note]:not([hidden])")
    assert "already" in page.inner_text("[data-testid=action-note]")
    # Cancel asks first; dismissed, nothing happens.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("[data-testid=job][data-status=running] [data-testid=cancel]")
    assert TrainingRun.objects.filter(project=tones_project, status="running").exists()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("[data-testid=job][data-status=running] [data-testid=cancel]")
    page.wait_for_selector("[data-testid=job][data-status=cancelled]", timeout=60_000)
    assert ModelVersion.objects.get(project=tones_project, status="active").name == "v1"
    assert ModelVersion.objects.filter(project=tones_project).count() == 1
    # the refusal's note is gone once no job runs; the bars say what they measure
    page.wait_for_selector("[data-testid=action-note][hidden]", state="attached")
    bar = page.locator("[data-testid=job][data-status=cancelled] [role=progressbar]").first
    assert bar.get_attribute("aria-label").startswith("training #")


def test_a_cancel_asked_elsewhere_is_not_offered_again(live_server, page, login, lead, project):
    """The next poll drew an enabled "Cancel" beside a cancel already asked for."""
    run = TrainingRun.objects.create(project=project, status="running", cancel_requested=True)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    button = page.locator(f"[data-testid=job] [aria-label='Cancel training #{run.pk}']")
    button.wait_for()
    assert button.is_disabled() and button.inner_text() == "Cancelling…"
    assert page.get_by_label("or this percent of the labeled clips, when more").count() == 1


def test_a_lead_sets_when_the_model_retrains(live_server, page, login, lead, project):
    MLConfig.objects.create(project=project)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    form = "[data-testid=ml-config]"
    page.wait_for_function("() => document.querySelector('[name=retrain_growth_pct]').value !== ''")
    assert page.input_value(f"{form} [name=retrain_every]") == "10"  # the defaults
    assert page.input_value(f"{form} [name=retrain_growth_pct]") == "10"
    page.fill(f"{form} [name=retrain_every]", "25")
    page.fill(f"{form} [name=retrain_growth_pct]", "20")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .saved-note:has-text('saved')")
    config = MLConfig.objects.get(project=project)
    assert (config.retrain_every, config.retrain_growth) == (25, 0.2)
    # over 400%: the form will not send it, and the API refuses it with the bound
    page.fill(f"{form} [name=retrain_growth_pct]", "900")
    page.click(f"{form} button[type=submit]")
    assert not page.eval_on_selector(f"{form} [name=retrain_growth_pct]", "e => e.validity.valid")
    # the note no longer says "saved" beside a value that was not sent
    assert page.text_content(f"{form} .saved-note") == "not saved yet"
    answer = page.evaluate(
        """async (url) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const r = await fetch(url, {method: "PATCH",
                headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
                body: JSON.stringify({retrain_growth: 9})});
            return [r.status, await r.text()];
        }""",
        f"/api/projects/{project.pk}/model/",
    )
    assert answer[0] == 400 and "4" in answer[1]
    assert MLConfig.objects.get(project=project).retrain_growth == 0.2
    # a field left blank is not sent as 0 (an empty growth saved 0% without a word)
    page.fill(f"{form} [name=retrain_growth_pct]", "")
    page.click(f"{form} button[type=submit]")
    assert page.eval_on_selector(
        f"{form} [name=retrain_growth_pct]", "e => e.validity.valueMissing"
    )
    assert MLConfig.objects.get(project=project).retrain_growth == 0.2


def test_the_versions_say_what_each_training_started_from(live_server, page, login, lead, project):
    """A first training on a project with enough clips starts from a feature extractor
    pretrained on them; the next from the version before it."""
    for number, status, metrics in (
        (
            1,
            "retired",
            {
                "accuracy": 0.5,
                "started_from": "pretrained on the project's clips",
                "pretraining": {"windows": 2016, "steps": 237, "seconds": 151.2},
            },
        ),
        (2, "active", {"accuracy": 0.7, "started_from": "v1"}),
    ):
        ModelVersion.objects.create(
            project=project,
            version=number,
            name=f"v{number}",
            status=status,
            training_size=20 * number,
            metrics=metrics,
        )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    page.wait_for_selector("[data-testid=versions] [data-testid=started-from]")
    cells = page.locator("[data-testid=versions] [data-testid=started-from]")
    texts = {cells.nth(i).inner_text() for i in range(cells.count())}
    assert texts == {"pretrained", "v1"}
    pretrained = page.locator("[data-testid=started-from]", has_text="pretrained")
    title = pretrained.get_attribute("title")
    assert "2,016 windows" in title and "237 steps" in title and "151 s" in title


def test_the_page_shows_all_versions_when_asked(live_server, page, login, lead, project):
    """Past the 50 newest, a "Show all" button lists every version (they were unreachable)."""
    ModelVersion.objects.bulk_create(
        ModelVersion(project=project, version=v, name=f"v{v}", status="retired")
        for v in range(1, 53)
    )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    rows = page.locator("[data-testid=versions] tbody tr")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=versions] tbody tr').length === 50"
    )
    more = page.locator("[data-testid=versions-more]")
    assert more.inner_text() == "Show all 52 versions"
    more.click()
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=versions] tbody tr').length === 52"
    )
    assert rows.last.locator("td").first.inner_text() == "v1"
    assert more.count() == 0


def test_the_settings_follow_a_change_made_elsewhere_until_edited_here(
    live_server, page, login, lead, project
):
    """The form loaded once: a Save from a page opened before an API change reverted it."""
    MLConfig.objects.create(project=project)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    field = "[data-testid=ml-config] [name=retrain_every]"
    page.wait_for_function(f"() => document.querySelector('{field}').value === '10'")
    MLConfig.objects.filter(project=project).update(retrain_every=77)  # the API, another tab
    page.wait_for_function(
        f"() => document.querySelector('{field}').value === '77'", timeout=15_000
    )
    page.fill(field, "30")  # being edited here: the server's value no longer replaces it
    MLConfig.objects.filter(project=project).update(retrain_every=55)
    page.wait_for_timeout(6_000)
    assert page.input_value(field) == "30"


def test_a_save_sends_only_what_was_changed_here_and_a_failed_poll_is_retried(
    live_server, page, login, lead, project
):
    """A Save sent every field and undid a setting changed elsewhere meanwhile; one failed
    poll stopped the page for good."""
    MLConfig.objects.create(project=project)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    form = "[data-testid=ml-config]"
    page.wait_for_function("() => document.querySelector('[name=retrain_every]').value === '10'")
    page.select_option(f"{form} [name=strategy]", "entropy")
    MLConfig.objects.filter(project=project).update(retrain_every=15)  # elsewhere, meanwhile
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .saved-note:has-text('saved')")
    config = MLConfig.objects.get(project=project)
    assert (config.strategy, config.retrain_every) == ("entropy", 15)
    # a poll that fails is said and tried again
    failed = []

    def once(route):
        if failed:
            route.continue_()
        else:
            failed.append(1)
            route.abort()

    page.route("**/api/projects/*/model/", once)
    page.wait_for_selector(
        "[data-testid=action-note]:has-text('Could not refresh')", timeout=15_000
    )
    MLConfig.objects.filter(project=project).update(retrain_every=33)
    page.wait_for_function(
        "() => document.querySelector('[name=retrain_every]').value === '33'", timeout=15_000
    )
    page.wait_for_selector("[data-testid=action-note][hidden]", state="attached")


def test_a_lead_makes_an_earlier_version_active_from_the_versions_table(
    live_server, page, login, lead, project
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    MLConfig.objects.create(project=project, enabled=False)
    artifact = default_storage.save(f"models/{project.pk}/v1.pt", ContentFile(b"model"))
    v1 = ModelVersion.objects.create(
        project=project, version=1, name="v1", status="retired", artifact_path=artifact
    )
    ModelVersion.objects.create(project=project, version=2, name="v2", status="active")
    # A scoring already running: the page polls as while one runs, and its end is seen.
    run = PrelabelRun.objects.create(project=project, model_version=v1, status="running", total=9)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    button = page.locator("[aria-label='Make v1 the active version']")
    button.wait_for()
    assert page.locator("[data-testid=activate]").count() == 1  # the active one has none
    # In sight on a laptop: the table's 11 columns in two thirds of the page had put the
    # button past the card's edge, out of sight.
    box = button.bounding_box()
    assert box and box["x"] + box["width"] <= 1400, box
    in_sight = """() => {
        const button = document.querySelector('[data-testid=activate]');
        window.scrollTo(0, button.getBoundingClientRect().top + window.scrollY - 200);
        const b = button.getBoundingClientRect();
        return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2) === button; }"""
    assert page.evaluate(in_sight)
    page.once("dialog", lambda d: d.accept())
    button.click()
    page.wait_for_selector("[data-testid=active-version]:has-text('v1')")
    assert ModelVersion.objects.get(pk=v1.pk).status == "active"
    assert "v1 is the active version again" in page.inner_text("[data-testid=action-note]")
    # When the scoring ends the note says it is done (it was cleared within a second).
    PrelabelRun.objects.filter(project=project).update(status="succeeded", done=9)
    page.wait_for_selector("[data-testid=action-note]:has-text('are scored by it')")
    assert run.pk


def test_a_lead_cancels_a_prelabeling_from_the_page(live_server, page, login, lead, project):
    """A pre-labeling of a large pool runs for minutes: the page offers its cancel too."""
    version = ModelVersion.objects.create(
        project=project, version=1, name="v1", status="active", artifact_path="models/v1.pt"
    )
    run = PrelabelRun.objects.create(
        project=project, model_version=version, status="running", total=400, done=100
    )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    button = page.locator(f"[data-testid=job] [aria-label='Cancel pre-labeling #{run.pk}']")
    button.wait_for()
    bar = page.locator("[data-testid=job][data-kind=pre-labeling] [role=progressbar]")
    assert bar.get_attribute("aria-valuenow") == "25"
    messages = []
    page.once("dialog", lambda dialog: (messages.append(dialog.message), dialog.accept()))
    button.click()
    page.wait_for_selector("[data-testid=job][data-kind=pre-labeling][data-status=cancelled]")
    assert "keep their predictions" in messages[0]
    run.refresh_from_db()
    assert run.status == "cancelled" and run.error.startswith(f"by {lead.username};")
    row = page.inner_text("[data-testid=job][data-kind=pre-labeling]")
    assert "the queue keeps its order" in row
    # the change is said in a live region (the job list is redrawn at every poll)
    news = page.locator("[data-testid=job-news]")
    assert news.get_attribute("role") == "status"
    assert news.text_content() == f"pre-labeling #{run.pk} cancelled."
    assert page.locator("[data-testid=job] [data-testid=cancel]").count() == 0


def test_the_page_says_why_no_training_starts_and_names_multi_label_accuracy(
    live_server, page, login, lead, project
):
    """A project labeled with one label only showed "labels since training 52" and no job
    nor reason; a multi-label version read "0.0% training accuracy" at 65% macro-F1."""
    MLConfig.objects.create(project=project, min_labels=20)
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    note = page.locator("[data-testid=model-waiting]")
    note.wait_for()
    assert (
        note.inner_text() == "The first training starts by itself at 20 labeled clips (0 so far)."
    )
    ModelVersion.objects.create(
        project=project,
        version=1,
        name="v1",
        status="active",
        metrics={"accuracy": 0.0, "micro_f1": 0.65, "macro_f1": 0.6, "evaluated_on": "training"},
    )
    page.reload()
    page.wait_for_selector("[data-testid=micro-f1]")
    stats = page.inner_text("[data-testid=model-stats]")
    assert "training exact-match accuracy (every label of a clip right)" in stats
    assert page.inner_text("[data-testid=micro-f1]") == "65.0%"
    assert note.is_hidden()
    row = page.locator("[data-testid=version]").first.inner_text()
    assert "0.0% exact" in row and "65.0%" in row  # the versions table says so too


def test_the_active_versions_figures_per_class_are_listed_worst_first(
    live_server, page, login, lead, project, screenshot
):
    """Per-class precision, recall and F1 were only in the API: the page lists them for the
    active version, the weakest label first, a label deleted since named as such; a
    segments project is told what the figures measure."""
    project.annotation_mode = "segments"
    project.save()
    MLConfig.objects.create(project=project, enabled=False)
    crow, _ = label_get_or_create_path(ontology=project.ontology, path="birds/crow")
    robin, _ = label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    row = {"precision": 0.9, "recall": 0.8, "f1": 0.85, "support": 12, "ap": 0.9}
    ModelVersion.objects.create(
        project=project, version=1, name="v1", status="active", classes=[crow.pk, robin.pk, 999],
        metrics={"accuracy": 0.7, "macro_f1": 0.6, "evaluated_on": "validation", "n": 30,
                 "per_class": [row, {**row, "f1": 0.4, "recall": 0.3}, {**row, "f1": 0.6}]},
    )  # fmt: skip
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    page.wait_for_selector("[data-testid=per-class]:not([hidden])")
    names = page.locator("[data-testid=per-class-row] td:first-child").all_inner_texts()
    assert names == ["birds/robin", "#999 (deleted)", "birds/crow"]  # no change log names it
    assert page.locator("[data-testid=per-class-row]").first.inner_text().split("\t")[1:4] == [
        "90.0%", "30.0%", "40.0%",
    ]  # fmt: skip
    assert "30 held-out clips" in page.inner_text("[data-testid=per-class]")
    assert "measured on clip labels" in page.inner_text("[data-testid=segments-note]")
    screenshot(page, "model-per-class")


def test_the_jobs_list_keeps_the_newest_job_of_each_kind(live_server, page, login, lead, project):
    """Strategy changes (a ranking each) pushed the last pre-labeling off the twelve jobs."""
    v1 = ModelVersion.objects.create(project=project, version=1, name="v1", status="active")
    PrelabelRun.objects.create(
        project=project, kind="prelabel", status="succeeded", model_version=v1
    )
    for _ in range(3):
        TrainingRun.objects.create(project=project, status="succeeded")
    for _ in range(9):
        PrelabelRun.objects.create(project=project, kind="rank", status="succeeded")
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    page.wait_for_selector("[data-testid=job]")
    kinds = page.eval_on_selector_all("[data-testid=job]", "js => js.map(j => j.dataset.kind)")
    assert len(kinds) == 13 and kinds[-1] == "pre-labeling", kinds


def test_the_curves_names_stand_clear_of_the_curves_ends(live_server, page, login, lead, project):
    """The strategy names sat at the top right, where learning curves end (0.96 at 400
    labels): "hybrid" was struck through by the lines."""
    mean = [{"labels": n, "accuracy": a, "macro_f1": a} for n, a in ((20, 0.4), (400, 0.96))]
    curves = {
        "created_at": "2026-12-07T09:00:00+00:00",
        "pool_size": 400,
        "test_size": 100,
        "settings": {"seed_size": 20, "batch": 20, "budget": 400, "repeats": 1},
        "strategies": {name: {"repeats": [mean], "mean": mean} for name in ("hybrid", "random")},
    }
    MLConfig.objects.update_or_create(project=project, defaults={"learning_curves": curves})
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    page.wait_for_selector("[data-testid=curve-accuracy] [data-legend=hybrid]")
    boxes = page.evaluate(
        """() => {
            const chart = document.querySelector('[data-testid=curve-accuracy]');
            const names = [...chart.querySelectorAll('[data-legend]')].map(t => t.getBBox());
            const ends = [...chart.querySelectorAll('polyline')].map(l => {
                const pts = l.getAttribute('points').trim().split(' ');
                return pts[pts.length - 1].split(',').map(Number);
            });
            return { names: names.map(b => [b.x, b.y, b.width, b.height]), ends };
        }"""
    )
    for x, y, w, h in boxes["names"]:
        for ex, ey in boxes["ends"]:
            inside = x - 2 <= ex <= x + w + 2 and y - 2 <= ey <= y + h + 2
            assert not inside, boxes
        assert y > max(ey for _, ey in boxes["ends"]) + 40, boxes  # well below the ends


def test_a_lead_holds_out_whole_speakers_and_the_versions_say_so(
    live_server, page, login, lead, project
):
    MLConfig.objects.create(project=project)
    for number, status, metrics in (
        (1, "retired", {"accuracy": 0.5, "evaluated_on": "training", "val_size": 0,
                        "groups": 2, "val_groups": 0, "validation_group_by": "speaker"}),
        (2, "active", {"accuracy": 0.7, "evaluated_on": "validation", "val_size": 40,
                       "groups": 5, "val_groups": 1, "validation_group_by": "speaker"}),
    ):  # fmt: skip
        ModelVersion.objects.create(
            project=project, version=number, name=f"v{number}", status=status,
            training_size=100 * number, metrics=metrics,
        )  # fmt: skip
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    form = "[data-testid=ml-config]"
    page.wait_for_function("() => document.querySelector('[name=retrain_every]').value !== ''")
    assert page.input_value(f"{form} [name=validation_group_by]") == ""
    page.fill(f"{form} [name=validation_group_by]", "speaker")
    page.click(f"{form} button[type=submit]")
    page.wait_for_selector(f"{form} .saved-note:has-text('saved')")
    assert MLConfig.objects.get(project=project).validation_group_by == "speaker"
    page.reload()
    page.wait_for_function(
        "() => document.querySelector('[name=validation_group_by]').value === 'speaker'"
    )
    cells = page.locator("[data-testid=versions] [data-testid=evaluated-on]")
    page.wait_for_selector("[data-testid=versions] [data-testid=evaluated-on]")
    texts = [cells.nth(i).inner_text() for i in range(cells.count())]
    assert "validation set: 1 of 5 speaker groups" in texts
    assert "training set" in texts
    warn = page.locator("[data-testid=evaluated-on].warn")
    assert "only 2 speaker values" in warn.get_attribute("title")


def test_imported_predictions_are_listed_by_source(live_server, page, login, lead, project):
    """Predictions brought with Label Studio tasks were suggested in the workspace, and no
    page said where they came from."""
    from ml_backend.models import Prediction
    from tests.conftest import ready_clips

    source = ModelVersion.objects.create(
        project=project, version=1, name="birdnet-2.4", status="external"
    )
    for clip in ready_clips(project, 3):
        Prediction.objects.create(clip=clip, model_version=source, clip_scores={})
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    card = page.locator("[data-testid=external-versions]")
    card.wait_for(state="visible")
    assert card.locator("tbody tr td").nth(0).inner_text() == "birdnet-2.4"
    assert card.locator("tbody tr td").nth(1).inner_text() == "3"
    assert "until a model of the project's own is active" in card.inner_text()
    # Not among the project's own versions.
    assert "birdnet" not in page.inner_text("[data-testid=versions]")


def test_the_page_says_when_the_active_version_suggests_nothing_or_no_segments(
    live_server, page, login, lead, project
):
    MLConfig.objects.create(project=project)
    version = ModelVersion.objects.create(
        project=project,
        version=1,
        name="v1",
        status="active",
        metrics={"macro_f1": 0.31, "segment_examples": 0},
    )
    login(page, lead)
    page.goto(f"{live_server.url}/projects/{project.pk}/model/")
    note = page.locator("[data-testid=suggestions-note]")
    note.wait_for(state="visible")
    assert "v1 suggests nothing in the workspace yet: its macro-F1 is 0.31" in note.inner_text()
    ModelVersion.objects.filter(pk=version.pk).update(
        metrics={"macro_f1": 0.8, "segment_examples": 3}
    )
    page.wait_for_function(
        "() => document.querySelector('[data-testid=suggestions-note]').textContent"
        ".includes('clip labels, not segments')",
        timeout=15_000,
    )
