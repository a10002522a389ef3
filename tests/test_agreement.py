"""Agreement figures against hand-computed values: the pure statistics on small tables, then
`project_agreement` and `model_vs_humans` on annotations and predictions in the database."""

from __future__ import annotations

import pytest

from labelapp.models import Membership, Project
from labelapp.services.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    model_vs_humans,
    project_agreement,
    segment_f1,
    segment_iou,
    segment_matches,
)
from labelapp.services.annotations import annotation_submit
from labelapp.services.projects import membership_set
from labelapp.services.review import annotation_review
from ml_backend.models import ModelVersion, Prediction
from ontology.services import label_get_or_create_path
from tests.conftest import ready_clips

# Four subjects, three raters, categories A and B.
SMALL = [["A", "A", "A"], ["A", "A", "B"], ["B", "B", "B"], ["A", "B", "B"]]


def test_fleiss_kappa_of_a_small_table_is_one_third():
    """Counts per subject [A, B]: [3,0], [2,1], [0,3], [1,2]; n = 3 raters.

    P_i = (Σ n_ij² − n) / (n(n−1)): 6/6 = 1, (4+1−3)/6 = 1/3, 1, 1/3  →  P̄ = 2/3.
    p_A = 6/12 = 1/2, p_B = 1/2  →  P_e = 1/4 + 1/4 = 1/2.
    κ = (2/3 − 1/2) / (1 − 1/2) = 1/3.
    """
    assert fleiss_kappa([[3, 0], [2, 1], [0, 3], [1, 2]]) == pytest.approx(1 / 3)


def test_fleiss_kappa_matches_the_published_example():
    """Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories;
    P̄ = 0.378, P_e = 0.213, κ = 0.210."""
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_is_undefined_when_everyone_always_says_the_same():
    assert fleiss_kappa([[3, 0], [3, 0]]) is None
    assert fleiss_kappa([[1, 0]]) is None  # one rater: nothing to agree on


def test_krippendorff_alpha_of_the_small_table_is_seven_eighteenths():
    """Coincidences: each unit of 3 values adds 1/(3−1) per ordered pair.
    AAA: o_AA += 3; AAB: o_AA += 1, o_AB += 1, o_BA += 1; BBB: o_BB += 3; ABB: o_BB += 1,
    o_AB += 1, o_BA += 1. So o_AA = o_BB = 4, o_AB = o_BA = 2; n_A = n_B = 6, n = 12.
    α = 1 − (n − 1)·(o_AB + o_BA) / (n_A·n_B + n_B·n_A) = 1 − 11·4/72 = 28/72 = 7/18.
    """
    assert krippendorff_alpha_nominal(SMALL) == pytest.approx(7 / 18)


def test_krippendorff_alpha_matches_krippendorffs_own_example_with_missing_values():
    """Krippendorff (2011), "Computing Krippendorff's alpha-reliability": 4 observers,
    12 units, missing values; nominal α = 0.743. Unit 12 has one value and is not pairable."""
    units = [
        [1, 1, 1],
        [2, 2, 3, 2],
        [3, 3, 3, 3],
        [3, 3, 3, 3],
        [2, 2, 2, 2],
        [1, 2, 3, 4],
        [4, 4, 4, 4],
        [1, 1, 2, 1],
        [2, 2, 2, 2],
        [5, 5, 5],
        [1, 1],
        [3],
    ]
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.743, abs=5e-4)


def test_cohen_kappa_by_hand():
    """10 items: both yes on 4, a yes/b no on 2, both no on 3, a no/b yes on 1.
    p_o = 7/10; a says yes 6/10, b 5/10  →  p_e = .6·.5 + .4·.5 = .5; κ = (.7 − .5)/.5 = .4."""
    a = ["y"] * 6 + ["n"] * 4
    b = ["y"] * 4 + ["n"] * 2 + ["n"] * 3 + ["y"]
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None


def test_segment_f1_matches_same_label_at_the_iou_threshold():
    """a: x 0–1, x 2–3, y 5–6; b: x 0.1–1 (IoU .9: match), x 2.6–3.5 (IoU .4/1.5 = .27:
    no), z 5–6 (other label: no). tp = 1, fp = 2, fn = 2, F1 = 2/(2 + 4) = 1/3."""
    a = [(0, 1, None, "x"), (2, 3, None, "x"), (5, 6, None, "y")]
    b = [(0.1, 1.0, None, "x"), (2.6, 3.5, None, "x"), (5, 6, None, "z")]
    result = segment_f1(a, b, iou=0.5, per_label=True)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 2, 2)
    assert result["f1"] == pytest.approx(1 / 3)
    assert result["labels"]["x"] == {"tp": 1, "fp": 1, "fn": 1}
    assert segment_f1(a, b, iou=0.2)["tp"] == 2  # a lower threshold takes the second x


