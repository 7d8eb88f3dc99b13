"""FilterSets shared by the API and the HTML lists."""

import django_filters
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.forms import DateTimeInput

from mlops_site.api.parsers import as_utc
from mlops_site.models import AuditEvent, Job
from mlops_site.roles import PLATFORM_APPS


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time, moved to UTC so any offset Python reads is one the database takes."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        utc = as_utc(parsed)
        if utc is None:
            raise ValidationError("A time between the years 1 and 9999.", code="invalid")
        return utc


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class JobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices, empty_label="Any")
    kind = django_filters.CharFilter(lookup_expr="exact")
    created_by = django_filters.CharFilter(field_name="created_by__username", label="Started by (username)")
    mine = django_filters.ChoiceFilter(
        choices=[("true", "Only mine")], empty_label="Everyone's", method="filter_mine", label="Started by me"
    )

    class Meta:
        model = Job
        fields = ["status", "kind", "created_by", "mine"]

    def filter_mine(self, queryset, name, value):
        if value == "true" and self.request is not None and self.request.user.is_authenticated:
            return queryset.filter(created_by=self.request.user)
        return queryset


class AuditEventFilter(django_filters.FilterSet):
    actor = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.order_by("username"),
        to_field_name="username",
        label="Actor",
        empty_label="Anyone",
    )
    action = django_filters.CharFilter(lookup_expr="startswith", label="Action starts with")
    target_type = django_filters.ModelChoiceFilter(
        queryset=ContentType.objects.filter(app_label__in=[*PLATFORM_APPS, "auth"]).order_by("app_label", "model"),
        label="Object type",
        empty_label="Any",
    )
    target_id = django_filters.CharFilter(label="Object id")
    request_id = django_filters.CharFilter(label="Request id")
    since = UtcIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label="Since (UTC)",
        widget=DateTimeInput(attrs={"type": "datetime-local"}),
    )
    until = UtcIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        label="Until (UTC)",
        widget=DateTimeInput(attrs={"type": "datetime-local"}),
    )

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target_type", "target_id", "request_id", "since", "until"]
