"""Request id propagation and login enforcement for pages (the API answers 401 instead)."""

from __future__ import annotations

import re
import uuid

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import Http404, HttpResponseBadRequest, JsonResponse

from mlops_site import context

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_HUGE_ID = re.compile(r"/\d{19,}(/|$)")


class RequestIdMiddleware:
    """Take X-Request-ID from the caller (or make one), expose it to audit rows, echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        token = context.request_id.set(request.id)
        try:
            response = self.get_response(request)
        finally:
            context.request_id.reset(token)
        response["X-Request-ID"] = request.id
        return response


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Redirect anonymous visitors of pages to the login page; leave the API and /healthz alone."""

    exempt_prefixes = ("/api/", "/healthz", "/static/", "/media/")

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith(self.exempt_prefixes):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestTextMiddleware:
    """Refuse a path or query string holding NUL (`%00`) with a 400 naming the parameter; an id past
    2**63 - 1 in the path is a 404.

    PostgreSQL cannot store or compare text with NUL in it, so `?model=%00` reached the database as a
    filter and answered 500. Query strings are decoded with replacement characters, so lone surrogates
    cannot arrive this way; bodies are checked by `mlops_site.api.parsers`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from mlops_site.api.parsers import MAX_INT, text_problem

        errors = {}
        if problem := text_problem(request.path):
            errors["path"] = [problem]
        elif _HUGE_ID.search(request.path) and any(
            part.isdigit() and int(part) > MAX_INT for part in request.path.split("/")
        ):
            # An id past the databases' bigint names nothing (and SQLite cannot even bind it).
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": "Not found.", "code": "not_found", "errors": {}}, status=404)
            raise Http404("No such object.")
        for key, values in request.GET.lists():
            for value in (key, *values):
                if problem := text_problem(value):
                    errors[repr(key)[1:-1]] = [problem]
        if not errors:
            return self.get_response(request)
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Invalid input.", "code": "invalid", "errors": errors}, status=400)
        return HttpResponseBadRequest(f"Bad request: {', '.join(errors)}: {next(iter(errors.values()))[0]}")
