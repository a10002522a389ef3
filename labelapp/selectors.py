"""Reads that check who is asking: a non-member gets 404, never a hint the thing exists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import OuterRef, QuerySet, Subquery

from labelapp.errors import NotFound, PermissionDenied
from labelapp.models import Annotation, AnnotationDraft, Clip, ImportJob, Membership, Project

LEAD = Membership.Role.LEAD
REVIEWER = Membership.Role.REVIEWER
ANNOTATOR = Membership.Role.ANNOTATOR
ANY_ROLE = (LEAD, REVIEWER, ANNOTATOR)


def projects_for_user(user: AbstractBaseUser) -> QuerySet[Project]:
    live = Project.objects.live()  # a deleted one is gone for all
    if user.is_superuser:
        return live
    return live.filter(memberships__user=user).distinct()


def can_create_projects(user: AbstractBaseUser) -> bool:
    """Site admins, users given `labelapp.add_project` (in the admin), and data leads: a
    lead of one project starts the next (a lead saw no way to, and no word why). The
    creator leads the new project."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.is_superuser or user.has_perm("labelapp.add_project"):
        return True
    return Membership.objects.filter(
        user=user, role=LEAD, project__deleted_at__isnull=True
    ).exists()


METADATA_SAMPLE = 200  # clips looked at to suggest metadata fields (grouping, splits)


def metadata_fields(project: Project) -> list[str]:
    """The metadata fields of the project's first clips, to suggest where a field is named
    (a manifest's groups, the training's validation groups)."""
    fields: set[str] = set()
    for metadata in project.clips.order_by("id").values_list("metadata", flat=True)[
        :METADATA_SAMPLE
    ]:
        if isinstance(metadata, dict):
            fields.update(k for k in metadata if isinstance(k, str))
    return sorted(fields)


RECENT_CLIPS = 20


def recently_annotated(user: AbstractBaseUser, project: Project) -> list[int]:
    """The clips `user` annotated last in `project`, oldest first: Previous (PageUp) walks
    back through them in a new tab or after a reload, where the tab's own trail is empty."""
    ids = (
        Annotation.objects.filter(clip__project=project, annotator=user)
        .order_by("-updated_at", "-id")
        .values_list("clip_id", flat=True)[:RECENT_CLIPS]
    )
    return list(reversed(ids))


def role_in_project(user: AbstractBaseUser, project: Project) -> str | None:
    if project.deleted_at is not None:
        return None
    if user.is_superuser:
        return LEAD
    known = getattr(project, "_viewer_role", None)
    if known is not None and known[0] == user.pk:  # read with the project: no second query
        return known[1]
    return (
        Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
    )


def _with_role(qs: QuerySet, user: AbstractBaseUser, project_ref: str) -> QuerySet:
    """`qs` with the user's role in the row's project read in the same query."""
    if user.is_superuser:
        return qs
    role = Membership.objects.filter(project=OuterRef(project_ref), user=user).values("role")[:1]
    return qs.annotate(viewer_role=Subquery(role))


def _checked_role(user: AbstractBaseUser, project: Project, row, roles, what: str) -> None:
    role = LEAD if user.is_superuser else row.viewer_role
    if role is None and project.deleted_at is None and _worked_in(user, project):
        # A member a lead removed, in a tab still open: "clip not found" said nothing of why.
        raise PermissionDenied(
            f"you are no longer a member of the project {project.name!r} (a lead removed you): "
            "nothing more is saved there; your saved work stays",
            code="not_a_member",
        )
    if role is None or project.deleted_at is not None:
        raise NotFound(f"{what} not found")
    project._viewer_role = (user.pk, role)
    if role not in roles:
        raise PermissionDenied(f"your role in this project ({role}) does not allow this")


def _worked_in(user, project: Project) -> bool:
    """Whether `user` has annotations or drafts in `project` (asked only of a non-member)."""
    return (
        Annotation.objects.filter(annotator=user, clip__project=project).exists()
        or AnnotationDraft.objects.filter(user=user, clip__project=project).exists()
    )


