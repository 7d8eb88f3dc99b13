"""Typed readers for environment variables, used once at the top of settings.py."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def load_or_create_secret_key(path: Path) -> str:
    """Keep one generated key per data folder, so sessions and signed task packages survive restarts."""
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # the data folder: database, media, keys
    key = secrets.token_urlsafe(50)
    # Create with 0600 so the key is never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A limit written as `count/period` (`10/hour`, `60/min`, `5/15min`) → (count, seconds); `0` or `off` → None."""
    raw = os.environ.get(name, default).strip().lower()
    if raw in ("", "0", "off", "none"):
        return None
    count, _, period = raw.partition("/")
    number = "".join(ch for ch in period if ch.isdigit())
    unit = period[len(number) :].strip()
    try:
        if int(count) < 1 or unit not in _PERIODS:
            raise ValueError
        return int(count), int(number or 1) * _PERIODS[unit]
    except ValueError:
        raise ImproperlyConfigured(f"{name} must look like 10/hour or 60/min (or off), got {raw!r}") from None
