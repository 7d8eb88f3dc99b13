import django_filters

from experiments.models import Dataset, DatasetVersion


class DatasetFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    owner = django_filters.CharFilter(field_name="owner__username", label="Owner (username)")

    class Meta:
        model = Dataset
        fields = ["name", "owner"]


class DatasetVersionFilter(django_filters.FilterSet):
    dataset = django_filters.NumberFilter(field_name="dataset_id")
    sha256 = django_filters.CharFilter()
    parent = django_filters.NumberFilter(field_name="parent_id")

    class Meta:
        model = DatasetVersion
        fields = ["dataset", "sha256", "parent"]
