"""Input and output shapes of the ontology API. Business rules live in the services."""

from __future__ import annotations

from rest_framework import serializers

from labelapp.strict import DESCRIPTION_MAX, StrictInput, TextField
from ontology.formats import FORMATS
from ontology.io import EXPORTS
from ontology.models import OntologyChange
from ontology.unmerge import undoable


class LabelOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    path = serializers.CharField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    depth = serializers.IntegerField()
    order = serializers.IntegerField()
    color = serializers.CharField()
    hotkey = serializers.CharField()
    description = serializers.CharField()
    external_id = serializers.CharField()
    deprecated = serializers.BooleanField()


class TreeLabelSerializer(LabelOutSerializer):
    leaf = serializers.BooleanField()
    available = serializers.BooleanField(
        help_text="false when it or a label above it is deprecated: it cannot be chosen"
    )
    uses = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="with ?usage=1: {clip, segment} counts",
    )


class TreeOutSerializer(serializers.Serializer):
    """The whole tree in one response, flat in display order (parents before children)."""

    ontology = serializers.DictField(help_text="{id, name, description, version}")
    project = serializers.DictField(help_text="{id, label_mode, leaves_only, annotation_mode}")
    can_edit = serializers.BooleanField()
    labels = TreeLabelSerializer(many=True)


# Text fields allow blanks so the services, not DRF, answer with a message naming the label.
class LabelCreateSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=1000, allow_blank=True)
    parent = serializers.IntegerField(required=False, allow_null=True, default=None)
    position = serializers.IntegerField(required=False, allow_null=True, min_value=0, default=None)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True, default=""
    )
    color = serializers.CharField(required=False, allow_blank=True, default="", max_length=50)
    hotkey = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=50, trim_whitespace=False
    )
    external_id = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=200
    )


class LabelPatchSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(required=False, max_length=1000, allow_blank=True)
    parent = serializers.IntegerField(
        required=False, allow_null=True, help_text="move under this label; null: the top level"
    )
    position = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, help_text="0-based place among the siblings"
    )
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, required=False, allow_blank=True
    )
    color = serializers.CharField(required=False, allow_blank=True, max_length=50)
    hotkey = serializers.CharField(
        required=False, allow_blank=True, max_length=50, trim_whitespace=False
    )
    external_id = serializers.CharField(required=False, allow_blank=True, max_length=200)
    deprecated = serializers.BooleanField(required=False)
    expected = serializers.DictField(
        required=False,
        help_text="the values you last saw of the fields you change (name, parent, description, "
        "color, hotkey, external_id, deprecated): 409 when another edit changed one since",
    )

    def validate_expected(self, value: dict) -> dict:
        from ontology.services import EXPECTABLE

        unknown = sorted(set(value) - set(EXPECTABLE))
        if unknown:
            raise serializers.ValidationError(
                f"unknown field(s) {', '.join(unknown)}; expected takes {', '.join(EXPECTABLE)}"
            )
        return value


class LabelMergeSerializer(StrictInput, serializers.Serializer):
    into = serializers.IntegerField(help_text="id of the label that absorbs this one")
    children = serializers.ChoiceField(
        choices=["move", "merge"],
        default="move",
        help_text="move: the children move under the target (one named as a child of the "
        "target is refused); merge: such a child is merged into its namesake, on down",
    )


class MergeOutSerializer(serializers.Serializer):
    warnings = serializers.ListField(child=serializers.CharField())
    source = serializers.IntegerField()
    source_path = serializers.CharField()
    target = serializers.IntegerField()
    target_path = serializers.CharField()
    annotations_changed = serializers.IntegerField()
    clip_labels_moved = serializers.IntegerField()
    clip_labels_deduplicated = serializers.IntegerField()
    segment_labels_moved = serializers.IntegerField()
    segment_labels_deduplicated = serializers.IntegerField()
    children_moved = serializers.IntegerField()
    children_merged = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text='with children "merge": the paths merged into their namesakes first',
    )
    version = serializers.IntegerField()
    change = serializers.IntegerField(help_text="the change-log entry; POST changes/<id>/undo/")
    undoable = serializers.BooleanField()