def test_segment_matching_finds_the_maximum_matching_not_the_greedy_one():
    """a1 0–10 matches b1 0–10 (IoU 1) and b2 0–13 (.77); a2 4–10 matches only b1 (.6).
    Greedy by IoU takes a1–b1 and leaves a2 alone; the maximum matching pairs both."""
    a = [(0, 10, None, "x"), (4, 10, None, "x")]
    b = [(0, 10, None, "x"), (0, 13, None, "x")]
    assert segment_matches(a, b, iou=0.5) == [(0, 1), (1, 0)]


def test_segments_on_different_channels_do_not_match():
    assert segment_f1([(0, 1, 0, "x")], [(0, 1, 1, "x")])["tp"] == 0
    assert segment_f1([(0, 1, 0, "x")], [(0, 1, None, "x")])["tp"] == 1


def test_boxes_match_by_the_iou_of_their_boxes_and_a_segment_without_a_band_by_time():
    """Two calls at once in different bands are two sounds: 1-2 s at 1-2 kHz and 1-2 s at
    5-6 kHz do not match. The same time, bands half overlapping: box IoU 1/3 (no at 0.5, yes at
    0.3). A segment of every frequency covers any band: compared by time."""
    low = (1, 2, None, "x", (1000, 2000))
    high = (1, 2, None, "x", (5000, 6000))
    half = (1, 2, None, "x", (1500, 2500))
    assert segment_iou(low, high) == 0.0
    assert segment_iou(low, half) == pytest.approx(1 / 3)
    assert segment_f1([low], [high])["tp"] == 0
    assert segment_f1([low], [half], iou=0.5)["tp"] == 0
    assert segment_f1([low], [half], iou=0.3)["tp"] == 1
    # time halves too: IoU (0.5 s x 500 Hz) / (1 + 1 - 0.25 s.kHz) = 0.25 / 1.75
    later = (1.5, 2.5, None, "x", (1500, 2500))
    assert segment_iou(low, later) == pytest.approx(0.25 / 1.75)
    every = (1, 2, None, "x", None)
    assert segment_iou(low, every) == 1.0 and segment_iou((1, 2, None, "x"), low) == 1.0
    # two boxes, one per band, each answered by the other annotator's box in its band
    assert segment_matches([low, high], [high, low]) == [(0, 1), (1, 0)]


# --- the project level ---------------------------------------------------------------------


def _single_label_clips(project, *, per_clip: int, paths=("A", "B")) -> None:
    """The project as these tests compare annotators: single-label clip labels, `per_clip`
    annotations wanted a clip, and the labels at `paths`."""
    project.label_mode = "single"
    project.annotation_mode = "clip"
    project.annotations_per_clip = per_clip
    project.save()
    for path in paths:
        label_get_or_create_path(ontology=project.ontology, path=path)


@pytest.fixture
def three_annotators(make_user, project):
    users = [make_user(f"ann-{i}") for i in range(3)]
    for user in users:
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
    return users


def test_project_agreement_of_the_small_table(project, three_annotators):
    """The SMALL table as clip labels of three annotators (u0, u1, u2) on four clips: overall
    Fleiss κ = 1/3 and α = 7/18 as computed above. Per clip: AAA agrees fully, AAB has 1 of 3
    pairs agreeing. u0 says A,A,B,A and u1 A,A,B,B: p_o = 3/4; u0 has A 3 times, u1 twice,
    so p_e = (3·2 + 1·2)/16 = 1/2 and their Cohen's κ = (3/4 − 1/2)/(1/2) = 1/2."""
    _single_label_clips(project, per_clip=3)
    clips = ready_clips(project, 4)
    for clip, row in zip(clips, SMALL, strict=True):
        for user, label in zip(three_annotators, row, strict=True):
            annotation_submit(clip=clip, user=user, clip_labels=[label])

    report = project_agreement(project)

    overall = report["overall"]
    assert overall["n_clips"] == 4 and overall["n_annotations"] == 12
    assert overall["clip_labels"]["fleiss_kappa"] == pytest.approx(1 / 3, abs=1e-4)
    assert overall["clip_labels"]["krippendorff_alpha"] == pytest.approx(7 / 18, abs=1e-4)
    assert overall["clip_labels"]["observed_agreement"] == pytest.approx(2 / 3, abs=1e-4)
    by_clip = {c["id"]: c for c in report["clips"]}
    assert by_clip[clips[0].pk]["agreement"] == 1.0 and not by_clip[clips[0].pk]["disagreement"]
    assert by_clip[clips[1].pk]["agreement"] == pytest.approx(1 / 3, abs=1e-4)
    assert by_clip[clips[1].pk]["disagreement"]
    assert report["clips"][0]["agreement"] < 1  # worst first
    u0 = next(a for a in report["annotators"] if a["username"] == "ann-0")
    with_u1 = next(p for p in u0["pairs"] if p["username"] == "ann-1")
    assert with_u1["agreement"] == 0.75 and with_u1["kappa"] == pytest.approx(0.5)
    # An annotator's figure is the mean of their pairs' exact values, rounded once.
    u0_says, u1_says, u2_says = (list(column) for column in zip(*SMALL, strict=True))
    exact = (cohen_kappa(u0_says, u1_says) + cohen_kappa(u0_says, u2_says)) / 2
    assert u0["kappa"] == round(exact, 4)
    # One label against the rest is the same binary table here: κ of "A" is 1/3 too.
    a_label = next(lab for lab in report["labels"] if lab["label"] == "A")
    assert a_label["kappa"] == pytest.approx(1 / 3, abs=1e-4) and a_label["n_clips"] == 3


