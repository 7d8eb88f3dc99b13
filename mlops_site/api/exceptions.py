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
        body = {"detail": str(detail), "code": code, "errors": {}}
    return Response(body, status=response.status_code, headers=_headers(response))


def _headers(response) -> dict[str, str]:
    return {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}


def error_response(message: str, code: str, http_status: int) -> Response:
    return Response({"detail": message, "code": code, "errors": {}}, status=http_status)
