from django.urls import path

from monitoring import views

urlpatterns = [
    path("monitoring/", views.overview, name="monitoring"),
    path("monitoring/compare/", views.compare, name="drift-compare"),
    path("monitoring/monitors/<int:pk>/", views.monitor_detail, name="monitor-detail"),
    path("monitoring/monitors/<int:pk>/run/", views.monitor_run, name="monitor-run"),
    path("monitoring/monitors/<int:pk>/rules/", views.rule_create, name="alert-rule-create"),
    path("monitoring/rules/<int:pk>/delete/", views.rule_delete, name="alert-rule-delete"),
    path("monitoring/rules/<int:pk>/toggle/", views.rule_toggle, name="alert-rule-toggle"),
    path("monitoring/alerts/", views.alert_list, name="alerts"),
    path("monitoring/alerts/<int:pk>/", views.alert_detail, name="alert-detail"),
    path("monitoring/alerts/<int:pk>/acknowledge/", views.alert_action, {"action": "acknowledge"}, name="alert-ack"),
    path("monitoring/alerts/<int:pk>/resolve/", views.alert_action, {"action": "resolve"}, name="alert-resolve"),
    path("monitoring/models/<str:name>/retraining/", views.policy_save, name="retraining-policy-save"),
    path("monitoring/models/<str:name>/retrain/", views.retrain, name="retrain-now"),
]
