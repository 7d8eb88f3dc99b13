"""Webhook subscribers and their signed deliveries.

Events come from the audit trail: `fan_out` turns each registry audit event into one delivery
row per subscribed webhook, after the action committed, and queues it. Each attempt is claimed
with a conditional write before anything is sent (`_claim`), so two workers, or a worker and
the every-minute `deliver_due` sweep, never send the same attempt; the HTTP call happens outside
any transaction and its outcome is written only if that attempt is still the current one.
"""

from __future__ import annotations

import http.client
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from mlops_site import audit
from mlops_site.errors import Conflict
from registry import webhooks as wire
from registry.models import Webhook, WebhookDelivery

__all__ = [
    "create_webhook",
    "delete_webhook",
    "deliver",
    "deliver_due",
    "fan_out",
    "redeliver",
    "update_webhook",
]

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
OPEN = (Status.PENDING, Status.RETRYING)
MIN_SECRET_LENGTH = 16
_URL_MAX = Webhook._meta.get_field("url").max_length
_SECRET_MAX = Webhook._meta.get_field("secret").max_length
_DESCRIPTION_MAX = Webhook._meta.get_field("description").max_length


def _require(actor, perm: str, what: str) -> None:
    if actor is None or not actor.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow {what}. Webhooks are managed by admins.")


def _clean_url(url) -> str:
    url = (url or "").strip() if isinstance(url, str) else ""
    if not url:
        raise ValidationError({"url": "Give the subscriber's URL, e.g. https://ci.example.com/hooks/mlops."})
    if len(url) > _URL_MAX:
        raise ValidationError({"url": f"URLs are at most {_URL_MAX} characters."})
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValidationError({"url": "Webhook URLs start with http:// or https://."})
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": f"“{url}” is not a valid URL."}) from None
    try:
        _public_address(url)
    except _Refused as exc:
        raise ValidationError({"url": str(exc)}) from None
    except OSError:
        pass  # does not resolve (yet): accepted, and checked again at every delivery
    return url


class _Refused(Exception):
    """The URL's host resolves to an address webhooks may not reach (WEBHOOK_ALLOW_PRIVATE is off)."""


def _public_address(url: str) -> str | None:
    """The address to connect to, after checking every address the host resolves to; None when any is allowed.

    Raises _Refused naming the address and why, or OSError when the host does not resolve.
    """
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme.lower() == "https" else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = info[4][0]
        problem = wire.address_problem(address)
        if problem:
            raise _Refused(
                f"{host} resolves to {address}, a {problem} address: webhooks only go to public addresses "
                "(set WEBHOOK_ALLOW_PRIVATE=1 to allow private ones)."
            )
    return infos[0][4][0]


def _clean_events(events) -> list[str]:
    """A list of known event names, without duplicates; empty means every event."""
    if events is None:
        return []
    if isinstance(events, str) or not isinstance(events, list | tuple):
        raise ValidationError({"events": "Send a list of event names (empty for all events)."})
    unknown = [str(name) for name in events if name not in Webhook.EVENTS]
    if unknown:
        raise ValidationError(
            {"events": f"Unknown event(s): {', '.join(unknown)}. Known events: {', '.join(Webhook.EVENTS)}."}
        )
    return list(dict.fromkeys(events))


def _clean_description(description) -> str:
    description = (description or "").strip() if isinstance(description, str) else ""
    if len(description) > _DESCRIPTION_MAX:
        raise ValidationError({"description": f"Descriptions are at most {_DESCRIPTION_MAX} characters."})
    return description


def _summary(hook: Webhook) -> dict:
    """What the audit trail keeps about a webhook: everything but the secret."""
    return {"url": hook.url, "events": hook.events, "active": hook.active, "description": hook.description}


