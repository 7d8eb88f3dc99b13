from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Registered models, versions, aliases, model cards, gates, promotion requests, reviews."""

    name = "registry"
