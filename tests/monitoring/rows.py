"""Cheap monitoring rows for list tests: deployments with monitors, reports, rules, alerts and retrainings,
without training a model (the lists read them, never the artifacts)."""

from __future__ import annotations

from django.utils import timezone

from deployments.models import Deployment, Environment
from monitoring.models import Alert, AlertRule, DriftReport, Monitor, Retraining
from registry.models import RegisteredModel


def add_monitored(count: int, start: int, *, user, model: RegisteredModel | None = None) -> RegisteredModel:
    """`count` deployments (each with its monitor, two reports, a rule with an acknowledged alert) and as many
    retrainings of `model` (the first model made, when None)."""
    environment = Environment.objects.get(name="production")
    for i in range(start, start + count):
        registered = RegisteredModel.objects.create(name=f"model-{i}", owner=user)
        model = model or registered
        deployment = Deployment.objects.create(environment=environment, model=registered)
        monitor = Monitor.objects.get_or_create(deployment=deployment)[0]
        reports = [
            DriftReport.objects.create(monitor=monitor, status=DriftReport.Status.OK, window_end=timezone.now())
            for _ in range(2)
        ]
        rule = AlertRule.objects.create(
            monitor=monitor, name=f"rule {i}", metric="drift_share", comparison="gte", threshold=0.5, created_by=user
        )
        Alert.objects.create(
            rule=rule,
            monitor=monitor,
            report=reports[-1],
            severity=rule.severity,
            metric=rule.metric,
            value=0.6,
            threshold=0.5,
            message="drifted",
            status=Alert.Status.ACKNOWLEDGED,
            acknowledged_by=user,
        )
        Retraining.objects.create(model=model, trigger=Retraining.Trigger.MANUAL, created_by=user)
    return model
