from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from deployments.api import predict
from mlops_site import views
from mlops_site.webhooks import views as webhooks

urlpatterns = [
    # First, so the hottest route is matched at once; it hands what it does not serve itself to the DRF viewset.
    re_path(r"^api/deployments/(?P<environment>[-a-zA-Z0-9_]+)/(?P<model>[^/]+)/predict$", predict.predict),
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("jobs/", views.job_list, name="job-list"),
    path("jobs/selfcheck/", views.selfcheck_start, name="job-selfcheck"),
    path("jobs/<int:pk>/", views.job_detail, name="job-detail"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job-cancel"),
    path("audit/", views.audit_list, name="audit-list"),
    path("webhooks/", webhooks.webhook_list, name="webhooks"),
    path("webhooks/<int:pk>/", webhooks.webhook_detail, name="webhook-detail"),
    path("admin/login/", views.admin_login),  # before admin.site.urls: the same page, with the lockout's 429
    path("admin/", admin.site.urls),
    # Pages of the apps, bottom layer first.
    path("", include("experiments.urls")),
    path("", include("registry.urls")),
    path("", include("deployments.urls")),
    path("", include("monitoring.urls")),
    # REST API.
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/", include("mlops_site.api.urls")),
    path("api/", include("experiments.api.urls")),
    path("api/", include("registry.api.urls")),
    path("api/", include("deployments.api.urls")),
    path("api/", include("monitoring.api.urls")),
    # MLflow's REST surface, for the real mlflow client (paths /api/2.0/mlflow/... and friends).
    path("", include("mlflow_compat.urls")),
]

# Under /api/ Django's own 400/403/404/500 answers take the API's JSON error shape.
handler400 = "mlops_site.api.exceptions.api_bad_request"
handler403 = "mlops_site.api.exceptions.api_permission_denied"
handler404 = "mlops_site.api.exceptions.api_not_found"
handler500 = "mlops_site.api.exceptions.api_server_error"
