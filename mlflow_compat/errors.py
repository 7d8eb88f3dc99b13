"""MLflow's error shape, `{"error_code": ..., "message": ...}`, which the client branches on.

The client treats RESOURCE_DOES_NOT_EXIST (404) as "create it" in `set_experiment` and friends, and
RESOURCE_ALREADY_EXISTS (400) as "someone else created it", so the codes matter as much as the text.
The site's own exceptions (Django's ValidationError, Conflict, PermissionDenied, DRF's) are translated
here; the message is the service's own sentence.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response

from mlops_site.errors import Conflict, RateLimited

INVALID = "INVALID_PARAMETER_VALUE"
NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
EXISTS = "RESOURCE_ALREADY_EXISTS"
INVALID_STATE = "INVALID_STATE"


class MlflowError(Exception):
    def __init__(self, message: str, code: str = INVALID, status: int = 400):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def invalid(message: str) -> MlflowError:
    return MlflowError(message, INVALID, 400)


def not_found(message: str) -> MlflowError:
    return MlflowError(message, NOT_FOUND, 404)


def already_exists(message: str) -> MlflowError:
    return MlflowError(message, EXISTS, 400)


def validation_message(exc: DjangoValidationError) -> str:
    """A ValidationError's sentences in one line, each after its field ("name: An experiment …")."""
    if hasattr(exc, "error_dict"):
        parts = []
        for field, errors in exc.error_dict.items():
            for error in errors:
                for message in error.messages:
                    parts.append(message if field in ("__all__", "non_field_errors") else f"{field}: {message}")
        return " ".join(parts)
    return " ".join(exc.messages)


def _drf_message(detail) -> str:
    if isinstance(detail, dict):
        return " ".join(
            f"{k}: {_drf_message(v)}" if k not in ("detail", "non_field_errors") else _drf_message(v)
            for k, v in detail.items()
        )
    if isinstance(detail, list):
        return " ".join(_drf_message(d) for d in detail)
    return str(detail)


DRF_CODES = {
    exceptions.NotAuthenticated: ("UNAUTHENTICATED", 401),
    exceptions.AuthenticationFailed: ("UNAUTHENTICATED", 401),
    exceptions.PermissionDenied: ("PERMISSION_DENIED", 403),
    exceptions.NotFound: (NOT_FOUND, 404),
    exceptions.MethodNotAllowed: ("ENDPOINT_NOT_FOUND", 405),
    exceptions.ParseError: ("MALFORMED_REQUEST", 400),
    exceptions.UnsupportedMediaType: ("MALFORMED_REQUEST", 415),
    exceptions.Throttled: ("REQUEST_LIMIT_EXCEEDED", 429),
}


def translate(exc: Exception) -> MlflowError | None:
    """The MLflow error for an exception raised in a view or a service (None: not ours to answer)."""
    if isinstance(exc, MlflowError):
        return exc
    if isinstance(exc, DjangoValidationError):
        return invalid(validation_message(exc))
    if isinstance(exc, Conflict):
        return MlflowError(exc.message, INVALID_STATE, 400)
    if isinstance(exc, DjangoPermissionDenied):
        return MlflowError(str(exc) or "You do not have permission to do this.", "PERMISSION_DENIED", 403)
    if isinstance(exc, RateLimited):
        return MlflowError(exc.message, "REQUEST_LIMIT_EXCEEDED", 429)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return not_found(str(exc) or "Not found.")
    if isinstance(exc, OverflowError):
        return invalid("A number in the request is too large.")
    if isinstance(exc, exceptions.APIException):
        for kind, (code, status) in DRF_CODES.items():
            if isinstance(exc, kind):
                return MlflowError(_drf_message(exc.detail), code, status)
        if isinstance(exc, exceptions.ValidationError):
            return invalid(_drf_message(exc.detail))
        return MlflowError(
            _drf_message(exc.detail), INVALID if exc.status_code < 500 else "INTERNAL_ERROR", exc.status_code
        )
    return None


def exception_handler(exc, context):
    """DRF's exception handler for this app's views."""
    error = translate(exc)
    if error is None:
        return None
    headers = {}
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="mlflow", Basic realm="mlflow"'
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return Response({"error_code": error.code, "message": error.message}, status=error.status, headers=headers)


@csrf_exempt  # the client POSTs without a CSRF token: it must get this 404, not the CSRF failure page (403 HTML)
def endpoint_not_found(request, *args, **kwargs):
    """Any other path under the MLflow prefixes: MLflow's 404, not the site's HTML or JSON."""
    return JsonResponse(
        {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No MLflow endpoint {request.method} {request.path}."},
        status=404,
    )
