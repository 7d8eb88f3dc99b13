"""FilterSets of the registry's lists, shared by the pages and the API (`?sort=` through `SortFilter`)."""

import django_filters

from mlops_site.filters import SortFilter
from registry.models import ModelVersion, PromotionRequest, RegisteredModel


class RegisteredModelFilter(django_filters.FilterSet):
    """Models; `versions` and `latest` sort on the counts `selectors.models_with_counts` annotates."""

    name = django_filters.CharFilter(lookup_expr="exact")
    sort = SortFilter(
        fields={"name": "name", "versions": "version_count", "latest": "latest_number", "created": "created_at"},
        default="name",
    )

    class Meta:
        model = RegisteredModel
        fields = ["name"]


class ModelVersionFilter(django_filters.FilterSet):
    """A model's versions (`GET /api/models/{name}/versions/`), newest first unless `sort` says otherwise."""

    SORT_HELP = "One of number, created, stage; prefix '-' for descending. Default -number."

    sort = SortFilter(fields={"number": "number", "created": "created_at", "stage": "stage"}, default="-number")

    class Meta:
        model = ModelVersion
        fields = []


class PromotionRequestFilter(django_filters.FilterSet):
    """Promotion requests: the reviewers' queue and `GET /api/promotions/`."""

    status = django_filters.ChoiceFilter(choices=PromotionRequest.Status.choices, empty_label="Any")
    model = django_filters.CharFilter(field_name="model__name", label="Registered model name")
    stage = django_filters.ChoiceFilter(
        choices=[(stage, stage.title()) for stage in PromotionRequest.TARGET_STAGES], empty_label="Any"
    )
    mine = django_filters.ChoiceFilter(
        choices=[("1", "Only mine")], empty_label="Everyone's", method="filter_mine", label="Requested by me"
    )
    sort = SortFilter(
        fields={"created": "created_at", "model": "model__name", "stage": "stage", "status": "status", "id": "id"},
        default="-created",
    )

    class Meta:
        model = PromotionRequest
        fields = ["status", "model", "stage"]

    def filter_mine(self, queryset, name, value):
        if value == "1" and self.request is not None and self.request.user.is_authenticated:
            return queryset.filter(requested_by=self.request.user)
        return queryset
