"""What goes over the wire: the JSON body, the Stripe-style signature, the retry schedule, and the POST.

No ORM and no Django here, so receivers can use `verify` as it is (docs/webhooks.md), its
expectations are tested against independently computed HMACs, and the schedule is read in one
place. `post` is the one network call: it resolves and checks the host every time, connects to the
address it checked, follows no redirect, and turns every failure into an `Outcome`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

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


class Refused(Exception):
    """The URL's host resolves to an address webhooks may not reach (private addresses are not allowed)."""


def public_address(url: str, *, allow_private: bool) -> str | None:
    """The address to connect to, after checking every address the host resolves to; None when any is allowed.

    Raises Refused naming the address and why, or OSError when the host does not resolve.
    """
    if allow_private:
        return None
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme.lower() == "https" else 80)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for info in infos:
        address = info[4][0]
        problem = address_problem(address)
        if problem:
            raise Refused(
                f"{host} resolves to {address}, a {problem} address: webhooks only go to public addresses "
                "(set WEBHOOK_ALLOW_PRIVATE=1 to allow private ones)."
            )
    return infos[0][4][0]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a place to re-send a signed body (urllib would turn a POST into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _pinned(connection_class, address: str):
    """A connection class that connects to the address we checked, so a DNS answer that changes between the
    check and the connection cannot send the request elsewhere; TLS still checks the certificate of the host."""

    class Pinned(connection_class):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._create_connection = lambda addr, *rest, **kw: socket.create_connection(
                (address, addr[1]), *rest, **kw
            )

    return Pinned


class _PinnedHTTP(urllib.request.HTTPHandler):
    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def http_open(self, req):
        return self.do_open(_pinned(http.client.HTTPConnection, self.address), req)


class _PinnedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, address: str):
        super().__init__()
        self.address = address

    def https_open(self, req):
        return self.do_open(_pinned(http.client.HTTPSConnection, self.address), req, context=self._context)


def _opener_for(url: str, allow_private: bool):
    """The opener for one delivery: pinned to the checked address (raises Refused, or OSError if unresolved)."""
    address = public_address(url, allow_private=allow_private)
    if address is None or urllib.request.getproxies().get(urlsplit(url).scheme.lower()):
        return _opener  # private addresses allowed, or a proxy that resolves the host itself
    return urllib.request.build_opener(_NoRedirects, _PinnedHTTP(address), _PinnedHTTPS(address))


@dataclass
class Outcome:
    status: int | None = None
    body: str = ""
    error: str = ""
    duration_ms: float = 0.0
    refused: bool = False  # the address is not allowed: not sent, and not retried


def _read(response) -> str:
    raw = response.read(RESPONSE_BODY_CHARS * 4)
    return raw.decode("utf-8", errors="replace")[:RESPONSE_BODY_CHARS]


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool = False) -> Outcome:
    """POST once; every network failure becomes an outcome, never an exception.

    The host is resolved and checked again here (DNS may have changed since the webhook was saved).
    """
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    started = time.monotonic()
    outcome = Outcome()
    try:
        opener = _opener_for(url, allow_private)
    except Refused as exc:
        outcome.refused, outcome.error = True, f"Refused, not sent: {exc}"
        logger.warning("webhook delivery to %s refused: %s", url, exc)
        return outcome
    except OSError as exc:
        outcome.error = f"Could not resolve {urlsplit(url).hostname}: {exc.strerror or exc}"
        return outcome
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            outcome.status = response.status
            outcome.body = _read(response)
    except urllib.error.HTTPError as exc:  # a non-2xx answer: the receiver is there but refused
        outcome.status = exc.code
        try:
            outcome.body = _read(exc)
        except (OSError, http.client.HTTPException):
            pass
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        outcome.error = f"Could not connect: {exc.reason}"
    except TimeoutError:
        outcome.error = f"No answer within {TIMEOUT_SECONDS:g} s."
    except (OSError, http.client.HTTPException, ValueError) as exc:
        outcome.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    outcome.duration_ms = round((time.monotonic() - started) * 1000, 1)
    return outcome
