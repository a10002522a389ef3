"""Input and output shapes of the API. Validation of business rules lives in services."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelapp.models import Annotation, Clip, ImportJob, LabelsUpload, Membership, Project
from labelapp.services.annotations import LEAD_TIME_MAX_S, NOTE_MAX
from labelapp.strict import DESCRIPTION_MAX, StrictInput


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": 2000}, {"type": "integer"}]})
class LabelRefField(serializers.Field):
    """A label as its path ('birds/passerine/sparrow') or its id: a JSON number stays a number,
    which `labels_resolve` takes as an id (a CharField made 7 the path '7', unknown)."""

    default_error_messages = {
        "invalid": "A label path (text) or id (integer) is required.",
        "max_length": "A label path has at most 2000 characters.",
    }

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > 2000:
            self.fail("max_length")
        return data

    def to_representation(self, value):
        return value


class ProjectSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()
    clip_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "ontology",
            "label_mode",
            "annotation_mode",
            "leaves_only",
            "annotations_per_clip",
            "target_sample_rate",
            "role",
            "clip_count",
            "created_at",
        ]
        read_only_fields = ["ontology", "created_at"]

    def get_role(self, obj) -> str | None:
        return getattr(obj, "my_role", None)


class ProjectCreateSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True, default=""
    )
    label_mode = serializers.ChoiceField(Project.LabelMode.choices, default="single")
    annotation_mode = serializers.ChoiceField(Project.AnnotationMode.choices, default="both")
    annotations_per_clip = serializers.IntegerField(min_value=1, max_value=20, default=1)
    target_sample_rate = serializers.IntegerField(min_value=1000, max_value=384000, default=16000)
    leaves_only = serializers.BooleanField(default=False)


class ProjectUpdateSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True
    )
    label_mode = serializers.ChoiceField(Project.LabelMode.choices, required=False)
    annotation_mode = serializers.ChoiceField(Project.AnnotationMode.choices, required=False)
    annotations_per_clip = serializers.IntegerField(min_value=1, max_value=20, required=False)
    target_sample_rate = serializers.IntegerField(min_value=1000, max_value=384000, required=False)
    leaves_only = serializers.BooleanField(required=False)
    force = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Save new rules that saved annotations break (otherwise 409 with the "
        "`conflicts` counted); those annotations are kept and must follow them when next edited.",
    )


class MembershipInputSerializer(StrictInput, serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(Membership.Role.choices)
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        style={"input_type": "password"},
        help_text="For a username with no account yet: the account is made with this first "
        "password (checked as every password is); its owner chooses their own at their "
        "first sign-in.",
    )


class ClipSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clip
        fields = [
            "id",
            "project",
            "original_name",
            "duration",
            "sample_rate",
            "channels",
            "frames",
            "format",
            "codec",
            "size_bytes",
            "sha256",
            "status",
            "error",
            "metadata",
            "annotation_count",
            "priority",
            "created_at",
        ]


class ImportJobSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    labels_file = serializers.SerializerMethodField(
        help_text="A labels file's job (source `labels`): the file's name, what it was "
        "imported as (`suggestions_from`: a source's name, or empty for annotations) and the "
        "labels the import added to the tree; null for audio."
    )
    not_sent = serializers.IntegerField(
        read_only=True,
        help_text="of `rejected`: files the browser said it never sent, and files the media "
        "store did not answer for (send them again)",
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "source",
            "status",
            "total",
            "processed",
            "imported",
            "duplicates",
            "rejected",
            "not_sent",
            "progress",
            "labels_file",
            "report",
            "error",
            "created_at",
            "finished_at",
        ]

    def get_labels_file(self, job) -> dict | None:
        if job.source != ImportJob.Source.LABELS:
            return None
        upload = LabelsUpload.objects.filter(job=job).defer("data").first()
        if upload is None:
            return None
        return {
            "name": upload.name,
            "suggestions_from": upload.suggestions_from,
            "labels_added": upload.labels_added,
        }


class UploadedSerializer(ImportJobSerializer):
    """An upload's answer: its import job, and this request's files each reported."""

    files = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="This request's files: name, status (imported, duplicate, rejected), clip "
        "id, and why one was rejected.",
    )

    class Meta(ImportJobSerializer.Meta):
        fields = [*ImportJobSerializer.Meta.fields, "files"]


class UploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False),
        allow_empty=False,
        help_text="One or more audio files: WAV (RF64, W64), FLAC, OGG (Vorbis, Opus), MP3, "
        "AIFF, CAF or AU.",
    )
    import_job = serializers.IntegerField(
        required=False, help_text="Add these files to an existing import job (browser uploads)."
    )


class LabelsImportSerializer(serializers.Serializer):
    file = serializers.FileField(
        allow_empty_file=True,
        use_url=False,
        help_text="A CSV manifest (an 'audio' column naming each recording by file name, "
        "'labels', and for segments 'start', 'end', 'low_freq', 'high_freq') or a Raven "
        "selection table (.txt): its recordings are the project's clips of those names.",
    )
    create_labels = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Add the labels the file names and the label tree lacks (else a 400 names them).",
    )
    suggestions_from = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=100,
        help_text="The file holds a model's detections (BirdNET's selection table, a CSV with "
        "a 'score' column), not people's labels: the clips get them as suggestions from a "
        "source of this name (e.g. birdnet-2.4), with their scores. Empty: annotations.",
    )


class NotSentFileSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=255)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ImportJobNotSentSerializer(StrictInput, serializers.Serializer):
    files = NotSentFileSerializer(many=True, allow_empty=False, max_length=1000)


class ImportJobCreateSerializer(StrictInput, serializers.Serializer):
    # A job of no files stayed "running" for ever: nothing would ever finish it.
    total = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000,
        help_text="How many files the uploads that follow will add (at least 1).",
        error_messages={"min_value": "an import job is for files about to be uploaded: at least 1"},
    )


class SegmentOutSerializer(serializers.Serializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    channel = serializers.IntegerField(allow_null=True)
    low_freq = serializers.FloatField(
        allow_null=True,
        help_text="The band's lowest frequency (Hz); null: every frequency",
    )
    high_freq = serializers.FloatField(
        allow_null=True,
        help_text="The band's highest frequency (Hz); null: every frequency",
    )
    labels = serializers.ListField(child=serializers.CharField())


class AnnotationOutSerializer(serializers.ModelSerializer):
    annotator = serializers.CharField(source="annotator.username")
    clip_labels = serializers.SerializerMethodField()
    # Labeling a child implies its ancestors: stored once, expanded here (ontology.tree).
    clip_labels_expanded = serializers.SerializerMethodField()
    segments = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = [
            "id",
            "clip",
            "annotator",
            "status",
            "source",
            "version",
            "ontology_version",
            "lead_time",
            "clip_labels",
            "clip_labels_expanded",
            "segments",
            "unsure",
            "note",
            "created_at",
            "updated_at",
        ]

    # An annotation just saved carries `written` (services.annotations.AnnotationInput): its
    # content as written, so the answer to a submission needs no read back.

    def _labels(self, obj) -> list:
        written = getattr(obj, "written", None)
        if written is not None:
            return list(written.clip_labels)
        return [cl.label for cl in obj.clip_labels.all()]

    def get_clip_labels(self, obj) -> list[str]:
        return [label.path for label in self._labels(obj)]

    def get_clip_labels_expanded(self, obj) -> list[str]:
        from ontology.tree import paths_with_ancestors

        return paths_with_ancestors(self._labels(obj))

    def get_segments(self, obj) -> list[dict]:
        written = getattr(obj, "written", None)
        if written is not None:  # Segment.Meta.ordering: start, then as written
            segments = [(s, s.labels) for s in sorted(written.segments, key=lambda s: s.start)]
        else:
            segments = [
                (s, [sl.label for sl in s.segment_labels.all()]) for s in obj.segments.all()
            ]
        return SegmentOutSerializer(
            [
                {
                    "start": s.start,
                    "end": s.end,
                    "channel": s.channel,
                    "low_freq": s.low_freq,
                    "high_freq": s.high_freq,
                    "labels": [lb.path for lb in labels],
                }
                for s, labels in segments
            ],
            many=True,
        ).data


class WindowQuerySerializer(serializers.Serializer):
    start = serializers.FloatField(min_value=0, default=0.0)
    end = serializers.FloatField(min_value=0, required=False)
    width = serializers.IntegerField(min_value=1, max_value=20000, default=1000)

    def validate(self, attrs):
        end = attrs.get("end")
        if end is not None and end <= attrs["start"]:
            raise serializers.ValidationError({"end": "end must be after start"})
        return attrs


class PeaksQuerySerializer(WindowQuerySerializer):
    per_channel = serializers.BooleanField(
        default=False,
        help_text="Also each channel's min/max (`per_channel`: one {min, max} per channel) "
        "for a clip of 2 to 8 channels; mono and more channels: one envelope over all.",
    )


class SpectrogramQuerySerializer(WindowQuerySerializer):
    width = serializers.IntegerField(min_value=16, max_value=4096, default=1024)
    height = serializers.IntegerField(min_value=16, max_value=1024, default=256)
    scale = serializers.ChoiceField(["mel", "linear"], default="mel")
    max_freq = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=1_000_000,
        help_text="The top of the picture in Hz (default, and at most, the clip's Nyquist "
        "frequency): the workspace's and the review page's 'top frequency'.",
    )
    min_freq = serializers.FloatField(
        required=False,
        allow_null=True,
        default=None,
        min_value=0,
        max_value=1_000_000,
        help_text="The foot of the picture in Hz (default 0; below the top): the workspace's "
        "and the review page's 'bottom frequency', to leave out wind and traffic below a "
        "bird's band.",
    )


# --- Annotation workspace (issue 4) ---------------------------------------------------------


class NumberField(serializers.FloatField):
    """A FloatField that refuses true and false (DRF reads them as 1.0 and 0.0: a band's
    `"low_freq": true` was stored as 1 Hz)."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class SegmentInSerializer(StrictInput, serializers.Serializer):
    start = serializers.FloatField(help_text="Seconds from the clip's start; snapped to 10 ms.")
    end = serializers.FloatField(help_text="Seconds; after start, within the clip.")
    channel = serializers.IntegerField(
        min_value=0, required=False, allow_null=True, default=None, help_text="None: all."
    )
    low_freq = NumberField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The band's lowest frequency (Hz), with high_freq; both None: every frequency.",
    )
    high_freq = NumberField(
        required=False,
        allow_null=True,
        default=None,
        help_text="The band's highest frequency (Hz), up to the clip's Nyquist frequency "
        "(half its sample rate). 0 to the Nyquist frequency is every frequency.",
    )
    labels = serializers.ListField(
        child=LabelRefField(),
        help_text="Label paths ('birds/passerine/sparrow') or ids; at least one.",
    )