def _row_for_user(user, qs: QuerySet, pk, *, project_ref: str, project_of, roles, what: str):
    """Row `pk` of `qs` with the user's role in its project checked, in one query: 404 when
    it does not exist or the user is not a member, 403 when their role is not in `roles`."""
    if not user.is_authenticated:
        raise NotFound(f"{what} not found")
    try:
        row = _with_role(qs, user, project_ref).get(pk=int(pk))
    except (qs.model.DoesNotExist, ValueError, TypeError, OverflowError):
        raise NotFound(f"{what} not found") from None
    _checked_role(user, project_of(row), row, roles, what)
    return row


def project_for_user(user: AbstractBaseUser, project_id, roles=ANY_ROLE) -> Project:
    """The project with its ontology, and the user's role checked, in one query."""
    return _row_for_user(
        user,
        Project.objects.select_related("ontology"),
        project_id,
        project_ref="pk",
        project_of=lambda project: project,
        roles=roles,
        what="project",
    )


def clip_for_user(user: AbstractBaseUser, clip_id, roles=ANY_ROLE) -> Clip:
    """The clip with its project and ontology, and the user's role checked, in one query."""
    return _row_for_user(
        user,
        Clip.objects.select_related("project__ontology"),
        clip_id,
        project_ref="project_id",
        project_of=lambda clip: clip.project,
        roles=roles,
        what="clip",
    )


def annotation_for_user(user: AbstractBaseUser, annotation_id) -> tuple[Annotation, str]:
    """An annotation and the user's role in its project: one's own, or any of a project one
    reviews or leads. 404 otherwise, as for a clip one cannot see."""
    annotation = (
        Annotation.objects.select_related("clip__project", "annotator")
        .filter(pk=annotation_id)
        .first()
    )
    if annotation is None:
        raise NotFound("annotation not found")
    clip_for_user(user, annotation.clip_id)  # a member's, or 404
    role = role_in_project(user, annotation.clip.project)
    if annotation.annotator_id != user.pk and role not in (LEAD, REVIEWER):
        raise NotFound("annotation not found")
    return annotation, role


def clips_for_user(user: AbstractBaseUser) -> QuerySet[Clip]:
    return Clip.objects.filter(project__in=projects_for_user(user))


def import_job_for_user(user: AbstractBaseUser, job_id) -> ImportJob:
    try:
        job = ImportJob.objects.select_related("project").get(pk=int(job_id))
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise NotFound("import job not found") from None
    if role_in_project(user, job.project) is None:
        raise NotFound("import job not found")
    return job


