"""FilterSets of the deployment lists, shared by the pages and the API."""

from __future__ import annotations

import django_filters

from deployments.models import Deployment, Prediction
from mlops_site.filters import SortFilter, UtcIsoDateTimeField, UtcIsoDateTimeFilter


class DeploymentFilter(django_filters.FilterSet):
    sort = SortFilter(
        fields={
            "environment": "environment__name",
            "model": "model__name",
            "revision": "revision",
            "updated": "updated_at",
        },
        default="environment",
    )

    class Meta:
        model = Deployment
        fields: list[str] = []


class SinceField(UtcIsoDateTimeField):
    default_error_messages = {"invalid": "An ISO 8601 time, e.g. 2026-11-23T10:00:00Z."}


class SinceFilter(UtcIsoDateTimeFilter):
    field_class = SinceField


class PredictionFilter(django_filters.FilterSet):
    deployment = django_filters.CharFilter(
        method="filter_deployment", label="environment/model, e.g. production/credit-default"
    )
    since = SinceFilter(field_name="created_at", lookup_expr="gte", label="ISO 8601 time; predictions at or after it")
    sort = SortFilter(fields={"created": "created_at", "latency": "latency_ms"}, default="-created")

    class Meta:
        model = Prediction
        fields = ["deployment", "since"]

    def filter_deployment(self, queryset, name, value):
        environment, _, model = value.partition("/")
        return queryset.filter(deployment__environment__name=environment, deployment__model__name=model)
