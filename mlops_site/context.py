"""Per-request (or per-job) context that audit rows pick up without being passed it."""

from __future__ import annotations

import contextvars

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
