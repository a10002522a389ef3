"""Projects, members, clips, annotations and import jobs."""

from __future__ import annotations

from functools import cached_property

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone


class ProjectQuerySet(models.QuerySet):
    def live(self) -> ProjectQuerySet:
        """Projects nobody deleted (a deleted one is hidden until a worker purges it)."""
        return self.filter(deleted_at__isnull=True)


class Project(models.Model):
    class LabelMode(models.TextChoices):
        SINGLE = "single", "Single label"
        MULTI = "multi", "Multi label"

    class AnnotationMode(models.TextChoices):
        CLIP = "clip", "Clip labels"
        SEGMENTS = "segments", "Segments"
        BOTH = "both", "Clip labels and segments"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    ontology = models.ForeignKey(
        "ontology.Ontology", on_delete=models.PROTECT, related_name="projects"
    )
    label_mode = models.CharField(max_length=8, choices=LabelMode.choices, default=LabelMode.SINGLE)
    annotation_mode = models.CharField(
        max_length=8, choices=AnnotationMode.choices, default=AnnotationMode.BOTH
    )
    leaves_only = models.BooleanField(default=False, help_text="Only leaf labels may be chosen.")
    annotations_per_clip = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    target_sample_rate = models.PositiveIntegerField(
        default=16000, validators=[MinValueValidator(1000), MaxValueValidator(384000)]
    )
    show_others_annotations = models.BooleanField(default=False)
    # How long a clip handed out by the queue stays locked to its annotator; None: the
    # site's EARMARK_LOCK_SECONDS.
    lock_seconds = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(30), MaxValueValidator(86400)]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when a lead deletes the project: hidden from everyone from then on, and purged by a
    # worker (labelapp.services.project_removal).
    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When a purge of the deleted project started: a second purge (beat's sweep beside a
    # retry) leaves it to the first while this is recent.
    purge_started_at = models.DateTimeField(null=True, blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        LEAD = "lead", "Data lead"
        REVIEWER = "reviewer", "Reviewer"
        ANNOTATOR = "annotator", "Annotator"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} as {self.role}"


class ImportJob(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    class Source(models.TextChoices):
        UPLOAD = "upload"
        API = "api"
        CLI = "cli"
        LABELS = "labels"  # a labels file for clips already here (services.label_imports)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    # One entry per file: {"name", "status": imported|duplicate|rejected, "clip_id", "error"}.
    report = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped with every progress write: a running job silent for long lost its process.
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    # What a browser said it never sent (labelapp.services.imports.NOT_SENT): counted with the
    # rejected files, and told apart from them (a lead read "181 rejected" as bad audio when
    # the page had been left mid-upload).
    NOT_SENT_PREFIX = "not sent: "

    @classmethod
    def never_stored(cls, entry: dict) -> bool:
        """A report entry of a file the browser never sent, or one the media store did not
        answer for (code media_unavailable: the upload page says "not sent" of it too)."""
        return entry.get("status") == "rejected" and (
            str(entry.get("error", "")).startswith(cls.NOT_SENT_PREFIX)
            or entry.get("code") == "media_unavailable"
        )

    @cached_property  # the page reads it twice (the count, and rejected_files)
    def not_sent(self) -> int:
        return sum(1 for r in self.report or [] if self.never_stored(r))

    @property
    def rejected_files(self) -> int:
        """Files refused for what they are: `rejected` less those never sent."""
        return self.rejected - self.not_sent

    @property
    def progress(self) -> float:
        return (self.processed / self.total) if self.total else 0.0


class LabelsUpload(models.Model):
    """A labels file a lead sent (services.label_imports): its bytes until its import job
    has run, and what it was imported as."""

    job = models.OneToOneField(ImportJob, on_delete=models.CASCADE, related_name="labels_upload")
    name = models.CharField(max_length=255)
    data = models.BinaryField()  # emptied once the job has run
    create_labels = models.BooleanField(default=False)
    # Not people's labels but a model's detections (BirdNET...): the clips get them as
    # suggestions from the external model version of this name. Empty: annotations.
    suggestions_from = models.CharField(max_length=100, blank=True)
    labels_added = models.JSONField(default=list, blank=True)  # paths the import added


class Clip(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        READY = "ready"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="clips")
    file = models.FileField(max_length=500)
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True)  # WAV, FLAC, OGG, MP3
    codec = models.CharField(max_length=32, blank=True)  # PCM_16, VORBIS, MPEG_LAYER_III...
    duration = models.FloatField(default=0.0)  # seconds
    sample_rate = models.PositiveIntegerField(default=0)
    channels = models.PositiveSmallIntegerField(default=0)
    frames = models.BigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.TextField(blank=True)
    peaks_file = models.CharField(max_length=500, blank=True)
    # A long recording's spectral overview (`labelapp.audio.spectrum`): far spectrogram views
    # are drawn from it. Written by a worker after the clip is ready; blank until then.
    spectrum_file = models.CharField(max_length=500, blank=True)
    # Set when a worker claims the clip; a claim older than the sweep's limit is re-queued.
    processing_started_at = models.DateTimeField(null=True, blank=True)
    # Higher first; the active-learning ranker writes it, the queue reads it.
    priority = models.FloatField(default=0.0)
    # Submitted annotations, kept in step by the annotation services for a cheap queue query.
    annotation_count = models.PositiveSmallIntegerField(default=0)
    import_job = models.ForeignKey(
        ImportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="clips"
    )
    # Set when annotators disagree and a lead sends the clip to a reviewer to adjudicate.
    needs_adjudication = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "sha256"], name="clip_unique_sha_in_project"
            ),
        ]
        indexes = [
            models.Index(
                fields=["project", "status", "annotation_count", "-priority", "id"],
                name="clip_queue_idx",
            ),
            # The queue when a project wants several annotations per clip: candidates by
            # priority without a sort, the annotation count checked per row.
            models.Index(fields=["project", "status", "-priority", "id"], name="clip_rank_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.pk})"


class Annotation(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        ACCEPTED = "accepted"
        REJECTED = "rejected"
        SKIPPED = "skipped"

    class Source(models.TextChoices):
        MANUAL = "manual"
        IMPORTED = "imported"

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="annotations"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SUBMITTED)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.MANUAL)
    # Bumped on every write; a write naming an older version is refused (409).
    version = models.PositiveIntegerField(default=1)
    ontology_version = models.PositiveIntegerField(default=1)
    lead_time = models.FloatField(default=0.0, help_text="Seconds spent labeling.")
    # What the annotator did with the model's suggestions: [{"kind", "label", "action", ...}].
    suggestion_feedback = models.JSONField(default=list, blank=True)
    # The annotator's own doubt and a word to the reviewer ("a dog or a fox?"): the labels are
    # their best answer; the review queue can take these first.
    unsure = models.BooleanField(default=False)
    note = models.TextField(blank=True, default="")
    # Where an annotation made elsewhere came from ("label-studio:<its annotation id>"): a
    # later update or deletion there finds it here.
    external_id = models.CharField(max_length=100, blank=True, default="", db_index=True)
    # The last review decision; the full trail is in the revisions.
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["clip", "annotator"], name="annotation_unique"),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} of clip {self.clip_id} v{self.version}"


