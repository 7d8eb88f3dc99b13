"""Metric values may be NULL, which is how a NaN point is kept on both databases (see metric_store).

PostgreSQL could hold NaN itself, and a NaN stored there before this migration (by the training service,
which never refused one) is set to NULL, so the engines sort and compare metrics alike.
"""

from django.db import migrations, models


def nan_to_null(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite already stored NaN as NULL (and refused it under NOT NULL)
    for name in ("Metric", "LatestMetric"):
        table = schema_editor.quote_name(apps.get_model("experiments", name)._meta.db_table)
        schema_editor.execute(f"UPDATE {table} SET value = NULL WHERE value = 'NaN'::float8")


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0002_model_files"),
    ]

    operations = [
        migrations.AlterField(
            model_name="latestmetric",
            name="value",
            field=models.FloatField(
                help_text="NULL when the last point is NaN: comparisons and sorts skip it.", null=True
            ),
        ),
        migrations.AlterField(
            model_name="metric",
            name="value",
            field=models.FloatField(null=True),
        ),
        migrations.RunPython(nan_to_null, migrations.RunPython.noop, elidable=True),
    ]
