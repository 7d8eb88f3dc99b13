from django.urls import include, path
from rest_framework.routers import DefaultRouter

from mlops_site.api import views
from mlops_site.webhooks.api import WebhookViewSet

router = DefaultRouter(trailing_slash=True)
router.register("tokens", views.ApiTokenViewSet, basename="api-token")
router.register("jobs", views.JobViewSet, basename="api-job")
router.register("audit-events", views.AuditEventViewSet, basename="api-auditevent")
router.register("webhooks", WebhookViewSet, basename="api-webhook")

urlpatterns = [
    path("auth/token/", views.ObtainTokenView.as_view(), name="api-token-obtain"),
    path("me/", views.MeView.as_view(), name="api-me"),
    path("", include(router.urls)),
]