# The annotations whose labels a training learns from (a draft, a skip and a rejection teach
# nothing).
LABELED_STATUSES = (Annotation.Status.SUBMITTED, Annotation.Status.ACCEPTED)


class ClipLabel(models.Model):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="clip_labels")
    label = models.ForeignKey("ontology.Label", on_delete=models.PROTECT, related_name="clip_uses")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "label"], name="cliplabel_unique"),
        ]


class Segment(models.Model):
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="segments")
    start = models.FloatField()
    end = models.FloatField()
    channel = models.PositiveSmallIntegerField(null=True, blank=True)  # None: all channels
    # Its frequency band in Hz (a box on the spectrogram, as Raven's selections have), or
    # neither: every frequency. Both or none.
    low_freq = models.FloatField(null=True, blank=True)
    high_freq = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start__gte=0) & models.Q(end__gt=models.F("start")),
                name="segment_valid_interval",
            ),
            models.CheckConstraint(
                condition=(models.Q(low_freq__isnull=True) & models.Q(high_freq__isnull=True))
                | (models.Q(low_freq__gte=0) & models.Q(high_freq__gt=models.F("low_freq"))),
                name="segment_valid_band",
            ),
        ]


class SegmentLabel(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="segment_labels")
    label = models.ForeignKey(
        "ontology.Label", on_delete=models.PROTECT, related_name="segment_uses"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["segment", "label"], name="segmentlabel_unique"),
        ]