@transaction.atomic
def create_webhook(
    *, url: str, secret: str = "", events: list[str] | None = None, description: str = "", actor
) -> tuple[Webhook, str | None]:
    """Register a subscriber. A blank secret is generated and returned (second item) to be shown once."""
    _require(actor, "registry.add_webhook", "adding webhooks")
    url = _clean_url(url)
    events = _clean_events(events)
    description = _clean_description(description)
    generated = None
    secret = secret if isinstance(secret, str) else ""
    if not secret.strip():
        secret = generated = secrets.token_urlsafe(32)
    elif secret != secret.strip():
        # Almost always a copy-paste slip, and the receiver would sign with the trimmed one.
        raise ValidationError({"secret": "Secrets cannot start or end with spaces."})
    elif len(secret) < MIN_SECRET_LENGTH:
        raise ValidationError(
            {"secret": f"Secrets are at least {MIN_SECRET_LENGTH} characters; leave it blank to generate one."}
        )
    elif len(secret) > _SECRET_MAX:
        raise ValidationError({"secret": f"Secrets are at most {_SECRET_MAX} characters."})
    hook = Webhook.objects.create(url=url, secret=secret, events=events, description=description, created_by=actor)
    audit.record(actor=actor, action="webhook.created", target=hook, after=_summary(hook))
    return hook, generated


@transaction.atomic
def update_webhook(
    hook: Webhook,
    *,
    actor,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    active: bool | None = None,
) -> Webhook:
    """Change where and what a webhook receives, or pause it (`active=False`); audited with before and after."""
    _require(actor, "registry.change_webhook", "changing webhooks")
    hook = Webhook.objects.select_for_update().get(pk=hook.pk)
    before = _summary(hook)
    if url is not None:
        hook.url = _clean_url(url)
    if events is not None:
        hook.events = _clean_events(events)
    if description is not None:
        hook.description = _clean_description(description)
    if active is not None:
        if not isinstance(active, bool):
            raise ValidationError({"active": "Send true or false."})
        hook.active = active
    hook.save(update_fields=["url", "events", "description", "active"])
    audit.record(actor=actor, action="webhook.updated", target=hook, before=before, after=_summary(hook))
    return hook


@transaction.atomic
def delete_webhook(hook: Webhook, *, actor) -> None:
    """Remove a subscriber and its delivery history (the audit trail keeps that it existed)."""
    _require(actor, "registry.delete_webhook", "deleting webhooks")
    audit.record(actor=actor, action="webhook.deleted", target=hook, before=_summary(hook))
    hook.delete()


def _queue(delivery_id: int) -> None:
    # save=False: the delivery row is the record; one django-q Task row per attempt would flood it.
    async_task(
        "registry.tasks.deliver_webhook",
        delivery_id,
        task_name=f"webhook-delivery-{delivery_id}",
        save=False,
        sync=settings.Q_CLUSTER.get("sync", False),
    )


def _payload(event, event_id: uuid.UUID) -> dict:
    target_type = ContentType.objects.get_for_id(event.target_type_id) if event.target_type_id else None
    return {
        "event": event.action,
        "event_id": str(event_id),
        "occurred_at": event.created_at.isoformat(),
        "actor": event.actor_name or None,
        "target": {
            "type": f"{target_type.app_label}.{target_type.model}" if target_type else None,
            "id": event.target_id,
            "repr": event.target_repr,
        },
        "data": event.after,
        "before": event.before,
        "comment": event.comment,
    }


@transaction.atomic
def fan_out(event) -> list[WebhookDelivery]:
    """One delivery per active webhook that wants this audit event's action, queued after commit.

    Actions that are not webhook events cost no query. Every webhook receives the same event_id
    for one event, so receivers that listen on several URLs can drop duplicates.
    """
    if event.action not in Webhook.EVENTS:
        return []
    hooks = [hook for hook in Webhook.objects.filter(active=True) if hook.wants(event.action)]
    if not hooks:
        return []
    event_id = uuid.uuid4()
    payload = _payload(event, event_id)
    now = timezone.now()
    deliveries = [
        WebhookDelivery.objects.create(
            webhook=hook, event=event.action, event_id=event_id, payload=payload, next_attempt_at=now
        )
        for hook in hooks
    ]
    for delivery in deliveries:
        # robust: a broker that is down must not break the action that caused the event;
        # the deliver-webhooks schedule picks up pending deliveries whose time has come.
        transaction.on_commit(lambda pk=delivery.pk: _queue(pk), robust=True)
    return deliveries


