"""The webhook lists (pages and API) cost the same number of queries for N rows as for 2N."""

import uuid

import pytest

from mlops_site.models import Webhook, WebhookDelivery
from tests.builders import make_user, token_client
from tests.mlops_site.test_query_counts import queries

pytestmark = pytest.mark.django_db


def add_hooks(count: int, start: int) -> Webhook:
    """`count` webhooks, each by its own admin and with two deliveries; returns the first one."""
    first = None
    for i in range(start, start + count):
        hook = Webhook.objects.create(
            url=f"https://hooks.example.com/{i}", secret="s" * 20, created_by=make_user(f"u{i}")
        )
        for status in ("delivered", "failed"):
            WebhookDelivery.objects.create(
                webhook=hook, event="model.version_created", event_id=uuid.uuid4(), payload={"i": i}, status=status
            )
        first = first or hook
    return first


def add_deliveries(hook: Webhook, count: int) -> None:
    for i in range(count):
        WebhookDelivery.objects.create(
            webhook=hook, event="promotion.approved", event_id=uuid.uuid4(), payload={"i": i}, status="retrying"
        )


@pytest.mark.parametrize(
    "url", ["/webhooks/", "/webhooks/?sort=deliveries", "/api/webhooks/", "/api/webhooks/?sort=url"]
)
def test_webhook_lists_do_not_query_per_webhook(admin_user, client, url):
    client.force_login(admin_user)
    fetch = token_client(admin_user) if url.startswith("/api/") else client
    add_hooks(3, 0)
    small = queries(fetch, url)
    add_hooks(3, 3)
    assert Webhook.objects.count() == 6
    assert queries(fetch, url) == small


@pytest.mark.parametrize("page", ["/webhooks/{}/", "/webhooks/{}/?sort=-attempts", "/api/webhooks/{}/deliveries/"])
def test_delivery_lists_do_not_query_per_delivery(admin_user, client, page):
    client.force_login(admin_user)
    fetch = token_client(admin_user) if page.startswith("/api/") else client
    hook = add_hooks(1, 0)
    url = page.format(hook.pk)
    add_deliveries(hook, 3)
    small = queries(fetch, url)
    add_deliveries(hook, 3)
    assert hook.deliveries.count() == 8
    assert queries(fetch, url) == small
