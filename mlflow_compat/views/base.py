"""The base of every view of the MLflow surface: its authentication, permissions, parsing and errors."""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, re_path
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from mlflow_compat import errors
from mlflow_compat.authentication import PasswordAuthentication
from mlops_site.api.authentication import ApiTokenAuthentication
from mlops_site.api.parsers import SafeJSONParser
from mlops_site.api.permissions import HasModelPermission


def route(path: str, view) -> URLPattern:
    """`/api/2.0/mlflow/<path>` (a literal path, as the client builds it) answered by `view`."""
    return re_path(rf"^api/2\.0/mlflow/{re.escape(path)}$", view.as_view())


class MlflowView(APIView):
    """A view answering in MLflow's JSON. Subclasses set `required_permission` (to call it at all) and
    `write_permissions` as elsewhere in the API (see `mlops_site.api.permissions`)."""

    authentication_classes = [ApiTokenAuthentication, PasswordAuthentication]
    permission_classes = [HasModelPermission]
    parser_classes = [SafeJSONParser]
    renderer_classes = [JSONRenderer]
    schema = None  # MLflow's surface is documented by MLflow; it stays out of the site's OpenAPI schema

    def get_exception_handler(self):
        return errors.exception_handler

    def params(self, request) -> dict[str, Any]:
        """The request's parameters: the query string (GET, DELETE) and the JSON body, which wins."""
        merged: dict[str, Any] = {}
        for key in request.query_params:
            values = request.query_params.getlist(key)
            merged[key] = values if len(values) > 1 else values[0]
        if request.method not in ("GET", "HEAD"):
            data = request.data
            if not isinstance(data, dict):
                raise errors.invalid("Send a JSON object.")
            merged.update(data)
        return merged
