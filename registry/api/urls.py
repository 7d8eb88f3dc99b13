from django.urls import include, path
from rest_framework.routers import DefaultRouter

from registry.api import promotions, views, webhooks

router = DefaultRouter()
router.register("models", views.RegisteredModelViewSet, basename="api-model")
router.register("promotions", promotions.PromotionViewSet, basename="api-promotion")
router.register("webhooks", webhooks.WebhookViewSet, basename="api-webhook")

urlpatterns = [path("", include(router.urls))]