class SuggestionFeedbackSerializer(StrictInput, serializers.Serializer):
    """What the annotator did with one model suggestion; kept to measure the model."""

    kind = serializers.ChoiceField(["clip", "segment"])
    label = serializers.CharField(max_length=2000, help_text="The suggested label's path.")
    label_id = serializers.IntegerField(required=False, allow_null=True)
    score = serializers.FloatField(required=False, allow_null=True)
    action = serializers.ChoiceField(
        ["accepted", "edited", "rejected", "ignored"],
        help_text="accepted as is; edited (accepted, then moved, resized or relabeled); "
        "rejected; ignored (left undecided at submit: not saved).",
    )
    start = serializers.FloatField(required=False, allow_null=True)
    end = serializers.FloatField(required=False, allow_null=True)
    final = serializers.JSONField(
        required=False, allow_null=True, help_text="For edited segments: {start, end, labels}."
    )
    model_version = serializers.CharField(required=False, allow_blank=True, max_length=200)


class AnnotationSubmitSerializer(StrictInput, serializers.Serializer):
    clip_labels = serializers.ListField(child=LabelRefField(), required=False, default=list)
    segments = SegmentInSerializer(many=True, required=False, default=list)
    expected_version = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text="The version of your annotation you loaded (0: none). If it has moved on "
        "the answer is 409 and nothing is written.",
    )
    lead_time = serializers.FloatField(
        min_value=0,
        max_value=LEAD_TIME_MAX_S,
        required=False,
        default=0.0,
        help_text="Seconds spent.",
    )
    suggestion_feedback = SuggestionFeedbackSerializer(many=True, required=False, default=list)
    unsure = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="You are not sure of these labels: the reviewers see it, and can take such "
        "annotations first. Left out: as it was.",
    )
    note = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        max_length=NOTE_MAX,
        trim_whitespace=True,
        help_text='A word to the reviewer (2,000 characters at most); "" clears it. Left '
        "out: as it was.",
    )
    claim_next = serializers.BooleanField(
        default=False, help_text="Also hand out (and lock) your next clip; it comes as `next`."
    )
    only_if_needed = serializers.BooleanField(
        default=False,
        help_text="Save only where the clip still wants your annotation: when others took "
        "every place while yours lapsed, 409 `clip_full` and nothing is written (the "
        "workspace sends it; without it such a submission is one annotation more).",
    )
    replace_reviewed = serializers.BooleanField(
        default=False,
        help_text="Change an annotation a reviewer accepted (or corrected): it goes back to "
        "review. Without it such a change is 409 `reviewed` (the same labels again: 200, "
        "nothing changed).",
    )
    idempotency_key = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text="A key of your choosing for this submission (or the `Idempotency-Key` "
        "header): a retry with the same key is saved at most once and answers 200 with the "
        "saved annotation.",
    )


class WorkspaceClipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    original_name = serializers.CharField()
    duration = serializers.FloatField()
    sample_rate = serializers.IntegerField()
    channels = serializers.IntegerField()
    format = serializers.CharField(help_text="container: WAV, FLAC, OGG, MP3, ...")
    codec = serializers.CharField(help_text="encoding: PCM_16, FLOAT, VORBIS, ...")
    status = serializers.CharField()
    audio_url = serializers.CharField()


class WorkspaceProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    label_mode = serializers.CharField()
    annotation_mode = serializers.CharField()
    leaves_only = serializers.BooleanField()
    annotations_per_clip = serializers.IntegerField()
    ontology_version = serializers.IntegerField(
        help_text="The label tree's version: the workspace reloads the tree when it moved on."
    )


class WorkspaceAnnotationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    clip_labels = serializers.ListField(child=serializers.CharField())
    segments = SegmentOutSerializer(many=True)
    lead_time = serializers.FloatField()
    review_comment = serializers.CharField(
        allow_blank=True, help_text="The reviewer's comment (what to fix, when rejected)."
    )
    reviewed_by = serializers.CharField(
        allow_null=True, help_text="Who accepted (or corrected) it; null otherwise."
    )
    corrected = serializers.BooleanField(
        help_text="Accepted with the reviewer's own changes (what is shown is theirs)."
    )
    unsure = serializers.BooleanField(default=False, help_text="You marked it not sure.")
    note = serializers.CharField(default="", help_text="Your note to the reviewer.")


