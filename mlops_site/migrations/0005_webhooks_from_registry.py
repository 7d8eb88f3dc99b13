"""Webhooks move from the registry to the kernel: state only, the tables and their rows stay as they are.

The tables keep their registry_ names (`db_table`). The content types are renamed rather than
recreated, so the permissions (`mlops_site.add_webhook`, ...) are the same rows the admin group
already holds, and audit events that point at a webhook keep pointing at it.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MODELS = ("webhook", "webhookdelivery")


def _move_content_types(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def to_kernel(apps, schema_editor):
    _move_content_types(apps, "registry", "mlops_site")


def to_registry(apps, schema_editor):
    _move_content_types(apps, "mlops_site", "registry")


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("mlops_site", "0004_idempotency_keys"),
        ("registry", "0001_initial"),  # created the tables
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Webhook",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("url", models.URLField(max_length=500)),
                        ("description", models.CharField(blank=True, max_length=200)),
                        (
                            "secret",
                            models.CharField(
                                help_text="Shared secret for the X-MLOps-Signature header.", max_length=128
                            ),
                        ),
                        (
                            "events",
                            models.JSONField(
                                blank=True, default=list, help_text="Event names to send; empty means all."
                            ),
                        ),
                        ("active", models.BooleanField(default=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        (
                            "created_by",
                            models.ForeignKey(
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={"db_table": "registry_webhook", "ordering": ["-created_at", "-pk"]},
                ),
                migrations.CreateModel(
                    name="WebhookDelivery",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("event", models.CharField(max_length=64)),
                        (
                            "event_id",
                            models.UUIDField(help_text="Same for every attempt; receivers use it to drop duplicates."),
                        ),
                        ("payload", models.JSONField()),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("pending", "Pending"),
                                    ("retrying", "Retrying"),
                                    ("delivered", "Delivered"),
                                    ("failed", "Failed"),
                                ],
                                db_index=True,
                                default="pending",
                                max_length=10,
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("next_attempt_at", models.DateTimeField(blank=True, db_index=True, null=True)),
                        ("response_status", models.PositiveSmallIntegerField(blank=True, null=True)),
                        ("response_body", models.TextField(blank=True)),
                        ("error", models.TextField(blank=True)),
                        ("duration_ms", models.FloatField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                        ("delivered_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "webhook",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="mlops_site.webhook",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "registry_webhookdelivery",
                        "ordering": ["-created_at", "-pk"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("webhook", "event_id"), name="webhook_delivery_once_per_event"
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(to_kernel, to_registry),
    ]
