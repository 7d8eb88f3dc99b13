"""A repeated request does one thing: the API's `Idempotency-Key` header and the pages' one-time form tokens.

Both are checked here, in one middleware, for every view:

- API (`/api/`, POST/PUT/PATCH/DELETE, header `Idempotency-Key`): the first request with a key claims it
  (a row in `IdempotencyKey`, committed before the view runs) and its answer is kept for
  `IDEMPOTENCY_TTL_HOURS`. The same key again with the same method, path and body gets that answer back
  (header `Idempotent-Replayed: true`) and changes nothing; with another method, path or body it is a 409;
  while the first is still running it is a 409 with `Retry-After`. Keys are per user.
- Pages: `{% submit_once %}` renders a hidden one-time token into a form. A second submission of the same
  rendered form waits for the first to finish, then gets its answer (a redirect to what it created, with a
  message) instead of creating a second object.

5xx answers are not kept (the client may retry), nor 401/403/429: those refuse before the action runs, so
the client may fix its credentials or wait and retry with the same key. Only a hash of each key is stored,
and the kept answer is sealed with a key derived from the raw key and SECRET_KEY, because answers can hold
secrets (a new API token's key) that must not sit readable in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from mlops_site.models import IdempotencyKey

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
FORM_FIELD = "_submit_once"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII without spaces, as Stripe and the IETF draft
FORM_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
NOT_KEPT = frozenset({401, 403, 429})
REPLAYED_HEADERS = ("Content-Type", "Location", "Allow", "Content-Disposition", "Content-Language")
WAIT_STEP_SECONDS = 0.1


def new_form_token() -> str:
    """A fresh one-time token for one rendering of one form."""
    return secrets.token_urlsafe(18)


# --- Claims -------------------------------------------------------------------------------------


@dataclass
class Claim:
    """This request holds the key: it runs the view, then `finish` keeps (or releases) its answer."""

    row_id: int
    user_id: int
    raw_key: str


@dataclass
class Refusal:
    """Someone else holds the key: `reason` is "mismatch", "running" or "unreadable"."""

    reason: str
    row: IdempotencyKey | None


@dataclass
class Replay:
    """The key's first answer, ready to send again."""

    status: int
    headers: dict[str, str]
    body: bytes


def _key_hash(kind: str, raw_key: str) -> str:
    return hashlib.sha256(f"{kind}:{raw_key}".encode()).hexdigest()


def claim(
    *, user_id: int, kind: str, raw_key: str, fingerprint: str, method: str, path: str
) -> Claim | Refusal | Replay:
    """Take the key for this request, or say why not (or give back the first answer).

    The unique (user, key hash) constraint decides between two concurrent first requests: the INSERT of the
    second waits for the first's commit (PostgreSQL) or the write lock (SQLite), then fails.
    """
    key_hash = _key_hash(kind, raw_key)
    ttl = timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    stale = timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS)
    for _ in range(5):
        now = timezone.now()
        try:
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    user_id=user_id, key_hash=key_hash, fingerprint=fingerprint, method=method, path=path[:500]
                )
            return Claim(row_id=row.pk, user_id=user_id, raw_key=raw_key)
        except IntegrityError:
            pass
        row = IdempotencyKey.objects.filter(user_id=user_id, key_hash=key_hash).first()
        if row is None:  # released in between (its first answer was a 5xx): try again
            continue
        if row.created_at < now - ttl:  # expired, not swept yet: this is a new request
            IdempotencyKey.objects.filter(pk=row.pk, created_at=row.created_at).delete()
            continue
        if row.fingerprint != fingerprint:
            return Refusal("mismatch", row)
        if row.state == IdempotencyKey.State.RUNNING:
            # A claim this old lost its process (killed mid-request): take it over, once.
            if row.created_at < now - stale:
                taken = IdempotencyKey.objects.filter(
                    pk=row.pk, state=IdempotencyKey.State.RUNNING, created_at=row.created_at
                ).update(created_at=now)
                if taken:
                    return Claim(row_id=row.pk, user_id=user_id, raw_key=raw_key)
            return Refusal("running", row)
        replay = _open(row, raw_key)
        return replay if replay is not None else Refusal("unreadable", row)
    return Refusal("running", row)


def finish(held: Claim, response: HttpResponse) -> None:
    """Keep the answer for replays, or release the key when the answer must not be replayed."""
    try:
        if response.streaming or response.status_code >= 500 or response.status_code in NOT_KEPT:
            IdempotencyKey.objects.filter(pk=held.row_id, state=IdempotencyKey.State.RUNNING).delete()
            return
        headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
        sealed = _seal(held, response.status_code, headers, response.content)
        IdempotencyKey.objects.filter(pk=held.row_id).update(
            state=IdempotencyKey.State.DONE,
            status_code=response.status_code,
            response=sealed,
            finished_at=timezone.now(),
        )
    except DatabaseError:  # the answer still goes out; the key stays claimed until it goes stale
        log.exception("Could not keep the answer of idempotency key row %s", held.row_id)


