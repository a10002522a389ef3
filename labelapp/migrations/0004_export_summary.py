from django.db import migrations, models


def summary_out_of_options(apps, schema_editor):
    """Session 2 kept the writer's report in options["summary"]: move it to its field."""
    ExportJob = apps.get_model("labelapp", "ExportJob")
    for job in list(ExportJob.objects.filter(options__has_key="summary")):
        options = dict(job.options)
        job.summary = options.pop("summary") or {}
        job.options = options
        job.save(update_fields=["summary", "options"])


def summary_into_options(apps, schema_editor):
    ExportJob = apps.get_model("labelapp", "ExportJob")
    for job in list(ExportJob.objects.exclude(summary={})):
        job.options = {**job.options, "summary": job.summary}
        job.save(update_fields=["options"])


class Migration(migrations.Migration):
    dependencies = [
        ("labelapp", "0003_review_tokens_exports"),
    ]

    operations = [
        migrations.AddField(
            model_name="exportjob",
            name="summary",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(summary_out_of_options, summary_into_options),
    ]
