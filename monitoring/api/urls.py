from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("drift/compare/", views.DriftCompare.as_view(), name="api-drift-compare"),
    path("monitors/", views.MonitorList.as_view(), name="api-monitor-list"),
    path("monitors/<int:pk>/", views.MonitorDetail.as_view(), name="api-monitor-detail"),
    path("monitors/<int:pk>/run/", views.MonitorRun.as_view(), name="api-monitor-run"),
    path("drift-reports/", views.DriftReportList.as_view(), name="api-drift-report-list"),
    path("drift-reports/<int:pk>/", views.DriftReportDetail.as_view(), name="api-drift-report-detail"),
]
