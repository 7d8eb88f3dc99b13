"""Alert rules and alerts: checked after every drift report, opened once, acknowledged, resolved.

An alert is opened when its rule's value breaches, stays the same alert while it keeps breaching (one
active alert per rule, held by a partial unique constraint), and resolves itself when the value no longer
breaches. Opening tells people twice: an audit event `alert.opened` (which the registry's webhooks sign and
deliver) and an e-mail through Django's mail settings. A drift or performance alert may start a retraining.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments import selectors as deployment_selectors
from mlops_site import audit, permissions
from mlops_site import schemas as validation
from mlops_site.errors import Conflict
from monitoring import performance, rules, schemas
from monitoring.models import Alert, AlertRule, DriftReport, Monitor

logger = logging.getLogger(__name__)
RULE_FIELDS = ("name", "metric", "comparison", "threshold", "window_minutes", "severity", "emails", "enabled")
MAX_WINDOW_MINUTES = schemas.MAX_WINDOW_MINUTES


def can_add_rule(actor) -> bool:
    return permissions.can(actor, "monitoring.add_alertrule")


def can_change_rule(actor) -> bool:
    return permissions.can(actor, "monitoring.change_alertrule")


def can_delete_rule(actor) -> bool:
    return permissions.can(actor, "monitoring.delete_alertrule")


def can_acknowledge(actor) -> bool:
    """Acknowledging and resolving alerts."""
    return permissions.can(actor, "monitoring.change_alert")


def check_rule(data: dict[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The rule's fields checked by its schema; a ValidationError names each bad field."""
    return validation.validate(schemas.AlertRuleInput, data, partial=partial)


SHARES = ("drift_share", "prediction_drift", "accuracy", "f1", "roc_auc", "error_rate", "unseen_share")


def _check_fit(metric: str, threshold: float, monitor: Monitor) -> None:
    """A rule that can never fire is refused: a share outside 0–1, a negative count or time, or a metric
    the served model does not have (RMSE for a classifier, accuracy for a regressor)."""
    if metric in SHARES and not 0 <= threshold <= 1:
        raise ValidationError(
            {"threshold": f"{metric} is a share between 0 and 1; {threshold:g} can never be crossed."}
        )
    if threshold < 0:
        raise ValidationError({"threshold": f"{metric} is never negative; use a threshold of 0 or more."})
    served = monitor.deployment.primary
    if served is None or rules.family(metric) != "performance":
        return
    regressor = not performance.is_classifier(served)
    if regressor != (metric in ("rmse", "mae")):
        kind, fits = ("a regressor", "rmse or mae") if regressor else ("a classifier", "accuracy, f1 or roc_auc")
        raise ValidationError({"metric": f"{served} is {kind}; its performance metrics are {fits}."})


def _rule_summary(rule: AlertRule) -> dict:
    return {field: getattr(rule, field) for field in RULE_FIELDS} | {"monitor": rule.monitor_id}


@transaction.atomic
def create_rule(monitor: Monitor | None, data: dict[str, Any], *, actor) -> AlertRule:
    """A new rule on `monitor` (None: the one `data` names, as the API's body does)."""
    permissions.require(
        actor, "monitoring.add_alertrule", "Your role does not allow adding alert rules; data scientists can."
    )
    if monitor is not None:
        data = {**data, "monitor": monitor.pk}
    clean = check_rule(data)
    monitor = clean.pop("monitor")
    Monitor.objects.select_for_update().get(pk=monitor.pk)  # two "Add rule" clicks: the second waits
    # (No join in the locking query: PostgreSQL cannot lock the nullable side of one, the served version.)
    monitor = Monitor.objects.select_related("deployment__primary").get(pk=monitor.pk)
    _check_fit(clean["metric"], clean["threshold"], monitor)
    if AlertRule.objects.filter(monitor=monitor, name=clean["name"]).exists():
        raise ValidationError({"name": f"This monitor has a rule named {clean['name']!r} already."})
    rule = AlertRule.objects.create(
        monitor=monitor, created_by=actor if getattr(actor, "is_authenticated", False) else None, **clean
    )
    audit.record(actor=actor, action="alert_rule.created", target=rule, after=_rule_summary(rule))
    return rule


