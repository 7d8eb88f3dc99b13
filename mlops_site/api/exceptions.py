"""One error shape for the whole API: {"detail": str, "code": str, "errors": {field: [messages]}}."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mlops_site.errors import Conflict, RateLimited


class ConflictError(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class WrongCredentials(exceptions.APIException):
    """401 from a view without authenticators (DRF would turn AuthenticationFailed into a 403 there)."""

    status_code = status.HTTP_401_UNAUTHORIZED
    default_code = "authentication_failed"
    default_detail = "Wrong username or password."


def _django_validation_to_drf(exc: DjangoValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(
            {field: [str(m) for e in errs for m in e] for field, errs in exc.error_dict.items()}
        )
    return exceptions.ValidationError({"non_field_errors": exc.messages})


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = _django_validation_to_drf(exc)
    elif isinstance(exc, Conflict):
        exc = ConflictError(exc.message)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RateLimited):
        retry_after, exc = exc.retry_after, exceptions.Throttled(detail=exc.message, code=exc.code)
        exc.wait = retry_after  # DRF's handler turns it into Retry-After; the message already says when
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, OverflowError):
        # The backstop for a number the parsers let through that SQLite cannot bind (over 2**63 in a
        # filter): the caller's number, not a server fault. Bodies are checked by mlops_site.api.parsers.
        exc = exceptions.ValidationError({"non_field_errors": ["A number in the request is too large."]})

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        body = {"detail": "Invalid input.", "code": "invalid", "errors": errors}
    else:
        detail = data.get("detail", data) if isinstance(data, dict) else data
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        # An APIException may carry field errors beside its sentence (e.g. predict's rows at fault).
        body = {"detail": str(detail), "code": code, "errors": getattr(exc, "errors", None) or {}}
    return Response(body, status=response.status_code, headers=_headers(response))


def _headers(response) -> dict[str, str]:
    return {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}


# --- Django's own error pages, in the API's shape under /api/ -----------------------------------------------
# Django answers some requests before any DRF view runs: an unknown path (404), a body over
# DATA_UPLOAD_MAX_MEMORY_SIZE or a suspicious request (400), an unhandled error (500). Under /api/ those
# answer {detail, code, errors} too; pages keep Django's HTML templates.


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def api_bad_request(request, exception=None):
    from django.core.exceptions import RequestDataTooBig
    from django.views import defaults

    if not _is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        from mlops_site.api.parsers import max_body_bytes

        limit = max_body_bytes() / 1024 / 1024
        return _json(f"The body is larger than {limit:.0f} MB; send less per request.", "too_large", 413)
    return _json("Bad request.", "bad_request", 400)


def api_permission_denied(request, exception=None):
    from django.views import defaults

    if not _is_api(request):
        return defaults.permission_denied(request, exception)
    return _json(str(exception) if exception else "Permission denied.", "permission_denied", 403)


def api_not_found(request, exception=None):
    from django.views import defaults

    if not _is_api(request):
        return defaults.page_not_found(request, exception)
    return _json(f"No API endpoint at {request.path}.", "not_found", 404)


def api_server_error(request):
    from django.views import defaults

    if not _is_api(request):
        return defaults.server_error(request)
    return _json("Server error; the error was logged with this request's X-Request-ID.", "server_error", 500)


def _json(detail: str, code: str, http_status: int):
    from django.http import JsonResponse

    return JsonResponse({"detail": detail, "code": code, "errors": {}}, status=http_status)
