"""Periodic tasks, created idempotently by name after migrate (never at import time)."""

from __future__ import annotations

# name -> (task, minutes between runs)
SCHEDULES = {
    "sweep-stale-jobs": ("mlops_site.tasks.sweep_stale_jobs", 1),
}


def ensure_schedules(**kwargs) -> None:
    from django_q.models import Schedule

    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
