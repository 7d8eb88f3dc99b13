"""Webhooks: the signature receivers check, delivery to a real local HTTP receiver, retries, the API and pages."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone
from django_q.models import Schedule

from mlops_site import audit, schedules
from mlops_site.errors import Conflict
from mlops_site.models import AuditEvent, Webhook, WebhookDelivery
from mlops_site.webhooks import services as webhooks
from mlops_site.webhooks import wire
from registry import services
from tests.builders import token_client
from tests.registry.test_services import trained_run  # noqa: F401

pytestmark = pytest.mark.django_db

SECRET = "s3cret-for-tests-0123456789"


@pytest.fixture(autouse=True)
def _private_addresses_allowed(settings):
    """These receivers listen on 127.0.0.1 (tests/mlops_site/test_webhook_addresses.py covers the refusal)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


def independent_signature_ok(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """What docs/webhooks.md tells receivers to do, written without mlops_site.webhooks.wire."""
    parts = dict(part.split("=", 1) for part in header.split(","))
    timestamp = int(parts["t"])
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])


class Receiver:
    """A real HTTP server on 127.0.0.1 that records each POST and answers with `status`."""

    def __init__(self, secret: str = SECRET):
        self.secret, self.status, self.requests, self.delay = secret, 200, [], 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    {
                        # Header names are case-insensitive (urllib sends X-Mlops-Event).
                        "headers": {name.lower(): value for name, value in self.headers.items()},
                        "body": body,
                        "valid": independent_signature_ok(receiver.secret, self.headers["X-MLOps-Signature"], body),
                    }
                )
                time.sleep(receiver.delay)
                answer = b"thanks" if receiver.status < 300 else b"boom"
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def hook(admin_user, receiver):
    created, _ = webhooks.create_webhook(url=receiver.url, secret=SECRET, actor=admin_user)
    return created


@pytest.fixture
def emit(admin_user, django_capture_on_commit_callbacks):
    """Write an audit event in a committed transaction, so fan-out and delivery run as after a real action."""

    def emit(action="model.version_created", after=None, actor=admin_user):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            event = audit.record(
                actor=actor, action=action, target=actor, after=after or {"model": "m", "number": 3}, comment="c"
            )
        return event

    return emit


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"


