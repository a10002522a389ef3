"""How far annotators agree with each other, and how far the model agrees with them.

`project_agreement(project)` and `model_vs_humans(project)` answer plain JSON-able dicts (the
dashboards read them); the statistics themselves are pure functions on plain lists in
`agreement_stats`, tested against hand-computed tables.

Which annotations count: human ones (`source=manual`) that are submitted, accepted or
rejected, each as its annotator gave it: a reviewer's correction is the clip's final answer
(exports, training) but not what the annotator said, so an annotation a reviewer corrected
counts as the annotator's last own version (its labels in today's names). The more a
reviewer fixed, the better the annotators looked. A clip a reviewer accepted or corrected an
annotation of (or rejected the dissenting ones of) is `settled`: it
leaves the lists of disagreements to look at, and stays in the figures. A child label implies its
ancestors: in multi-label projects label sets are expanded with ancestors before comparing,
so "birds/robin" and "birds/crow" agree on "birds". In single-label projects the chosen paths
are compared as they are.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations

from django.db.models import Exists, Min, OuterRef

from labelapp.chunks import id_chunks
from labelapp.consensus import clip_answer, clip_vote
from labelapp.models import Annotation, AnnotationRevision, ClipLabel, Project, SegmentLabel
from labelapp.services.agreement_stats import (  # noqa: F401 (re-exported)
    _binary_kappa,
    _f1,
    _pairwise_agreement,
    cohen_kappa,
    fleiss_kappa,
    interval_iou,
    krippendorff_alpha_nominal,
    segment_f1,
    segment_iou,
    segment_matches,
)

HUMAN_STATUSES = (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED)
# What the agreement figures count: a rejected answer too, as it was given (left out until it
# was fixed, a rejection raised its annotator's figure and the fix lowered it again).
COUNTED_STATUSES = (*HUMAN_STATUSES, Annotation.Status.REJECTED)
NONE_LABEL = "(none)"  # single-label clip without a clip label; confusion rows/columns "nothing"
MULTI_LABEL_THRESHOLD = 0.5


def _expand(paths) -> set[str]:
    """Paths plus their ancestors ("a/b/c" → a, a/b, a/b/c): zero queries."""
    out = set()
    for path in paths:
        parts = path.split("/")
        out.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def _round(value: float | None, digits: int = 4) -> float | None:
    # + 0.0: a value that rounds to zero is 0.0, never -0.0 (as JSON "-0.0").
    return None if value is None else round(float(value), digits) + 0.0


def _annotation_rows(project: Project) -> dict[int, dict]:
    """One entry per counted annotation: clip, annotator, clip label paths, segment items
    (start, end, channel, label path, band: (low, high) Hz or None). Three queries whatever
    the project's size, each a join on the same conditions (a list of every annotation id as
    parameters would pass SQLite's limit on a large project)."""
    counted = {
        "clip__project": project,
        "status__in": COUNTED_STATUSES,
        "source": Annotation.Source.MANUAL,
    }
    rows = {
        a["id"]: {**a, "labels": [], "segments": []}
        for a in Annotation.objects.filter(**counted).values(
            "id", "clip_id", "clip__original_name", "annotator_id", "annotator__username", "status"
        )
    }
    for ann_id, path in ClipLabel.objects.filter(
        **{f"annotation__{k}": v for k, v in counted.items()}
    ).values_list("annotation_id", "label__path"):
        if ann_id in rows:  # counted between the two reads
            rows[ann_id]["labels"].append(path)
    for ann_id, start, end, channel, low, high, path in SegmentLabel.objects.filter(
        **{f"segment__annotation__{k}": v for k, v in counted.items()}
    ).values_list(
        "segment__annotation_id",
        "segment__start",
        "segment__end",
        "segment__channel",
        "segment__low_freq",
        "segment__high_freq",
        "label__path",
    ):
        if ann_id in rows:
            band = None if low is None else (low, high)
            rows[ann_id]["segments"].append((start, end, channel, path, band))
    for row in rows.values():  # as it stands, for whether the clip's dispute is settled
        row["now"] = (row["labels"], row["segments"])
    for ann_id, own in _own_versions_of_reviewed(project, counted).items():
        if ann_id in rows:
            rows[ann_id].update(own)
    return rows