def clip_suggestions(clip: Clip) -> dict | None:
    """The model's suggestions for a clip, by label path, as the workspace shows them: clip
    labels scoring at least `CLIP_SUGGESTION_MIN_SCORE` (the best one in a single-label
    project, from `clip_suggestion_floor`) and the predicted segments; only what the project's
    annotation mode takes."""
    from ml_backend.selectors import (
        deepest_scores,
        deepest_segments,
        prediction_choice,
        prediction_for_clip,
    )
    from ontology.tree import tree_get

    prediction = prediction_for_clip(clip)
    if prediction is None:
        return None
    project = clip.project
    version = prediction.model_version
    made_by = {"id": version.pk, "name": version.name, "version": version.version}
    withheld = suggestions_withheld(version)
    if withheld:
        # A model that has not learned its own labels suggests noise that "Accept all"
        # turns into annotations (a first multi-label model scored every class 0.5-0.65).
        return {
            "model_version": made_by,
            "clip_labels": [],
            "segments": [],
            "withheld": withheld,
        }
    # cached per ontology version; a leaves-only project's suggestions are leaves
    labels = tree_get(project.ontology).choosable(leaves_only=project.leaves_only)
    single = project.label_mode == Project.LabelMode.SINGLE
    scores, segments = prediction_choice(prediction, known=labels, single=single)
    floor = clip_suggestion_floor(single, len(scores))
    if single:
        scores = scores[:1]
    scores = [kv for kv in scores if kv[1] >= floor][:MAX_CLIP_SUGGESTIONS]
    if not single:
        # A multi-label model scores a label's ancestors at least as high: Bird, Bird/Songbird
        # and Bird/Songbird/Chirp up came up for one sound, and Accept all stored all three
        # (30 segments for one noise clip). The deepest is suggested, as a person labels.
        paths = {pk: node.path for pk, node in labels.items()}
        scores = deepest_scores(scores, paths)
        segments = deepest_segments(segments, paths)
    segments_withheld = ""
    learned = (version.metrics or {}).get("segment_examples")
    if isinstance(learned, int) and learned < SEGMENT_MIN_EXAMPLES and segments:
        # Trained on no segment, or on a handful: its frame-level outputs have not learned
        # where a sound is (200 "segments" covered a 10-minute recording, then again after
        # 14 clips labeled by segments).
        segments = []
        segments_withheld = (
            f"{version.name} learned from {learned} clip{'s' if learned != 1 else ''} labeled by "
            f"segments: it suggests segments from {SEGMENT_MIN_EXAMPLES} on"
        )
    if project.annotation_mode == Project.AnnotationMode.SEGMENTS:
        scores = []
    if project.annotation_mode == Project.AnnotationMode.CLIP:
        segments = []
        segments_withheld = ""
    extra = {"segments_withheld": segments_withheld} if segments_withheld else {}
    return {
        **extra,
        "model_version": made_by,
        "clip_labels": [
            {"label": labels[pk].path, "label_id": pk, "score": round(score, 4)}
            for pk, score in scores
        ],
        "segments": [
            {
                "start": float(s["start"]),
                "end": float(s["end"]),
                "channel": s.get("channel"),
                "label": labels[int(s["label"])].path,
                "label_id": int(s["label"]),
                "score": round(float(s.get("score") or 0.0), 4),
            }
            for s in segments
            if float(s["end"]) > float(s["start"])
        ],
    }


CLIP_SUGGESTION_MIN_SCORE = 0.5
# A model whose macro-F1, where it was measured, is below this suggests nothing yet.
SUGGEST_MIN_MACRO_F1 = 0.4
# Clips labeled by segments a version learned from before it suggests segments.
SEGMENT_MIN_EXAMPLES = 20


def suggestions_withheld(version) -> str:
    """Why a version's suggestions are not shown, or "": one of the project's own models
    whose macro-F1 where it was measured (its validation set, or with few labels the clips
    it trained on) is below SUGGEST_MIN_MACRO_F1."""
    if version.status == "external":
        return ""
    metrics = version.metrics or {}
    f1 = metrics.get("macro_f1")
    if not isinstance(f1, int | float) or f1 >= SUGGEST_MIN_MACRO_F1:
        return ""
    validated = metrics.get("evaluated_on") == "validation"
    where = "its validation set" if validated else "the clips it trained on"
    return (
        f"{version.name} is not good enough to suggest yet (macro-F1 {f1:.2f} on {where}); "
        f"suggestions come back with a version at {SUGGEST_MIN_MACRO_F1} or more"
    )


def clip_suggestion_floor(single: bool, scored: int) -> float:
    """The least score a clip label is suggested at. A multi-label model scores each label on
    its own: 0.5 and up. A single-label model shares 1 among the `scored` labels, so with ten
    digits a clear best may score 0.35 (3.5 times chance) and nothing was ever suggested: its
    best is suggested from twice chance (0.2 for ten labels), never under it (a guess)."""
    if not single or scored < 2:
        return CLIP_SUGGESTION_MIN_SCORE
    return min(CLIP_SUGGESTION_MIN_SCORE, 2.0 / scored)


MAX_CLIP_SUGGESTIONS = 10
# Buckets of the whole-clip peaks sent inline with the workspace (about 34 KB of JSON whatever
# the clip's length): the first waveform is drawn without another round trip.
OVERVIEW_BUCKETS = 2048


