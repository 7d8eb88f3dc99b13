"""Demo step: the messy credit-scoring dataset and a cleaned child version."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile

from experiments.models import Dataset, Experiment, Run
from mlops_site.models import Job


def create_demo_datasets(context) -> None:
    from experiments import demo_data, services  # services pull in pandas: only when the demo runs

    scientist = context.users["scientist"]
    dataset = Dataset.objects.filter(name__iexact="credit-scoring").first()
    if dataset is None:
        dataset = services.create_dataset(
            name="credit-scoring",
            description="Loan applications with the outcome (defaulted 1/0). A raw extract: missing incomes, "
            "a 999 age sentinel, inconsistent spellings, a batch loaded twice.",
            actor=scientist,
        )
    upload = SimpleUploadedFile("credit_scoring_raw.csv", demo_data.credit_scoring_csv(), content_type="text/csv")
    version, created = services.upload_version(dataset, upload, actor=scientist, target="defaulted")
    context.log(f"  {version}: {version.row_count:,} rows ({'uploaded' if created else 'already there'})")
    cleaning_started = Job.objects.filter(kind="dataset.clean", params__version_id=version.pk).exists()
    if not version.children.exists() and not cleaning_started:
        services.start_cleaning(version, demo_data.DEMO_RECIPE, actor=scientist)
        context.log("  queued the cleaning recipe; the worker creates the cleaned child version")


DEMO_TRAINING = [
    {"algorithm": "logistic_regression", "params": {"C": 1.0}},
    {"algorithm": "random_forest", "params": {"n_estimators": 100, "max_depth": 8}},
    {"algorithm": "hist_gradient_boosting", "params": {"learning_rate": 0.1, "max_iter": 100}},
    {"algorithm": "knn", "params": {"n_neighbors": 15}},
]
DEMO_SWEEP = {"max_depth": [2, 4, 8, None], "min_samples_leaf": [1, 10]}


def create_demo_runs(context) -> None:
    """A few trained runs on the demo data, so run comparisons have something to show."""
    from experiments import services

    scientist = context.users["scientist"]
    version = Dataset.objects.get(name__iexact="credit-scoring").versions.order_by("number").first()
    experiment = Experiment.objects.filter(name__iexact="credit default").first() or services.create_experiment(
        name="credit default", description="Predict whether a loan applicant defaults.", actor=scientist
    )
    if Run.objects.filter(experiment=experiment).exists():
        context.log("  demo runs exist already")
        return
    common = {"target": "defaulted", "holdout": 0.25, "seed": 42}
    for spec in DEMO_TRAINING:
        services.start_training(experiment, version, actor=scientist, cv_folds=5, **common, **spec)
    services.start_sweep(
        experiment,
        version,
        actor=scientist,
        search="grid",
        space=DEMO_SWEEP,
        algorithm="random_forest",
        params={"n_estimators": 60},
        **common,
    )
    context.log(f"  queued {len(DEMO_TRAINING)} training runs and a random-forest grid sweep on {version}")