# --- the wire format ---------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"event":"model.version_created","n":1}'
    expected = hmac.new(b"topsecret-0123456789", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert wire.sign("topsecret-0123456789", 1700000000, body) == f"t=1700000000,v1={expected}"
    assert wire.sign("topsecret-0123456789", 1700000000, body.decode()) == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(
    ("header", "body", "secret", "now", "ok"),
    [
        ("good", b"{}", "k" * 20, 1_700_000_100, True),
        ("good", b"{ }", "k" * 20, 1_700_000_100, False),  # body changed
        ("good", b"{}", "x" * 20, 1_700_000_100, False),  # other secret
        ("good", b"{}", "k" * 20, 1_700_000_301, False),  # replayed after the tolerance
        ("good", b"{}", "k" * 20, 1_699_999_699, False),  # from too far in the future
        ("two", b"{}", "k" * 20, 1_700_000_000, True),  # one of several v1 matches (rotation)
        ("", b"{}", "k" * 20, 1_700_000_000, False),
        ("t=soon,v1=abc", b"{}", "k" * 20, 1_700_000_000, False),
        ("v1=abc", b"{}", "k" * 20, 1_700_000_000, False),
        ("t=1700000000", b"{}", "k" * 20, 1_700_000_000, False),
    ],
)
def test_verify(header, body, secret, now, ok):
    good = "v1=" + hmac.new(b"k" * 20, b"1700000000.{}", hashlib.sha256).hexdigest()
    header = {"good": f"t=1700000000,{good}", "two": f"t=1700000000,v1=deadbeef,{good}"}.get(header, header)
    assert wire.verify(secret, header, body, now=now) is ok


def test_body_is_sorted_compact_json():
    assert wire.encode({"b": 1, "a": {"d": [1, 2], "c": "é"}}) == '{"a":{"c":"é","d":[1,2]},"b":1}'.encode()


def test_backoff_schedule_then_give_up():
    delays = [wire.retry_delay(n) for n in range(1, wire.MAX_ATTEMPTS + 1)]
    assert delays == [timedelta(seconds=s) for s in (30, 120, 600, 3600)] + [None]
    assert wire.MAX_ATTEMPTS == 5


# --- delivery ----------------------------------------------------------------------------------


def test_registering_a_version_delivers_a_signed_event(
    scientist,
    hook,
    receiver,
    trained_run,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    model = services.create_model(name="credit-default", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        version = services.register_version(model, trained_run, actor=scientist)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status, delivery.attempts) == ("delivered", 200, 1)
    assert delivery.response_body == "thanks" and delivery.delivered_at and delivery.duration_ms >= 0
    (request,) = receiver.requests
    assert request["valid"], request["headers"]
    assert request["headers"]["x-mlops-event"] == "model.version_created"
    assert request["headers"]["x-mlops-delivery"] == str(delivery.event_id)
    body = json.loads(request["body"])
    assert body["event_id"] == str(delivery.event_id) and body["actor"] == "sci"
    assert body["target"] == {"type": "registry.modelversion", "id": str(version.pk), "repr": "credit-default v1"}
    assert body["data"] == {
        "model": "credit-default",
        "number": 1,
        "run": trained_run.pk,
        "sha256": version.sha256,
        "format": "skops",
    }


def test_events_go_only_to_active_hooks_that_want_them(admin_user, receiver, emit):
    everything, _ = webhooks.create_webhook(url=receiver.url, secret=SECRET, actor=admin_user)
    approvals, _ = webhooks.create_webhook(
        url=receiver.url, secret=SECRET, events=["promotion.approved"], actor=admin_user
    )
    paused, _ = webhooks.create_webhook(url=receiver.url, secret=SECRET, actor=admin_user)
    webhooks.update_webhook(paused, active=False, actor=admin_user)
    emit("model.version_created")
    emit("model.updated")  # audited, but not a webhook event
    assert list(WebhookDelivery.objects.values_list("webhook", "event")) == [(everything.pk, "model.version_created")]
    emit("promotion.approved", after={"model": "m", "version": 1})
    assert WebhookDelivery.objects.filter(event="promotion.approved").count() == 2
    assert WebhookDelivery.objects.filter(webhook=approvals).count() == 1
    assert not WebhookDelivery.objects.filter(webhook=paused).exists()
    assert len(receiver.requests) == 3 and all(r["valid"] for r in receiver.requests)
    # One event, one id, whichever URL receives it.
    assert len(set(WebhookDelivery.objects.filter(event="promotion.approved").values_list("event_id", flat=True))) == 1


def test_an_error_answer_is_retried_with_backoff_until_it_fails(hook, receiver, emit):
    receiver.status = 500
    emit()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("retrying", 1, 500)
    assert delivery.response_body == "boom"
    expected = timezone.now() + timedelta(seconds=30)
    assert abs((delivery.next_attempt_at - expected).total_seconds()) < 5
    # Not due yet: neither the sweep nor a duplicate task sends it again.
    assert webhooks.deliver_due() == {"delivered": 0, "retrying": 0, "failed": 0}
    assert webhooks.deliver(delivery).attempts == 1 and len(receiver.requests) == 1
    for attempt in range(2, wire.MAX_ATTEMPTS + 1):
        delivery.refresh_from_db()
        counts = webhooks.deliver_due(now=delivery.next_attempt_at + timedelta(seconds=1))
        delivery.refresh_from_db()
        assert delivery.attempts == attempt and sum(counts.values()) == 1
    assert delivery.status == "failed" and delivery.next_attempt_at is None
    assert len(receiver.requests) == wire.MAX_ATTEMPTS and all(r["valid"] for r in receiver.requests)
    assert webhooks.deliver_due(now=timezone.now() + timedelta(days=1)) == {"delivered": 0, "retrying": 0, "failed": 0}


def test_a_retry_that_succeeds_is_delivered(hook, receiver, emit):
    receiver.status = 503
    emit()
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    receiver.status = 204
    assert webhooks.deliver_due() == {"delivered": 1, "retrying": 0, "failed": 0}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("delivered", 2, 204)
    assert delivery.next_attempt_at is None


def test_an_unreachable_url_is_recorded_not_raised(admin_user, emit):
    webhooks.create_webhook(url=closed_port_url(), actor=admin_user)
    emit()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "retrying" and delivery.attempts == 1 and delivery.response_status is None
    assert "Could not connect" in delivery.error and delivery.next_attempt_at > timezone.now()


def test_a_redirect_is_not_followed(admin_user, emit, receiver):
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(302)
            self.send_header("Location", receiver.url)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        webhooks.create_webhook(url=f"http://127.0.0.1:{server.server_port}/", secret=SECRET, actor=admin_user)
        emit()
    finally:
        server.shutdown()
        server.server_close()
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.response_status) == ("retrying", 302) and receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_sweeps_send_each_attempt_once(admin_user, receiver):
    hook, _ = webhooks.create_webhook(url=receiver.url, secret=SECRET, actor=admin_user)
    past = timezone.now() - timedelta(seconds=1)
    for n in range(6):
        WebhookDelivery.objects.create(
            webhook=hook, event="model.version_created", event_id=uuid.uuid4(), payload={"n": n}, next_attempt_at=past
        )
    receiver.delay = 0.05  # keep each send in flight while the other sweeps look for work
    errors = []

    def sweep():
        try:
            webhooks.deliver_due()
        except Exception as exc:  # surfaced below: an exception in a thread would otherwise vanish
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(r["headers"]["x-mlops-delivery"] for r in receiver.requests) == sorted(
        str(i) for i in WebhookDelivery.objects.values_list("event_id", flat=True)
    )
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("delivered", 1)}


