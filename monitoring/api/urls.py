from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("drift/compare/", views.DriftCompare.as_view(), name="api-drift-compare"),
    path("monitors/", views.MonitorList.as_view(), name="api-monitor-list"),
    path("monitors/<int:pk>/", views.MonitorDetail.as_view(), name="api-monitor-detail"),
    path("monitors/<int:pk>/run/", views.MonitorRun.as_view(), name="api-monitor-run"),
    path("drift-reports/", views.DriftReportList.as_view(), name="api-drift-report-list"),
    path("drift-reports/<int:pk>/", views.DriftReportDetail.as_view(), name="api-drift-report-detail"),
    path("alert-rules/", views.AlertRuleList.as_view(), name="api-alert-rule-list"),
    path("alert-rules/<int:pk>/", views.AlertRuleDetail.as_view(), name="api-alert-rule-detail"),
    path("alerts/", views.AlertList.as_view(), name="api-alert-list"),
    path("alerts/<int:pk>/", views.AlertDetail.as_view(), name="api-alert-detail"),
    path("alerts/<int:pk>/acknowledge/", views.AlertAction.as_view(action="acknowledge"), name="api-alert-acknowledge"),
    path("alerts/<int:pk>/resolve/", views.AlertAction.as_view(action="resolve"), name="api-alert-resolve"),
    path("models/<str:name>/retraining-policy/", views.RetrainingPolicyView.as_view(), name="api-retraining-policy"),
    path("models/<str:name>/retrainings/", views.RetrainingList.as_view(), name="api-retraining-list"),
]
