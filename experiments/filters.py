"""FilterSets for dataset and run lists, and the translation of run search expressions to queries."""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from experiments import search
from experiments.models import Dataset, DatasetVersion, Experiment, LatestMetric, Param, Run
from mlops_site.filters import SortFilter


class DatasetFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")
    # `version_count` is annotated by the page's and the API's queryset.
    sort = SortFilter(fields={"name": "name", "created": "created_at", "versions": "version_count"}, default="name")

    class Meta:
        model = Dataset
        fields = ["name", "owner"]


class ExperimentFilter(django_filters.FilterSet):
    """The experiment list, page and API; `run_count` and `last_run` are annotated by `selectors.experiments_with_counts()`."""

    name = django_filters.CharFilter()
    sort = SortFilter(
        fields={"name": "name", "created": "created_at", "runs": "run_count", "last_run": "last_run"},
        default="name",
    )

    class Meta:
        model = Experiment
        fields = ["name"]


class DatasetVersionFilter(django_filters.FilterSet):
    dataset = django_filters.NumberFilter(field_name="dataset_id")
    sha256 = django_filters.CharFilter()
    parent = django_filters.NumberFilter(field_name="parent_id")

    class Meta:
        model = DatasetVersion
        fields = ["dataset", "sha256", "parent"]


def _like_regex(pattern: str) -> str:
    """SQL LIKE (`%` any text, `_` one character) as an anchored regex, so both databases agree."""
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    # \A…\Z and DOTALL: `%` crosses newlines and `$` cannot match before a final one, on both databases.
    return "(?s)\\A" + "".join(parts) + "\\Z"


def _tag_text(key: str) -> Cast:
    """A tag's value as plain text (the cast keeps SQLite from reading the operand as JSON)."""
    return Cast(KeyTextTransform(key, "tags"), TextField())


LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "in": "in"}
ATTRIBUTE_FIELDS = {
    "status": "status",
    "source": "source",
    "name": "name",
    "user": "user__username",
    "id": "pk",
    "experiment": "experiment_id",
    "parent": "parent_id",
}


def _compare(field: str, op: str, value) -> Q:
    """One comparison as a Q; `!=` and `not in` are the negations of `=` and `in`."""
    if op in ("like", "ilike"):
        return Q(**{f"{field}__{'regex' if op == 'like' else 'iregex'}": _like_regex(value)})
    if op == "!=":
        return ~Q(**{field: value})
    if op == "not in":
        return ~Q(**{f"{field}__in": list(value)})
    return Q(**{f"{field}__{LOOKUPS[op]}": list(value) if op == "in" else value})


def _param_condition(op: str, value) -> Q:
    """Numbers compare numerically ("3" = 3.0), text compares as text."""
    if op in (">", ">=", "<", "<="):
        return _compare("number", op, float(value))
    if op in ("=", "!="):
        same = Q(number=float(value)) if isinstance(value, int | float) else Q(value=value)
        return same if op == "=" else ~same
    if op in ("in", "not in"):
        same = Q()
        for item in value:
            same |= Q(number=float(item)) if isinstance(item, int | float) else Q(value=item)
        return same if op == "in" else ~same
    return _compare("value", op, value)


def apply_search(queryset: QuerySet, clauses: list[search.Clause]) -> QuerySet:
    """Runs matching every clause. A metric or param clause only matches runs that have that key."""
    for index, clause in enumerate(clauses):
        if clause.entity == "metrics":
            # A NaN latest value (NULL) matches nothing, `!=` included: such a run counts as one without the metric.
            latest = LatestMetric.objects.filter(run=OuterRef("pk"), key=clause.key, value__isnull=False)
            queryset = queryset.filter(Exists(latest.filter(_compare("value", clause.op, float(clause.value)))))
        elif clause.entity == "params":
            params = Param.objects.filter(run=OuterRef("pk"), key=clause.key)
            queryset = queryset.filter(Exists(params.filter(_param_condition(clause.op, clause.value))))
        elif clause.entity == "tags":
            alias = f"_tag{index}"
            queryset = queryset.alias(**{alias: _tag_text(clause.key)})
            queryset = queryset.filter(Q(**{f"{alias}__isnull": False}) & _compare(alias, clause.op, clause.value))
        elif clause.key == "dataset_version":
            # `!=` and `not in` mean "does not use it", the negation of `=` and `in`.
            links = Run.input_versions.through.objects.filter(run_id=OuterRef("pk"))
            positive = {"!=": "=", "not in": "in"}.get(clause.op, clause.op)
            uses = Exists(links.filter(_compare("datasetversion_id", positive, clause.value)))
            queryset = queryset.filter(~uses if positive != clause.op else uses)
        else:
            queryset = queryset.filter(_compare(ATTRIBUTE_FIELDS[clause.key], clause.op, clause.value))
    return queryset


