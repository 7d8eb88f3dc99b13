"""The one permission check services make, and the predicates pages and the API share with them.

`actor=None` always means the platform itself (a scheduled job, the demo, a management command),
which is allowed everything; a person is checked against the permission. Services call `require`
before they write; the API's `HasModelPermission` refuses earlier with the same permission; pages ask
`can` (or an app's `can_*` predicate built on it) to decide what to show.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

DEFAULT_MESSAGE = "Your role does not allow this. Ask an admin for the needed role."


def can(actor, perm: str) -> bool:
    return actor is None or bool(getattr(actor, "is_active", False) and actor.has_perm(perm))


def require(actor, perm: str, message: str = DEFAULT_MESSAGE) -> None:
    """PermissionDenied(message) unless `actor` (None: the platform) holds `perm`."""
    if not can(actor, perm):
        raise PermissionDenied(message)