def sweep_expired(now=None) -> int:
    """Delete keys older than IDEMPOTENCY_TTL_HOURS (the `sweep-idempotency-keys` schedule)."""
    now = now or timezone.now()
    deleted, _ = IdempotencyKey.objects.filter(
        created_at__lt=now - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS)
    ).delete()
    return deleted


# --- Sealing ------------------------------------------------------------------------------------
# A SHAKE-256 keystream (keyed by HMAC(SECRET_KEY, user and raw key) and a random nonce) XORed with the
# answer, then an HMAC-SHA256 tag over nonce and ciphertext: stdlib only, and without the raw key (which
# only the client holds) a stored answer can be neither read nor forged.


def _secret(user_id: int, raw_key: str) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"idempotency:{user_id}:{raw_key}".encode(), "sha256").digest()


def _xor(data: bytes, stream: bytes) -> bytes:
    if not data:
        return b""
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(len(data), "big")


def _seal(held: Claim, status: int, headers: dict[str, str], body: bytes) -> bytes:
    plain = json.dumps({"status": status, "headers": headers}).encode() + b"\0" + body
    secret = _secret(held.user_id, held.raw_key)
    nonce = secrets.token_bytes(16)
    cipher = _xor(plain, hashlib.shake_256(secret + nonce).digest(len(plain)))
    tag = hmac.new(secret, nonce + cipher, "sha256").digest()
    return nonce + tag + cipher


def _open(row: IdempotencyKey, raw_key: str) -> Replay | None:
    sealed = bytes(row.response or b"")
    secret = _secret(row.user_id, raw_key)
    nonce, tag, cipher = sealed[:16], sealed[16:48], sealed[48:]
    if len(sealed) < 48 or not hmac.compare_digest(tag, hmac.new(secret, nonce + cipher, "sha256").digest()):
        return None  # SECRET_KEY changed since
    plain = _xor(cipher, hashlib.shake_256(secret + nonce).digest(len(cipher)))
    meta, _, body = plain.partition(b"\0")
    head = json.loads(meta)
    return Replay(status=head["status"], headers=head["headers"], body=body)


# --- Requests -----------------------------------------------------------------------------------


class _Unhashable(Exception):
    """The body cannot be read here; the view will refuse it with its own answer."""


def _body_digest(request: HttpRequest) -> str:
    """A digest of what the request sends. Multipart bodies by their fields and files' contents, because
    a client's retry picks a new random boundary; other bodies byte for byte."""
    digest = hashlib.sha256()
    content_type = request.content_type or ""
    try:
        if content_type == "multipart/form-data":
            for name, values in sorted(request.POST.lists()):
                digest.update(json.dumps(["field", name, values]).encode())
            for name, files in sorted(request.FILES.lists()):
                for upload in files:
                    digest.update(json.dumps(["file", name, upload.name, upload.size]).encode())
                    for chunk in upload.chunks():
                        digest.update(chunk)
                    upload.seek(0)
        else:
            digest.update(request.body)
    except (RequestDataTooBig, UnreadablePostError, MultiPartParserError, SuspiciousOperation) as exc:
        raise _Unhashable from exc
    return digest.hexdigest()


def _fingerprint(request: HttpRequest, body_digest: str) -> str:
    parts = [request.method, request.get_full_path(), request.content_type or "", body_digest]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _api_user_id(request: HttpRequest) -> int | None:
    """The user the API will act for: the token's owner, or the session's user when no token is sent.

    The token is looked up once per request: `ApiTokenAuthentication` reuses this answer. An unknown token
    gives None, and DRF answers 401 as usual.
    """
    header = request.headers.get("Authorization", "").split()
    if header and header[0].lower() in ("token", "bearer"):
        if len(header) != 2:
            return None
        from mlops_site import services

        token = services.authenticate_token(header[1])
        request._authenticated_token = (header[1], token)  # DRF's authentication reuses this lookup
        return token.user_id if token is not None else None
    user = getattr(request, "user", None)
    return user.pk if user is not None and user.is_authenticated else None


