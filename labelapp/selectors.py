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
