from django.urls import path

from deployments.api import views

MODEL = "<slug:environment>/<str:model>"

urlpatterns = [
    path("deployments/", views.DeploymentList.as_view(), name="api-deployment-list"),
    path(f"deployments/{MODEL}/", views.DeploymentDetail.as_view(), name="api-deployment-detail"),
    path(f"deployments/{MODEL}/predict", views.Predict.as_view(), name="api-deployment-predict"),
    path(f"deployments/{MODEL}/rollback/", views.Rollback.as_view(), name="api-deployment-rollback"),
    path(f"deployments/{MODEL}/promote-canary/", views.PromoteCanary.as_view(), name="api-deployment-promote-canary"),
    path("ground-truth/", views.GroundTruth.as_view(), name="api-ground-truth"),
    path("predictions/", views.PredictionList.as_view(), name="api-prediction-list"),
]
