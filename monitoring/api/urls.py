from django.urls import include, path
from rest_framework.routers import SimpleRouter

from monitoring.api import views

router = SimpleRouter()  # SimpleRouter: the kernel's router serves the API root
router.register("drift/compare", views.DriftCompareViewSet, basename="api-drift-compare")  # POST only
router.register("monitors", views.MonitorViewSet, basename="api-monitor")
router.register("drift-reports", views.DriftReportViewSet, basename="api-drift-report")
router.register("alert-rules", views.AlertRuleViewSet, basename="api-alert-rule")
router.register("alerts", views.AlertViewSet, basename="api-alert")
router.register("models", views.RetrainingViewSet, basename="api-retraining")  # only models/<name>/retraining…

urlpatterns = [
    path("", include(router.urls)),
]
