"""Rows for list tests, made straight in the database (no files, no training): cheap enough for N and 2N."""

from django.utils import timezone

from experiments import metric_store
from experiments.models import Dataset, DatasetVersion, Experiment, Param, Run, RunArtifact
from tests.builders import make_user

SCHEMA = [{"name": "x", "kind": "numeric", "dtype": "float64"}, {"name": "y", "kind": "boolean", "dtype": "bool"}]


def add_datasets(count: int, start: int) -> list[Dataset]:
    """`count` datasets, each by its own owner, with two versions (the second derived from the first)."""
    made = []
    for i in range(start, start + count):
        dataset = Dataset.objects.create(name=f"data {i}", owner=make_user(f"owner{i}"))
        first = add_version(dataset, 1)
        add_version(dataset, 2, parent=first)
        made.append(dataset)
    return made


def add_version(dataset: Dataset, number: int, parent: DatasetVersion | None = None) -> DatasetVersion:
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=number,
        file=f"datasets/{dataset.pk}/{number}.csv",
        format="csv",
        sha256=f"{dataset.pk:032d}{number:032d}",
        size_bytes=10,
        row_count=100,
        column_count=len(SCHEMA),
        schema=SCHEMA,
        target="y",
        parent=parent,
        created_by=make_user(f"uploader{dataset.pk}-{number}"),
        quality_summary={"pass": 1, "warn": 0, "fail": 0},
    )


def add_run(experiment: Experiment, i: int, *, parent: Run | None = None, version=None) -> Run:
    """A finished run with params, a final metric, a short history, a tag and an artifact."""
    run = Run.objects.create(
        experiment=experiment,
        name=f"run {i}",
        user=make_user(f"runner{experiment.pk}-{i}-{parent.pk if parent else 0}"),
        status=Run.Status.FINISHED,
        ended_at=timezone.now(),
        parent=parent,
        tags={"team": f"t{i % 2}"},
    )
    if version is not None:
        run.input_versions.add(version)
    Param.objects.bulk_create([Param.build(run, "algorithm", "knn"), Param.build(run, "n_neighbors", str(i + 1))])
    now = timezone.now()
    metric_store.insert_points(run.pk, [("f1", 0.5 + i / 100, 0, now), ("loss", 1.0, 1, now), ("loss", 0.5, 2, now)])
    RunArtifact.objects.create(run=run, path=f"plots/{i}.png", file=f"runs/{run.pk}/{i}.png", size_bytes=1, sha256="0")
    return run


def add_experiments(count: int, start: int, version=None) -> list[Experiment]:
    """`count` experiments, each by its own owner, with one run each."""
    made = []
    for i in range(start, start + count):
        experiment = Experiment.objects.create(name=f"experiment {i}", owner=make_user(f"lead{i}"))
        add_run(experiment, i, version=version)
        made.append(experiment)
    return made
