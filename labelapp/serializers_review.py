"""Input and output shapes of the review, agreement, token and member API."""

from __future__ import annotations

from rest_framework import serializers

from labelapp.models import ApiToken, Membership
from labelapp.serializers import AnnotationOutSerializer, LabelRefField, SegmentInSerializer
from labelapp.services.review import Action
from labelapp.strict import StrictInput


class ReviewedAnnotationSerializer(AnnotationOutSerializer):
    """An annotation with its last review decision and its clip's name."""

    clip_name = serializers.CharField(source="clip.original_name", read_only=True)
    needs_adjudication = serializers.BooleanField(source="clip.needs_adjudication", read_only=True)
    reviewed_by = serializers.SerializerMethodField()
    warning = serializers.SerializerMethodField()

    class Meta(AnnotationOutSerializer.Meta):
        fields = [
            *AnnotationOutSerializer.Meta.fields,
            "clip_name",
            "needs_adjudication",
            "reviewed_by",
            "reviewed_at",
            "review_comment",
            "warning",
        ]

    def get_warning(self, obj) -> str:
        """After a decision: what it left the clip in ("" when nothing to say)."""
        return getattr(obj, "review_warning", "")

    def get_reviewed_by(self, obj) -> str | None:
        return obj.reviewed_by.username if obj.reviewed_by_id else None


class ReviewActionSerializer(StrictInput, serializers.Serializer):
    action = serializers.ChoiceField(Action.ALL)
    comment = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)
    expected_version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,  # 2**70 was a 409 "you reviewed version 1180591620717411303424"
        help_text="The version you reviewed; 409 if the annotation moved on.",
    )
    clip_labels = serializers.ListField(
        child=LabelRefField(),
        required=False,
        allow_null=True,
        default=None,
        help_text="For `correct`: the clip labels it should have (paths or ids); omitted: "
        "unchanged.",
    )
    segments = SegmentInSerializer(
        many=True,
        required=False,
        allow_null=True,
        default=None,
        help_text="For `correct`: the segments it should have; omitted: unchanged.",
    )

    def validate(self, attrs):
        # A correction sent with another action would be answered 200 with its labels unsaved.
        if attrs["action"] != Action.CORRECT:
            sent = [f for f in ("clip_labels", "segments") if attrs.get(f) is not None]
            if sent:
                raise serializers.ValidationError(
                    f"{' and '.join(sent)} apply to action 'correct' only, not {attrs['action']!r}"
                )
        return attrs


class ReviewQueueQuerySerializer(serializers.Serializer):
    include_imported = serializers.BooleanField(
        default=False, help_text="Also imported annotations (by the system user)."
    )
    annotator = serializers.CharField(
        required=False, max_length=150, help_text="Only this annotator's (a username)."
    )
    label = serializers.CharField(
        required=False,
        max_length=1000,
        help_text="Only annotations giving this label (its path) or one of its kinds.",
    )
    adjudication = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: clips sent to adjudication only; false: the others.",
    )
    unsure = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only annotations their annotator marked not sure; false: the others.",
    )


class HistoryEntrySerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=["revision", "clip"],
        help_text="`revision`: a write to one annotation; `clip`: a review step on the clip as "
        "a whole (`adjudicate`, `adjudicate-off`, `adjudicated`: sent to adjudication, taken "
        "off it, settled by the decisions), shown to reviewers and leads, or a label-tree "
        "change that rewrote its annotations (`label-merged`, `label-unmerged`, with its "
        "`note`); its annotation, annotator and version are null. An annotation deleted "
        "(`ann-deleted`) keeps its annotation id, annotator and last version, its content as "
        "`before` and what went as `changes`; its revisions stay in the history as they were "
        "(their `id` null), for those who could see the annotation.",
    )
    id = serializers.IntegerField(
        allow_null=True, help_text="null for a revision of an annotation deleted since"
    )
    annotation = serializers.IntegerField(allow_null=True)
    annotator = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    author = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    comment = serializers.CharField(allow_blank=True)
    note = serializers.CharField(
        required=False, allow_blank=True, help_text="what a label-tree change did (clip entries)"
    )
    created_at = serializers.DateTimeField()
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField()
    changes = serializers.JSONField(
        help_text="{status: [before, after], clip_labels: {added, removed}, segments: {added, "
        "removed}}: only what changed."
    )


class AdjudicationSerializer(serializers.Serializer):
    clip = serializers.IntegerField(source="pk")
    needs_adjudication = serializers.BooleanField()


class AgreementQuerySerializer(serializers.Serializer):
    iou = serializers.FloatField(
        min_value=0.01, max_value=1.0, default=0.5, help_text="Segment matching threshold."
    )


class ModelVsHumansQuerySerializer(serializers.Serializer):
    model_version = serializers.IntegerField(
        required=False, help_text="Only this model version (its id)."
    )


class ApiTokenSerializer(serializers.ModelSerializer):
    active = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at", "revoked_at", "active"]

    def get_active(self, obj) -> bool:
        return obj.revoked_at is None


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    key = serializers.CharField(help_text="The key; shown this once, never again.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


class ApiTokenCreateSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What uses it, e.g. 'import script'.")


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user_id", "username", "role", "created_at"]


class MemberRoleSerializer(StrictInput, serializers.Serializer):
    role = serializers.ChoiceField(Membership.Role.choices)
