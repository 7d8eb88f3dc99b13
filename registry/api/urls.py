from django.urls import include, path
from rest_framework.routers import DefaultRouter

from registry.api import promotions, views

router = DefaultRouter()
router.register("models", views.RegisteredModelViewSet, basename="api-model")
router.register("promotions", promotions.PromotionViewSet, basename="api-promotion")

urlpatterns = [path("", include(router.urls))]
