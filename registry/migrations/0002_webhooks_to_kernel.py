"""Webhooks now belong to the kernel (mlops_site 0005): drop them from the registry's state only."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("mlops_site", "0005_webhooks_from_registry"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="WebhookDelivery"),
                migrations.DeleteModel(name="Webhook"),
            ],
        ),
    ]