class DraftSerializer(StrictInput, serializers.Serializer):
    base_version = serializers.IntegerField(
        min_value=0,
        max_value=2**31 - 1,  # 2**63 was a 500; 2**31 was stored and then refused at submit
        default=0,
        help_text="The annotation version the draft started from.",
    )
    data = serializers.JSONField(help_text="The workspace's state, stored as sent.")
    lead_time = serializers.FloatField(min_value=0, max_value=LEAD_TIME_MAX_S, default=0.0)
    updated_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="null when the draft was not stored"
    )
    stored = serializers.SerializerMethodField(
        help_text="False when the draft was not kept: your annotation was saved at a later "
        "version than base_version (an autosave that was in flight when you submitted)."
    )

    def get_stored(self, obj) -> bool:
        if isinstance(obj, dict):  # a draft read back for the workspace: stored
            return True
        return obj.pk is not None


class SuggestedClipLabelSerializer(serializers.Serializer):
    label = serializers.CharField()
    label_id = serializers.IntegerField()
    score = serializers.FloatField()


class SuggestedSegmentSerializer(SuggestedClipLabelSerializer):
    start = serializers.FloatField()
    end = serializers.FloatField()
    channel = serializers.IntegerField(allow_null=True)


class SuggestionsSerializer(serializers.Serializer):
    model_version = serializers.DictField(help_text="{id, name, version}")
    clip_labels = SuggestedClipLabelSerializer(many=True)
    segments = SuggestedSegmentSerializer(many=True)
    segments_withheld = serializers.CharField(
        required=False,
        help_text="Why no segment is suggested: the version learned from fewer than 20 clips "
        "labeled by segments",
    )
    withheld = serializers.CharField(
        required=False,
        help_text="Why no suggestion is shown: the model is not good enough yet (its "
        "macro-F1 where it was measured is under 0.4)",
    )


