"""`manage.py demo`: idempotent demo data. Apps add their own steps from AppConfig.ready()."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

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


_steps: list[tuple[int, str, Callable[[DemoContext], None]]] = []


def register_step(order: int, name: str, step: Callable[[DemoContext], None]) -> None:
    """Upper apps add demo steps (datasets, runs, deployments...); they run in `order`."""
    if all(existing != name for _, existing, _ in _steps):
        _steps.append((order, name, step))


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
        log(f"Demo step: {name}")
        step(context)
