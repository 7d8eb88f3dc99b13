"""Routes of the MLflow surface, mounted at the site's root (the client builds `/api/2.0/mlflow/...` itself)."""

from django.urls import re_path

from mlflow_compat import errors
from mlflow_compat.views import artifacts, logged_models, registry, tracking

urlpatterns = [
    *tracking.urlpatterns,
    *logged_models.urlpatterns,
    *registry.urlpatterns,
    *artifacts.urlpatterns,
    re_path(r"^api/[23]\.0/mlflow(-artifacts)?(/.*)?$", errors.endpoint_not_found),
]
