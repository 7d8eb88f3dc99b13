from django.urls import include, path
from rest_framework.routers import DefaultRouter

from registry.api import views

router = DefaultRouter()
router.register("models", views.RegisteredModelViewSet, basename="api-model")

urlpatterns = [path("", include(router.urls))]
