from django.apps import AppConfig


class MlflowCompatConfig(AppConfig):
    name = "mlflow_compat"
    verbose_name = "MLflow client surface"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mlops_site import stored_files

        stored_files.register("mlflow_compat.LoggedModelArtifact")
