"""Projects and memberships."""

from __future__ import annotations

import logging
import unicodedata

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Q

from labelapp.errors import Conflict, DomainError, NotFound
from labelapp.lookups import plain_int, rows_ignoring_case
from labelapp.models import Annotation, Membership, Project, Segment
from ontology.models import Label, Ontology
from ontology.rules import joiners_misplaced, name_control_char, name_key

logger = logging.getLogger(__name__)

User = get_user_model()


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: AbstractBaseUser | None = None,
    description: str = "",
    ontology: Ontology | None = None,
    label_mode: str = Project.LabelMode.SINGLE,
    annotation_mode: str = Project.AnnotationMode.BOTH,
    annotations_per_clip: int = 1,
    target_sample_rate: int = 16000,
    leaves_only: bool = False,
) -> Project:
    """Create a project; without an ontology it gets an empty one of its own."""
    name = _name_free(name)
    if ontology is None:
        # Within the ontology's 200 characters: a 200-character project name was a 500.
        ontology = Ontology.objects.create(name=f"{name[:193]} labels")
    project = Project(
        name=name,
        description=description,
        ontology=ontology,
        label_mode=label_mode,
        annotation_mode=annotation_mode,
        annotations_per_clip=annotations_per_clip,
        target_sample_rate=target_sample_rate,
        leaves_only=leaves_only,
        created_by=created_by,
    )
    project.full_clean()
    project.save()
    if created_by is not None and not getattr(created_by, "is_superuser", False):
        membership_set(project=project, user=created_by, role=Membership.Role.LEAD)
    return project


def project_resolve(ref: str | int) -> Project:
    """A project named by id or by name, as every command accepts."""
    text = unicodedata.normalize("NFC", str(ref).strip())  # as names are stored
    project = None
    live = Project.objects.live()
    if (pk := plain_int(text)) is not None:
        project = live.filter(pk=pk).first()
        named = [p for p in rows_ignoring_case(live, "name", text, limit=2) if p.pk != pk]
        if project is not None and named:  # a name from before numbers were refused
            raise DomainError(
                f"{text!r} is project {pk}'s id and project {named[0].pk}'s name: name the "
                f"project by the other's id, or rename project {named[0].pk}",
                code="ambiguous_project",
            )
    if project is None:
        project = next(iter(rows_ignoring_case(live, "name", text)), None)
    if project is None:
        raise NotFound(f"no project with id or name {text!r}")
    return project


@transaction.atomic
def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise DomainError(
            f"unknown role {role!r}; choose one of {', '.join(Membership.Role.values)}"
        )
    if role != Membership.Role.LEAD:
        _keep_a_lead(project, user, f"make them {role}")
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def _keep_a_lead(project: Project, user: AbstractBaseUser, what: str) -> None:
    """A project always keeps a lead: without one nobody could manage its members."""
    leads = Membership.objects.select_for_update().filter(
        project=project, role=Membership.Role.LEAD
    )
    lead_ids = list(leads.values_list("user_id", flat=True))
    if lead_ids == [user.pk]:
        raise Conflict(
            f"{user.get_username()} is the project's only lead; make someone else lead "
            f"before you {what}",
            code="last_lead",
        )


def _name_free(name: str | None, *, project: Project | None = None) -> str:
    """The name stripped, refused when empty or when another project has it in any case
    (`project`: the one being renamed, which may keep its own)."""
    # One spelling of an accent (NFC): "Café" typed on a Mac made a second "Café"; no
    # line breaks or control characters, as in label names.
    name = unicodedata.normalize("NFC", (name or "").strip())
    if not name:
        raise DomainError("a project needs a name")
    if any(name_control_char(ch) for ch in name) or joiners_misplaced(name):
        raise DomainError(
            f"project name {name[:40]!r} must not contain line breaks, tabs or other control "
            "characters (a zero-width joiner only between two characters it joins)",
            code="invalid_name",
        )
    if plain_int(name) is not None and (project is None or name != project.name):
        # Commands name a project by id or name: "11" read as project 11 (another one).
        raise DomainError(
            f"a project name cannot be a number ({name!r}): commands take a project's id or "
            "its name, and would read it as an id; add a word (e.g. 'Batch " + name + "')",
            code="invalid_name",
        )
    others = Project.objects.all()
    if project is not None:
        others = others.exclude(pk=project.pk)
    # compared as label names are: "Bir\u200dds" beside "Birds", ß as SS
    taken = rows_ignoring_case(others, "name", name, key=name_key)
    if taken:
        # The name as typed, not the other project's own spelling: a lead creating projects
        # learnt the exact name of one they are not in.
        same = taken[0].name == name
        raise DomainError(
            f"a project named {name!r} already exists"
            + ("" if same else " (names are compared ignoring case)"),
            code="duplicate",
        )
    return name


@transaction.atomic
def project_update(*, project: Project, force: bool = False, **fields) -> Project:
    """Change a project's settings (those ProjectUpdateSerializer lists); a new name must be
    free, whatever its case, as when a project is created. New rules that annotations already
    saved break (single-label with several labels, clip labels only with segments, leaves
    only with a parent label) are refused with a 409 that counts them, unless `force`: those
    annotations are then kept as they are, and their next edit must follow the new rules."""
    if "name" in fields:
        fields["name"] = _name_free(fields["name"], project=project)
    if not force:
        broken = rules_conflicts(project, **fields)
        if broken:
            raise Conflict(
                "saved annotations do not follow the new settings: "
                + "; ".join(broken)
                + ". Change or delete them first, or save anyway (force): they are kept as "
                "they are and must follow the new rules when next edited",
                code="rules_conflict",
                extra={"conflicts": broken},
            )
    for key, value in fields.items():
        setattr(project, key, value)
    project.full_clean()
    project.save()
    return project