@transaction.atomic
def update_rule(rule: AlertRule, data: dict[str, Any], *, actor) -> AlertRule:
    permissions.require(actor, "monitoring.change_alertrule", "Your role does not allow changing alert rules.")
    Monitor.objects.select_for_update().get(pk=rule.monitor_id)  # renames are checked one at a time
    rule = AlertRule.objects.select_for_update().get(pk=rule.pk)
    clean = check_rule(data, partial=True)
    if "monitor" in clean and clean.pop("monitor").pk != rule.monitor_id:
        raise ValidationError({"monitor": "A rule stays on its monitor; create a new rule instead."})
    if "name" in clean and AlertRule.objects.filter(monitor=rule.monitor, name=clean["name"]).exclude(pk=rule.pk):
        raise ValidationError({"name": f"This monitor has a rule named {clean['name']!r} already."})
    before = _rule_summary(rule)
    for field, value in clean.items():
        setattr(rule, field, value)
    _check_fit(
        rule.metric, rule.threshold, Monitor.objects.select_related("deployment__primary").get(pk=rule.monitor_id)
    )
    rule.save()
    audit.record(actor=actor, action="alert_rule.changed", target=rule, before=before, after=_rule_summary(rule))
    return rule


@transaction.atomic
def delete_rule(rule: AlertRule, *, actor) -> None:
    permissions.require(actor, "monitoring.delete_alertrule", "Your role does not allow deleting alert rules.")
    audit.record(actor=actor, action="alert_rule.deleted", target=rule, before=_rule_summary(rule))
    rule.delete()


def rule_value(rule: AlertRule, now: datetime) -> float | None:
    """The rule's metric over its window (see `monitoring.rules` for what the window means per family)."""
    start = now - timedelta(minutes=rule.window_minutes)
    if rules.family(rule.metric) == "service":
        return deployment_selectors.service_summary(rule.monitor.deployment, start, now)[rule.metric]
    if rule.metric == "unseen_share":  # answered rows (primary and canary) in the window, from the log
        return deployment_selectors.unseen_summary(rule.monitor.deployment, start, now)["share"]
    reports = DriftReport.objects.filter(
        monitor=rule.monitor_id, status=DriftReport.Status.OK, window_end__gt=start, window_end__lte=now
    ).values_list("drift_share", "drifted_count", "prediction_drifted", "performance", "compared")
    if rule.metric == "drift_share":
        return rules.mean(r[0] for r in reports)
    if rule.metric == "drifted_features":
        return rules.mean(r[1] for r in reports)
    if rule.metric == "prediction_drift":
        return rules.mean(float(r[2]) for r in reports)
    return rules.mean((r[3] or {}).get(rule.metric) for r in reports)


def evaluate(monitor: Monitor, *, report: DriftReport | None = None, now: datetime | None = None) -> list[Alert]:
    """Check every enabled rule of the monitor; returns the alerts opened. A rule that fails to evaluate is
    logged and skipped, so one bad rule never costs the report or the other rules."""
    now = now or timezone.now()
    opened = []
    for rule in AlertRule.objects.filter(monitor=monitor, enabled=True).select_related("monitor__deployment"):
        try:
            alert = _evaluate_rule(rule, report, now)
        except Exception:
            logger.exception("alert rule %s could not be evaluated", rule.pk)
            continue
        if alert is not None:
            opened.append(alert)
    return opened


def _evaluate_rule(rule: AlertRule, report: DriftReport | None, now: datetime) -> Alert | None:
    value = rule_value(rule, now)
    breached = rules.breached(value, rule.comparison, rule.threshold)
    if breached is None:
        return None
    with transaction.atomic():
        active = Alert.objects.select_for_update().filter(rule=rule, status__in=Alert.ACTIVE).first()
        if active is not None:
            if breached:
                active.last_value, active.last_evaluated_at = value, now
                active.save(update_fields=["last_value", "last_evaluated_at"])
            else:
                _close(active, actor=None, resolution=f"Cleared: {rule.get_metric_display()} was {value:.4g}.", now=now)
            return None
        if not breached:
            return None
        return _open(rule, value, report, now)


def _open(rule: AlertRule, value: float, report: DriftReport | None, now: datetime) -> Alert | None:
    deployment = rule.monitor.deployment
    message = f"{deployment}: " + rules.describe(
        rule.get_metric_display(), value, rule.comparison, rule.threshold, rule.window_minutes
    )
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                rule=rule,
                monitor=rule.monitor,
                report=report,
                severity=rule.severity,
                metric=rule.metric,
                value=value,
                last_value=value,
                threshold=rule.threshold,
                message=message,
                opened_at=now,
                last_evaluated_at=now,
            )
    except IntegrityError:  # another evaluation opened it a moment ago: one alert, not two
        return None
    audit.record(actor=None, action="alert.opened", target=alert, after=_alert_summary(alert))
    transaction.on_commit(lambda: _email(alert.pk), robust=True)
    transaction.on_commit(lambda: _maybe_retrain(alert.pk), robust=True)
    return alert


