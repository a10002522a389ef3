from django.contrib import admin

from ontology.models import Label, Ontology, OntologyChange


@admin.register(Ontology)
class OntologyAdmin(admin.ModelAdmin):
    list_display = ["name", "version", "updated_at"]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["path", "ontology", "hotkey", "deprecated"]
    list_filter = ["ontology", "deprecated"]
    search_fields = ["path", "external_id"]
    raw_id_fields = ["parent"]


@admin.register(OntologyChange)
class OntologyChangeAdmin(admin.ModelAdmin):
    list_display = ["ontology", "version", "action", "user", "created_at"]
    readonly_fields = ["ontology", "version", "action", "user", "details", "created_at"]
