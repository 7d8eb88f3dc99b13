"""Signals that cross the layers upward (sent after commit; see docs/architecture.md).

Lower layers send, upper layers connect in their AppConfig.ready(). Webhook fan-out (the
registry issue) listens to `audit_event_recorded`, so every audited action can become an
outgoing event without the acting code knowing about webhooks.
"""

from django.dispatch import Signal

# Sent after the transaction that wrote the AuditEvent commits. kwargs: event (AuditEvent).
audit_event_recorded = Signal()