class WorkspaceSerializer(serializers.Serializer):
    """One clip as the workspace loads it: your annotation, your draft, the suggestions."""

    clip = WorkspaceClipSerializer()
    project = WorkspaceProjectSerializer()
    annotation = WorkspaceAnnotationSerializer(allow_null=True)
    draft = DraftSerializer(allow_null=True)
    suggestions = SuggestionsSerializer(allow_null=True)
    overview = serializers.DictField(
        allow_null=True,
        help_text="Whole-clip peaks as GET /api/clips/<id>/peaks?per_channel=1 answers "
        "(2048 buckets).",
    )
    lock_expires_at = serializers.DateTimeField(allow_null=True)


class AnnotationSubmittedSerializer(serializers.Serializer):
    annotation = AnnotationOutSerializer()
    next = WorkspaceSerializer(
        allow_null=True, required=False, help_text="With claim_next: your next clip, or null."
    )


class ClipLockInSerializer(StrictInput, serializers.Serializer):
    take = serializers.BooleanField(
        default=True,
        help_text="Take a place where you hold none and the clip has room (false: only say "
        "whether the clip is full; the workspace takes one once you work on the clip).",
    )


class ClipLockSerializer(serializers.Serializer):
    held = serializers.BooleanField(help_text="You hold a place on the clip (until expires_at).")
    needed = serializers.BooleanField(
        help_text="False when you have an annotation of the clip already: an edit takes no place."
    )
    full = serializers.BooleanField(
        help_text="The clip has every annotation the project wants without yours."
    )
    wanted = serializers.IntegerField(help_text="The project's annotations per clip.")
    annotations = serializers.IntegerField(
        help_text="The clip's counted annotations: under `wanted` while `full`, the other "
        "places are held by annotators at work on it."
    )
    expires_at = serializers.DateTimeField(allow_null=True)


class SkipSerializer(StrictInput, serializers.Serializer):
    lead_time = serializers.FloatField(min_value=0, max_value=LEAD_TIME_MAX_S, default=0.0)
    claim_next = serializers.BooleanField(default=False)


class SkippedSerializer(serializers.Serializer):
    next = WorkspaceSerializer(allow_null=True, required=False)


class MetadataFromNamesSerializer(StrictInput, serializers.Serializer):
    pattern = serializers.CharField(
        max_length=200,
        help_text="The clips' file names with fields in braces: {digit}_{speaker}_{take} "
        "reads 7_jackson_12.wav as digit 7, speaker jackson, take 12 (the extension left out).",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Report only; change nothing.")


class ClipsDeleteSerializer(StrictInput, serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=5000,
    )
    status = serializers.ChoiceField(choices=Clip.Status.choices, required=False)
    force = serializers.BooleanField(default=False)
    after = serializers.IntegerField(min_value=0, max_value=2**63 - 1, default=0)

    def validate(self, attrs):
        if "ids" not in attrs and "status" not in attrs:
            raise serializers.ValidationError("name the clips to delete: ids, a status, or both")
        return attrs


class ClipRefusedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    code = serializers.CharField()
    reason = serializers.CharField()


class ClipsDeletedSerializer(serializers.Serializer):
    deleted = serializers.ListField(child=serializers.IntegerField())
    refused = ClipRefusedSerializer(many=True)
    more = serializers.BooleanField(help_text="more clips match: send again with after=last_id")
    last_id = serializers.IntegerField()