def _own_versions_of_reviewed(project: Project, counted: dict) -> dict[int, dict]:
    """What each counted annotation's annotator said on their own, where a reviewer had a
    hand in what it holds now, by annotation id: {"labels", "segments", "corrected"} as
    `_annotation_rows` keeps them, in today's label paths. Rejected once: the version that
    was rejected (fixed after the reviewer said the answer, it agreed by being told, and the
    wrong annotator's figures rose); corrected last: their last own version. One query for
    the revisions of those annotations."""
    from labelapp.services.review import Action

    reviewed = AnnotationRevision.objects.filter(
        annotation=OuterRef("annotation"), action__in=(Action.CORRECT, Action.REJECT)
    )
    revisions = (
        AnnotationRevision.objects.filter(**{f"annotation__{k}": v for k, v in counted.items()})
        .filter(Exists(reviewed))
        .order_by("annotation_id", "version")
        .values_list("annotation_id", "action", "data")
    )
    own: dict[int, dict] = {}
    before_reject: dict[int, dict] = {}
    last_writer: dict[int, str] = {}
    for ann_id, action, data in revisions.iterator(chunk_size=2000):
        if action == Action.CORRECT:
            last_writer[ann_id] = "reviewer"
        elif action == Action.REJECT:
            if ann_id in own:
                before_reject.setdefault(ann_id, own[ann_id])
        elif action not in Action.ALL and isinstance(data, dict):
            own[ann_id] = data
            last_writer[ann_id] = "annotator"
    chosen = {a: own[a] for a, who in last_writer.items() if who == "reviewer" and a in own}
    chosen |= before_reject
    if not chosen:
        return {}
    from ontology.services import label_paths_in, paths_today

    paths = sorted({p for data in chosen.values() for p in label_paths_in(data)})
    now = paths_today(ontology=project.ontology, paths=paths)

    def today(path: str) -> str:
        return now.get(path) or path  # a label deleted since keeps the path it had

    return {
        ann_id: {
            "labels": list(dict.fromkeys(today(p) for p in data.get("clip_labels") or [])),
            "segments": [
                (
                    seg.get("start"),
                    seg.get("end"),
                    seg.get("channel"),
                    today(path),
                    None if seg.get("low_freq") is None else (seg["low_freq"], seg["high_freq"]),
                )
                for seg in data.get("segments") or []
                if isinstance(seg, dict)
                for path in seg.get("labels") or []
            ],
            # a reviewer wrote what it holds now (a rejected one fixed is not decided)
            "corrected": last_writer.get(ann_id) == "reviewer",
        }
        for ann_id, data in chosen.items()
    }