def test_a_reviewers_correction_does_not_count_as_what_the_annotator_said(
    project, three_annotators, reviewer, client_for, lead
):
    """ann-2 said "one" where the others said "seven"; a reviewer corrected it to "seven"
    and the figures counted the correction: κ and ann-2's agreement rose, and the clip left
    the disagreements as if the annotators had agreed. The figures count what each said (a
    label renamed since in today's name); the corrected clip is settled."""
    from labelapp.models import Annotation
    from ontology.models import Label
    from ontology.services import label_rename

    _single_label_clips(project, per_clip=3, paths=("digit/one", "digit/seven"))
    membership_set(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    disputed, agreed = ready_clips(project, 2)
    for user, label in zip(three_annotators, ("seven", "seven", "one"), strict=True):
        annotation_submit(clip=disputed, user=user, clip_labels=[f"digit/{label}"])
    for user in three_annotators:
        annotation_submit(clip=agreed, user=user, clip_labels=["digit/seven"])
    before = project_agreement(project)

    odd = Annotation.objects.get(clip=disputed, annotator=three_annotators[2])
    annotation_review(
        annotation=odd,
        reviewer=reviewer,
        action="correct",
        clip_labels=["digit/seven"],
        expected_version=odd.version,
    )
    label_rename(label=Label.objects.get(ontology=project.ontology, path="digit/one"), name="1")
    after = project_agreement(project)

    assert after["overall"] == before["overall"]

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "against_others"} for r in rows]

    assert strip(after["annotators"]) == strip(before["annotators"])
    # what they said against the others: their own answer, by its name today
    odd_said = next(a for a in after["annotators"] if a["user_id"] == odd.annotator_id)
    assert [(c["said"], c["others_said"]) for c in odd_said["against_others"]["confusions"]] == [
        ("digit/1", "digit/seven")
    ]
    clip = next(c for c in after["clips"] if c["id"] == disputed.pk)
    assert clip["agreement"] == pytest.approx(1 / 3, abs=1e-4) and clip["disagreement"]
    assert clip["settled"] is True
    assert not next(c for c in before["clips"] if c["id"] == disputed.pk)["settled"]
    assert {lab["label"] for lab in after["labels"]} == {"digit/1", "digit/seven"}
    # settled: no longer among the disagreements to look at, on the dashboard or review page
    from django.test import Client

    browser = Client()
    browser.force_login(lead)
    page = browser.get(f"/projects/{project.pk}/review/")
    assert page.status_code == 200 and 'data-testid="review-queue"' in page.content.decode()
    assert 'data-testid="disagreements"' not in page.content.decode()
    # the clip's own answer stays the reviewer's
    assert [cl.label.path for cl in odd.clip_labels.all()] == ["digit/seven"]


