from django.apps import AppConfig


class MlflowCompatConfig(AppConfig):
    name = "mlflow_compat"
    verbose_name = "MLflow client surface"
    default_auto_field = "django.db.models.BigAutoField"
