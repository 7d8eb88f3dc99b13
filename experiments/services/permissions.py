"""The permission check every experiments service starts with, with a message a person can act on."""

from django.core.exceptions import PermissionDenied


def require(actor, perm: str, what: str) -> None:
    if not actor.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow {what}. Ask an admin for the data-scientist role.")
