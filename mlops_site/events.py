"""Signals that cross the layers upward (sent after commit; see docs/architecture.md).

Lower layers send, upper layers connect in their AppConfig.ready(). Webhook fan-out
(`mlops_site.webhooks`) listens to `audit_event_recorded`, so every audited action can become an
outgoing event without the acting code knowing about webhooks.
"""

from django.dispatch import Signal

# Sent after the transaction that wrote the AuditEvent commits. kwargs: event (AuditEvent).
audit_event_recorded = Signal()

# Sent after the transaction that moved a model version to another stage commits; deployments
# follow it to move the matching environment. kwargs: model (name), version (number), stage,
# previous_stage, version_id.
model_stage_changed = Signal()