def _lock(queryset):
    """FOR UPDATE of the delivery rows only, skipping rows another worker holds where the database can
    (PostgreSQL); SQLite ignores it and serialises writers instead."""
    features = connection.features
    return queryset.select_for_update(
        skip_locked=features.has_select_for_update_skip_locked,
        of=("self",) if features.has_select_for_update_of else (),
    )


def _due(now: datetime):
    """Open deliveries whose time has come; a paused webhook's deliveries wait until it is active again."""
    return WebhookDelivery.objects.filter(status__in=OPEN, webhook__active=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )


def _claim(now: datetime, pk: int | None = None, skip: Iterable[int] = ()) -> WebhookDelivery | None:
    """Take the next due attempt (of delivery `pk`, or of any delivery) for this process, or None.

    The claim counts the attempt and pushes `next_attempt_at` a lease ahead, in one short
    transaction: no other worker sees the row as due until the lease runs out, which only
    happens if this worker dies mid-send (then the attempt counts, and the next sweep retries).
    """
    while True:
        with transaction.atomic():
            due = (_due(now) if pk is None else _due(now).filter(pk=pk)).exclude(pk__in=list(skip))
            delivery = _lock(due.select_related("webhook")).order_by("next_attempt_at", "pk").first()
            if delivery is None:
                return None
            if delivery.attempts >= wire.MAX_ATTEMPTS:
                # Its last attempt was claimed by a worker that never reported back.
                delivery.status, delivery.next_attempt_at = Status.FAILED, None
                delivery.error = f"Gave up after {delivery.attempts} attempts (the last one's worker stopped)."
                delivery.save(update_fields=["status", "next_attempt_at", "error"])
                continue
            delivery.attempts += 1
            delivery.next_attempt_at = now + timedelta(seconds=wire.LEASE_SECONDS)
            delivery.save(update_fields=["attempts", "next_attempt_at"])
            return delivery


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to re-send a signed body (urllib would turn a POST into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _pinned(connection_class, address: str):
    """A connection class that connects to the address we checked, so a DNS answer that changes between the
    check and the connection cannot send the request elsewhere; TLS still checks the certificate of the host."""

    class Pinned(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = lambda addr, *rest, **kw: socket.create_connection(
                (address, addr[1]), *rest, **kw
            )

    return Pinned


class _PinnedHTTP(urllib.request.HTTPHandler):
    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def http_open(self, req):
        return self.do_open(_pinned(http.client.HTTPConnection, self.address), req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def https_open(self, req):
        return self.do_open(_pinned(http.client.HTTPSConnection, self.address), req, context=self._context)


def _opener_for(url: str):
    """The opener for one delivery: pinned to the checked address, or None with the reason it is refused."""
    address = _public_address(url)  # raises _Refused, or OSError when the host does not resolve
    if address is None or urllib.request.getproxies().get(urlsplit(url).scheme.lower()):
        return _opener  # private addresses allowed, or a proxy that resolves the host itself
    return urllib.request.build_opener(_NoRedirects, _PinnedHTTP(address), _PinnedHTTPS(address))


@dataclass
class _Outcome:
    status: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: float = 0.0
    refused: bool = False  # the address is not allowed: not sent, and not retried


def _read(response) -> str:
    raw = response.read(wire.RESPONSE_BODY_CHARS * 4)
    return raw.decode("utf-8", errors="replace")[: wire.RESPONSE_BODY_CHARS]


def _post(url: str, body: bytes, headers: dict[str, str]) -> _Outcome:
    """POST once; every network failure becomes an outcome, never an exception.

    The host is resolved and checked again here (DNS may have changed since the webhook was saved).
    """
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()
    outcome = _Outcome()
    try:
        opener = _opener_for(url)
    except _Refused as exc:
        outcome.refused, outcome.error = True, f"Refused, not sent: {exc}"
        logger.warning("webhook delivery to %s refused: %s", url, exc)
        return outcome
    except OSError as exc:
        outcome.error = f"Could not resolve {urlsplit(url).hostname}: {exc.strerror or exc}"
        return outcome
    try:
        with opener.open(request, timeout=wire.TIMEOUT_SECONDS) as response:
            outcome.status = response.status
            outcome.body = _read(response)
    except urllib.error.HTTPError as exc:  # a non-2xx answer: the receiver is there but refused
        outcome.status = exc.code
        try:
            outcome.body = _read(exc)
        except (OSError, http.client.HTTPException):
            pass
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        outcome.error = f"Could not connect: {exc.reason}"
    except TimeoutError:
        outcome.error = f"No answer within {wire.TIMEOUT_SECONDS:g} s."
    except (OSError, http.client.HTTPException, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    outcome.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return outcome


def _send(delivery: WebhookDelivery) -> WebhookDelivery:
    """Make the claimed attempt and record its outcome, unless a newer attempt took the row over."""
    body = wire.encode(delivery.payload)
    signature = wire.sign(delivery.webhook.secret, int(time.time()), body)
    headers = wire.headers(event=delivery.event, delivery_id=str(delivery.event_id), signature=signature)
    outcome = _post(delivery.webhook.url, body, headers)
    now = timezone.now()
    fields = {
        "response_status": outcome.status,
        "response_body": outcome.body,
        "error": outcome.error[:2000],
        "duration_ms": outcome.duration_ms,
    }
    if wire.succeeded(outcome.status):
        fields.update(status=Status.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif outcome.refused:
        fields.update(status=Status.FAILED, next_attempt_at=None)
    else:
        delay = wire.retry_delay(delivery.attempts)
        if delay is None:
            fields.update(status=Status.FAILED, next_attempt_at=None)
        else:
            fields.update(status=Status.RETRYING, next_attempt_at=now + delay)
    mine = WebhookDelivery.objects.filter(pk=delivery.pk, attempts=delivery.attempts, status__in=OPEN)
    if not mine.update(**fields):
        logger.warning("webhook delivery %s attempt %s was superseded", delivery.pk, delivery.attempts)
    return WebhookDelivery.objects.filter(pk=delivery.pk).first() or delivery  # gone if its webhook was deleted


def deliver(delivery: WebhookDelivery) -> WebhookDelivery:
    """Make the delivery's next attempt if it is due and no one else is making it; returns it refreshed.

    Never raises for network errors: they are recorded on the row and retried on the schedule.
    """
    claimed = _claim(timezone.now(), pk=delivery.pk)
    if claimed is None:
        return WebhookDelivery.objects.filter(pk=delivery.pk).first() or delivery
    return _send(claimed)


def deliver_due(*, now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Send every pending or retrying delivery whose time has come (the deliver-webhooks schedule).

    One claim at a time, so a lease only has to outlast one request; concurrent sweeps take
    different rows (SKIP LOCKED on PostgreSQL, serialised writers on SQLite).
    """
    counts = {"delivered": 0, "retrying": 0, "failed": 0}
    done: set[int] = set()  # one attempt per delivery per sweep, even when `now` is far ahead
    for _ in range(limit):
        claimed = _claim(now or timezone.now(), skip=done)
        if claimed is None:
            break
        done.add(claimed.pk)
        sent = _send(claimed)
        if sent.status in counts:
            counts[sent.status] += 1
    return counts


@transaction.atomic
def redeliver(delivery: WebhookDelivery, *, actor) -> WebhookDelivery:
    """Send a finished (delivered or failed) delivery again, with the same event_id, from attempt 1."""
    _require(actor, "registry.change_webhook", "re-sending webhook deliveries")
    delivery = WebhookDelivery.objects.select_for_update().select_related("webhook").get(pk=delivery.pk)
    if delivery.status in OPEN:
        raise Conflict(f"Delivery #{delivery.pk} is still being sent ({delivery.status}); wait for it to finish.")
    if not delivery.webhook.active:
        raise Conflict("This webhook is paused; activate it before sending again.")
    previous = {"status": delivery.status, "attempts": delivery.attempts, "response_status": delivery.response_status}
    delivery.status, delivery.attempts, delivery.next_attempt_at = Status.PENDING, 0, timezone.now()
    delivery.response_status, delivery.response_body, delivery.error = None, "", ""
    delivery.duration_ms = delivery.delivered_at = None
    delivery.save()
    audit.record(
        actor=actor,
        action="webhook.redelivered",
        target=delivery.webhook,
        before=previous,
        after={"delivery": delivery.pk, "event": delivery.event, "event_id": str(delivery.event_id)},
    )
    transaction.on_commit(lambda: _queue(delivery.pk), robust=True)
    return delivery
