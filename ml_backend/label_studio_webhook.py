"""Label Studio's annotation events, kept as Earmark annotations (the ML backend's webhook).

Each Label Studio annotation is one Earmark annotation, found again by its id
(`Annotation.external_id`): an update replaces its labels, a deletion (or an update that
clears every result) removes it. Label Studio's webhooks name the annotator by user id
(`completed_by: 3`): each Label Studio user's annotations belong to an Earmark account of
their own, `label-studio-3`, made on first sight, with no password (it cannot sign in), an
annotator of the project; a member whose email a payload gives is used instead. Saved under
the calling account, two Label Studio users' labels replaced each other's, and the lead's own.

Only results whose control speaks the project's labels are read: a second control (a
"quality" Choices, a rating) left out, not a 400 that lost the annotation. Their labels
train the model and count towards retraining as a submission in Earmark does."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from labelapp.errors import DomainError
from labelapp.lookups import plain_int
from labelapp.models import Annotation, Membership, Project
from labelapp.services.manifests import ls_lead_time

EXTERNAL_PREFIX = "label-studio:"


MAX_EXTERNAL_ID = 100 - len(EXTERNAL_PREFIX)  # Annotation.external_id holds 100 characters


def external_id(annotation: dict) -> str:
    """The Earmark key of a Label Studio annotation ("label-studio:903"); a 400 for an id too
    long to keep (PostgreSQL refused it with a 500)."""
    value = annotation.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        return ""
    if len(str(value)) > MAX_EXTERNAL_ID:
        raise DomainError(
            f"an annotation id of {len(str(value))} characters is too long (at most "
            f"{MAX_EXTERNAL_ID})"
        )
    return f"{EXTERNAL_PREFIX}{value}"


def ls_annotator(project: Project, completed_by, fallback):
    """The Earmark account a Label Studio annotation belongs to: a member with the email the
    payload gives, else the account of its Label Studio user id; the calling account when the
    payload names nobody. An annotator that is no user id (`1.5`, `""`, text) is a 400: text
    made accounts named with control and right-to-left characters the app refuses elsewhere."""
    User = get_user_model()  # noqa: N806
    email = completed_by.get("email") if isinstance(completed_by, dict) else None
    if isinstance(email, str) and email:
        member = User.objects.filter(memberships__project=project, email__iexact=email).first()
        if member is not None:
            return member
    given = completed_by.get("id") if isinstance(completed_by, dict) else completed_by
    if given is None and isinstance(completed_by, dict):
        # Named, but not as anyone here: filed as the caller's, it was the lead's own work.
        who = f"the email {email!r}" if isinstance(email, str) and email else "no email"
        raise DomainError(
            f"an annotation's 'completed_by' has {who} of a member of this project and no "
            "Label Studio user id: add its annotator as a member with that email, or send "
            "their id"
        )
    if given is None:
        return fallback
    ls_id = (
        plain_int(given) if isinstance(given, int | str) and not isinstance(given, bool) else None
    )
    if ls_id is None or ls_id >= 2**63:
        raise DomainError(
            "an annotation's 'completed_by' must be a Label Studio user id (a whole number) "
            "or an object with one"
        )
    user, created = User.objects.get_or_create(
        username=f"label-studio-{ls_id}",
        defaults={"first_name": "Label Studio", "last_name": f"user {ls_id}"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(
        project=project, user=user, defaults={"role": Membership.Role.ANNOTATOR}
    )
    return user


def label_controls(project: Project, config) -> set[str] | None:
    """The names of a Label Studio labeling config's controls that offer the project's
    labels (a Labels, Choices or Taxonomy with a value that is one), or None without a
    config to read (Label Studio's webhook sends it in its "project" object). Knowing them,
    an update that clears them but answers another question ("quality") clears the labels,
    and a misspelt value in them is an unknown label."""
    import xml.etree.ElementTree as ET  # noqa: S405 - parsed as parse_label_config does

    if not isinstance(config, str) or not config.strip():
        return None
    try:
        root = ET.fromstring(config)  # noqa: S314 - see parse_label_config
    except ET.ParseError:
        return None
    # The project's label names and paths, read once: a value resolved by queries each made
    # a config of 90,000 values cost 3.5 minutes of a web process.
    from ontology.tree import tree_for_ontology_id

    tree = tree_for_ontology_id(project.ontology_id)
    known = {n.path.lower() for n in tree.nodes.values()} | {
        n.name.lower() for n in tree.nodes.values()
    }
    names = set()
    for element in root.iter():
        if element.tag.lower() not in ("labels", "choices", "taxonomy"):
            continue
        values = (
            child.get("value")
            for child in element.iter()
            if child.tag.lower() in ("label", "choice") and child.get("value")
        )
        if any(v.strip().lower() in known for v in values):
            names.add(element.get("name", element.tag.lower()))
    return names or None


def label_results(
    project: Project, results, controls: set[str] | None = None
) -> tuple[list[str], list[dict]]:
    """(clip label paths, segments) from the results of the controls that name the
    project's labels (`ls_label_results`): another question's control is left out, an
    unknown label among known ones is a 400 naming it, and so is an annotation that names
    no label of the project (read as one cleared in Label Studio, an update with a misspelt
    label deleted the saved annotation)."""
    from labelapp.services.manifests import (
        NoKnownLabel,
        ls_label_results,
        ls_results,
        result_names,
    )

    if controls is not None and isinstance(results, list):
        # The config says which controls carry labels: they are read, every value in them
        # must be a label, and none at all is an annotation cleared of its labels; a control
        # it does not list is read too where it names a label (never taken for cleared).
        def named(r) -> bool:
            try:
                names = result_names(*ls_results([r]))
            except ValueError:
                return True  # read, to be refused with its reason
            return any(_names_a_label(project, n) for n in names)

        ours = [
            r
            for r in results
            if isinstance(r, dict)
            and ((isinstance(r.get("from_name"), str) and r["from_name"] in controls) or named(r))
        ]
        try:
            clip_labels, segments = ls_results(ours)
        except ValueError as exc:
            raise DomainError(str(exc)) from None
        for name in result_names(clip_labels, segments):
            if not _names_a_label(project, name):
                shown = name if len(name) <= 80 else f"{name[:80]}… ({len(name)} characters)"
                raise DomainError(f"unknown label {shown!r}", code="unknown_label")
        return clip_labels, segments
    try:
        return ls_label_results(results, lambda name: _names_a_label(project, name))
    except NoKnownLabel as exc:
        raise DomainError(str(exc), code="unknown_label") from None
    except ValueError as exc:
        raise DomainError(str(exc)) from None


def _names_a_label(project: Project, name: str) -> bool:
    from ontology.services import label_named

    return label_named(ontology=project.ontology, ref=name)


@transaction.atomic  # refused after its annotator's account was made: no account is left
def ls_annotation_save(project: Project, task: dict, made, *, fallback, controls=None) -> dict:
    """One Label Studio annotation (ANNOTATION_CREATED / _UPDATED) as an Earmark one."""
    from labelapp.services.annotations import annotation_skip, annotation_submit
    from ml_backend.label_studio import task_clip_or_reason

    if not isinstance(made, dict):
        raise DomainError("an annotation event needs its 'annotation' object")
    clip, reason = task_clip_or_reason(project, task)
    if clip is None:
        return {"status": "ignored", "reason": reason}
    ext = external_id(made)
    cancelled = bool(made.get("was_cancelled"))
    # Read before an account is made for its annotator: a 400 leaves no account behind.
    clip_labels, segments = (
        ([], []) if cancelled else label_results(project, made.get("result"), controls)
    )
    lead_time = ls_lead_time(made.get("lead_time"))
    user = ls_annotator(project, made.get("completed_by"), fallback)
    if cancelled:
        annotation_skip(clip=clip, user=user)
        return {"status": "skipped", "clip": clip.pk, "annotator": user.get_username()}
    if not clip_labels and not segments:  # every region and choice cleared in Label Studio
        gone = _withdraw(Annotation.objects.filter(clip=clip, annotator=user), by=fallback)
        return {"status": "removed" if gone else "ignored", "clip": clip.pk, "reason": "no labels"}
    saved = annotation_submit(
        clip=clip,
        user=user,
        clip_labels=clip_labels,
        segments=segments,
        lead_time=lead_time,
        replace_reviewed=True,  # Label Studio's annotators do not see Earmark's reviews
    )
    Annotation.objects.filter(pk=saved.pk).update(
        external_id=ext, source=Annotation.Source.IMPORTED
    )
    return {
        "status": "saved",
        "clip": clip.pk,
        "annotation": saved.pk,
        "annotator": user.get_username(),
        "labels_changed": bool(getattr(saved, "labels_changed", True)),
    }


def _task_key(value):
    """A task id as a key: a number or a string; anything else (an object, a list) none."""
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def ls_annotations_save(project: Project, tasks, made, *, fallback, controls=None) -> list[dict]:
    """A bulk event (ANNOTATIONS_CREATED): lists under "task" and "annotation", each
    annotation naming its task's id. Each is saved or not on its own: one that is refused
    (an unknown label) is answered "rejected" with its reason, beside the others' answers."""
    if not isinstance(made, list) or not isinstance(tasks, list):
        raise DomainError("a bulk annotation event needs 'annotation' and 'task' lists")
    # An id that is no number or string ({"id": 9100} where 9100 belongs) was a 500.
    listed = [t for t in tasks if isinstance(t, dict)]
    by_id = {_task_key(t.get("id")): t for t in listed}
    by_id.pop(None, None)
    out = []
    for ann in made:
        task = by_id.get(_task_key(ann.get("task"))) if isinstance(ann, dict) else None
        # The event's one task for an annotation that names none (two tasks whose ids are
        # objects were dropped, and their annotations went to the third's clip).
        if task is None and len(listed) == 1 and isinstance(ann, dict) and ann.get("task") is None:
            task = listed[0]
        if not isinstance(ann, dict):
            out.append({"status": "ignored", "reason": "an annotation is not an object"})
            continue
        if task is None:
            out.append({"status": "ignored", "reason": "its task is not in the event"})
            continue
        try:
            out.append(ls_annotation_save(project, task, ann, fallback=fallback, controls=controls))
        except DomainError as exc:  # one bad annotation: the others are saved, it is named
            out.append({"status": "rejected", "id": ann.get("id"), "reason": str(exc)})
    return out


def ls_annotations_delete(project: Project, annotations, *, by=None) -> int:
    """ANNOTATIONS_DELETED (`{"annotations": [{"id": 903}, ...]}`): those annotations go, in
    the name of `by` (whose credentials sent the event)."""
    if not isinstance(annotations, list):
        raise DomainError("a deletion event needs an 'annotations' list")
    ids = [external_id(a) for a in annotations if isinstance(a, dict)]
    ids = [i for i in ids if i]
    return _withdraw(Annotation.objects.filter(clip__project=project, external_id__in=ids), by=by)


def _withdraw(annotations, *, by=None) -> int:
    """Delete annotations made in Label Studio, each said in its clip's history as any
    deletion is (they vanished without a word), and their clips' counts brought up to date."""
    from labelapp.services.annotations import annotation_delete_recorded

    with transaction.atomic():
        rows = list(
            annotations.exclude(external_id="")
            .select_for_update()
            .select_related("annotator")
            .order_by("pk")
        )
        for annotation in rows:
            annotation_delete_recorded(annotation, by=by, where="in Label Studio")
    return len(rows)
