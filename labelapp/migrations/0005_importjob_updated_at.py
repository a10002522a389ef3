import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("labelapp", "0004_export_summary"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="updated_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
    ]
