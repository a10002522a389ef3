from __future__ import annotations

from rest_framework import serializers

from labelapp.strict import StrictInput, TextField
from ml_backend.models import MLConfig, ModelVersion, PrelabelRun, TrainingRun
from ml_backend.selectors import HEADLINE_KEYS

# A version as the API describes it; the full one adds the label ids of its classes.
VERSION_FIELDS = [
    "id",
    "version",
    "name",
    "status",
    "ontology_version",
    "training_size",
    "metrics",
    "created_at",
    "training_run",
]


class ModelVersionSerializer(serializers.ModelSerializer):
    class_paths = serializers.SerializerMethodField(
        help_text="Each class's label path as the tree has it now, in `classes`' order; a label "
        "gone since says where: 'digit/six (merged into digit/seven)', 'noise (deleted)'."
    )

    class Meta:
        model = ModelVersion
        fields = [*VERSION_FIELDS, "classes", "class_paths"]

    def get_class_paths(self, obj) -> list[str]:
        from ontology.models import Label
        from ontology.selectors import gone_label_names

        ids = list(obj.classes or [])
        ontology_id = obj.project.ontology_id
        paths = dict(
            Label.objects.filter(ontology_id=ontology_id, pk__in=ids).values_list("pk", "path")
        )
        paths |= gone_label_names(ontology_id, set(ids) - set(paths))
        return [paths.get(i, f"#{i} (deleted)") for i in ids]


class ModelVersionSummarySerializer(serializers.ModelSerializer):
    """A version as the model page lists it (polled every few seconds): its headline figures
    only. With every class's figures and the confusion matrix, a project of 500 labels and 60
    versions answered 37.7 MB a poll; GET /api/model-versions/<id>/ has them all."""

    metrics = serializers.SerializerMethodField(
        help_text="The headline figures (accuracy, macro_f1, map, evaluated_on, started_from, "
        "pretraining...: selectors.HEADLINE_KEYS); per class, per level and the confusion "
        "matrix at /api/model-versions/<id>/."
    )

    class Meta:
        model = ModelVersion
        fields = VERSION_FIELDS

    def get_metrics(self, obj) -> dict:
        headline = getattr(obj, "headline", None)  # selectors.versions_with_headlines
        if headline is None:
            metrics = obj.metrics or {}
            headline = {key: metrics[key] for key in HEADLINE_KEYS if key in metrics}
        return headline


class TrainingRunSerializer(serializers.ModelSerializer):
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "project",
            "status",
            "trigger",
            "progress",
            "message",
            "error",
            "cancel_requested",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
            "model_version",
        ]

    def get_model_version(self, obj) -> int | None:
        mv = getattr(obj, "model_version", None)
        return mv.pk if mv else None


class TrainingRequestedSerializer(TrainingRunSerializer):
    """A training just queued, with what the lead should know about it ("" when nothing)."""

    note = serializers.CharField(read_only=True)

    class Meta(TrainingRunSerializer.Meta):
        fields = [*TrainingRunSerializer.Meta.fields, "note"]


class PrelabelRunSerializer(serializers.ModelSerializer):
    progress = serializers.FloatField(read_only=True)
    job_name = serializers.CharField(read_only=True)

    class Meta:
        model = PrelabelRun
        fields = [
            "id",
            "project",
            "model_version",
            "kind",
            "job_name",
            "status",
            "total",
            "done",
            "progress",
            "error",
            "created_at",
            "finished_at",
        ]


class MLConfigSerializer(StrictInput, serializers.ModelSerializer):
    validation_group_by = TextField(
        max_length=64,
        allow_blank=True,
        required=False,
        help_text="A clip metadata field (e.g. speaker, site, recording) whose clips stay on "
        "one side of a training's validation split, so its figures and early stopping measure "
        "new speakers or sites; empty: each clip on its own. A version's metrics say how it "
        "was split (`validation_group_by`, `groups`, `val_groups`).",
    )

    def validate_validation_group_by(self, value: str) -> str:
        value = value.strip()
        if any(not ch.isprintable() for ch in value):
            raise serializers.ValidationError("A metadata field's name is one line of text.")
        project = self.context.get("project")
        # A misspelt field ("SPEAKER") grouped nothing, and speakers leaked into validation
        # under figures that said they had not. A project without clips yet may name it.
        if (
            value
            and project is not None
            and project.clips.exists()
            and not project.clips.filter(metadata__has_key=value).exists()
        ):
            from labelapp.selectors import metadata_fields

            known = metadata_fields(project)
            raise serializers.ValidationError(
                f"no clip of this project has a metadata field {value!r}"
                + (f"; its clips have: {', '.join(known)}" if known else "")
            )
        return value

    class Meta:
        model = MLConfig
        fields = [
            "enabled",
            "retrain_every",
            "retrain_growth",
            "min_labels",
            "strategy",
            "epochs",
            "validation_group_by",
            "labels_since_training",
            "learning_curves",
        ]
        # Written by `simulate_al` only: the page shows them, PATCH cannot change them.
        read_only_fields = ["labels_since_training", "learning_curves"]
        extra_kwargs = {
            "retrain_every": {"min_value": 1, "max_value": 100000},
            "retrain_growth": {"min_value": 0.0, "max_value": 4.0},
            "min_labels": {"min_value": 2, "max_value": 100000},
            "epochs": {
                "min_value": 1,
                "max_value": 500,
                "help_text": "Epochs a training plans. Few labels get more planned (every "
                "training takes at least 200 optimizer steps; a version's metrics say so: "
                "`epochs_planned`, `epochs_note`), and early stopping on validation macro-F1 "
                "may end it sooner once there are labels to validate on (`epochs_run`).",
            },
        }


class ExternalVersionSerializer(serializers.ModelSerializer):
    clips = serializers.IntegerField(help_text="clips with a prediction of this source")

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "created_at", "clips"]


class ModelOverviewSerializer(serializers.Serializer):
    config = MLConfigSerializer()
    waiting = serializers.CharField(
        help_text="Why no training starts by itself now (too few labels, one label only, "
        "automatic training off); empty when one may."
    )
    active = ModelVersionSummarySerializer(allow_null=True)
    versions = ModelVersionSummarySerializer(many=True)
    versions_total = serializers.IntegerField(help_text="versions in all (the list: the newest 50)")
    training_runs = TrainingRunSerializer(many=True)
    prelabel_runs = PrelabelRunSerializer(many=True)
    external_versions = ExternalVersionSerializer(
        many=True,
        help_text="Predictions imported from elsewhere (a Label Studio task's `predictions`), "
        "by source, newest first: the workspace suggests them until a model of the "
        "project's own is active.",
    )
