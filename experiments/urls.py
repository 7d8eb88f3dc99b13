from django.urls import path

from mlops_site.views import placeholder

urlpatterns = [
    path(
        "datasets/",
        placeholder,
        {
            "title": "Datasets",
            "lead": "Versioned tabular data with a profile and quality checks for every version.",
            "coming": [
                "Upload a CSV or Parquet file as a new dataset version; identical content is recognised by its hash.",
                "A profile per column and quality checks (missing values, duplicates, inconsistent spellings, outliers).",
                "Cleaning recipes that produce a child version, and a side-by-side compare of two versions.",
            ],
            "api_hint": "/api/datasets/",
        },
        name="datasets",
    ),
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
