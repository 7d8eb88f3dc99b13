"""Moving webhooks to the kernel changes no table: rows, permissions and audit targets survive it."""

import uuid

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("mlops_site", "0004_idempotency_keys"), ("registry", "0001_initial")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_a_database_from_before_the_move_keeps_its_webhooks():
    old = migrate(BEFORE)
    User = old.get_model("auth", "User")
    Webhook, Delivery = old.get_model("registry", "Webhook"), old.get_model("registry", "WebhookDelivery")
    OldContentType, OldGroup = old.get_model("contenttypes", "ContentType"), old.get_model("auth", "Group")
    boss = User.objects.create(username="boss")
    hook = Webhook.objects.create(url="https://ci.example.com/hook", secret="s" * 20, events=["x"], created_by=boss)
    Delivery.objects.create(webhook=hook, event="x", event_id=uuid.uuid4(), payload={"a": 1}, status="delivered")
    hook_type = OldContentType.objects.get(app_label="registry", model="webhook")
    keepers = OldGroup.objects.create(name="webhook-keepers")
    keepers.permissions.add(*old.get_model("auth", "Permission").objects.filter(content_type=hook_type))

    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())

    from mlops_site.models import Webhook as KernelWebhook

    moved = KernelWebhook.objects.get()
    assert (moved.pk, moved.url, moved.events, moved.created_by.username) == (hook.pk, hook.url, ["x"], "boss")
    assert list(moved.deliveries.values_list("status", flat=True)) == ["delivered"]
    assert ContentType.objects.get_for_model(KernelWebhook).pk == hook_type.pk  # renamed, not recreated
    assert not ContentType.objects.filter(app_label="registry", model__startswith="webhook").exists()
    held = Permission.objects.filter(group=Group.objects.get(name="webhook-keepers"))
    assert {f"{p.content_type.app_label}.{p.codename}" for p in held} >= {
        "mlops_site.add_webhook",
        "mlops_site.change_webhook",
        "mlops_site.delete_webhook",
        "mlops_site.view_webhook",
    }