def test_multi_label_agreement_counts_shared_ancestors(project, three_annotators):
    """birds/robin vs birds/crow: expanded {birds, birds/robin} and {birds, birds/crow}
    share 1 of 3 labels, Jaccard 1/3; they agree on "birds". Their Cohen's κ over the units
    (birds: yes/yes, crow: no/yes, robin: yes/no): p_o = 1/3, both say yes 2/3 of the time,
    p_e = 4/9 + 1/9 = 5/9, κ = (1/3 − 5/9)/(4/9) = −1/2."""
    project.annotation_mode = "clip"
    project.annotations_per_clip = 2
    project.save()
    for path in ("birds/robin", "birds/crow"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    (clip,) = ready_clips(project, 1)
    u0, u1, _ = three_annotators
    annotation_submit(clip=clip, user=u0, clip_labels=["birds/robin"])
    annotation_submit(clip=clip, user=u1, clip_labels=["birds/crow"])
    report = project_agreement(project)
    assert report["clips"][0]["agreement"] == pytest.approx(1 / 3, abs=1e-4)
    labels = {lab["label"]: lab for lab in report["labels"]}
    assert set(labels) == {"birds", "birds/crow", "birds/robin"}
    assert labels["birds"]["n_clips"] == 1
    (pair,) = next(a for a in report["annotators"] if a["username"] == "ann-0")["pairs"]
    assert pair["kappa"] == pytest.approx(-0.5) and pair["n_clips"] == 1


def test_segment_agreement_per_clip_and_overall(project, three_annotators):
    project.annotation_mode = "segments"
    project.annotations_per_clip = 2
    project.save()
    label_get_or_create_path(ontology=project.ontology, path="call")
    (clip,) = ready_clips(project, 1)
    u0, u1, _ = three_annotators
    annotation_submit(
        clip=clip,
        user=u0,
        segments=[
            {"start": 0, "end": 1, "labels": ["call"]},
            {"start": 4, "end": 5, "labels": ["call"]},
        ],
    )
    annotation_submit(clip=clip, user=u1, segments=[{"start": 0.1, "end": 1, "labels": ["call"]}])
    report = project_agreement(project, iou=0.5)
    assert report["overall"]["segments"] == {
        "tp": 1,
        "fp": 0,
        "fn": 1,
        "f1": pytest.approx(2 / 3, abs=1e-4),
    }
    assert report["clips"][0]["segment_f1"] == pytest.approx(2 / 3, abs=1e-4)
    assert report["clips"][0]["agreement"] is None  # no clip labels in this project
    assert report["overall"]["clip_labels"]["fleiss_kappa"] is None


def test_two_annotators_boxing_one_call_in_other_bands_disagree(project, three_annotators):
    """u0 boxes the call at 1-2 kHz, u1 the same second at 5-6 kHz: by time alone they
    agreed (F1 1); as boxes they do not. u0's second box, of every frequency, meets u1's."""
    project.annotation_mode = "segments"
    project.annotations_per_clip = 2
    project.save()
    label_get_or_create_path(ontology=project.ontology, path="call")
    (clip,) = ready_clips(project, 1)
    u0, u1, _ = three_annotators
    box = {"start": 0, "end": 1, "labels": ["call"]}
    annotation_submit(
        clip=clip,
        user=u0,
        segments=[{**box, "low_freq": 1000, "high_freq": 2000}, {**box, "start": 3, "end": 4}],
    )
    annotation_submit(
        clip=clip,
        user=u1,
        segments=[
            {**box, "low_freq": 5000, "high_freq": 6000},
            {**box, "start": 3, "end": 4, "low_freq": 100, "high_freq": 900},
        ],
    )
    report = project_agreement(project, iou=0.5)
    assert report["overall"]["segments"] == {
        "tp": 1,
        "fp": 1,
        "fn": 1,
        "f1": pytest.approx(0.5, abs=1e-4),
    }


def test_a_clip_with_one_annotator_is_not_compared(project, annotator):
    label_get_or_create_path(ontology=project.ontology, path="birds/robin")
    (clip,) = ready_clips(project, 1)
    annotation_submit(clip=clip, user=annotator, clip_labels=["birds/robin"])
    report = project_agreement(project)
    assert report["clips"] == [] and report["overall"]["n_clips"] == 0


# --- the model against the humans ---------------------------------------------------------


def _version(project, name="v1", version=1):
    return ModelVersion.objects.create(
        project=project, version=version, name=name, status=ModelVersion.Status.ACTIVE
    )


def test_model_vs_humans_single_label_accuracy_and_confusion_per_level(project, annotator):
    """human → top-1: a/x → a/x, a/y → a/x, b/z → a/y, b/z → b/z.
    Full paths: 2 of 4 right (0.5). Level 0 (a, b): a→a twice, b→a, b→b: 3 of 4 (0.75).
    Feedback on v1: accepted ×2, edited, rejected → acceptance 2/4."""
    project.label_mode = "single"
    project.annotation_mode = "clip"
    project.save()
    labels = {
        p: label_get_or_create_path(ontology=project.ontology, path=p)[0]
        for p in ("a/x", "a/y", "b/z")
    }
    version = _version(project)
    clips = ready_clips(project, 4)
    cases = [("a/x", "a/x"), ("a/y", "a/x"), ("b/z", "a/y"), ("b/z", "b/z")]
    actions = ["accepted", "accepted", "edited", "rejected"]
    for clip, (human, top), action in zip(clips, cases, actions, strict=True):
        scores = {str(lb.pk): 0.1 for lb in labels.values()}
        scores[str(labels[top].pk)] = 0.8
        Prediction.objects.create(clip=clip, model_version=version, clip_scores=scores)
        feedback = [{"kind": "clip", "label": top, "action": action, "model_version": "v1"}]
        annotation_submit(
            clip=clip, user=annotator, clip_labels=[human], suggestion_feedback=feedback
        )

    report = model_vs_humans(project)

    (entry,) = report["versions"]
    assert entry["n_clips"] == 4 and entry["accuracy"] == 0.5
    level0, level1 = entry["levels"]
    assert level0["accuracy"] == 0.75
    assert level0["labels"] == ["a", "b"] and level0["matrix"] == [[2, 0], [1, 1]]
    assert level1["labels"] == ["a/x", "a/y", "b/z"]
    assert level1["matrix"] == [[1, 0, 0], [1, 0, 0], [0, 1, 1]]
    assert entry["suggestions"]["n"] == 4 and entry["suggestions"]["acceptance_rate"] == 0.5
    assert model_vs_humans(project, model_version=version.pk)["versions"][0]["id"] == version.pk


def test_a_prediction_made_after_the_clip_was_labeled_is_not_graded(project, annotator):
    """Label Studio's /ml/predict scores labeled clips on demand and stores the prediction:
    the model was then graded on clips it trained on (0 clips became 30 at 100%)."""
    project.label_mode = "single"
    project.annotation_mode = "clip"
    project.save()
    label = label_get_or_create_path(ontology=project.ontology, path="a/x")[0]
    version = _version(project)
    before, after = ready_clips(project, 2)
    Prediction.objects.create(clip=before, model_version=version, clip_scores={str(label.pk): 0.9})
    for clip in (before, after):
        annotation_submit(clip=clip, user=annotator, clip_labels=["a/x"])
    Prediction.objects.create(clip=after, model_version=version, clip_scores={str(label.pk): 0.9})
    (entry,) = model_vs_humans(project)["versions"]
    assert entry["n_clips"] == 1


def test_a_rejected_annotations_answers_to_suggestions_are_withdrawn(project, annotator, reviewer):
    """Two annotations took v1's suggestion unchanged; a reviewer rejects one of them (its
    labels were wrong) and accepts the other: only the accepted one's answer counts."""
    membership_set(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    project.label_mode = "single"
    project.annotation_mode = "clip"
    project.save()
    label = label_get_or_create_path(ontology=project.ontology, path="a/x")[0]
    version = _version(project)
    annotations = []
    for clip in ready_clips(project, 2):
        Prediction.objects.create(
            clip=clip, model_version=version, clip_scores={str(label.pk): 0.9}
        )
        feedback = [{"kind": "clip", "label": "a/x", "action": "accepted", "model_version": "v1"}]
        annotations.append(
            annotation_submit(
                clip=clip, user=annotator, clip_labels=["a/x"], suggestion_feedback=feedback
            )
        )
    assert model_vs_humans(project)["versions"][0]["suggestions"]["n"] == 2

    wrong, right = annotations
    annotation_review(
        annotation=wrong,
        reviewer=reviewer,
        action="reject",
        comment="not a/x",
        expected_version=wrong.version,
    )
    annotation_review(
        annotation=right, reviewer=reviewer, action="accept", expected_version=right.version
    )

    suggestions = model_vs_humans(project)["versions"][0]["suggestions"]
    assert (suggestions["n"], suggestions["accepted"]) == (1, 1)


def test_model_vs_humans_multi_label_micro_f1(project, annotator):
    """Clip 1: human a/x → {a, a/x}; predicted (≥ .5) {a, a/x, b}: tp 2, fp 1.
    Clip 2: human b/z → {b, b/z}; predicted {b}: tp 1, fn 1. Micro P = R = F1 = 3/4."""
    project.annotation_mode = "clip"
    project.save()
    ids = {
        p: label_get_or_create_path(ontology=project.ontology, path=p)[0].pk
        for p in ("a", "a/x", "b", "b/z")
    }
    version = _version(project)
    c1, c2 = ready_clips(project, 2)
    Prediction.objects.create(
        clip=c1,
        model_version=version,
        clip_scores={str(ids["a"]): 0.9, str(ids["a/x"]): 0.7, str(ids["b"]): 0.6},
    )
    Prediction.objects.create(
        clip=c2, model_version=version, clip_scores={str(ids["b"]): 0.8, str(ids["b/z"]): 0.3}
    )
    annotation_submit(clip=c1, user=annotator, clip_labels=["a/x"])
    annotation_submit(clip=c2, user=annotator, clip_labels=["b/z"])
    (entry,) = model_vs_humans(project)["versions"]
    assert (entry["precision"], entry["recall"], entry["f1"]) == (0.75, 0.75, 0.75)
    assert entry["exact_match"] == 0.0
    assert entry["suggestions"]["acceptance_rate"] is None
    assert entry["trained_as"] is None  # its metrics do not say


def test_a_version_trained_under_another_label_mode_is_marked(project, annotator, lead):
    """A project switched to multi-label judged its single-label versions by multi-label
    rules (an F1 of 0.14 for a model that was right), with nothing to say so."""
    from django.test import Client

    project.annotation_mode = "clip"
    project.save()
    a, _ = label_get_or_create_path(ontology=project.ontology, path="a")
    single = _version(project)
    ModelVersion.objects.filter(pk=single.pk).update(metrics={"accuracy": 0.9})
    (clip,) = ready_clips(project, 1)
    Prediction.objects.create(clip=clip, model_version=single, clip_scores={str(a.pk): 0.9})
    annotation_submit(clip=clip, user=annotator, clip_labels=["a"])
    assert model_vs_humans(project)["versions"][0]["trained_as"] == "single"
    page = Client()
    page.force_login(lead)
    text = page.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'data-testid="mvh-mode-changed"' in text and "trained single-label" in text
    assert "judge them by today's rules (multi-label)" in text
    Project.objects.filter(pk=project.pk).update(label_mode="single")
    text = page.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert 'data-testid="mvh-mode-changed"' not in text


# --- large projects: counted patterns and long id lists ------------------------------------


def test_weighted_fleiss_and_alpha_equal_the_tables_with_rows_repeated():
    """A table of distinct rows with counts is the same table as the rows repeated."""
    rows = [[3, 0], [2, 1], [0, 3], [1, 2], [0, 2]]
    counts = [4, 1, 7, 2, 3]
    repeated = [r for r, n in zip(rows, counts, strict=True) for _ in range(n)]
    assert fleiss_kappa(rows, weights=counts) == pytest.approx(fleiss_kappa(repeated))
    units = [["A", "A", "A"], ["A", "B"], ["B", "B", "C"], ["C"]]
    weights = [3, 2, 5, 4]
    listed = [u for u, n in zip(units, weights, strict=True) for _ in range(n)]
    assert krippendorff_alpha_nominal(units, weights=weights) == pytest.approx(
        krippendorff_alpha_nominal(listed)
    )
    assert fleiss_kappa(rows, weights=[0, 0, 0, 0, 0]) is None


@pytest.mark.parametrize("label_mode", ["multi", "single"])
def test_figures_equal_those_of_every_unit_listed(project, make_user, label_mode):
    """Units are counted as patterns, and in multi-label projects the clip x label units
    nobody said "yes" to are counted, not listed: the overall kappa, alpha and observed
    agreement, and each label's kappa, must equal those computed from every unit written
    out (2-4 of four annotators per clip, 30 clips, random labels)."""
    import random

    from labelapp.services.agreement import _expand
    from labelapp.services.agreement_stats import _pairwise_agreement

    multi = label_mode == "multi"
    project.label_mode = label_mode
    project.annotation_mode = "clip"
    project.annotations_per_clip = 4
    project.save()
    paths = ["a/x", "a/y", "b/z", "c", "d"]
    for path in paths:
        label_get_or_create_path(ontology=project.ontology, path=path)
    users = [make_user(f"r{i}") for i in range(4)]
    for user in users:
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
    rng = random.Random(7)
    chosen: dict[int, dict[int, set[str]]] = {}
    for clip in ready_clips(project, 30):
        for user in rng.sample(users, rng.randint(2, 4)):
            labels = rng.sample(paths, rng.randint(1, 2) if multi else 1)
            annotation_submit(clip=clip, user=user, clip_labels=labels)
            chosen.setdefault(clip.pk, {})[user.pk] = _expand(labels) if multi else set(labels)

    report = project_agreement(project)

    universe = sorted({p for sets in chosen.values() for s in sets.values() for p in s})
    if multi:
        units = [[p in s for s in sets.values()] for sets in chosen.values() for p in universe]
        table = [[sum(u), len(u) - sum(u)] for u in units]
    else:
        units = [[next(iter(s)) for s in sets.values()] for sets in chosen.values()]
        table = [[u.count(p) for p in universe] for u in units]
    overall = report["overall"]["clip_labels"]
    assert overall["n_units"] == len(units) == 30 * (len(universe) if multi else 1)
    assert overall["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-4)
    assert overall["krippendorff_alpha"] == pytest.approx(
        krippendorff_alpha_nominal(units), abs=1e-4
    )
    observed = sum(_pairwise_agreement(u) for u in units) / len(units)
    assert overall["observed_agreement"] == pytest.approx(observed, abs=1e-4)
    if multi:  # and over the units someone said yes to
        said_yes = [u for u in units if any(u)]
        assert overall["observed_agreement_chosen"] == pytest.approx(
            sum(_pairwise_agreement(u) for u in said_yes) / len(said_yes), abs=1e-4
        )
        assert overall["observed_agreement_chosen"] < overall["observed_agreement"]
    else:
        assert overall["observed_agreement_chosen"] is None
    for row in report["labels"]:
        rows = [[sum(row["label"] in s for s in sets.values()), 0] for sets in chosen.values()]
        for r, sets in zip(rows, chosen.values(), strict=True):
            r[1] = len(sets) - r[0]
        assert row["n_clips"] == sum(1 for r in rows if r[0])
        assert row["kappa"] == pytest.approx(fleiss_kappa(rows), abs=1e-4), row["label"]


@pytest.fixture
def few_sql_parameters(db):
    """SQLite allowing 200 parameters per statement (its limit was 999 before 3.32; builds
    differ), to find queries whose parameters grow with the project."""
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("a limit on a statement's parameters is SQLite's (PostgreSQL: 65,535)")
    connection.ensure_connection()
    raw = connection.connection
    before = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    yield lambda: raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 200)
    raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, before)


def test_agreement_and_the_training_set_of_a_large_project_fit_sqlites_limit(
    project, make_user, few_sql_parameters
):
    """500 annotations on 250 clips, with at most 200 parameters a statement: the agreement
    report, the model report and the training set read them all, without one parameter per
    annotation or clip (before: `annotation_id__in=` every id, 'too many SQL variables'):
    joins, or ids in chunks that fit the limit."""
    from ml_backend.dataset import clip_label_ids, labeled_set

    _single_label_clips(project, per_clip=2)
    users = [make_user(f"big-{i}") for i in range(2)]
    for user in users:
        membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
    clips = ready_clips(project, 250)
    version = _version(project)
    label_a = project.ontology.labels.get(path="A")
    Prediction.objects.bulk_create(  # suggestions, made before the clips were labeled
        Prediction(clip=clip, model_version=version, clip_scores={str(label_a.pk): 0.9})
        for clip in clips
    )
    for i, clip in enumerate(clips):
        for j, user in enumerate(users):
            annotation_submit(clip=clip, user=user, clip_labels=["A" if (i + j) % 3 else "B"])

    few_sql_parameters()
    report = project_agreement(project)
    truth = clip_label_ids(project)
    training = labeled_set(project)
    models = model_vs_humans(project)

    assert report["overall"]["n_clips"] == 250 and report["overall"]["n_annotations"] == 500
    # two annotators who disagree are a tie: those clips wait for a reviewer
    agreed = [c.pk for i, c in enumerate(clips) if ((i % 3) != 0) == (((i + 1) % 3) != 0)]
    assert len(truth) == len(agreed) == 83
    assert [c.pk for c in training.clips] == sorted(agreed)
    assert models["versions"][0]["n_clips"] == 83  # graded against a settled answer only


def test_a_figure_that_rounds_to_zero_is_never_minus_zero():
    from labelapp.services.agreement import _round

    assert str(_round(-0.00001)) == "0.0" and _round(None) is None
    assert _round(-0.12344) == -0.1234


def test_an_annotators_agreement_is_the_share_of_their_clip_pairs_that_agree(
    project, three_annotators
):
    """u0 agrees with u1 on 2 of 2 clips and with u2 on 2 of 4: 4 of 6 pairs, 0.6667 (the mean
    of the two pairs' rates, 0.75, was shown as "share of pairs agreeing")."""
    _single_label_clips(project, per_clip=2)
    u0, u1, u2 = three_annotators
    clips = ready_clips(project, 6)
    plan = [(u1, "A", "A"), (u1, "B", "B"), (u2, "A", "A"), (u2, "B", "B")]
    plan += [(u2, "A", "B"), (u2, "B", "A")]
    for clip, (other, mine, theirs) in zip(clips, plan, strict=True):
        annotation_submit(clip=clip, user=u0, clip_labels=[mine])
        annotation_submit(clip=clip, user=other, clip_labels=[theirs])
    report = project_agreement(project)
    me = next(a for a in report["annotators"] if a["user_id"] == u0.pk)
    assert me["agreement"] == pytest.approx(4 / 6, abs=1e-4)
    assert {p["user_id"]: p["agreement"] for p in me["pairs"]} == {u1.pk: 1.0, u2.pk: 0.5}


def test_the_dashboard_shows_how_many_clips_each_annotators_figure_rests_on(
    client, project, three_annotators, lead
):
    """One who labeled a clip or two read as the team's best beside one with many."""
    _single_label_clips(project, per_clip=2)
    u0, u1, u2 = three_annotators
    clips = ready_clips(project, 3)
    for clip, other in zip(clips, (u1, u1, u2), strict=True):
        annotation_submit(clip=clip, user=u0, clip_labels=["A"])
        annotation_submit(clip=clip, user=other, clip_labels=["A"])
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    assert f"<title>{u0.username}: 100.0% · 3 clips share of pairs agreeing</title>" in page
    assert f"<title>{u1.username}: 100.0% · 2 clips" in page and "100.0% · 1 clip<" in page
    assert f">{u2.username}<" in page  # the name whole beside its bar


def test_the_annotator_who_differs_from_the_others_and_how_is_named(
    client, project, three_annotators, lead
):
    """A lead's team tester found who was wrong only by opening clip after clip (ann3 called
    every "eight" a "nine"): each answer against the others' majority, and what was said."""
    from labelapp.services.agreement import project_agreement

    _single_label_clips(project, per_clip=3, paths=("A", "B", "C"))
    u0, u1, u2 = three_annotators
    clips = ready_clips(project, 6)
    # u2 says B where the others say A on three clips, C where they say A once; one clip has
    # no majority among u2's others (A against B); one where all agree.
    plan = [("A", "A", "B"), ("A", "A", "B"), ("A", "A", "B"), ("A", "A", "C")]
    plan += [("A", "B", "A"), ("C", "C", "C")]
    for clip, answers in zip(clips, plan, strict=True):
        for user, label in zip((u0, u1, u2), answers, strict=True):
            annotation_submit(clip=clip, user=user, clip_labels=[label])
    report = {a["username"]: a["against_others"] for a in project_agreement(project)["annotators"]}
    mine = report[u2.username]
    assert (mine["n_clips"], mine["n_differ"]) == (5, 4)  # not clip 5: its others split
    assert [(c["said"], c["others_said"], c["n"]) for c in mine["confusions"]] == [
        ("B", "A", 3),
        ("C", "A", 1),
    ]
    assert mine["confusions"][0]["clips"] == [c.pk for c in clips[:3]]
    # u1 said B on clip 5 where u0 and u2 said A; on clips 1-4 u1's others split (A, B or C)
    assert (report[u1.username]["n_differ"], report[u1.username]["n_clips"]) == (1, 2)
    assert report[u0.username]["n_differ"] == 0
    # A reviewer who accepts u2's answer on clip 1 sides with it: not held against u2 there.
    from labelapp.models import Annotation
    from labelapp.services.review import annotation_review

    odd = Annotation.objects.get(clip=clips[0], annotator=u2)
    annotation_review(annotation=odd, reviewer=lead, action="accept", expected_version=1)
    again = {a["username"]: a["against_others"] for a in project_agreement(project)["annotators"]}
    assert again[u2.username]["confusions"][0]["clips"] == [c.pk for c in clips[1:3]]
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    table = page[page.index('data-testid="against-others"') :]
    assert table.index(u2.username) < table.index(u1.username)  # most often first
    assert "3 of 4 clips" in table and "said <strong>B</strong> where the others said" in table
    assert f'data-annotator="{u0.username}"' not in table
    # Three clips named at most: more than that links to the rest, by label and annotator.
    monkey = pytest.MonkeyPatch()
    monkey.setattr("labelapp.services.agreement.MAX_EXAMPLE_CLIPS", 1)
    try:
        from django.core.cache import cache

        cache.clear()  # the dashboard's figures are cached
        page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    finally:
        monkey.undo()
    table = page[page.index('data-testid="against-others"') :]
    assert (
        f'href="/projects/{project.pk}/?label=B&amp;annotator={u2.username}" '
        'data-testid="differs-more"' in table
    )


def test_in_a_multi_label_project_the_labels_an_annotator_adds_or_leaves_out_are_named(
    client, project, three_annotators, lead
):
    """Multi-label: "where an annotator differs" vanished without a word (a bioacoustics
    lead's ann2 called the robin a buzzard, and left labels out). Each label added or left
    out against the others' majority, the most specific only (not "birds" with the buzzard)."""
    from labelapp.services.agreement import project_agreement

    project.annotation_mode = "clip"
    project.annotations_per_clip = 3
    project.save()
    for path in ("birds/robin", "birds/buzzard", "noise"):
        label_get_or_create_path(ontology=project.ontology, path=path)
    u0, u1, u2 = three_annotators
    clips = ready_clips(project, 5)
    plan = [(["birds/robin"], ["birds/robin"], ["birds/buzzard"])] * 3
    plan += [(["birds/robin", "noise"], ["birds/robin", "noise"], ["birds/robin"])]
    plan += [(["birds/robin"], ["birds/robin"], ["birds/robin", "noise"])]
    for clip, answers in zip(clips, plan, strict=True):
        for user, labels in zip((u0, u1, u2), answers, strict=True):
            annotation_submit(clip=clip, user=user, clip_labels=labels)
    report = {a["username"]: a["against_others"] for a in project_agreement(project)["annotators"]}
    mine = report[u2.username]
    assert (mine["n_clips"], mine["n_differ"]) == (5, 5)
    assert [(c["said"], c["others_said"], c["n"]) for c in mine["confusions"]] == [
        ("birds/buzzard", "birds/robin", 3),  # one for the other: a swap, not two lines
        ("", "noise", 1),
        ("noise", "", 1),
    ]
    # u0's others split on the robin (one each way): no majority, no difference
    assert report[u0.username]["n_differ"] == 0
    client.force_login(lead)
    page = client.get(f"/projects/{project.pk}/dashboard/").content.decode()
    table = page[page.index('data-testid="against-others"') :]
    assert "said <strong>birds/buzzard</strong> where the others said" in table
    assert "adds <strong>noise</strong>, which the others do not give" in table
    assert "leaves out <strong>noise</strong>, which the others give" in table
    assert "the labels an annotator adds or leaves out" in page


def test_a_clip_a_reviewer_accepted_one_answer_of_is_settled(project, three_annotators, reviewer):
    """Accepting one side of a dispute decides the clip (the manifest and the training take
    the accepted answers only): it stayed on the disagreement lists."""
    from labelapp.models import Annotation

    _single_label_clips(project, per_clip=2)
    membership_set(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    (clip,) = ready_clips(project, 1)
    u0, u1, _ = three_annotators
    annotation_submit(clip=clip, user=u0, clip_labels=["A"])
    annotation_submit(clip=clip, user=u1, clip_labels=["B"])
    (row,) = project_agreement(project)["clips"]
    assert row["disagreement"] and not row["settled"]
    theirs = Annotation.objects.get(clip=clip, annotator=u1)
    annotation_review(
        annotation=theirs, reviewer=reviewer, action="accept", expected_version=theirs.version
    )
    (row,) = project_agreement(project)["clips"]
    assert row["disagreement"] and row["settled"]
