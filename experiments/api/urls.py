from django.urls import include, path
from rest_framework.routers import DefaultRouter

from experiments.api import views

router = DefaultRouter()
router.register("datasets", views.DatasetViewSet, basename="api-dataset")
router.register("dataset-versions", views.DatasetVersionViewSet, basename="api-datasetversion")

urlpatterns = [path("", include(router.urls))]
