from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """Datasets and their versions, data quality, runs, params, metrics, artifacts, training jobs."""

    name = "experiments"
