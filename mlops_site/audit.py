"""The one way to write the audit trail: services call `record` inside their transaction."""

from __future__ import annotations

from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from mlops_site import context
from mlops_site.events import audit_event_recorded
from mlops_site.models import AuditEvent


def record(
    *,
    actor,
    action: str,
    target: models.Model | None = None,
    before: Any = None,
    after: Any = None,
    comment: str = "",
) -> AuditEvent:
    """Append an audit event. `actor` is a user, or None for the system (schedules, watchdogs)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    event = AuditEvent.objects.create(
        actor=actor,
        actor_name=actor.get_username() if actor else "",
        action=action,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        before=before,
        after=after,
        comment=comment,
        request_id=context.request_id.get(),
    )
    transaction.on_commit(lambda: audit_event_recorded.send(sender=AuditEvent, event=event))
    return event
