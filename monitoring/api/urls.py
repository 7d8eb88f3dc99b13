from django.urls import path

from monitoring.api import views

urlpatterns = [
    path("drift/compare/", views.DriftCompare.as_view(), name="api-drift-compare"),
]
