"""Reads of monitoring that join models, shared by the pages and the API."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from monitoring.models import Alert, DriftReport, Monitor


def monitors_with_latest() -> QuerySet[Monitor]:
    """Monitors with their deployment, `latest_report_id` and `active` alerts annotated: a list of them costs
    the same queries however many there are."""
    latest = DriftReport.objects.filter(monitor=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    return Monitor.objects.select_related(
        "deployment__environment", "deployment__model", "deployment__primary"
    ).annotate(
        latest_report_id=Subquery(latest),
        active=Count("alerts", filter=Q(alerts__status__in=Alert.ACTIVE)),
    )


def latest_reports(monitors) -> dict[int, DriftReport]:
    """The latest report of each of `monitors` (annotated by `monitors_with_latest`), in one query."""
    return DriftReport.objects.in_bulk([m.latest_report_id for m in monitors if m.latest_report_id])
