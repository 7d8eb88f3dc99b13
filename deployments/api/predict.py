"""`POST /api/deployments/<environment>/<model>/predict` with a token: a plain Django view before the DRF one.

Predict is the call clients make once per row, hundreds of times a second. DRF's request wrapping, content
negotiation, authentication and permission classes, parser and renderer cost ~1.5 ms of CPU per request on a
small machine, more than scoring and logging the row together, and the URL resolver walked ~170 patterns to
reach this route. This view is matched first (`mlops_site/urls.py`) and, for a JSON body with
`Authorization: Token`, makes the same checks with the same answers: the token, its expiry, revocation, its
user being active and holding `deployments.predict` (service tokens included) in the one query
`services.authenticate_token` makes; the body through `SafeJSONParser`; errors in the API's shape. Anything
else (a session, no or another Authorization, another method or content type) goes to `PredictViewSet`
unchanged. `tests/deployments/test_predict_route.py` holds both to the same answers.
"""

from __future__ import annotations

import io
import time

import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.utils.encoders import JSONEncoder

from deployments.api import views
from mlops_site import context, lazy
from mlops_site import services as kernel_services
from mlops_site.api.parsers import SafeJSONParser
from mlops_site.permissions import DEFAULT_MESSAGE

serving = lazy.module("deployments.serving")

viewset = views.PredictViewSet.as_view({"post": "predict"})
PERMISSION = views.PredictViewSet.token_permission


@csrf_exempt  # token authentication only; a session goes to the viewset, which enforces CSRF
def predict(request, environment: str, model: str):
    header = request.META.get("HTTP_AUTHORIZATION", "").split()
    if (
        request.method != "POST"
        or len(header) != 2
        or header[0].lower() not in ("token", "bearer")
        or request.content_type != "application/json"
    ):
        return viewset(request, environment=environment, model=model)
    started = time.perf_counter()
    if too_large := views.body_too_large(request):
        return _error(413, too_large, "too_large")
    token = kernel_services.authenticate_token(header[1], permission=PERMISSION)
    if token is None:
        response = _error(401, "Invalid, expired or revoked token.", "authentication_failed")
        response["WWW-Authenticate"] = "Token"
        return response
    if not token.checked_permission[1]:
        return _error(403, DEFAULT_MESSAGE, "permission_denied")
    request.user = token.user
    try:
        body = SafeJSONParser().parse(io.BytesIO(request.body), parser_context={"encoding": request.encoding})
    except exceptions.ValidationError as exc:
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return _error(400, "Invalid input.", "invalid", errors)
    except exceptions.APIException as exc:
        return _error(exc.status_code, str(exc.detail), exc.detail.code)
    deployment = serving.deployments.find(environment, model)
    if deployment is None:
        exc = views._not_deployed(environment, model)
        return _error(404, str(exc.detail), exc.detail.code)
    try:
        answer = serving.predict(deployment, body, request_id=context.request_id.get() or "", started=started)
    except serving.ServingError as exc:
        refused = views.NotServed(exc)
        return _error(refused.status_code, str(refused.detail), refused.detail.code, refused.errors)
    return _json(200, {"predictions": answer.predictions})


def _error(status: int, detail: str, code: str, errors=None) -> HttpResponse:
    return _json(status, {"detail": detail, "code": code, "errors": errors or {}})


def _json(status: int, body: dict) -> HttpResponse:
    """Compact UTF-8 JSON, as DRF's JSONRenderer writes it with this site's settings, by orjson (a 1,000-row
    answer in ~1 ms instead of ~10); types orjson does not know go through DRF's encoder."""
    return HttpResponse(orjson.dumps(body, default=_encoder.default), status=status, content_type="application/json")


_encoder = JSONEncoder()