def _jaccard(a: set, b: set) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def project_agreement(project: Project, *, iou: float = 0.5) -> dict:
    """Agreement between the annotators of a project's overlapping clips.

    Only clips with at least two counted annotations take part. Answer (JSON-able):

    - `label_mode`, `annotation_mode`, `iou` (the segment matching threshold).
    - `clips`: per clip, worst first: `id`, `original_name`, `n_annotators`, `agreement`
      (clip labels: share of annotator pairs choosing the same label in single-label
      projects, mean pairwise Jaccard of the label sets in multi-label ones; None without
      clip labels), `segment_f1` (mean over annotator pairs of segment F1 at `iou`; None
      without segments), `disagreement` (true when either is below 1), `settled` (a reviewer
      accepted or corrected one of its annotations, which decides the clip: the figures
      still count what the annotators said),
      `needs_adjudication`.
    - `annotators[].against_others` (None without clips of three answers): their answers
      against the others' majority, and what they said instead most often
      (`_against_the_others`; multi-label: the labels they add or leave out,
      `_against_the_others_multi`).
    - `labels`: per label path: `label`, `n_clips` (compared clips where anyone used it),
      `kappa` (Fleiss' kappa of "this label applies" over compared clips; None when
      undefined), `segment_f1` (segments of this label; None without any).
    - `annotators`: per annotator: `user_id`, `username`, `n_clips` (compared clips they
      annotated), `agreement` (observed agreement with the others over all their clip pairs:
      the share that agree, each pair's clips counted), `kappa` (mean of
      their pairwise Cohen's kappas), `segment_f1`, and `pairs`: [{`user_id`, `username`,
      `n_clips`, `agreement`, `kappa`, `segment_f1`}] with each other annotator.
    - `overall`: `n_clips`, `n_annotations`, `clip_labels` {`n_units`, `observed_agreement`,
      `observed_agreement_chosen`, `fleiss_kappa`, `krippendorff_alpha`} (units are clips in
      single-label projects and clip × label pairs, label present or not, in multi-label
      ones; `observed_agreement_chosen`, multi-label only: over the pairs someone chose),
      `segments` {`tp`, `fp`, `fn`, `f1`} summed over annotator pairs.
    """
    rows = _annotation_rows(project)
    multi = project.label_mode == Project.LabelMode.MULTI
    clip_mode_only = project.annotation_mode == Project.AnnotationMode.CLIP
    use_segments = project.annotation_mode != Project.AnnotationMode.CLIP
    segments_optional = project.annotation_mode == Project.AnnotationMode.BOTH
    by_clip: dict[int, list[dict]] = defaultdict(list)
    for row in rows.values():
        by_clip[row["clip_id"]].append(row)
    compared = {cid: anns for cid, anns in by_clip.items() if len(anns) >= 2}
    from labelapp.models import Clip

    adjudication = set(
        Clip.objects.filter(project=project, needs_adjudication=True).values_list("pk", flat=True)
    ) & set(compared)

    # Clip-label values per (clip, annotator): a path (single) or an expanded set (multi).
    values: dict[int, dict[int, object]] = {}
    for cid, anns in compared.items():
        vals = {}
        for a in anns:
            # What the annotation says of the clip, as the manifest and the training read it:
            # multi-label, its clip labels and its segments' labels; single-label, its clip
            # label, or its segments' when it has none (a clip labeled "one" through a segment
            # alone disagreed with "one" given as the clip label). Segments-only projects
            # have no clip-level answer.
            labels = _answer(a["labels"], a["segments"], multi, segments_optional)
            if not labels and not clip_mode_only:
                continue  # nothing said about the clip
            if multi:
                vals[a["annotator_id"]] = _expand(labels)
            else:
                vals[a["annotator_id"]] = sorted(labels)[0] if labels else NONE_LABEL
        if len(vals) >= 2:
            values[cid] = vals
    universe = (
        sorted({p for vals in values.values() for v in vals.values() for p in v}) if multi else []
    )

    # Per clip: how many of its annotators chose each label (a path, or in multi-label
    # projects each path of the expanded sets), and how many annotators it has.
    chose: dict[int, Counter] = {
        cid: Counter(p for v in vals.values() for p in (v if multi else (v,)))
        for cid, vals in values.items()
    }

    # Units for the overall kappa/alpha, as patterns (a unit's values, sorted: the figures
    # depend on nothing else) and how many units have each. Single-label: one unit per clip.
    # Multi-label: one per clip x label of the universe, "this label applies" per annotator;
    # the labels nobody chose on a clip are all "no" and are counted, not listed.
    patterns: Counter = Counter()
    for cid, vals in values.items():
        m = len(vals)
        if multi:
            for n_yes in chose[cid].values():
                patterns[(False,) * (m - n_yes) + (True,) * n_yes] += 1
            patterns[(False,) * m] += len(universe) - len(chose[cid])
        else:
            patterns[tuple(sorted(vals.values()))] += 1
    patterns = Counter({pattern: n for pattern, n in patterns.items() if n})
    n_units = sum(patterns.values())

    # Segment items per (clip, annotator) and pairwise tallies.
    seg_pairs: dict[int, list[tuple[int, int, dict]]] = {}
    label_seg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    pair_seg: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    if use_segments:
        for cid, anns in compared.items():
            results = []
            for a, b in combinations(sorted(anns, key=lambda r: r["annotator_id"]), 2):
                if not a["segments"] and not b["segments"]:
                    continue  # nothing to match: no counts, no F1
                if segments_optional and not (a["segments"] and b["segments"]):
                    # Clip labels and segments: one who labeled the clip as a whole said
                    # nothing about where (an optional segment drawn by one of two who agree
                    # on the clip made the clip a "disagreement").
                    continue
                res = segment_f1(a["segments"], b["segments"], iou=iou, per_label=True)
                results.append((a["annotator_id"], b["annotator_id"], res))
                for lab, counts in res["labels"].items():
                    tally = label_seg[lab]
                    for i, k in enumerate(("tp", "fp", "fn")):
                        tally[i] += counts[k]
                tally = pair_seg[(a["annotator_id"], b["annotator_id"])]
                for i, k in enumerate(("tp", "fp", "fn")):
                    tally[i] += res[k]
            seg_pairs[cid] = results

    # --- per clip
    clips_out = []
    for cid, anns in compared.items():
        agreement = None
        if cid in values:
            pairs = list(combinations(values[cid].values(), 2))
            if multi:
                agreement = sum(_jaccard(a, b) for a, b in pairs) / len(pairs)
            else:
                agreement = sum(a == b for a, b in pairs) / len(pairs)
        seg = None
        if use_segments:
            f1s = [r["f1"] for _, _, r in seg_pairs.get(cid, []) if r["f1"] is not None]
            seg = sum(f1s) / len(f1s) if f1s else None
        clips_out.append(
            {
                "id": cid,
                "original_name": anns[0]["clip__original_name"],
                "n_annotators": len(anns),
                "agreement": _round(agreement),
                "segment_f1": _round(seg),
                "disagreement": (agreement is not None and agreement < 1)
                or (seg is not None and seg < 1),
                # a reviewer corrected one, or accepted one (then only accepted ones count
                # for the manifest and the training): the dispute is decided, unless the
                # accepted ones of a single-label clip tie (then none counts)
                # and never while it waits for adjudication: the manifest leaves it out
                "settled": cid not in adjudication
                and (
                    _settled(anns, values.get(cid), multi=multi)
                    or _rejections_settle(anns, multi=multi, segments_optional=segments_optional)
                ),
                "needs_adjudication": cid in adjudication,
            }
        )
    clips_out.sort(
        key=lambda c: (
            min(x for x in (c["agreement"], c["segment_f1"], 1.0) if x is not None),
            c["id"],
        )
    )

    # --- per label
    labels_out = []
    label_names = sorted(
        set(universe if multi else (v for vals in values.values() for v in vals.values()))
        | set(label_seg)
    )
    # Fleiss' kappa of "this label applies" per label: rows (yes, no) per compared clip, as
    # distinct rows with their counts; a clip where nobody chose the label is (0, m).
    raters: Counter = Counter(len(vals) for vals in values.values())
    rows_of: dict[str, Counter] = defaultdict(Counter)
    for cid, counts in chose.items():
        m = len(values[cid])
        for lab, yes in counts.items():
            rows_of[lab][(yes, m)] += 1
    for lab in label_names:
        used = rows_of.get(lab, Counter())
        table = dict(used)
        for m, n_clips in raters.items():
            unused = n_clips - sum(n for (_, mm), n in used.items() if mm == m)
            if unused:
                table[(0, m)] = table.get((0, m), 0) + unused
        tp, fp, fn = label_seg.get(lab, (0, 0, 0))
        labels_out.append(
            {
                "label": lab,
                "n_clips": sum(used.values()),
                "kappa": _round(
                    fleiss_kappa([[y, m - y] for y, m in table], weights=list(table.values()))
                )
                if used
                else None,
                "segment_f1": _round(_f1(tp, fp, fn)),
            }
        )

    # --- per annotator
    names = {r["annotator_id"]: r["annotator__username"] for r in rows.values()}
    annotator_ids = sorted({a["annotator_id"] for anns in compared.values() for a in anns})
    # Clips each pair of annotators shares, in one pass over the clips (not pairs × clips).
    pair_clips: dict[tuple[int, int], list[int]] = defaultdict(list)
    pair_labelled: dict[tuple[int, int], list[int]] = defaultdict(list)
    clips_of: Counter = Counter()
    for cid, anns in compared.items():
        ids = sorted({r["annotator_id"] for r in anns})
        clips_of.update(ids)
        for a, b in combinations(ids, 2):
            pair_clips[(a, b)].append(cid)
            if cid in values and a in values[cid] and b in values[cid]:
                pair_labelled[(a, b)].append(cid)
    pair_out: dict[int, list[dict]] = defaultdict(list)
    pair_exact: dict[int, list[dict]] = defaultdict(list)  # the same, unrounded
    for (a, b), both in sorted(pair_clips.items()):
        shared = pair_labelled.get((a, b), [])
        agreement = kappa = None
        if shared:
            if multi:
                agreement = sum(_jaccard(values[c][a], values[c][b]) for c in shared) / len(shared)
                # "label present" on every clip × label unit, counted without listing them
                both_yes = sum(len(values[c][a] & values[c][b]) for c in shared)
                a_only = sum(len(values[c][a] - values[c][b]) for c in shared)
                b_only = sum(len(values[c][b] - values[c][a]) for c in shared)
                both_no = len(shared) * len(universe) - both_yes - a_only - b_only
                kappa = _binary_kappa(both_yes, a_only, b_only, both_no)
            else:
                xs = [values[c][a] for c in shared]
                ys = [values[c][b] for c in shared]
                agreement = sum(x == y for x, y in zip(xs, ys, strict=True)) / len(shared)
                kappa = cohen_kappa(xs, ys)
        tp, fp, fn = pair_seg.get((a, b), (0, 0, 0))
        seg = _f1(tp, fp, fn)
        for me, other in ((a, b), (b, a)):
            pair_exact[me].append(
                {"agreement": agreement, "kappa": kappa, "segment_f1": seg, "n": len(shared)}
            )
            pair_out[me].append(
                {
                    "user_id": other,
                    "username": names[other],
                    "n_clips": len(both),
                    "agreement": _round(agreement),
                    "kappa": _round(kappa),
                    "segment_f1": _round(seg),
                }
            )
    accepted = {  # as they gave it: a correction is the reviewer's answer, not a side taken
        cid: {
            a["annotator_id"]
            for a in anns
            if a["status"] == Annotation.Status.ACCEPTED and not a.get("corrected")
        }
        for cid, anns in compared.items()
    }
    against = (_against_the_others_multi if multi else _against_the_others)(values, accepted)
    annotators_out = []
    for uid in annotator_ids:
        pairs = pair_out.get(uid, [])

        def mean(key: str, exact=pair_exact.get(uid, [])) -> float | None:
            # of the pairs' exact values: a mean of rounded ones can be off in its last digit
            xs = [p[key] for p in exact if p[key] is not None]
            return sum(xs) / len(xs) if xs else None

        def pooled(exact=pair_exact.get(uid, [])) -> float | None:
            # The share of their clip pairs that agree (mean Jaccard, multi-label), each
            # shared clip counted once: 7 of 7 with one and 6 of 9 with another is 13/16, not
            # the mean of 1.0 and 0.667.
            weighed = [(p["agreement"], p["n"]) for p in exact if p["agreement"] is not None]
            total = sum(n for _, n in weighed)
            return sum(a * n for a, n in weighed) / total if total else None

        annotators_out.append(
            {
                "user_id": uid,
                "username": names[uid],
                "n_clips": clips_of[uid],
                "agreement": _round(pooled()),
                "kappa": _round(mean("kappa")),
                "segment_f1": _round(mean("segment_f1")),
                "pairs": pairs,
                "against_others": against.get(uid),
            }
        )

    # --- overall
    observed = None
    if n_units:
        observed = sum(_pairwise_agreement(pt) * n for pt, n in patterns.items()) / n_units
    # Multi-label: the same over the clip x label units someone said yes to. Every label used
    # anywhere is a unit of every clip, so a large ontology's "nobody chose it here" units
    # (94,738 of them for 707 clips) put observed agreement at 98.9% beside annotators who
    # agreed on 70-75% of their pairs.
    chosen_units = {pt: n for pt, n in patterns.items() if any(pt)} if multi else {}
    observed_chosen = None
    if chosen_units:
        observed_chosen = sum(_pairwise_agreement(pt) * n for pt, n in chosen_units.items()) / sum(
            chosen_units.values()
        )
    seg_tp = sum(t[0] for t in pair_seg.values())
    seg_fp = sum(t[1] for t in pair_seg.values())
    seg_fn = sum(t[2] for t in pair_seg.values())
    return {
        "label_mode": project.label_mode,
        "annotation_mode": project.annotation_mode,
        "iou": iou,
        "clips": clips_out,
        "labels": labels_out,
        "annotators": annotators_out,
        "overall": {
            "n_clips": len(compared),
            "n_annotations": sum(len(anns) for anns in compared.values()),
            "clip_labels": {
                "n_units": n_units,
                "observed_agreement": _round(observed),
                "observed_agreement_chosen": _round(observed_chosen),
                "fleiss_kappa": _round(
                    fleiss_kappa(_category_table(list(patterns)), weights=list(patterns.values()))
                )
                if n_units
                else None,
                "krippendorff_alpha": _round(
                    krippendorff_alpha_nominal(list(patterns), weights=list(patterns.values()))
                )
                if n_units
                else None,
            },
            "segments": {
                "tp": seg_tp,
                "fp": seg_fp,
                "fn": seg_fn,
                "f1": _round(_f1(seg_tp, seg_fp, seg_fn)) if use_segments else None,
            },
        },
    }


