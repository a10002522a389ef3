"""Reads that check who is asking: a non-member gets 404, never a hint the thing exists."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from labelapp.errors import NotFound, PermissionDenied
from labelapp.models import Clip, ImportJob, Membership, Project

LEAD = Membership.Role.LEAD
REVIEWER = Membership.Role.REVIEWER
ANNOTATOR = Membership.Role.ANNOTATOR
ANY_ROLE = (LEAD, REVIEWER, ANNOTATOR)


def projects_for_user(user: AbstractBaseUser) -> QuerySet[Project]:
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def role_in_project(user: AbstractBaseUser, project: Project) -> str | None:
    if user.is_superuser:
        return LEAD
    return (
        Membership.objects.filter(user=user, project=project).values_list("role", flat=True).first()
    )


def project_for_user(user: AbstractBaseUser, project_id, roles=ANY_ROLE) -> Project:
    try:
        project = Project.objects.select_related("ontology").get(pk=int(project_id))
    except (Project.DoesNotExist, ValueError, TypeError):
        raise NotFound("project not found") from None
    role = role_in_project(user, project)
    if role is None:
        raise NotFound("project not found")
    if role not in roles:
        raise PermissionDenied(f"your role in this project ({role}) does not allow this")
    return project


def clip_for_user(user: AbstractBaseUser, clip_id, roles=ANY_ROLE) -> Clip:
    try:
        clip = Clip.objects.select_related("project").get(pk=int(clip_id))
    except (Clip.DoesNotExist, ValueError, TypeError):
        raise NotFound("clip not found") from None
    role = role_in_project(user, clip.project)
    if role is None:
        raise NotFound("clip not found")
    if role not in roles:
        raise PermissionDenied(f"your role in this project ({role}) does not allow this")
    return clip


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
    project) and the predicted segments; only what the project's annotation mode takes."""
    from ml_backend.selectors import prediction_for_clip
    from ontology.models import Label

    prediction = prediction_for_clip(clip)
    if prediction is None:
        return None
    project = clip.project
    scores = sorted(
        ((int(k), float(v)) for k, v in (prediction.clip_scores or {}).items()),
        key=lambda kv: -kv[1],
    )
    if project.label_mode == Project.LabelMode.SINGLE:
        scores = scores[:1]
    scores = [kv for kv in scores if kv[1] >= CLIP_SUGGESTION_MIN_SCORE][:MAX_CLIP_SUGGESTIONS]
    if project.annotation_mode == Project.AnnotationMode.SEGMENTS:
        scores = []
    segments = list(prediction.segments or [])
    if project.annotation_mode == Project.AnnotationMode.CLIP:
        segments = []
    ids = {pk for pk, _ in scores} | {int(s["label"]) for s in segments if "label" in s}
    rows = Label.objects.filter(ontology_id=project.ontology_id, pk__in=ids, deprecated=False)
    labels = {lb.pk: lb for lb in rows}
    version = prediction.model_version
    return {
        "model_version": {"id": version.pk, "name": version.name, "version": version.version},
        "clip_labels": [
            {"label": labels[pk].path, "label_id": pk, "score": round(score, 4)}
            for pk, score in scores
            if pk in labels
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
            if int(s.get("label", -1)) in labels and float(s["end"]) > float(s["start"])
        ],
    }


CLIP_SUGGESTION_MIN_SCORE = 0.5
MAX_CLIP_SUGGESTIONS = 10
# Buckets of the whole-clip peaks sent inline with the workspace (about 34 KB of JSON whatever
# the clip's length): the first waveform is drawn without another round trip.
OVERVIEW_BUCKETS = 2048


def clip_overview_peaks(clip: Clip) -> dict | None:
    from django.core.files.storage import default_storage

    from labelapp.audio import peaks_window

    if clip.status != Clip.Status.READY or not clip.peaks_file:
        return None
    try:
        with default_storage.open(clip.peaks_file, "rb") as peaks:
            body = peaks_window(peaks, None, start=0.0, end=clip.duration, width=OVERVIEW_BUCKETS)
    except (OSError, ValueError):
        return None  # the workspace falls back to GET .../peaks
    body["duration"] = clip.duration
    return body


def clip_workspace(clip: Clip, user: AbstractBaseUser) -> dict:
    """Everything the annotation workspace needs about one clip, in one answer."""
    from labelapp.models import Annotation, AnnotationDraft, ClipAssignment
    from labelapp.services.annotations import annotation_snapshot

    project = clip.project
    mine = (
        Annotation.objects.filter(clip=clip, annotator=user)
        .prefetch_related("clip_labels__label", "segments__segment_labels__label")
        .first()
    )
    draft = AnnotationDraft.objects.filter(clip=clip, user=user).first()
    lock = ClipAssignment.objects.filter(clip=clip, user=user).first()
    return {
        "clip": {
            "id": clip.pk,
            "original_name": clip.original_name,
            "duration": clip.duration,
            "sample_rate": clip.sample_rate,
            "channels": clip.channels,
            "status": clip.status,
            "audio_url": f"/api/clips/{clip.pk}/audio",
        },
        "project": {
            "id": project.pk,
            "name": project.name,
            "label_mode": project.label_mode,
            "annotation_mode": project.annotation_mode,
            "leaves_only": project.leaves_only,
            "annotations_per_clip": project.annotations_per_clip,
        },
        "annotation": None
        if mine is None
        else {"id": mine.pk, "version": mine.version, **annotation_snapshot(mine)},
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
        "lock_expires_at": lock.expires_at.isoformat() if lock else None,
    }
