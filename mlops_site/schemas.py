"""Validating a service's input against its schema: the one place an input is checked.

Each app keeps its input schemas, DRF serializers, in `<app>/schemas.py`, next to the services that own
them. The service validates (so the API, the pages, tasks and the demo get the same checks and
messages), the API view documents the same class as its request body, and a page form only turns
HTML widgets into Python values before handing `cleaned_data` to the service.

    # monitoring/schemas.py
    class MonitorSettings(serializers.Serializer):
        window_hours = serializers.IntegerField(min_value=1, max_value=24 * 90)

    # monitoring/services/monitors.py
    def update_monitor(monitor, data, *, actor):
        clean = schemas.validate(MonitorSettings, data, partial=True)

A refusal is Django's ValidationError keyed by field, nested fields dotted (`thresholds.psi`,
`params.max_depth`, `points[3].value`), which the API's handler and `ui.form_errors` both read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers


def flatten(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {dotted field: [messages]}."""
    if isinstance(detail, Mapping):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(key, int):  # an item of a list (DRF keys list errors by index)
                out |= flatten(value, f"{prefix}[{key}]")
            elif key == "non_field_errors" and prefix:
                out |= flatten(value, prefix)
            else:
                out |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    if isinstance(detail, list) and detail and not all(isinstance(item, str) for item in detail):
        out = {}
        for index, item in enumerate(detail):
            if item:
                out |= flatten(item, f"{prefix}[{index}]")
        return out
    messages = [str(item) for item in (detail if isinstance(detail, list) else [detail])]
    return {prefix or "non_field_errors": messages}


def validate(schema: type[serializers.Serializer], data: Any, *, partial: bool = False, context=None) -> Any:
    """`data` checked by `schema`: its validated data, or a ValidationError naming each bad field."""
    serializer = schema(data=data, partial=partial, context=context or {})
    if not serializer.is_valid():
        raise ValidationError(flatten(serializer.errors))
    return serializer.validated_data