def rules_conflicts(
    project: Project,
    *,
    label_mode: str | None = None,
    annotation_mode: str | None = None,
    leaves_only: bool | None = None,
    **_other,
) -> list[str]:
    """What the project's saved annotations would break under the rules given (those not
    given stay the project's), one line each with a count and a clip for an example; empty
    when nothing breaks. Only rules that tighten are checked."""
    annotations = Annotation.objects.filter(clip__project=project)
    checks = []
    if label_mode == Project.LabelMode.SINGLE and project.label_mode != label_mode:
        several = Count("clip_labels", distinct=True)
        checks.append(
            (
                annotations.annotate(n=several).filter(n__gt=1),
                "with more than one clip label, which a single-label project refuses and its "
                "training and manifest count as a tie (saved anyway, a clip with no other "
                "answer is left out of both until it is edited)",
            )
        )
        crowded = Segment.objects.filter(annotation__clip__project=project).annotate(
            n=Count("segment_labels")
        )
        checks.append(
            (
                annotations.filter(pk__in=crowded.filter(n__gt=1).values("annotation_id")),
                "with a segment of more than one label",
            )
        )
    mode = annotation_mode or project.annotation_mode
    if mode != project.annotation_mode:
        if mode == Project.AnnotationMode.CLIP:
            checks.append(
                (
                    annotations.filter(segments__isnull=False),
                    "with segments, which a clip-labels-only project refuses",
                )
            )
        if mode == Project.AnnotationMode.SEGMENTS:
            checks.append(
                (
                    annotations.filter(clip_labels__isnull=False),
                    "with clip labels, which a segments-only project refuses",
                )
            )
    if leaves_only and not project.leaves_only:
        parents = Label.objects.filter(ontology=project.ontology, children__isnull=False)
        checks.append(
            (
                annotations.filter(
                    Q(clip_labels__label__in=parents)
                    | Q(segments__segment_labels__label__in=parents)
                ),
                "using a label that has children, which a leaves-only project refuses",
            )
        )
    out = []
    for rows, what in checks:
        rows = rows.distinct()
        count = rows.count()
        if count:
            example = rows.select_related("clip").order_by("pk").first()
            out.append(
                f"{count} annotation{'s' if count != 1 else ''} {what} "
                f"(e.g. clip {example.clip.original_name!r}, #{example.clip_id})"
            )
    return out


@transaction.atomic
def membership_invite(
    *, project: Project, username: str, role: str, password: str = "", by=None
) -> Membership:
    """Add a user to the project by username. A username with no account gets one when a
    first `password` comes with it (a lead brings a colleague in: only a site admin could,
    in Django's admin, and a lead's team could not start). Inviting a member is refused (409):
    it would change their role unasked, a reviewer demoted by an invitation form that
    defaults to annotator."""
    username = (username or "").strip()
    user = User.objects.filter(username=username).first()
    if user is None and password:
        # "Maria" beside "maria": Django's own account form refuses names that differ by case.
        other = User.objects.filter(username__iexact=username).first()
        if other is not None:
            raise DomainError(
                f"an account {other.get_username()!r} exists: add them by that name, without a "
                "password",
                code="account_exists",
            )
    if user is None and not password:
        raise DomainError(
            f"no user named {username!r}: give a first password to make the account (its "
            "owner chooses their own at their first sign-in), or check the spelling",
            code="no_such_user",
        )
    if user is None:
        user = _account_create(username, password, by=by)
    elif password:
        raise DomainError(
            f"{username!r} has an account already: add them without a password (theirs is kept)",
            code="account_exists",
        )
    if not user.is_active:
        raise DomainError(f"the account {username!r} is disabled")
    current = Membership.objects.select_for_update().filter(project=project, user=user).first()
    if current is not None:
        raise Conflict(
            f"{user.get_username()} is already a member ({current.role}); change their role "
            "in the list instead"
        )
    return membership_set(project=project, user=user, role=role)


def _account_create(username: str, password: str, *, by=None) -> AbstractBaseUser:
    """A new account with a first password, checked as Django checks every password."""
    from django.contrib.auth.password_validation import validate_password
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.exceptions import ValidationError

    try:
        UnicodeUsernameValidator()(username)
    except ValidationError:
        raise DomainError(
            f"{username!r} is no username: letters, digits and @ . + - _ only",
            code="invalid_username",
        ) from None
    candidate = User(username=username)
    try:
        validate_password(password, candidate)
    except ValidationError as exc:
        raise DomainError(
            "the first password: " + " ".join(exc.messages), code="weak_password"
        ) from None
    from labelapp.models import PasswordToChange

    user = User.objects.create_user(username=username, password=password)
    # Its owner chooses their own password at their first sign-in.
    PasswordToChange.objects.create(user=user, set_by=by)
    logger.info("account %s created by %s", username, by.get_username() if by is not None else "-")
    return user


@transaction.atomic
def membership_remove(*, project: Project, user: AbstractBaseUser) -> None:
    """Removing a member keeps every annotation they made; the clips they held in the queue
    are let go so that others can take them."""
    from labelapp.models import ClipAssignment

    if not Membership.objects.filter(project=project, user=user).exists():
        raise NotFound(f"{user.get_username()} is not a member of this project")
    _keep_a_lead(project, user, "remove them")
    Membership.objects.filter(project=project, user=user).delete()
    ClipAssignment.objects.filter(project=project, user=user).delete()


def system_user() -> AbstractBaseUser:
    """The user that owns imported annotations. It cannot log in."""
    from django.conf import settings

    user, created = User.objects.get_or_create(
        username=settings.EARMARK_SYSTEM_USERNAME,
        defaults={"is_active": False, "first_name": "Earmark", "last_name": "import"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