def _alert_summary(alert: Alert) -> dict:
    deployment = alert.monitor.deployment
    return {
        "alert": alert.pk,
        "rule": alert.rule.name,
        "severity": alert.severity,
        "metric": alert.metric,
        "value": alert.value,
        "comparison": alert.rule.comparison,
        "threshold": alert.threshold,
        "status": alert.status,
        "model": deployment.model.name,
        "environment": deployment.environment.name,
        "message": alert.message,
    }


def _email(alert_id: int) -> None:
    """Send the alert by e-mail; the outcome (addresses or the error) is kept on the alert, never raised."""
    alert = Alert.objects.select_related("rule", "monitor__deployment").get(pk=alert_id)
    recipients = alert.rule.emails or settings.ALERT_EMAILS
    if not recipients:
        Alert.objects.filter(pk=alert_id).update(
            email_error="No recipients: the rule names none and ALERT_EMAILS is empty."
        )
        return
    link = settings.SITE_URL.rstrip("/") + alert.get_absolute_url() if settings.SITE_URL else ""
    body = "\n".join(
        line
        for line in (
            alert.message,
            f"Rule: {alert.rule}",
            f"Severity: {alert.severity}",
            f"Opened: {alert.opened_at:%Y-%m-%d %H:%M} UTC",
            link,
        )
        if line
    )
    try:
        send_mail(f"[{alert.severity}] {alert.rule.name}: {alert.monitor.deployment}", body, None, recipients)
    except Exception as exc:  # SMTP down: the alert is open and on the page; say why no mail went
        logger.exception("alert %s could not be e-mailed", alert_id)
        Alert.objects.filter(pk=alert_id).update(email_error=f"{type(exc).__name__}: {exc}"[:1000])
        return
    Alert.objects.filter(pk=alert_id).update(emailed_to=list(recipients), email_error="")


def _maybe_retrain(alert_id: int) -> None:
    from monitoring.services import retraining

    try:
        retraining.on_alert(Alert.objects.select_related("rule", "monitor__deployment__model").get(pk=alert_id))
    except Exception:
        logger.exception("alert %s could not start a retraining", alert_id)


def _close(alert: Alert, *, actor, resolution: str, now: datetime | None = None) -> Alert:
    alert.status, alert.resolved_at, alert.resolution = Alert.Status.RESOLVED, now or timezone.now(), resolution
    alert.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
    alert.save(update_fields=["status", "resolved_at", "resolved_by", "resolution"])
    audit.record(actor=actor, action="alert.resolved", target=alert, after=_alert_summary(alert), comment=resolution)
    return alert


def _locked(alert: Alert) -> Alert:
    return Alert.objects.select_for_update().select_related("rule", "monitor__deployment").get(pk=alert.pk)


@transaction.atomic
def acknowledge(alert: Alert, *, actor, comment: str = "", data=None) -> Alert:
    """Someone is on it: the alert stays active (no duplicate opens) but stops asking for attention. `data`: a
    body such as {"comment": ...} (the API's), checked by its schema."""
    permissions.require(actor, "monitoring.change_alert", "Your role does not allow acknowledging alerts.")
    comment = _comment(comment, data)
    alert = _locked(alert)
    if alert.status != Alert.Status.OPEN:
        raise Conflict(f"Alert {alert.pk} is {alert.status}; only open alerts can be acknowledged.")
    alert.status, alert.acknowledged_by, alert.acknowledged_at = Alert.Status.ACKNOWLEDGED, actor, timezone.now()
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
    audit.record(actor=actor, action="alert.acknowledged", target=alert, after=_alert_summary(alert), comment=comment)
    return alert


@transaction.atomic
def resolve(alert: Alert, *, actor, comment: str = "", data=None) -> Alert:
    """Close by hand. If the condition still holds, the next report opens a new alert."""
    permissions.require(actor, "monitoring.change_alert", "Your role does not allow resolving alerts.")
    comment = _comment(comment, data)
    alert = _locked(alert)
    if alert.status == Alert.Status.RESOLVED:
        raise Conflict(f"Alert {alert.pk} is resolved already.")
    return _close(alert, actor=actor, resolution=(comment or "").strip() or "Resolved by hand.")


def _comment(comment: str, data) -> str:
    return validation.validate(schemas.AlertComment, {"comment": comment or ""} if data is None else data).get(
        "comment", ""
    )