def test_a_claimed_last_attempt_whose_worker_died_ends_failed(hook, receiver, emit):
    receiver.status = 500
    emit()
    # The last attempt was claimed (counted) and its worker never reported back; the lease ran out.
    WebhookDelivery.objects.update(attempts=wire.MAX_ATTEMPTS, next_attempt_at=timezone.now() - timedelta(seconds=1))
    webhooks.deliver_due()
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed" and "Gave up" in delivery.error and len(receiver.requests) == 1


def test_redeliver_sends_a_finished_delivery_again_with_the_same_id(admin_user, hook, receiver, emit):
    emit()
    delivery = WebhookDelivery.objects.get()
    events = AuditEvent.objects.count()
    webhooks.redeliver(delivery, actor=admin_user)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 0)  # on-commit queueing did not run here
    assert AuditEvent.objects.count() == events + 1
    with pytest.raises(Conflict):
        webhooks.redeliver(delivery, actor=admin_user)
    webhooks.deliver(delivery)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and delivery.attempts == 1
    ids = {r["headers"]["x-mlops-delivery"] for r in receiver.requests}
    assert ids == {str(delivery.event_id)} and len(receiver.requests) == 2


def test_a_failing_fan_out_does_not_break_the_action(hook, emit, monkeypatch):
    def broken(event):
        raise RuntimeError("database went away")

    monkeypatch.setattr(webhooks, "fan_out", broken)
    event = emit()  # must not raise: the audited action already committed
    assert event.pk and not WebhookDelivery.objects.exists()


def test_deliveries_are_scheduled_every_minute():
    schedules.ensure_schedules()
    schedule = Schedule.objects.get(name="deliver-webhooks")
    assert (schedule.func, schedule.minutes) == ("mlops_site.webhooks.tasks.deliver_due", 1)
    assert Schedule.objects.filter(name="sweep-stale-jobs").exists()
    with pytest.raises(ValueError, match="already registered"):
        schedules.register("deliver-webhooks", "somewhere.else", 1)


# --- the service's checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": ""}, "url"),
        ({"events": ["model.deleted"]}, "events"),
        ({"events": "model.version_created"}, "events"),
        ({"secret": "too-short"}, "secret"),
        ({"secret": " pasted-with-a-space-0123456789"}, "secret"),
    ],
)
def test_bad_webhooks_are_refused_with_the_field(admin_user, fields, field):
    with pytest.raises(ValidationError) as caught:
        webhooks.create_webhook(actor=admin_user, **{"url": "https://ci.example.com/hook", **fields})
    assert field in caught.value.message_dict
    assert not Webhook.objects.exists() and not AuditEvent.objects.filter(action="webhook.created").exists()


def test_only_admins_manage_webhooks(scientist, reviewer):
    for user in (scientist, reviewer):
        with pytest.raises(PermissionDenied, match="managed by admins"):
            webhooks.create_webhook(url="https://ci.example.com/hook", actor=user)
    assert not Webhook.objects.exists()


def test_creation_is_audited_without_the_secret(admin_user):
    hook, generated = webhooks.create_webhook(url="https://ci.example.com/hook", actor=admin_user)
    assert generated and len(generated) >= 32 and hook.secret == generated
    event = AuditEvent.objects.get(action="webhook.created")
    assert event.after == {"url": hook.url, "events": [], "active": True, "description": ""}
    assert generated not in json.dumps([event.before, event.after, event.comment])


# --- API ---------------------------------------------------------------------------------------


