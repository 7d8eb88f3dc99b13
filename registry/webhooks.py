"""Webhook wire format, pure: the JSON body, the Stripe-style signature, and the retry schedule.

No ORM and no I/O here, so receivers' expectations (docs/webhooks.md) can be tested against
independently computed HMACs, and the schedule read in one place.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import time
from datetime import timedelta
from typing import Any

SIGNATURE_HEADER = "X-MLOps-Signature"
EVENT_HEADER = "X-MLOps-Event"
DELIVERY_HEADER = "X-MLOps-Delivery"
USER_AGENT = "mlops-webhooks/1"

TIMEOUT_SECONDS = 5.0
RESPONSE_BODY_CHARS = 2000
# Seconds to wait after attempt n fails (n = 1..4); attempt 5 is the last.
BACKOFF_SECONDS = (30, 120, 600, 3600)
MAX_ATTEMPTS = len(BACKOFF_SECONDS) + 1
# A claimed attempt is retried by the next sweep if its worker has not reported back by then.
LEASE_SECONDS = 60
SIGNATURE_TOLERANCE_SECONDS = 300


def encode(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def _digest(secret: str, timestamp: int, body: bytes | str) -> str:
    message = f"{timestamp}.".encode() + _as_bytes(body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`; the timestamp lets receivers refuse replays."""
    return f"t={int(timestamp)},v1={_digest(secret, int(timestamp), body)}"


def parse_signature(header: str) -> tuple[int | None, list[str]]:
    """The timestamp and every v1 signature in a header (several during a secret rotation)."""
    timestamp, signatures = None, []
    for part in (header or "").split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return None, []
        elif key == "v1" and value:
            signatures.append(value)
    return timestamp, signatures


def verify(
    secret: str,
    header: str,
    body: bytes | str,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within the tolerance."""
    timestamp, signatures = parse_signature(header)
    if timestamp is None or not signatures:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, timestamp, body)
    # compare_digest on every candidate: the time taken does not reveal which bytes matched.
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)


def headers(*, event: str, delivery_id: str, signature: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        SIGNATURE_HEADER: signature,
    }


def retry_delay(attempts: int) -> timedelta | None:
    """How long to wait after `attempts` failed attempts, or None when the delivery has failed for good."""
    if attempts < 1 or attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=BACKOFF_SECONDS[attempts - 1])


def succeeded(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def address_problem(address: str) -> str | None:
    """Why `address` (a resolved IP) is not a public destination for a webhook, or None when it is.

    Refused: loopback, private, link-local, multicast, reserved, unspecified, anything else not globally
    routable (e.g. 100.64.0.0/10), and IPv4-mapped IPv6 addresses of any of those.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    mapped = ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip, mapped = ip.ipv4_mapped, "IPv4-mapped "
    for kind in ("loopback", "unspecified", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return f"{mapped}{kind.replace('_', '-')}"
    if not ip.is_global:
        return f"{mapped}non-public"
    return None
