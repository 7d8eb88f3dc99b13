"""FilterSets of monitoring's lists, shared by the pages and the API; `sort` orders each (mlops_site.filters)."""

from __future__ import annotations

import django_filters
from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from mlops_site.api.parsers import query_id
from mlops_site.filters import SortFilter
from monitoring.models import Alert, AlertRule, DriftReport


class MonitorIdField(forms.CharField):
    """A monitor id in ASCII digits ("٣" and "¹" are digits to Python's int(), not ids)."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return None
        pk = query_id(str(value))
        if pk is None:
            raise forms.ValidationError("A monitor id.", code="invalid")
        return pk


@extend_schema_field(OpenApiTypes.INT)
class MonitorFilter(django_filters.Filter):
    field_class = MonitorIdField

    def __init__(self, **kwargs):
        super().__init__(field_name="monitor_id", **kwargs)


REPORT_SORTS = {"time": "created_at", "drifted": "drifted_count", "rows": "current_rows"}


class DriftReportFilter(django_filters.FilterSet):
    monitor = MonitorFilter(help_text="Only this monitor's reports")
    sort = SortFilter(fields=REPORT_SORTS, default="-time")

    class Meta:
        model = DriftReport
        fields = ["monitor"]


class AlertRuleFilter(django_filters.FilterSet):
    monitor = MonitorFilter(help_text="Only this monitor's rules")
    sort = SortFilter(fields={"id": "pk", "name": "name", "created": "created_at"}, default="id")

    class Meta:
        model = AlertRule
        fields = ["monitor"]


ALERT_SORTS = {"opened": "opened_at", "severity": "severity", "status": "status", "value": "value"}


class AlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=Alert.Status.choices,
        help_text="open, acknowledged or resolved",
        error_messages={"invalid_choice": f"One of {', '.join(Alert.Status.values)}."},
    )
    monitor = MonitorFilter(help_text="Only this monitor's alerts")
    severity = django_filters.ChoiceFilter(
        choices=AlertRule.Severity.choices,
        error_messages={"invalid_choice": f"One of {', '.join(AlertRule.Severity.values)}."},
    )
    sort = SortFilter(fields=ALERT_SORTS, default="-opened")

    class Meta:
        model = Alert
        fields = ["status", "monitor", "severity"]


class AlertPageFilter(AlertFilter):
    """The alert page's list: the same filters, and `status` also "active" (its default: open or acknowledged)
    or "all"."""

    status = django_filters.ChoiceFilter(
        choices=[("active", "Active"), *Alert.Status.choices, ("all", "All")], method="filter_status"
    )

    def filter_status(self, queryset, name, value):
        if value in ("", None, "active"):
            return queryset.filter(status__in=Alert.ACTIVE)
        return queryset if value == "all" else queryset.filter(status=value)

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("status"):
            queryset = self.filter_status(queryset, "status", "active")
        return super().filter_queryset(queryset)
