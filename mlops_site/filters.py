"""FilterSets shared by the API and the HTML lists."""

import django_filters
from django import forms
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


class SortFilter(django_filters.OrderingFilter):
    """`?sort=<key>` or `?sort=-<key>` over `fields` (key -> model field), the one ordering of every list.

    Pages and the API share it through their FilterSet. An unknown key falls back to `default` rather
    than failing (a stale bookmark still shows the list), ties break on `-pk` so pages never overlap, and
    `sort_key(filterset)` gives the effective key for the table headers' arrows.

        sort = SortFilter(fields={"created": "created_at", "name": "name"}, default="-created")
    """

    def __init__(self, *, fields: dict[str, str], default: str, **kwargs):
        self.sort_fields, self.default = dict(fields), default
        kwargs.setdefault("label", "Sort by")
        kwargs.setdefault("help_text", f"One of {', '.join(fields)}; prefix '-' for descending. Default {default}.")
        super().__init__(fields={field: key for key, field in fields.items()}, **kwargs)

    def effective(self, value) -> str:
        requested = (value[0] if isinstance(value, list | tuple) and value else value) or self.default
        return requested if requested.lstrip("-") in self.sort_fields else self.default

    def filter(self, qs, value):
        requested = self.effective(value)
        field = self.sort_fields[requested.lstrip("-")]
        return qs.order_by(f"-{field}" if requested.startswith("-") else field, "-pk")

    @property
    def field(self):
        # Any text validates: an unknown key is not an error here, it is the default order. Hidden, so a
        # filter form keeps the order the table headers chose (templates render `filter.form.visible_fields`).
        if not hasattr(self, "_field"):
            self._field = forms.CharField(
                required=False, label=self.label, help_text=self.extra.get("help_text"), widget=forms.HiddenInput
            )
        return self._field


def sort_key(filterset) -> str:
    """The sort in effect for `filterset`'s SortFilter named `sort` (for the headers' arrows)."""
    sort = filterset.filters["sort"]
    return sort.effective(filterset.form.cleaned_data.get("sort") if filterset.form.is_valid() else None)


class JobFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Job.Status.choices, empty_label="Any")
    kind = django_filters.CharFilter(lookup_expr="exact")
    created_by = django_filters.CharFilter(field_name="created_by__username", label="Started by (username)")
    mine = django_filters.ChoiceFilter(
        choices=[("true", "Only mine")], empty_label="Everyone's", method="filter_mine", label="Started by me"
    )

    sort = SortFilter(
        fields={
            "created": "created_at",
            "status": "status",
            "kind": "kind",
            "started": "started_at",
            "finished": "finished_at",
        },
        default="-created",
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
    sort = SortFilter(fields={"time": "created_at", "action": "action", "actor": "actor_name"}, default="-time")
    until = UtcIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        label="Until (UTC)",
        widget=DateTimeInput(attrs={"type": "datetime-local"}),
    )

    class Meta:
        model = AuditEvent
        fields = ["actor", "action", "target_type", "target_id", "request_id", "since", "until"]