def _category_table(units: list[tuple]) -> list[list[int]]:
    """Counts per category (columns: the values in any unit, sorted) for each unit's values."""
    categories = sorted({v for u in units for v in u}, key=str)
    index = {c: i for i, c in enumerate(categories)}
    table = []
    for u in units:
        row = [0] * len(categories)
        for v in u:
            row[index[v]] += 1
        table.append(row)
    return table


# --- the model against the humans -----------------------------------------------------------


def _human_truth(project: Project) -> dict[int, set[str]]:
    """What annotators finally said per clip, as the trainer reads it (majority of the
    counted annotations, segment labels counting as clip labels): paths by clip id."""
    from ml_backend.dataset import clip_label_ids
    from ontology.models import Label

    ids = clip_label_ids(project)
    paths = dict(
        Label.objects.filter(
            pk__in={i for v in ids.values() for i in v}, ontology_id=project.ontology_id
        ).values_list("pk", "path")
    )
    return {cid: {paths[i] for i in v if i in paths} for cid, v in ids.items()}


def _at_level(path: str, level: int) -> str | None:
    parts = path.split("/")
    return "/".join(parts[: level + 1]) if len(parts) > level else None


def model_vs_humans(project: Project, model_version=None) -> dict:
    """Each model version's suggestions (its `Prediction`s) against what annotators finally
    submitted, and how often its suggestions were taken unchanged.

    Answer (JSON-able): `label_mode` and `versions`, newest first, each with `id`, `name`,
    `version`, `status`, `n_clips` (clips with both a prediction of this version and a human
    label), `trained_as` (`single` or `multi`, as its training measured it; None when it
    did not say: the figures below judge it by the project's label mode now), then

    - single-label projects: `accuracy` (top-1 label equals the human label, full path);
    - multi-label projects: `precision`, `recall`, `f1` (micro, labels scoring at least 0.5
      against the human labels expanded with their ancestors) and `exact_match`;
    - `levels`: per ontology level (0 = roots; a path is cut to its first level+1 parts):
      `level`, `n_clips`, `accuracy` (single) or `precision`/`recall`/`f1` (multi), and a
      confusion matrix `labels` + `matrix` where `matrix[i][j]` counts clips whose human label
      is `labels[i]` and predicted label is `labels[j]` (multi-label: every human × predicted
      pair of a clip; "(none)" stands for no label at that level on either side);
    - `suggestions`: the annotators' feedback on this version's suggestions
      (`Annotation.suggestion_feedback` entries naming it, of submitted or accepted
      annotations: a rejected one's answers are withdrawn): `n`, counts per action
      (`accepted`, `edited`, `rejected`, `ignored`) and `acceptance_rate` = accepted
      unchanged / all entries (None without entries).

    `model_version` (a ModelVersion or its id) limits the answer to that version.
    """
    from ml_backend.models import ModelVersion, Prediction
    from ontology.models import Label

    multi = project.label_mode == Project.LabelMode.MULTI
    # Only what is shown of a version: its metrics (per class, confusion matrices) are large.
    from django.db.models.fields.json import KT

    versions = (
        ModelVersion.objects.filter(project=project)
        .order_by("-version")
        .only("id", "name", "status", "version")
        # Trained multi-label: its metrics have a micro-F1 (read alone; they are large).
        .annotate(micro=KT("metrics__micro_f1"), measured=KT("metrics__accuracy"))
    )
    if model_version is not None:
        versions = versions.filter(pk=getattr(model_version, "pk", model_version))
    truth = _human_truth(project)
    paths = dict(Label.objects.filter(ontology_id=project.ontology_id).values_list("pk", "path"))
    feedback = _feedback_by_version(project)
    # A suggestion is one made before anyone labeled the clip: a prediction made after (Label
    # Studio's /ml/predict asking for labeled clips) graded a model on clips it trained on,
    # and a version's 0 clips became 30 at 100%.
    labeled_at = dict(
        Annotation.objects.filter(clip__project=project)
        .values("clip_id")
        .annotate(first=Min("created_at"))
        .values_list("clip_id", "first")
    )
    out = []
    for version in versions:
        preds = [
            (clip_id, scores)
            for chunk in id_chunks(truth)
            for clip_id, scores, made in Prediction.objects.filter(
                model_version=version, clip_id__in=chunk
            ).values_list("clip_id", "clip_scores", "created_at")
            if clip_id not in labeled_at or made < labeled_at[clip_id]
        ]
        pairs: list[tuple[set[str], set[str]]] = []  # (human, predicted) per clip
        for clip_id, scores in preds:
            scored = [
                (paths[int(k)], float(s)) for k, s in (scores or {}).items() if int(k) in paths
            ]
            if not truth[clip_id]:
                continue
            if multi:
                predicted = {p for p, s in scored if s >= MULTI_LABEL_THRESHOLD}
                pairs.append((_expand(truth[clip_id]), predicted))
            else:
                best = max(scored, key=lambda ps: ps[1])[0] if scored else None
                pairs.append((set(sorted(truth[clip_id])[:1]), {best} if best else set()))
        entry = {
            "id": version.pk,
            "name": version.name,
            "version": version.version,
            "status": version.status,
            "n_clips": len(pairs),
            # How the version was trained, when its metrics say: judged by today's label mode,
            # a single-label model read as multi-label (or the other way) scores what it
            # never tried to do.
            "trained_as": (
                "multi"
                if version.micro is not None
                else "single"
                if version.measured is not None
                else None
            ),
        }
        if multi:
            tp = sum(len(h & p) for h, p in pairs)
            fp = sum(len(p - h) for h, p in pairs)
            fn = sum(len(h - p) for h, p in pairs)
            entry.update(_prf(tp, fp, fn))
            entry["exact_match"] = _round(
                sum(h == p for h, p in pairs) / len(pairs) if pairs else None
            )
        else:
            entry["accuracy"] = _round(
                sum(h == p for h, p in pairs) / len(pairs) if pairs else None
            )
        entry["levels"] = _levels(pairs, multi)
        entry["suggestions"] = _acceptance(feedback.get(version.name, []))
        out.append(entry)
    return {"label_mode": project.label_mode, "versions": out}


