from django.urls import path

from experiments import views
from mlops_site.views import placeholder

urlpatterns = [
    path("datasets/", views.dataset_list, name="datasets"),
    path("datasets/<int:pk>/", views.dataset_detail, name="dataset-detail"),
    path("datasets/versions/<int:pk>/", views.version_detail, name="dataset-version-detail"),
    path("datasets/versions/<int:pk>/download/", views.version_download, name="dataset-version-download"),
    path("datasets/versions/<int:pk>/profile/", views.version_reprofile, name="dataset-version-profile"),
    path("datasets/versions/<int:pk>/compare/", views.version_compare, name="dataset-version-compare"),
    path(
        "experiments/",
        placeholder,
        {
            "title": "Experiments",
            "lead": "Tracked runs: parameters, metric histories and artifacts, trained here or logged from your scripts.",
            "coming": [
                "Train scikit-learn pipelines on a worker from a dataset version, with live progress.",
                "Hyperparameter sweeps, exact reproduction of a run, and comparison charts across runs.",
            ],
        },
        name="experiments",
    ),
]
