"""Reads of the registry that the pages and the API share."""

from django.db.models import Count, Max

from registry.models import RegisteredModel


def models_with_counts():
    """Models with their version count and newest number, which the lists show and sort on."""
    return RegisteredModel.objects.select_related("owner").annotate(
        version_count=Count("versions", distinct=True), latest_number=Max("versions__number")
    )