def _levels(pairs: list[tuple[set[str], set[str]]], multi: bool) -> list[dict]:
    depth = max((p.count("/") for h, pr in pairs for p in h | pr), default=-1)
    levels = []
    for level in range(depth + 1):
        cells: Counter = Counter()
        n = tp = fp = fn = correct = 0
        for human, predicted in pairs:
            h = {x for x in (_at_level(p, level) for p in human) if x}
            p = {x for x in (_at_level(q, level) for q in predicted) if x}
            if multi:
                if not h and not p:
                    continue
                n += 1
                tp, fp, fn = tp + len(h & p), fp + len(p - h), fn + len(h - p)
                for a in h or {NONE_LABEL}:
                    for b in p or {NONE_LABEL}:
                        cells[(a, b)] += 1
            else:
                if not h:
                    continue  # the human label is coarser than this level: nothing to compare
                n += 1
                a = next(iter(h))
                b = next(iter(p)) if p else NONE_LABEL
                correct += a == b
                cells[(a, b)] += 1
        labels = sorted({a for a, _ in cells} | {b for _, b in cells}, key=_none_last)
        index = {lab: i for i, lab in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for (a, b), count in cells.items():
            matrix[index[a]][index[b]] = count
        row = {"level": level, "n_clips": n, "labels": labels, "matrix": matrix}
        if multi:
            row.update(_prf(tp, fp, fn))
        else:
            row["accuracy"] = _round(correct / n if n else None)
        levels.append(row)
    return levels


def _none_last(label: str) -> tuple:
    return (label == NONE_LABEL, label.lower())


def _feedback_by_version(project: Project) -> dict[str, list[dict]]:
    """Feedback entries per version name, from annotations that still stand (submitted or
    accepted): a reviewer's rejection withdraws its annotator's answers to the suggestions
    along with the labels, as it withdraws the labels from the human truth."""
    out: dict[str, list[dict]] = defaultdict(list)
    for entries in Annotation.objects.filter(
        clip__project=project, status__in=HUMAN_STATUSES
    ).values_list("suggestion_feedback", flat=True):
        for entry in entries or []:
            if isinstance(entry, dict) and entry.get("model_version"):
                out[str(entry["model_version"])].append(entry)
    return out


def _acceptance(entries: list[dict]) -> dict:
    counts = Counter(str(e.get("action")) for e in entries)
    n = len(entries)
    return {
        "n": n,
        **{
            action: counts.get(action, 0)
            for action in ("accepted", "edited", "rejected", "ignored")
        },
        "acceptance_rate": _round(counts.get("accepted", 0) / n if n else None),
    }


def _prf(tp: int, fp: int, fn: int) -> dict:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return {"precision": _round(precision), "recall": _round(recall), "f1": _round(_f1(tp, fp, fn))}


MAX_CONFUSIONS = 5  # an annotator's most frequent differences from the others, kept
MAX_EXAMPLE_CLIPS = 3


def _against_the_others(
    values: dict[int, dict[int, str]], accepted: dict[int, set[int]]
) -> dict[int, dict]:
    """Single-label: each annotator's answers against the others' majority on the same clip
    (the others only: more than half of them agree, and there are two or more). The pairwise
    figures said who agreed least, not with what: a lead opened clip after clip to find that
    one annotator called every "eight" a "nine". By annotator id: {"n_clips": clips with such
    a majority, "n_differ": clips where they said otherwise, "confusions": [{"said",
    "others_said", "n", "clips"}] most frequent first}. An answer a reviewer accepted is not
    held against its annotator (the reviewer sided with them: the clip takes it)."""
    seen: Counter = Counter()
    differ: dict[int, dict[tuple[str, str], list[int]]] = defaultdict(lambda: defaultdict(list))
    for cid, me, mine, theirs in _each_against_the_others(values, accepted):
        others = Counter(theirs)
        top, n = others.most_common(1)[0]
        if 2 * n <= len(theirs):
            continue  # no majority among the others
        seen[me] += 1
        if mine != top:
            differ[me][(mine, top)].append(cid)
    return _differences_out(seen, differ)


def _each_against_the_others(values: dict, accepted: dict[int, set[int]]):
    """(clip, annotator, their answer, the others' answers) on clips of three answers or
    more, an answer a reviewer accepted left out."""
    for cid, vals in values.items():
        if len(vals) < 3:
            continue
        for me, mine in vals.items():
            if me not in accepted.get(cid, ()):
                yield cid, me, mine, [v for who, v in vals.items() if who != me]


def _against_the_others_multi(
    values: dict[int, dict[int, frozenset]], accepted: dict[int, set[int]]
) -> dict[int, dict]:
    """Multi-label: each annotator's labels against the others' majority on the same clip (a
    label the others mostly give, or mostly do not), as `_against_the_others` does for one
    label (it said nothing here: a lead could not see who left out the robin, or added a
    buzzard, clip after clip). Only the most specific label of a difference is said (a buzzard
    added is not also "birds/raptors" added). Confusions are {"said": path, "others_said": ""}
    for a label added, {"said": "", "others_said": path} for one left out, and both named
    where a clip's one difference is one label for another (it read as two lines)."""
    seen: Counter = Counter()
    differ: dict[int, dict[tuple[str, str], list[int]]] = defaultdict(lambda: defaultdict(list))
    for cid, me, mine, others in _each_against_the_others(values, accepted):
        votes = Counter(p for v in others for p in v)
        majority = {p for p, n in votes.items() if 2 * n > len(others)}
        seen[me] += 1
        added = _most_specific(set(mine) - majority - _tied(votes, len(others)))
        missed = _most_specific(majority - set(mine))
        if len(added) == len(missed) == 1:  # one label for another: said as a swap
            differ[me][(added[0], missed[0])].append(cid)
            continue
        for path in added:
            differ[me][(path, "")].append(cid)
        for path in missed:
            differ[me][("", path)].append(cid)
    return _differences_out(seen, differ)


def _differences_out(seen: Counter, differ: dict) -> dict[int, dict]:
    """By annotator: clips with a majority among the others, clips they differ on, and their
    differences most frequent first (`_against_the_others`' shape)."""
    out = {}
    for uid, n in seen.items():
        confusions = sorted(differ[uid].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        out[uid] = {
            "n_clips": n,
            "n_differ": len({c for found in differ[uid].values() for c in found}),
            "confusions": [
                {
                    "said": said,
                    "others_said": theirs,
                    "n": len(found),
                    "clips": sorted(found)[:MAX_EXAMPLE_CLIPS],
                }
                for (said, theirs), found in confusions[:MAX_CONFUSIONS]
            ],
        }
    return out


def _tied(votes: Counter, others: int) -> set:
    """Labels exactly half of the others give: no majority either way, no difference."""
    return {p for p, n in votes.items() if 2 * n == others}


def _most_specific(paths: set) -> list[str]:
    return sorted(p for p in paths if not any(q.startswith(p + "/") for q in paths))


def _answer(labels: list, segments: list, multi: bool, segments_optional: bool) -> set:
    """What an annotation's clip labels and segment items (`_annotation_rows`) say of the
    clip, as the manifest and the training read it (`clip_answer`): its segments count only
    where a project takes both (a segments-only project has no clip-level answer)."""
    on_segments = [seg[3] for seg in segments] if segments_optional else []
    return clip_answer(labels, on_segments, multi=multi)


def _rejections_settle(anns: list[dict], *, multi: bool, segments_optional: bool) -> bool:
    """Whether a reviewer settled the clip by rejecting: an answer is rejected (not fixed yet:
    a fixed one waits for review again, and the clip with it) and the answers that stand agree
    as they are now. Counted as given, the rejected answers kept such a clip among the
    disagreements to look at, though a reviewer had looked."""
    if not any(a["status"] == Annotation.Status.REJECTED for a in anns):
        return False
    answers = set()
    for a in anns:
        if a["status"] == Annotation.Status.REJECTED:
            continue
        answer = _answer(*a["now"], multi, segments_optional)
        answers.add(frozenset(_expand(answer)) if multi else tuple(sorted(answer)))
    return len(answers) == 1


def _settled(anns: list[dict], values: dict | None, *, multi: bool) -> bool:
    """Whether a reviewer's decisions decide the clip: some annotation accepted (or corrected)
    and, single-label, one answer wins their vote (`clip_vote`, as the training reads it:
    accepting five, six and seven on one clip called it settled, while the training left it
    out)."""
    decided = [a for a in anns if a.get("corrected") or a["status"] == Annotation.Status.ACCEPTED]
    if not decided or multi or not values:
        return bool(decided)
    votes = [{values[a["annotator_id"]]} for a in decided if a["annotator_id"] in values]
    return not votes or bool(clip_vote(votes, single=True))
