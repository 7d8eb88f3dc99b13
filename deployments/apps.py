from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Environments, deployments, serving, traffic split, prediction logs."""

    name = "deployments"