class ClipEvent(models.Model):
    """A review step on a clip as a whole, not one annotation's write: sent to adjudication,
    taken off it, or settled by the decisions on its annotations. The clip's history lists
    them beside the annotations' revisions."""

    class Action(models.TextChoices):
        ADJUDICATION_REQUESTED = "adjudicate", "sent to adjudication"
        ADJUDICATION_WITHDRAWN = "adjudicate-off", "taken off adjudication"
        ADJUDICATION_SETTLED = "adjudicated", "adjudication settled"
        LABEL_MERGED = "label-merged", "label merged in the label tree"
        LABEL_UNMERGED = "label-unmerged", "label merge undone"
        ANNOTATION_DELETED = "ann-deleted", "annotation deleted"

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="events")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    # What a label-tree change did here ("birds/wren merged into birds/robin"): the merge
    # rewrote annotations with no word in the clip's history.
    note = models.CharField(max_length=1000, blank=True, default="")
    # A deleted annotation as it last was (its revisions go with it): annotation_snapshot,
    # with its id and annotator's name. Empty for other steps.
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["clip", "created_at", "id"]
        indexes = [models.Index(fields=["clip", "created_at"], name="clipevent_clip_time")]


class AnnotationRevision(models.Model):
    """A snapshot of an annotation after each write: the history nothing overwrites."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    action = models.CharField(max_length=16, default="submit")
    data = models.JSONField(default=dict)
    # A reviewer's comment on accept/reject/correct.
    comment = models.TextField(blank=True)
    # The client's key for this write: a retried submission with the same key is answered
    # from this row instead of being saved twice.
    idempotency_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "version"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "version"], name="revision_unique"),
            models.UniqueConstraint(
                fields=["author", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="revision_idempotency_unique",
            ),
        ]


class ClipAssignment(models.Model):
    """A clip handed to one annotator by the queue, locked to them until `expires_at`.

    Together with the clip's submitted annotations these rows decide who may still get the
    clip: never more holders than the project's `annotations_per_clip` allows."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="clip_assignments"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "user"], name="assignment_unique"),
        ]
        indexes = [
            # the queue's "still locked by someone else?" probe, and "what do I hold?"
            models.Index(fields=["clip", "expires_at"], name="assignment_clip_exp_idx"),
            models.Index(fields=["project", "user", "expires_at"], name="assignment_mine_idx"),
        ]

    def __str__(self) -> str:
        return f"clip {self.clip_id} locked to {self.user_id} until {self.expires_at:%H:%M:%S}"


class AnnotationDraft(models.Model):
    """Work in progress, autosaved by the workspace: a closed tab or a lost connection loses
    nothing. `base_version` is the annotation version the draft was started from (0: none)."""

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="drafts")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotation_drafts"
    )
    base_version = models.PositiveIntegerField(default=0)
    data = models.JSONField(default=dict)
    lead_time = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["clip", "user"], name="draft_unique"),
        ]


class ApiToken(models.Model):
    """A personal API token. Only a hash is stored; the key is shown once, when created."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters of the key, shown in lists so a user can tell tokens apart.
    prefix = models.CharField(max_length=12)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"token {self.prefix}… of {self.user}"


class ExportJob(models.Model):
    """An export of a project's data, written by a worker into the media store."""

    Status = ImportJob.Status  # the same life cycle: pending, running, done, failed

    class Format(models.TextChoices):
        EARMARK = "earmark", "Earmark JSON"
        LABEL_STUDIO = "label_studio", "Label Studio JSON"
        CSV = "csv", "CSV"
        MANIFEST = "manifest", "Training manifest"
        RAVEN = "raven", "Raven selection table"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    format = models.CharField(max_length=16, choices=Format.choices)
    # {"status": [...], "label": ..., "annotator": ..., "since": ..., "until": ..., ...}
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    summary = models.JSONField(default=dict, blank=True)  # the writer's counts, split sizes
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    progress = models.FloatField(default=0.0)  # 0..1
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    file = models.CharField(max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.format} export {self.pk} of {self.project} ({self.status})"


class PasswordToChange(models.Model):
    """An account whose password someone else chose (a lead on the Members page, a site
    admin in the admin, when making the account or setting its password again): its owner
    chooses their own at their next sign-in, before anything else
    (labelapp.passwords.FirstPasswordMiddleware). Gone once they have. Accounts made from a
    shell (`add_member --create-user`, the demo's) are not held."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "first password to change"

    def __str__(self) -> str:
        return f"{self.user_id}: first password not changed yet"
