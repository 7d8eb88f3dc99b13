from django.urls import path

from monitoring import views

urlpatterns = [
    path("monitoring/", views.overview, name="monitoring"),
    path("monitoring/compare/", views.compare, name="drift-compare"),
]
