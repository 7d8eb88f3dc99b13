"""Webhook URLs that resolve to loopback, private or other non-public addresses are refused (unless
WEBHOOK_ALLOW_PRIVATE), when saved and again at each delivery, which connects to the address it checked."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from mlops_site.models import AuditEvent, Webhook, WebhookDelivery
from mlops_site.webhooks import services as webhooks
from mlops_site.webhooks import wire
from tests.builders import token_client
from tests.mlops_site.test_webhooks import SECRET, Receiver, emit  # noqa: F401

pytestmark = pytest.mark.django_db

_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture
def dns(monkeypatch):
    """Answers for made-up host names; every other name resolves for real."""
    answers: dict[str, str] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return _real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.3.4", "private"),
        ("192.168.1.10", "private"),
        ("fc00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
        ("::ffff:10.0.0.1", "IPv4-mapped private"),
        ("100.64.0.1", "non-public"),
    ],
)
def test_each_kind_of_non_public_address_is_named(address, kind):
    assert wire.address_problem(address) == kind


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert wire.address_problem(address) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.5:8080/in",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "https://inside.test/hook",  # a name that resolves to a private address
    ],
)
def test_api_refuses_non_public_urls_with_a_400_naming_url(admin_user, dns, url):
    dns["inside.test"] = "192.168.0.7"
    client = token_client(admin_user)
    events = AuditEvent.objects.count()

    response = client.post("/api/webhooks/", {"url": url, "secret": SECRET}, format="json")

    assert response.status_code == 400, response.content
    assert "public addresses" in response.json()["errors"]["url"][0]
    assert not Webhook.objects.exists() and AuditEvent.objects.count() == events


def test_changing_a_webhook_to_a_private_url_is_refused(admin_user, dns):
    dns["hooks.test"] = "93.184.216.34"
    hook, _ = webhooks.create_webhook(url="https://hooks.test/in", secret=SECRET, actor=admin_user)

    with pytest.raises(ValidationError) as caught:
        webhooks.update_webhook(hook, url="http://127.0.0.1:9/in", actor=admin_user)

    assert "loopback" in caught.value.message_dict["url"][0]
    hook.refresh_from_db()
    assert hook.url == "https://hooks.test/in"


def test_public_and_unresolvable_hosts_are_accepted(admin_user, dns):
    dns["hooks.test"] = "93.184.216.34"
    webhooks.create_webhook(url="https://hooks.test/in", secret=SECRET, actor=admin_user)
    # Not resolvable now: accepted, and checked again at each delivery.
    webhooks.create_webhook(url="https://nowhere.invalid/in", secret=SECRET, actor=admin_user)
    assert Webhook.objects.count() == 2


def test_the_setting_allows_private_addresses(admin_user, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    hook, _ = webhooks.create_webhook(url="http://127.0.0.1:9/in", secret=SECRET, actor=admin_user)
    assert hook.pk


def test_a_host_that_now_resolves_to_loopback_is_refused_at_delivery_and_recorded(
    admin_user,
    dns,
    receiver,
    emit,  # noqa: F811
):
    port = receiver.server.server_port
    dns["hooks.test"] = "93.184.216.34"
    webhooks.create_webhook(url=f"http://hooks.test:{port}/hooks", secret=SECRET, actor=admin_user)
    dns["hooks.test"] = "127.0.0.1"  # DNS changed after the check (rebinding)

    emit()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and delivery.next_attempt_at is None and delivery.attempts == 1
    assert delivery.error.startswith("Refused, not sent: hooks.test resolves to 127.0.0.1, a loopback address")
    assert receiver.requests == []


def test_delivery_connects_to_the_address_it_checked(admin_user, dns, receiver, emit, monkeypatch):  # noqa: F811
    """The request goes to the checked address, not to whatever a second DNS lookup would answer."""
    monkeypatch.setattr(wire, "address_problem", lambda address: None)  # let the local receiver count as public
    port = receiver.server.server_port
    dns["hooks.test"] = "127.0.0.1"
    webhooks.create_webhook(url=f"http://hooks.test:{port}/hooks", secret=SECRET, actor=admin_user)
    resolved = []

    def answer_once(host, *args, **kwargs):
        if host == "hooks.test":
            resolved.append(host)
            if len(resolved) > 1:
                raise socket.gaierror(socket.EAI_NONAME, "second lookup")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", args[0] if args else port))]
        return _real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", answer_once)

    emit()

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "delivered", delivery.error
    assert len(receiver.requests) == 1 and receiver.requests[0]["headers"]["host"] == f"hooks.test:{port}"
    assert resolved == ["hooks.test"]