def test_admin_creates_and_gets_a_generated_secret_once(admin_user):
    client = token_client(admin_user)
    created = client.post(
        "/api/webhooks/",
        {"url": "https://ci.example.com/hook", "events": ["promotion.approved"], "description": "CI"},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    hook = Webhook.objects.get()
    assert body["secret"] == hook.secret and len(body["secret"]) >= 32
    assert body["events"] == ["promotion.approved"] and body["last_delivery_status"] is None
    listed = client.get("/api/webhooks/")
    assert listed.json()["count"] == 1 and hook.secret not in listed.content.decode()
    assert "secret" not in listed.json()["results"][0]
    assert hook.secret not in client.get(f"/api/webhooks/{hook.pk}/").content.decode()
    chosen = client.post("/api/webhooks/", {"url": "http://10.0.0.5:8080/in", "secret": SECRET}, format="json")
    assert chosen.status_code == 201 and chosen.json()["secret"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({}, "url"),
        ({"url": "https://ci.example.com/hook", "events": ["nope"]}, "events"),
        ({"url": "https://ci.example.com/hook", "events": "promotion.approved"}, "events"),
        ({"url": "https://ci.example.com/hook", "secret": "short"}, "secret"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(admin_user, body, field):
    client = token_client(admin_user)
    events = AuditEvent.objects.count()
    response = client.post("/api/webhooks/", body, format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.content
    assert not Webhook.objects.exists() and AuditEvent.objects.count() == events


@pytest.mark.parametrize("role", ["scientist", "reviewer"])
def test_other_roles_cannot_see_or_add_webhooks(role, request, admin_user):
    hook, _ = webhooks.create_webhook(url="https://ci.example.com/hook", actor=admin_user)
    client = token_client(request.getfixturevalue(role))
    assert client.get("/api/webhooks/").status_code == 403
    assert client.get(f"/api/webhooks/{hook.pk}/deliveries/").status_code == 403
    assert client.post("/api/webhooks/", {"url": "https://x.example.com/"}, format="json").status_code == 403
    assert client.patch(f"/api/webhooks/{hook.pk}/", {"active": False}, format="json").status_code == 403
    assert Webhook.objects.count() == 1 and Webhook.objects.get().active


def test_deliveries_endpoint_lists_newest_first_and_redelivers(admin_user, hook, receiver, emit):
    receiver.status = 500
    emit("model.version_created")
    receiver.status = 200
    emit("promotion.requested", after={"model": "m", "version": 1, "stage": "staging", "kind": "promotion"})
    client = token_client(admin_user)
    listed = client.get(f"/api/webhooks/{hook.pk}/deliveries/")
    assert listed.status_code == 200
    results = listed.json()["results"]
    assert listed.json()["count"] == 2 and [d["event"] for d in results] == [
        "promotion.requested",
        "model.version_created",
    ]
    assert [d["status"] for d in results] == ["delivered", "retrying"] and results[1]["response_status"] == 500
    assert [
        d["event"] for d in client.get(f"/api/webhooks/{hook.pk}/deliveries/?status=retrying").json()["results"]
    ] == ["model.version_created"]
    bad = client.get(f"/api/webhooks/{hook.pk}/deliveries/?status=lost")
    assert bad.status_code == 400 and "status" in bad.json()["errors"]
    assert client.get(f"/api/webhooks/{hook.pk}/").json()["last_delivery_status"] == "delivered"
    retrying, delivered = results[1]["id"], results[0]["id"]
    assert client.post(f"/api/webhooks/{hook.pk}/deliveries/{retrying}/redeliver/").status_code == 409
    again = client.post(f"/api/webhooks/{hook.pk}/deliveries/{delivered}/redeliver/")
    assert again.status_code == 202 and again.json()["event_id"] == results[0]["event_id"]
    assert client.post(f"/api/webhooks/{hook.pk}/deliveries/999999/redeliver/").status_code == 404


def test_pause_resume_and_delete_through_the_api(admin_user, hook, receiver, emit):
    client = token_client(admin_user)
    paused = client.patch(f"/api/webhooks/{hook.pk}/", {"active": False}, format="json")
    assert paused.status_code == 200 and paused.json()["active"] is False
    emit()
    assert not WebhookDelivery.objects.exists()
    bad = client.patch(f"/api/webhooks/{hook.pk}/", {"events": ["nope"]}, format="json")
    assert bad.status_code == 400 and "events" in bad.json()["errors"]
    assert client.delete(f"/api/webhooks/{hook.pk}/").status_code == 204
    assert not Webhook.objects.exists() and AuditEvent.objects.filter(action="webhook.deleted").count() == 1


# --- pages -------------------------------------------------------------------------------------


def test_admin_adds_a_webhook_on_the_page_and_sees_the_secret_once(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("webhooks"), {"new-url": "https://ci.example.com/hook", "new-events": ["promotion.approved"]}
    )
    assert response.status_code == 200
    hook = Webhook.objects.get()
    assert hook.events == ["promotion.approved"] and hook.secret in response.content.decode()
    assert hook.secret not in client.get(reverse("webhooks")).content.decode()
    assert hook.secret not in client.get(reverse("webhook-detail", args=[hook.pk])).content.decode()
    assert not any(hook.secret in str(value) for value in client.session.values())


def test_the_page_form_shows_the_services_errors(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("webhooks"), {"new-url": "ftp://example.com", "new-secret": "short"})
    assert response.status_code == 200 and not Webhook.objects.exists()
    assert "http:// or https://" in response.content.decode()


def test_webhook_pages_list_hooks_and_deliveries(
    client, admin_user, hook, receiver, emit, django_assert_max_num_queries
):
    receiver.status = 500
    emit()
    for n in range(3):
        webhooks.create_webhook(url=f"https://hooks.example.com/{n}", actor=admin_user)
    client.force_login(admin_user)
    with django_assert_max_num_queries(10):
        listing = client.get(reverse("webhooks"), {"sort": "url"})
    assert listing.status_code == 200
    rows = list(listing.context["page"].object_list)
    assert len(rows) == 4 and [r.url for r in rows] == sorted(r.url for r in rows)
    assert next(r for r in rows if r.pk == hook.pk).last_status == "retrying"
    detail = client.get(reverse("webhook-detail", args=[hook.pk]), {"sort": "-attempts", "status": "retrying"})
    assert detail.status_code == 200 and len(detail.context["page"].object_list) == 1
    assert "Send again" not in detail.content.decode()  # still being retried
    empty = client.get(reverse("webhook-detail", args=[hook.pk]), {"status": "delivered"})
    assert list(empty.context["page"].object_list) == [] and "No delivered deliveries" in empty.content.decode()


def test_send_again_and_pause_from_the_detail_page(client, admin_user, hook, receiver, emit):
    emit()
    delivery = WebhookDelivery.objects.get()
    client.force_login(admin_user)
    page = client.get(reverse("webhook-detail", args=[hook.pk]))
    assert "Send again" in page.content.decode()
    url = reverse("webhook-detail", args=[hook.pk])
    assert client.post(url, {"action": "redeliver", "delivery": delivery.pk}).status_code == 302
    assert client.post(url, {"action": "pause"}).status_code == 302
    hook.refresh_from_db()
    assert not hook.active
    assert client.post(url, {"action": "delete"})["Location"] == reverse("webhooks")
    assert not Webhook.objects.exists()


def test_reviewers_and_scientists_get_403_on_webhook_pages(client, reviewer, scientist, hook):
    for user in (reviewer, scientist):
        client.force_login(user)
        assert client.get(reverse("webhooks")).status_code == 403
        assert client.get(reverse("webhook-detail", args=[hook.pk])).status_code == 403
        assert client.post(reverse("webhook-detail", args=[hook.pk]), {"action": "delete"}).status_code == 403
    assert Webhook.objects.exists()


def test_api_writes_need_their_own_permission_not_just_view(admin_user, hook):
    from django.contrib.auth.models import Permission

    from tests.builders import make_user

    watcher = make_user("watcher")
    watcher.user_permissions.add(Permission.objects.get(content_type__app_label="mlops_site", codename="view_webhook"))
    client = token_client(watcher)
    assert client.get("/api/webhooks/").status_code == 200
    assert client.get(f"/api/webhooks/{hook.pk}/deliveries/").status_code == 200
    refused = [
        client.post("/api/webhooks/", {"url": "https://x.example.com/"}, format="json"),
        client.patch(f"/api/webhooks/{hook.pk}/", {"active": False}, format="json"),
        client.delete(f"/api/webhooks/{hook.pk}/"),
        client.post(f"/api/webhooks/{hook.pk}/deliveries/1/redeliver/"),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    assert (
        Webhook.objects.get().active
        and not AuditEvent.objects.filter(actor=watcher, action__startswith="webhook.").exists()
    )


def test_the_platform_itself_may_manage_webhooks():
    """actor=None is the platform (a command, the demo), as for every service."""
    hook, generated = webhooks.create_webhook(url="https://ci.example.com/hook", actor=None)
    assert generated and webhooks.update_webhook(hook, actor=None, active=False).active is False