def clip_overview_peaks(clip: Clip) -> dict | None:
    """The whole clip's peaks, each channel's too (2 to 8 channels), or None."""
    from labelapp.audio import peaks_window
    from labelapp.media import media_open
    from labelapp.services.clips import clip_peaks_answer_outdated, clip_peaks_refresh_soon

    if clip.status != Clip.Status.READY or not clip.peaks_file:
        return None
    try:
        with media_open(clip.peaks_file) as peaks:
            body = peaks_window(
                peaks,
                None,
                start=0.0,
                end=clip.duration,
                width=OVERVIEW_BUCKETS,
                per_channel=True,
            )
    except (OSError, ValueError):
        return None  # the workspace falls back to GET .../peaks
    if clip_peaks_answer_outdated(clip, body):  # one envelope now; per channel once rewritten
        clip_peaks_refresh_soon(clip)
    body["duration"] = clip.duration
    return body


def _review_of(annotation) -> dict:
    """Who decided on an accepted annotation, and whether they corrected it: the workspace
    said "accepted (or corrected)" and left out the reviewer's comment. Read only then."""
    if annotation.status != "accepted" or annotation.reviewed_by_id is None:
        return {"reviewed_by": None, "corrected": False}
    from labelapp.services.review import Action, last_write

    written = last_write(annotation).values_list("action", flat=True).first()
    corrected = written == Action.CORRECT
    return {"reviewed_by": annotation.reviewed_by.username, "corrected": corrected}


def clip_workspace(clip: Clip, user: AbstractBaseUser) -> dict:
    """Everything the annotation workspace needs about one clip, in one answer."""
    from labelapp.models import Annotation, AnnotationDraft, ClipAssignment
    from labelapp.services.annotations import annotation_snapshot
    from ontology.models import Ontology

    project = clip.project
    # A clip just claimed says whether the user has an annotation or a draft of it (read with
    # the claim): no query for what is not there.
    work = getattr(clip, "work_of", None)
    has_annotation, has_draft = work[1:] if work and work[0] == user.pk else (True, True)
    mine = (
        Annotation.objects.filter(clip=clip, annotator=user)
        .prefetch_related("clip_labels__label", "segments__segment_labels__label")
        .first()
        if has_annotation
        else None
    )
    draft = AnnotationDraft.objects.filter(clip=clip, user=user).first() if has_draft else None
    lock_expires_at = getattr(clip, "lock_expires_at", None)  # just claimed: known
    if lock_expires_at is None:
        lock = ClipAssignment.objects.filter(clip=clip, user=user).first()
        lock_expires_at = lock.expires_at if lock else None
    return {
        "clip": {
            "id": clip.pk,
            "original_name": clip.original_name,
            "duration": clip.duration,
            "sample_rate": clip.sample_rate,
            "channels": clip.channels,
            "format": clip.format,
            "codec": clip.codec,
            "status": clip.status,
            "audio_url": f"/api/clips/{clip.pk}/playback",
        },
        "project": {
            "id": project.pk,
            "name": project.name,
            "label_mode": project.label_mode,
            "annotation_mode": project.annotation_mode,
            "leaves_only": project.leaves_only,
            "annotations_per_clip": project.annotations_per_clip,
            # The workspace reloads its label tree when this moved on (a rename, move or merge
            # since the page opened).
            "ontology_version": project.ontology.version
            if Project.ontology.is_cached(project)
            else Ontology.objects.filter(pk=project.ontology_id)
            .values_list("version", flat=True)
            .first(),
        },
        "annotation": None
        if mine is None
        else {
            "id": mine.pk,
            "version": mine.version,
            "review_comment": mine.review_comment,
            **annotation_snapshot(mine),
            **_review_of(mine),
        },
        "draft": None
        if draft is None
        else {
            "base_version": draft.base_version,
            "data": draft.data,
            "lead_time": draft.lead_time,
            "updated_at": draft.updated_at.isoformat(),
        },
        "suggestions": clip_suggestions(clip),
        "overview": clip_overview_peaks(clip),
        "lock_expires_at": lock_expires_at.isoformat() if lock_expires_at else None,
    }
