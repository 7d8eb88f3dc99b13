"""Periodic tasks, created idempotently by name after migrate (never at import time).

The kernel's own schedules are listed here; apps add theirs with `register` from their
AppConfig.ready(), so this module never names the apps above it.
"""

from __future__ import annotations

# name -> (task, minutes between runs)
SCHEDULES = {
    "sweep-stale-jobs": ("mlops_site.tasks.sweep_stale_jobs", 1),
    "sweep-idempotency-keys": ("mlops_site.tasks.sweep_idempotency_keys", 60),
    "deliver-webhooks": ("mlops_site.webhooks.tasks.deliver_due", 1),
}

_registered: dict[str, tuple[str, int]] = {}


def register(name: str, func: str, minutes: int) -> None:
    """Add an app's periodic task (a dotted path) to those `ensure_schedules` creates."""
    wanted = (func, minutes)
    existing = SCHEDULES.get(name) or _registered.get(name)
    if existing is not None and existing != wanted:
        raise ValueError(f"Schedule {name!r} is already registered as {existing}.")
    if minutes < 1:
        raise ValueError(f"Schedule {name!r} must run at most once a minute.")
    _registered[name] = wanted


def all_schedules() -> dict[str, tuple[str, int]]:
    return {**SCHEDULES, **_registered}


def ensure_schedules(**kwargs) -> None:
    from django_q.models import Schedule

    for name, (func, minutes) in all_schedules().items():
        Schedule.objects.update_or_create(
            name=name,
            defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
        )
