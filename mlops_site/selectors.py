"""Reads that feed the shared pages."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from mlops_site.models import AuditEvent, Job


def jobs_per_day(days: int = 14) -> tuple[list[date], dict[str, list[int]]]:
    """Counts of jobs created per day and status over the last `days` days (UTC), zero-filled."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    axis = [first + timedelta(days=i) for i in range(days)]
    rows = (
        Job.objects.filter(created_at__date__gte=first)
        .annotate(day=TruncDate("created_at"))
        .values("day", "status")
        .annotate(n=Count("id"))
    )
    index = {day: i for i, day in enumerate(axis)}
    counts: dict[str, list[int]] = {status: [0] * days for status in Job.Status.values}
    for row in rows:
        if row["day"] in index:
            counts[row["status"]][index[row["day"]]] += row["n"]
    return axis, counts


def job_status_counts() -> dict[str, int]:
    counts = dict(Job.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in Job.Status.values}


def recent_activity(limit: int = 10):
    return AuditEvent.objects.select_related("target_type")[:limit]