ORDER_ATTRIBUTES = {"started_at", "ended_at", "name", "status", "id"}


def apply_ordering(queryset: QuerySet, ordering: search.Ordering, *then: search.Ordering) -> QuerySet:
    """Order by an attribute, a metric's latest value, a param (numerically, then as text) or a tag, and by
    the `then` orderings among equals (the MLflow surface's `order_by` list).

    Runs without the metric, param or tag come last either way; ties fall back to the newest first.
    """
    keys = [key for each in (ordering, *then) for key in _ordering_keys(each)]
    return queryset.order_by(*keys, "-started_at", "-pk")


def _ordering_keys(ordering: search.Ordering) -> list:
    def by(expression):
        return expression.desc(nulls_last=True) if ordering.descending else expression.asc(nulls_last=True)

    if ordering.entity == "metrics":
        value = LatestMetric.objects.filter(run=OuterRef("pk"), key=ordering.key).values("value")[:1]
        return [by(Subquery(value))]
    if ordering.entity == "params":
        param = Param.objects.filter(run=OuterRef("pk"), key=ordering.key)
        return [by(Subquery(param.values("number")[:1])), by(Subquery(param.values("value")[:1]))]
    if ordering.entity == "tags":
        return [by(_tag_text(ordering.key))]
    return [by(F("pk" if ordering.key == "id" else ordering.key))]


class SearchField(forms.CharField):
    """A search expression, parsed on clean: a bad one is a form error with the parser's message."""

    def clean(self, value):
        text = super().clean(value)
        try:
            return search.parse(text or "")
        except search.SearchError as exc:
            # As a parameter: messages quoting a like pattern hold "%", which is %-formatted later.
            raise forms.ValidationError("%(message)s", code="invalid_search", params={"message": str(exc)}) from None


class OrderingField(forms.CharField):
    def clean(self, value):
        text = (super().clean(value) or "").strip()
        if not text:
            return None
        try:
            return search.parse_ordering(text)
        except search.SearchError as exc:
            raise forms.ValidationError("%(message)s", code="invalid_ordering", params={"message": str(exc)}) from None


@extend_schema_field(OpenApiTypes.STR)
class SearchFilter(django_filters.Filter):
    field_class = SearchField


@extend_schema_field(OpenApiTypes.STR)
class OrderingExpressionFilter(django_filters.Filter):
    field_class = OrderingField


ID_MAX = 2**63 - 1


class RunFilter(django_filters.FilterSet):
    """Filters shared by the run list page and `GET /api/runs/`."""

    experiment = django_filters.NumberFilter(field_name="experiment_id", min_value=0, max_value=ID_MAX)
    status = django_filters.ChoiceFilter(choices=Run.Status.choices, empty_label="Any status")
    source = django_filters.ChoiceFilter(choices=Run.Source.choices, empty_label="Any source")
    parent = django_filters.NumberFilter(field_name="parent_id", min_value=0, max_value=ID_MAX)
    top_level = django_filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", label="Only top-level runs (hide sweep trials)"
    )
    dataset_version = django_filters.NumberFilter(
        method="filter_dataset_version", label="Dataset version id", min_value=0, max_value=ID_MAX
    )
    tag = django_filters.CharFilter(method="filter_tag", label="Tag (name or name=value)")
    search = SearchFilter(method="filter_search", label="Search")
    ordering = OrderingExpressionFilter(method="filter_ordering", label="Order by")

    class Meta:
        model = Run
        fields = ["experiment", "status", "source", "parent", "dataset_version", "tag"]

    def filter_dataset_version(self, queryset, name, value):
        links = Run.input_versions.through.objects.filter(run_id=OuterRef("pk"), datasetversion_id=value)
        return queryset.filter(Exists(links))

    def filter_tag(self, queryset, name, value):
        key, has_value, wanted = value.partition("=")
        tag = _tag_text(key.strip())
        queryset = queryset.alias(_tag=tag).filter(_tag__isnull=False)
        return queryset.filter(_tag=wanted.strip()) if has_value else queryset

    def filter_search(self, queryset, name, clauses):
        return apply_search(queryset, clauses) if clauses else queryset

    def filter_ordering(self, queryset, name, ordering):
        return apply_ordering(queryset, ordering) if ordering else queryset
