"""Webhook subscribers and their signed deliveries.

Events come from the audit trail: `fan_out` turns each audit event of a webhook event (any app's:
they add their names with `Webhook.add_events`) into one delivery row per subscribed webhook,
after the action committed, and queues it. Each attempt is claimed with a conditional write
before anything is sent (`_claim`), so two workers, or a worker and the every-minute
`deliver_due` sweep, never send the same attempt; the HTTP call (`wire.post`) happens outside
any transaction and its outcome is written only if that attempt is still the current one.
"""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
from django_q.tasks import async_task

from mlops_site import audit
from mlops_site.errors import Conflict
from mlops_site.models import Webhook, WebhookDelivery
from mlops_site.permissions import can, require
from mlops_site.schemas import validate
from mlops_site.webhooks import wire
from mlops_site.webhooks.schemas import WebhookChange, WebhookInput

__all__ = [
    "can_manage",
    "create_webhook",
    "delete_webhook",
    "deliver",
    "deliver_due",
    "fan_out",
    "redeliver",
    "update_webhook",
    "with_last_delivery",
]

logger = logging.getLogger(__name__)

Status = WebhookDelivery.Status
OPEN = (Status.PENDING, Status.RETRYING)
REFUSED = "Your role does not allow {}. Webhooks are managed by admins."


def can_manage(user, what: str = "change") -> bool:
    """May `user` add, change or delete webhooks (`what`)? The pages show their buttons from this."""
    return can(user, f"mlops_site.{what}_webhook")


def with_last_delivery(queryset=None):
    """Webhooks with their newest delivery's status and time and their number of deliveries, in one query."""
    newest = WebhookDelivery.objects.filter(webhook=OuterRef("pk")).order_by("-created_at", "-pk")
    return (
        (Webhook.objects.all() if queryset is None else queryset)
        .select_related("created_by")
        .annotate(
            last_status=Subquery(newest.values("status")[:1]),
            last_at=Subquery(newest.values("created_at")[:1]),
            delivery_count=Count("deliveries"),
        )
    )


def _summary(hook: Webhook) -> dict:
    """What the audit trail keeps about a webhook: everything but the secret."""
    return {"url": hook.url, "events": hook.events, "active": hook.active, "description": hook.description}


@transaction.atomic
def create_webhook(data: Mapping | None = None, *, actor, **fields) -> tuple[Webhook, str | None]:
    """Register a subscriber from `data` (or keyword fields): url, secret, events, description.

    A blank secret is generated and returned (second item) to be shown once.
    """
    require(actor, "mlops_site.add_webhook", REFUSED.format("adding webhooks"))
    if data is None:
        data = {name: value for name, value in fields.items() if value is not None}
    clean = validate(WebhookInput, data)
    generated = None
    if not clean["secret"]:
        clean["secret"] = generated = secrets.token_urlsafe(32)
    hook = Webhook.objects.create(**clean, created_by=actor)
    audit.record(actor=actor, action="webhook.created", target=hook, after=_summary(hook))
    return hook, generated


@transaction.atomic
def update_webhook(hook: Webhook, data: Mapping | None = None, *, actor, **fields) -> Webhook:
    """Change where and what a webhook receives, or pause it (`active=False`); audited with before and after.

    Only the fields given change (`data`, or keyword fields; None means unchanged).
    """
    require(actor, "mlops_site.change_webhook", REFUSED.format("changing webhooks"))
    if data is None:
        data = {name: value for name, value in fields.items() if value is not None}
    clean = validate(WebhookChange, data, partial=True)
    hook = Webhook.objects.select_for_update().get(pk=hook.pk)
    before = _summary(hook)
    for name, value in clean.items():
        setattr(hook, name, value)
    hook.save(update_fields=["url", "events", "description", "active"])
    audit.record(actor=actor, action="webhook.updated", target=hook, before=before, after=_summary(hook))
    return hook


@transaction.atomic
def delete_webhook(hook: Webhook, *, actor) -> None:
    """Remove a subscriber and its delivery history (the audit trail keeps that it existed)."""
    require(actor, "mlops_site.delete_webhook", REFUSED.format("deleting webhooks"))
    audit.record(actor=actor, action="webhook.deleted", target=hook, before=_summary(hook))
    hook.delete()


def _queue(delivery_id: int) -> None:
    # save=False: the delivery row is the record; one django-q Task row per attempt would flood it.
    async_task(
        "mlops_site.webhooks.tasks.deliver",
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


def _send(delivery: WebhookDelivery) -> WebhookDelivery:
    """Make the claimed attempt and record its outcome, unless a newer attempt took the row over."""
    body = wire.encode(delivery.payload)
    signature = wire.sign(delivery.webhook.secret, int(time.time()), body)
    headers = wire.headers(event=delivery.event, delivery_id=str(delivery.event_id), signature=signature)
    outcome = wire.post(delivery.webhook.url, body, headers, allow_private=settings.WEBHOOK_ALLOW_PRIVATE)
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
    require(actor, "mlops_site.change_webhook", REFUSED.format("re-sending webhook deliveries"))
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
