"""Label names and paths written with decomposed accents (NFD, as a Mac types them) before
names were stored composed (NFC): brought to NFC, so that references, which are read as NFC,
name them again. A label whose NFC name a sibling already has is left as it is."""

import unicodedata

from django.db import migrations
from django.db.models.functions import Lower
from django.utils import timezone


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def forwards(apps, schema_editor):
    Label = apps.get_model("ontology", "Label")
    Ontology = apps.get_model("ontology", "Ontology")
    touched = set()
    for label in Label.objects.all().only("id", "name", "parent_id", "ontology_id"):
        name = _nfc(label.name)
        if name == label.name:
            continue
        taken = (
            Label.objects.filter(ontology_id=label.ontology_id, parent_id=label.parent_id)
            .exclude(pk=label.pk)
            .annotate(lower=Lower("name"))
            .filter(lower=name.lower())
            .exists()
        )
        if not taken:
            Label.objects.filter(pk=label.pk).update(name=name)
            touched.add(label.ontology_id)
    for ontology_id in touched:
        labels = {lb.pk: lb for lb in Label.objects.filter(ontology_id=ontology_id)}

        def path_of(label):
            parts = []
            while label is not None:
                parts.append(label.name)
                label = labels.get(label.parent_id)
            return "/".join(reversed(parts))

        for label in labels.values():
            path = path_of(label)
            if path != label.path:
                Label.objects.filter(pk=label.pk).update(path=path)
        Ontology.objects.filter(pk=ontology_id).update(updated_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [("ontology", "0002_change_undo_record")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
