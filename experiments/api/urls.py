from django.urls import include, path
from rest_framework.routers import DefaultRouter

from experiments.api import tracking, views

router = DefaultRouter()
router.register("datasets", views.DatasetViewSet, basename="api-dataset")
router.register("dataset-versions", views.DatasetVersionViewSet, basename="api-datasetversion")
router.register("experiments", tracking.ExperimentViewSet, basename="api-experiment")
router.register("runs", tracking.RunViewSet, basename="api-run")

urlpatterns = [
    path("training/", tracking.TrainingView.as_view(), name="api-training"),
    path("sweeps/", tracking.SweepView.as_view(), name="api-sweeps"),
    path("", include(router.urls)),
]
