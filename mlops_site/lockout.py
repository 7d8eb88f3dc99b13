"""Wrong-password throttling for every password login: the login page, the admin and `POST /api/auth/token/`.

Failures are counted in the cache per username (casefolded) and per client address. A count ends when
LOGIN_FAILURE_WINDOW_SECONDS pass without a new failure; reaching LOGIN_FAILURES_PER_USER (or
LOGIN_FAILURES_PER_ADDRESS) locks that username (or address) out for LOGIN_LOCKOUT_SECONDS, audited
as `auth.locked_out`. While locked, the password is not even checked, so guessing stops there. A
successful login clears its username's count (not the address's: an attacker with an account of their
own must not be able to reset the address count between guesses).

The cache is the site's shared one (DatabaseCache or Redis), so every process sees the same counts.
Counting uses `cache.incr`, atomic on Redis and LocMem; on DatabaseCache two simultaneous failures can
count once, which the address limit still bounds.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.contrib.auth import authenticate as django_authenticate
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from mlops_site import audit
from mlops_site.errors import RateLimited

__all__ = ["authenticate", "check", "client_address"]


def client_address(request) -> str:
    """The client's address as the API throttles see it (X-Forwarded-For only behind our own proxy)."""
    return BaseThrottle().get_ident(request) or "unknown"


def _subjects(request, username: str) -> list[tuple[str, str, int]]:
    """(kind, cache key part, limit) for each limit that is on."""
    user_key = hashlib.sha256(username.casefold().encode("utf-8", "surrogatepass")).hexdigest()[:40]
    addr_key = hashlib.sha256(client_address(request).encode()).hexdigest()[:40]
    subjects = [
        ("username", f"user:{user_key}", settings.LOGIN_FAILURES_PER_USER),
        ("address", f"addr:{addr_key}", settings.LOGIN_FAILURES_PER_ADDRESS),
    ]
    return [subject for subject in subjects if subject[2] > 0]


def _refusal(kind: str, unlock_at: float) -> RateLimited:
    seconds = max(1, int(unlock_at - time.time()) + 1)
    wait = f"{-(-seconds // 60)} minute{'s' if seconds > 60 else ''}" if seconds >= 60 else f"{seconds} seconds"
    whom = "this username" if kind == "username" else "your address"
    return RateLimited(
        f"Too many failed logins for {whom}: logins are locked for {wait}. Try again later, or ask an admin.",
        retry_after=seconds,
        code="locked_out",
    )


def check(request, username: str) -> None:
    """RateLimited (code `locked_out`) while the username or the address is locked out."""
    for kind, key, _ in _subjects(request, username):
        unlock_at = cache.get(f"login-lock:{key}")
        if unlock_at is not None and unlock_at > time.time():
            raise _refusal(kind, unlock_at)


def _count_failure(request, username: str) -> None:
    """Count a wrong password for the username and the address; lock (audited) and refuse any that reached its limit."""
    window, lockout = settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_LOCKOUT_SECONDS
    refusal = None
    for kind, key, limit in _subjects(request, username):
        counter = f"login-fail:{key}"
        cache.add(counter, 0, timeout=window)
        try:
            failures = cache.incr(counter)
        except ValueError:  # expired between add and incr
            cache.set(counter, 1, timeout=window)
            failures = 1
        cache.touch(counter, window)  # incr may re-set the default timeout (DatabaseCache)
        if failures < limit:
            continue
        unlock_at = time.time() + lockout
        cache.set(f"login-lock:{key}", unlock_at, timeout=lockout)
        cache.delete(counter)
        User = get_user_model()
        target = User._default_manager.filter(**{User.USERNAME_FIELD: username}).first()
        audit.record(
            actor=None,
            action="auth.locked_out",
            target=target,
            after={
                "by": kind,
                "username": username[:150],
                "address": client_address(request),
                "failures": failures,
                "seconds": lockout,
            },
        )
        refusal = refusal or _refusal(kind, unlock_at)
    if refusal is not None:
        raise refusal


def authenticate(request, username: str, password: str):
    """Django's `authenticate` behind the lockout: the user, None for a wrong password, or RateLimited."""
    check(request, username)
    user = django_authenticate(request, username=username, password=password)
    if user is None:
        _count_failure(request, username)
        return None
    for kind, key, _ in _subjects(request, username):
        if kind == "username":
            cache.delete(f"login-fail:{key}")
    return user
