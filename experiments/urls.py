from django.urls import path

from experiments.views import datasets as views
from experiments.views import runs

urlpatterns = [
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/versions/<int:pk>/", views.version_detail, name="dataset-version-detail"),
    path("datasets/versions/<int:pk>/download/", views.version_download, name="dataset-version-download"),
    path("datasets/versions/<int:pk>/profile/", views.version_reprofile, name="dataset-version-profile"),
    path("datasets/versions/<int:pk>/compare/", views.version_compare, name="dataset-version-compare"),
    path("experiments/", runs.experiment_list, name="experiments"),
    path("runs/", runs.run_list, name="runs"),
    path("runs/new/", runs.run_new, name="run-new"),
    path("runs/compare/", runs.run_compare, name="run-compare"),
    path("runs/<int:pk>/", runs.run_detail, name="run-detail"),
    path("runs/<int:pk>/reproduce/", runs.run_reproduce, name="run-reproduce"),
    path("runs/<int:pk>/artifacts/<int:artifact_id>/", runs.artifact_download, name="run-artifact"),
]