def error(detail: str, code: str, status: int, errors: dict | None = None, **headers: str) -> JsonResponse:
    """The API's error shape ({detail, code, errors}), for answers given before any view runs."""
    response = JsonResponse({"detail": detail, "code": code, "errors": errors or {}}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _replayed(replay: Replay) -> HttpResponse:
    response = HttpResponse(replay.body, status=replay.status)
    for name, value in replay.headers.items():
        response[name] = value
    response["Idempotent-Replayed"] = "true"
    return response


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """Where a refused form submission goes: the page it came from, when that is ours."""
    referer = request.headers.get("Referer", "")
    if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return HttpResponseRedirect(referer)
    return HttpResponseRedirect("/")


class IdempotencyMiddleware:
    """Checks the API's Idempotency-Key and the pages' one-time form tokens before the view, keeps the answer after.

    Runs in `process_view`, after CSRF and login checks, so a refused request never claims a key.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        held: Claim | None = getattr(request, "_idempotency_claim", None)
        if held is not None:
            finish(held, response)
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.method not in UNSAFE_METHODS:
            return None
        if request.path.startswith("/api/"):
            return self._api(request)
        if request.method == "POST":
            return self._form(request)
        return None

    def _api(self, request: HttpRequest) -> HttpResponse | None:
        raw_key = request.headers.get(HEADER)
        if raw_key is None:
            return None
        if not KEY_PATTERN.fullmatch(raw_key):
            return error(
                "Invalid input.",
                "invalid",
                400,
                {HEADER: ["1–255 printable ASCII characters without spaces, e.g. a UUID."]},
            )
        user_id = _api_user_id(request)
        if user_id is None:  # anonymous: nothing to scope the key to; the view answers (401 mostly)
            return None
        try:
            fingerprint = _fingerprint(request, _body_digest(request))
        except _Unhashable:
            return None
        outcome = claim(
            user_id=user_id,
            kind="api",
            raw_key=raw_key,
            fingerprint=fingerprint,
            method=request.method,
            path=request.get_full_path(),
        )
        if isinstance(outcome, Claim):
            request._idempotency_claim = outcome
            return None
        if isinstance(outcome, Replay):
            return _replayed(outcome)
        if outcome.reason == "running":
            return error(
                "A request with this Idempotency-Key is still in progress; retry shortly to get its answer.",
                "idempotency_in_progress",
                409,
                Retry_After="1",
            )
        if outcome.reason == "unreadable":
            return error(
                "This Idempotency-Key was already used, and its answer can no longer be read. Use a new key.",
                "idempotency_key_reused",
                409,
            )
        return error(
            f"This Idempotency-Key was already used for another request ({outcome.row.method} {outcome.row.path}, "
            "or another body). Use a new key for a new request.",
            "idempotency_key_reused",
            409,
        )

    def _form(self, request: HttpRequest) -> HttpResponse | None:
        token = request.POST.get(FORM_FIELD)
        user = getattr(request, "user", None)
        if not token or not FORM_TOKEN_PATTERN.fullmatch(token) or user is None or not user.is_authenticated:
            return None
        # The token is unique to one rendering of one form: method and path are enough to tell misuse.
        fingerprint = _fingerprint(request, "")
        deadline = time.monotonic() + settings.IDEMPOTENCY_FORM_WAIT_SECONDS
        while True:
            outcome = claim(
                user_id=user.pk,
                kind="form",
                raw_key=token,
                fingerprint=fingerprint,
                method=request.method,
                path=request.path,
            )
            if isinstance(outcome, Claim):
                request._idempotency_claim = outcome
                return None
            if isinstance(outcome, Replay):
                return self._form_replay(request, outcome)
            if outcome.reason != "running" or outcome.row is None or time.monotonic() >= deadline:
                break
            # The first submission is still running (a double click): its answer is what this one shows.
            # Wait by reading (no write lock taken on SQLite), then claim again once it has finished.
            running = IdempotencyKey.objects.filter(pk=outcome.row.pk, state=IdempotencyKey.State.RUNNING)
            while time.monotonic() < deadline and running.exists():
                time.sleep(WAIT_STEP_SECONDS)
        if outcome.reason == "running":
            messages.info(request, "This form was already sent and is still being processed; reload in a moment.")
        else:
            messages.warning(request, "This form was already sent. Open it again to send it anew.")
        return _back(request)

    def _form_replay(self, request: HttpRequest, replay: Replay) -> HttpResponse:
        if 300 <= replay.status < 400 and "Location" in replay.headers:
            messages.info(request, "This form was already sent: here is what it did. Open it again to send it anew.")
            return HttpResponseRedirect(replay.headers["Location"])
        return _replayed(replay)


# --- OpenAPI ------------------------------------------------------------------------------------

HEADER_PARAMETER = {
    "in": "header",
    "name": HEADER,
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
    "description": (
        "Optional. Send the same key (e.g. a UUID) with a retry: within 24 hours the same key with the same "
        "method, path and body returns the first answer (header `Idempotent-Replayed: true`) and changes "
        "nothing; with another body it is a 409 `idempotency_key_reused`; while the first is still running, "
        "a 409 `idempotency_in_progress` with `Retry-After`. Keys are per user; 5xx, 401, 403 and 429 "
        "answers are not kept."
    ),
}


def document_header(result, generator, request, public):
    """drf-spectacular postprocessing hook: the optional Idempotency-Key header on every state-changing call."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if method.upper() not in UNSAFE_METHODS:
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("in") == "header" and p.get("name") == HEADER for p in parameters):
                parameters.append(dict(HEADER_PARAMETER))
    return result
