from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.validators import MinValueValidator

from labelapp.models import (
    Annotation,
    AnnotationRevision,
    Clip,
    ClipLabel,
    ImportJob,
    Membership,
    PasswordToChange,
    Project,
    Segment,
    SegmentLabel,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "label_mode",
        "annotation_mode",
        "annotations_per_clip",
        "created_at",
        "deleted_at",
    ]
    list_filter = [("deleted_at", admin.EmptyFieldListFilter)]  # purged ones are gone
    search_fields = ["name"]
    inlines = [MembershipInline]

    # A new project gets a label tree of its own, as `project_create` gives one: offered a
    # choice of existing trees, a lead picked the demo's and then renamed its labels under
    # the demo's annotations. A project's tree is not changed here afterwards either (its
    # annotations name that tree's labels); the ontology editor shapes it.
    def get_exclude(self, request, obj=None):
        return ["ontology"] if obj is None else super().get_exclude(request, obj)

    # Deleting here deletes as the project's page does (`project_delete_request`): hidden at
    # once, then purged by a worker with its files, models and label tree. The admin's own
    # delete removed the rows and left every audio file and the tree behind.
    def delete_model(self, request, obj):
        from labelapp.services.project_removal import project_delete_request

        project_delete_request(project=obj, confirm=obj.name)

    def delete_queryset(self, request, queryset):
        for project in queryset:
            self.delete_model(request, project)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, "ontology"]

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        # A positive integer's form field checks >= 0 first, so -3 was told "at least 0" where
        # the model wants at least 1 (30 for a lock): the form says the model's own minimum.
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        lows = [v.limit_value for v in db_field.validators if isinstance(v, MinValueValidator)]
        if field is not None and lows and hasattr(field, "min_value"):
            field.min_value = max(lows)
            field.validators = [
                v for v in field.validators if not isinstance(v, MinValueValidator)
            ] + [MinValueValidator(max(lows))]
            field.widget.attrs["min"] = max(lows)
        return field

    def save_model(self, request, obj, form, change):
        from ontology.models import Ontology

        if not change and obj.ontology_id is None:
            obj.ontology = Ontology.objects.create(name=f"{obj.name} labels")
            obj.created_by = obj.created_by or request.user
        super().save_model(request, obj, form, change)


@admin.register(PasswordToChange)
class PasswordToChangeAdmin(admin.ModelAdmin):
    """Accounts whose owner has not chosen their own password yet (a lead or a site admin
    chose it): a site admin can lift the hold here."""

    list_display = ["user", "set_by", "created_at"]
    readonly_fields = ["user", "set_by", "created_at"]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role"]
    list_filter = ["role", "project"]


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "original_name",
        "project",
        "duration",
        "sample_rate",
        "channels",
        "status",
    ]
    list_filter = ["status", "project", "format"]
    search_fields = ["original_name", "sha256"]
    readonly_fields = [
        "sha256",
        "file",
        "peaks_file",
        "spectrum_file",
        "created_at",
        "processed_at",
    ]

    # As the project page deletes clips (`clips_delete`): their stored files go too (the
    # admin's own delete left them in the media store).
    def delete_model(self, request, obj):
        self.delete_queryset(request, Clip.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        from labelapp.services.clip_removal import MAX_CLIPS, clips_delete

        by_project: dict[int, list[int]] = {}
        for clip_id, project_id in queryset.values_list("pk", "project_id"):
            by_project.setdefault(project_id, []).append(clip_id)
        for project_id, ids in by_project.items():
            project = Project.objects.get(pk=project_id)
            for start in range(0, len(ids), MAX_CLIPS):
                clips_delete(project=project, ids=ids[start : start + MAX_CLIPS], force=True)


class ClipLabelInline(admin.TabularInline):
    model = ClipLabel
    extra = 0
    raw_id_fields = ["label"]


class SegmentInline(admin.TabularInline):
    model = Segment
    extra = 0


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ["id", "clip", "annotator", "status", "source", "version", "updated_at"]
    list_filter = ["status", "source"]
    raw_id_fields = ["clip"]
    inlines = [ClipLabelInline, SegmentInline]


@admin.register(SegmentLabel)
class SegmentLabelAdmin(admin.ModelAdmin):
    list_display = ["segment", "label"]
    raw_id_fields = ["segment", "label"]


@admin.register(AnnotationRevision)
class AnnotationRevisionAdmin(admin.ModelAdmin):
    list_display = ["annotation", "version", "author", "action", "created_at"]
    readonly_fields = ["annotation", "version", "author", "action", "data", "created_at"]


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "source",
        "status",
        "total",
        "imported",
        "duplicates",
        "rejected",
        "created_at",
    ]
    list_filter = ["status", "source"]


User = get_user_model()


def _hold(user, by) -> None:
    """`user` chooses their own password at their next sign-in: `by` knows this one."""
    if user.has_usable_password() and user.pk != by.pk:
        PasswordToChange.objects.update_or_create(user=user, defaults={"set_by": by})


class EarmarkUserAdmin(UserAdmin):
    """Django's user admin, where a password an admin chooses for someone else is a first
    password: its owner changes it at their next sign-in, as for an account a lead makes on
    the Members page (an admin knew every password they had set, for good)."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            _hold(obj, request.user)

    def user_change_password(self, request, id, form_url=""):
        def password():
            return User.objects.filter(pk=id).values_list("password", flat=True).first()

        before = password() if id.isdigit() else None
        response = super().user_change_password(request, id, form_url)
        if before is not None and password() != before:
            _hold(User.objects.get(pk=id), request.user)
        return response


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, EarmarkUserAdmin)
