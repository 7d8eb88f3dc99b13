from django.urls import include, path
from rest_framework.routers import DefaultRouter

from experiments.api import tracking, views

router = DefaultRouter()
router.register("datasets", views.DatasetViewSet, basename="api-dataset")
router.register("dataset-versions", views.DatasetVersionViewSet, basename="api-datasetversion")
router.register("experiments", tracking.ExperimentViewSet, basename="api-experiment")
router.register("runs", tracking.RunViewSet, basename="api-run")
router.register("training", tracking.TrainingViewSet, basename="api-training")  # POST only
router.register("sweeps", tracking.SweepViewSet, basename="api-sweeps")  # POST only

urlpatterns = [
    path("", include(router.urls)),
]
