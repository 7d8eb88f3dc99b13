"""`manage.py demo`: idempotent demo data. Apps add their own steps from AppConfig.ready().

Most of the demo is made by the worker after `manage.py demo` returns (training, then one-off tasks that
register, deploy, replay traffic and run the monitors). `progress()` says what is still being prepared:
the demo users' queued or running jobs, and what each step's `waiting` check reports. `manage.py serve`
prints "Demo data ready." and the dashboard shows it only once nothing is left.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import transaction
from django.utils.module_loading import import_string

from mlops_site import audit, roles, services
from mlops_site.models import Job

DEMO_USERS = (
    ("scientist", roles.DATA_SCIENTIST, "Dana", "Scientist"),
    ("reviewer", roles.REVIEWER, "Rui", "Reviewer"),
    ("admin", roles.ADMIN, "Ada", "Admin"),
)


@dataclass
class DemoContext:
    users: dict
    log: Callable[[str], None]


_steps: list[tuple[int, str, Callable[[DemoContext], None] | str]] = []
_waiting: dict[str, Callable[[], str | None] | str] = {}
_one_offs: list[str] = []


def register_step(
    order: int,
    name: str,
    step: Callable[[DemoContext], None] | str,
    *,
    waiting: Callable[[], str | None] | str | None = None,
    one_off: str | None = None,
) -> None:
    """Upper apps add demo steps (datasets, runs, deployments...); they run in `order`.

    `waiting()` returns what the step's background work has still to make (a phrase), or None once done.
    Either may be a dotted path, imported when the demo runs: the demo modules pull in pandas and
    scikit-learn, which every other process (a page, `manage.py check`) need not load at start.
    `one_off` names the step's background task (a django-q ONCE schedule that reschedules itself while it waits),
    for `run_waiting_now`.
    """
    if all(existing != name for _, existing, _ in _steps):
        _steps.append((order, name, step))
    if waiting is not None:
        _waiting[name] = waiting
    if one_off is not None and one_off not in _one_offs:
        _one_offs.append(one_off)


def run_waiting_now() -> int:
    """Queue the demo's waiting one-offs now rather than at their schedule: a step that just finished (the model
    deployed, the traffic replayed) is what the next one waits for, and django-q's scheduler looks only every
    30 s. Each schedule is taken under lock and deleted as the scheduler itself does with a ONCE schedule, so a
    one-off never runs twice. Returns how many were queued."""
    import ast

    from django_q.models import Schedule
    from django_q.tasks import async_task

    queued, sync = 0, settings.Q_CLUSTER.get("sync", False)
    with transaction.atomic():
        for row in Schedule.objects.select_for_update().filter(func__in=_one_offs):
            args = ast.literal_eval(row.args) if row.args else ()
            args = args if isinstance(args, tuple) else (args,)
            row.delete()
            transaction.on_commit(lambda func=row.func, args=args: async_task(func, *args, sync=sync))
            queued += 1
    return queued


def one_off_pending(func: str) -> bool | None:
    """Whether a demo one-off task (a django-q ONCE schedule that reschedules itself while it waits) is still
    to finish: True while scheduled or its last result was "waiting…", False once it ended otherwise, None when
    django-q has no trace of it (never scheduled, or its results were pruned): the caller then looks at the data.
    """
    from django_q.models import Schedule, Task

    if Schedule.objects.filter(func=func).exists():
        return True
    last = Task.objects.filter(func=func).order_by("-stopped").first()
    if last is None:
        return None
    return bool(last.success) and str(last.result).startswith("waiting")


@dataclass
class DemoProgress:
    """What the demo still prepares: active jobs by kind and the steps' phrases. Ready when both are empty."""

    started: bool
    jobs: dict[str, int]
    waiting: list[str]

    @property
    def ready(self) -> bool:
        return self.started and not self.jobs and not self.waiting

    @property
    def job_count(self) -> int:
        return sum(self.jobs.values())

    def summary(self) -> str:
        """One line for the console: what is left, or that the demo is ready."""
        if self.ready:
            return "Demo data ready."
        parts = []
        if self.jobs:
            kinds = ", ".join(f"{count} {kind}" for kind, count in self.jobs.items())
            parts.append(f"{self.job_count} job{'s' if self.job_count != 1 else ''} queued or running ({kinds})")
        parts.extend(self.waiting)
        return "Demo data is still being prepared: " + "; ".join(parts) + "."


_READY_KEY = "demo-ready"
JOB_LABELS = {
    "dataset.profile": "dataset profile",
    "dataset.clean": "dataset cleaning",
    "training.run": "training",
    "promotion-gates": "promotion gates",
    "monitor.run": "monitor run",
    "retraining": "retraining",
    "system.selfcheck": "self-check",
}


def progress() -> DemoProgress:
    """The demo's state; `started` is False when `manage.py demo` never ran here (nothing to report)."""
    if cache.get(_READY_KEY):
        return DemoProgress(started=True, jobs={}, waiting=[])
    usernames = [username for username, *_ in DEMO_USERS]
    started = get_user_model().objects.filter(username__in=usernames).exists()
    if not started:
        return DemoProgress(started=False, jobs={}, waiting=[])
    jobs: dict[str, int] = {}
    for kind in Job.objects.active().filter(created_by__username__in=usernames).values_list("kind", flat=True):
        label = JOB_LABELS.get(kind, kind)
        jobs[label] = jobs.get(label, 0) + 1
    waiting = [phrase for check in _waiting.values() if (phrase := _loaded(check)())]
    state = DemoProgress(started=True, jobs=dict(sorted(jobs.items())), waiting=waiting)
    if state.ready:
        cache.set(_READY_KEY, True, timeout=None)  # stays ready: later jobs of the demo users are not the demo's
    return state


def demo_password() -> tuple[str, str]:
    """DEMO_PASSWORD if set, else one generated once and kept in the data folder."""
    if os.environ.get("DEMO_PASSWORD"):
        return os.environ["DEMO_PASSWORD"], "from DEMO_PASSWORD"
    path = settings.DATA_DIR / "demo-password"
    if path.exists() and path.read_text().strip():
        return path.read_text().strip(), f"generated earlier, kept in {path}"
    password = secrets.token_urlsafe(12)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return password, f"generated, kept in {path}"


@transaction.atomic
def ensure_users(password: str, *, reset_password: bool) -> dict:
    User = get_user_model()
    roles.sync_role_permissions()
    users = {}
    for username, role, first, last in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"}
        )
        if created or reset_password:
            user.set_password(password)
        if role == roles.ADMIN:
            user.is_staff = user.is_superuser = True
        user.save()
        if created:
            audit.record(actor=None, action="user.created", target=user, after={"username": username, "demo": True})
        services.set_roles(user, roles=[role], actor=None)
        Group.objects.get(name=role)  # fail loudly if the roles migration did not run
        users[username] = user
    return users


def run(log: Callable[[str], None]) -> None:
    password, origin = demo_password()
    users = ensure_users(password, reset_password=bool(os.environ.get("DEMO_PASSWORD")))
    log(f"Demo users (password {origin}):")
    for username, role, _, _ in DEMO_USERS:
        log(f"  {username:<10} role {role:<15} password {password}")
    if not Job.objects.filter(kind="system.selfcheck").exists():
        services.start_selfcheck(actor=users["scientist"])
        log("Queued a platform self-check job; the worker runs it once the site is up.")
    context = DemoContext(users=users, log=log)
    for _, name, step in sorted(_steps, key=lambda item: item[0]):
        step = _loaded(step)
        log(f"Demo step: {name}")
        step(context)


def _loaded(function):
    return import_string(function) if isinstance(function, str) else function
