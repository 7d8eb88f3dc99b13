"""State-changing actions of the shared kernel: API tokens, job control, role changes."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from mlops_site import audit, jobs
from mlops_site.errors import Conflict
from mlops_site.models import ApiToken, Job
from mlops_site.roles import ROLE_NAMES

TOKEN_BYTES = 30


@transaction.atomic
def create_api_token(
    user, *, name: str, expires_in_days: int | None = None, not_after=None, scope: str = ApiToken.Scope.FULL
) -> tuple[ApiToken, str]:
    """Create a personal token and return it with its key, which is never retrievable again.

    `not_after` caps the expiry: a token minted with another token never outlives its parent,
    so a leaked short-lived token cannot be turned into a permanent one. A "predict" (service)
    token is for those who may predict themselves.
    """
    if scope not in ApiToken.Scope.values:
        raise ValidationError({"scope": f"One of: {', '.join(ApiToken.Scope.values)}."})
    if scope == ApiToken.Scope.PREDICT and not user.has_perm("deployments.predict"):
        raise PermissionDenied("Only people who may call predict themselves can create a service token.")
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. the script that will use it."})
    if len(name) > 100:
        raise ValidationError({"name": "At most 100 characters."})
    if expires_in_days is None:
        expires_in_days = settings.API_TOKEN_DEFAULT_DAYS
    if not 0 <= expires_in_days <= 3650:
        raise ValidationError({"expires_in_days": "Between 0 (never expires) and 3650 days."})
    expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
    if not_after is not None and (expires_at is None or expires_at > not_after):
        expires_at = not_after
    key = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[: ApiToken.PREFIX_LENGTH],
        key_hash=ApiToken.hash_key(key),
        expires_at=expires_at,
        scope=scope,
    )
    audit.record(
        actor=user,
        action="token.created",
        target=token,
        after={"name": name, "expires_at": _iso(token.expires_at), "scope": scope},
    )
    return token, key


@transaction.atomic
def revoke_api_token(token: ApiToken, *, actor) -> ApiToken:
    """Revoke a token at once; only its owner (or an admin) may."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.user_id != actor.pk and not actor.is_superuser:
        raise PermissionDenied("You can only revoke your own tokens.")
    if token.revoked_at:
        raise Conflict("This token is already revoked.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(actor=actor, action="token.revoked", target=token)
    return token


def authenticate_token(key: str, *, permission: str | None = None) -> ApiToken | None:
    """The usable token for a key, with its last use noted (at most once a minute, to spare writes).

    With `permission` ("app.codename"), one query also answers whether the owner holds it, kept on the
    token as `checked_permission = (permission, bool)`: the serving hot path, where the ORM's three queries
    (token, then the user's and their groups' permissions) cost more than the prediction.
    """
    if permission is not None:
        token = _token_with_permission(ApiToken.hash_key(key), permission)
    else:
        token = ApiToken.objects.usable().select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def can_cancel(job: Job, user) -> bool:
    if not user.is_authenticated:
        return False
    return (job.created_by_id is not None and job.created_by_id == user.pk) or user.has_perm(
        "mlops_site.cancel_any_job"
    )


@transaction.atomic
def cancel_job(job: Job, *, actor) -> Job:
    """Cancel a queued job at once; ask a running one to stop at its next progress report."""
    job = Job.objects.select_for_update().get(pk=job.pk)
    if not can_cancel(job, actor):
        raise PermissionDenied("Only the person who started this job or an admin can cancel it.")
    if job.is_finished:
        raise Conflict(f"The job has already finished ({job.status}).")
    if job.cancel_requested and job.status == Job.Status.RUNNING:
        raise Conflict("Cancellation was already requested; the job stops at its next progress report.")
    before = {"status": job.status}
    if job.status == Job.Status.QUEUED:
        job.status = Job.Status.CANCELLED
        job.finished_at = timezone.now()
        job.message = "Cancelled before it started"
    job.cancel_requested = True
    job.save()
    audit.record(actor=actor, action="job.cancel_requested", target=job, before=before, after={"status": job.status})
    return job


@transaction.atomic
def start_selfcheck(*, actor) -> Job:
    """Queue a self-check: database, artifact storage and a small real scikit-learn fit on a worker."""
    if not actor.has_perm("mlops_site.add_job"):
        raise PermissionDenied("Your role does not allow starting jobs. Ask an admin for a role.")
    jobs.check_rate("system.selfcheck", actor)
    job = jobs.enqueue(
        kind="system.selfcheck", task="mlops_site.tasks.run_selfcheck", actor=actor, title="Platform self-check"
    )
    audit.record(actor=actor, action="job.queued", target=job, after={"kind": job.kind})
    return job


@transaction.atomic
def set_roles(user, *, roles: list[str], actor) -> None:
    """Replace a user's roles (the three platform groups); other groups are left alone."""
    unknown = sorted(set(roles) - set(ROLE_NAMES))
    if unknown:
        raise ValidationError({"roles": f"Unknown role(s): {', '.join(unknown)}. Choose from {', '.join(ROLE_NAMES)}."})
    before = sorted(user.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
    user.groups.remove(*Group.objects.filter(name__in=ROLE_NAMES))
    user.groups.add(*Group.objects.filter(name__in=roles))
    after = sorted(roles)
    if before != after:
        audit.record(
            actor=actor, action="user.roles_changed", target=user, before={"roles": before}, after={"roles": after}
        )


def _iso(value):
    return value.isoformat() if value else None


def _token_with_permission(key_hash: str, permission: str) -> ApiToken | None:
    user_model = get_user_model()
    app_label, codename = permission.split(".", 1)
    tables = {
        "token": ApiToken._meta.db_table,
        "user": user_model._meta.db_table,
        "user_perms": user_model.user_permissions.through._meta.db_table,
        "user_groups": user_model.groups.through._meta.db_table,
        "group_perms": Group.permissions.through._meta.db_table,
        "perm": Permission._meta.db_table,
        "type": ContentType._meta.db_table,
    }
    sql = """
        SELECT t.id, t.name, t.scope, t.expires_at, t.last_used_at, u.id, u.username, u.is_active, u.is_superuser,
               EXISTS (SELECT 1 FROM {perm} p JOIN {type} c ON c.id = p.content_type_id
                       WHERE c.app_label = %s AND p.codename = %s AND (
                           p.id IN (SELECT up.permission_id FROM {user_perms} up WHERE up.user_id = u.id)
                           OR p.id IN (SELECT gp.permission_id FROM {group_perms} gp
                                       JOIN {user_groups} ug ON ug.group_id = gp.group_id WHERE ug.user_id = u.id)))
        FROM {token} t JOIN {user} u ON u.id = t.user_id
        WHERE t.key_hash = %s AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > %s)
    """.format(**tables)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(sql, [app_label, codename, key_hash, now])
        row = cursor.fetchone()
    if row is None:
        return None
    converters = {name: ApiToken._meta.get_field(name) for name in ("expires_at", "last_used_at")}
    token_id, name, scope, expires_at, last_used_at, user_id, username, is_active, is_superuser, granted = row
    loaded = {"id": user_id, "username": username, "is_active": bool(is_active), "is_superuser": bool(is_superuser)}
    names = [f.attname for f in user_model._meta.concrete_fields if f.attname in loaded]  # from_db wants this order
    user = user_model.from_db(connection.alias, names, [loaded[name] for name in names])
    token = ApiToken(
        id=token_id,
        user=user,
        name=name,
        scope=scope,
        expires_at=_from_db(converters["expires_at"], expires_at),
        last_used_at=_from_db(converters["last_used_at"], last_used_at),
    )
    token.checked_permission = (permission, bool(user.is_active and (user.is_superuser or granted)))
    return token


def _from_db(field, value):
    """A raw column value as the ORM would give it (SQLite returns times as text)."""
    for convert in connection.ops.get_db_converters(field.get_col(field.model._meta.db_table)):
        value = convert(value, None, connection)
    return value
