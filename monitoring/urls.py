from django.urls import path

from monitoring import views

urlpatterns = [
    path("monitoring/", views.overview, name="monitoring"),
    path("monitoring/compare/", views.compare, name="drift-compare"),
    path("monitoring/monitors/<int:pk>/", views.monitor_detail, name="monitor-detail"),
    path("monitoring/monitors/<int:pk>/run/", views.monitor_run, name="monitor-run"),
]