class UnmergeOutSerializer(serializers.Serializer):
    source = serializers.IntegerField(help_text="the restored label (its id before the merge)")
    source_path = serializers.CharField()
    target = serializers.IntegerField()
    target_path = serializers.CharField()
    clip_labels_moved_back = serializers.IntegerField()
    clip_labels_restored = serializers.IntegerField(
        help_text="uses the merge dropped as duplicates, added again"
    )
    segment_labels_moved_back = serializers.IntegerField()
    segment_labels_restored = serializers.IntegerField()
    uses_kept_as_edited = serializers.IntegerField(
        help_text="uses left on the target: their annotation was edited since the merge"
    )
    children_moved_back = serializers.IntegerField()
    children_unmerged = serializers.ListField(
        child=serializers.CharField(),
        help_text="children the merge merged into the target's namesakes, brought back too",
    )
    projects_rescored = serializers.IntegerField()
    warnings = serializers.ListField(
        child=serializers.CharField(), help_text="what did not come back as it was (a hotkey)"
    )
    version = serializers.IntegerField()


class ImportQuerySerializer(serializers.Serializer):
    dry_run = serializers.BooleanField(
        default=False,
        help_text="report what the import would do without doing it (also a body field)",
    )


class ImportInSerializer(StrictInput, serializers.Serializer):
    file = serializers.FileField(required=False, help_text="the ontology file (multipart)")
    content = TextField(
        required=False, trim_whitespace=False, help_text="the file's text, for JSON clients"
    )
    format = serializers.ChoiceField(
        FORMATS, required=False, help_text="default: detected from the content"
    )
    dry_run = serializers.BooleanField(default=False)

    def validate(self, attrs):
        if ("file" in attrs) == ("content" in attrs):
            raise serializers.ValidationError(
                "send the ontology as a file upload or as content, one of the two"
            )
        return attrs


class ImportOutSerializer(serializers.Serializer):
    format = serializers.CharField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    labels_in_file = serializers.IntegerField()
    created_paths = serializers.ListField(
        child=serializers.CharField(), help_text="the labels created (the first 200 of `created`)"
    )
    updated_paths = serializers.ListField(
        child=serializers.CharField(),
        help_text="the labels whose attributes changed (the first 200 of `updated`)",
    )
    followed = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()),
        help_text="labels the file names by a path they had before a rename, move or merge: "
        '{"file": that path, "now": the label\'s path today}; matched, not created again',
    )
    followed_count = serializers.IntegerField(help_text="how many labels were followed")
    not_in_file = serializers.IntegerField(
        help_text="labels of the tree (not deprecated) the file does not hold: an import never "
        "removes or renames them"
    )
    not_in_file_paths = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    version = serializers.IntegerField()
    dry_run = serializers.BooleanField()


class ExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(list(EXPORTS), default="earmark")


class ChangeOutSerializer(serializers.ModelSerializer):
    user = serializers.CharField(source="user.username", default=None, allow_null=True)
    undoable = serializers.SerializerMethodField(help_text="a merge that can be undone")

    class Meta:
        model = OntologyChange
        fields = ["id", "version", "user", "action", "details", "undoable", "created_at"]

    def get_undoable(self, change) -> bool:
        # `has_undo` comes with the log's query (selectors.ontology_changes), which leaves
        # the records themselves unread.
        return undoable(change, has_record=bool(getattr(change, "has_undo", False)))


class ResolveQuerySerializer(serializers.Serializer):
    path = serializers.ListField(
        child=serializers.CharField(max_length=2000, trim_whitespace=False),
        min_length=1,
        help_text="label paths, repeated (?path=a/b&path=c)",
    )


class ResolveOutSerializer(serializers.Serializer):
    labels = serializers.DictField(
        child=serializers.CharField(allow_null=True),
        help_text="each path given -> the label's path today, or null when no label has it",
    )
