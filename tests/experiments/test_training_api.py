"""Training on workers through the API: the run gets params, metrics checked against scikit-learn, and the model."""

import json

import pandas as pd
import pytest
from django.core.files.storage import default_storage
from sklearn.metrics import accuracy_score, f1_score

from experiments import services, training
from experiments.models import Run, RunArtifact
from mlops_site.models import Job
from tests.builders import token_client, upload

pytestmark = pytest.mark.django_db


def request(experiment, version, **overrides):
    body = {
        "experiment": experiment.pk,
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "logistic_regression",
        "params": {"C": 0.5},
        "holdout": 0.25,
        "seed": 7,
    }
    return body | overrides


def test_training_records_metrics_that_scikit_learn_confirms(scientist, credit, django_capture_on_commit_callbacks):
    experiment, version = credit
    client = token_client(scientist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/training/", request(experiment, version), format="json")
    assert response.status_code == 202
    run = Run.objects.get(pk=response.json()["run"]["id"])
    job = Job.objects.get(pk=response.json()["job"]["id"])
    assert job.status == "succeeded", job.error
    assert run.status == "finished" and run.source == "trained" and list(run.input_versions.all()) == [version]
    detail = client.get(f"/api/runs/{run.pk}/").json()
    assert detail["params"]["algorithm"] == "logistic_regression" and detail["params"]["C"] == "0.5"
    metrics = detail["metrics"]
    for key in ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"):
        assert key in metrics

    model_artifact = RunArtifact.objects.get(run=run, path="model/pipeline.skops")
    with default_storage.open(model_artifact.file, "rb") as handle:
        model = training.load_model(handle.read(), model_artifact.sha256)
    with default_storage.open(RunArtifact.objects.get(run=run, path="evaluation.json").file, "rb") as handle:
        evaluation = json.load(handle)
    frame = services.load_frame(version)
    holdout = frame.loc[evaluation["split"]["test_index"]]
    truth = holdout["defaulted"]
    predicted = model.predict(holdout.drop(columns=["defaulted"]))
    assert metrics["accuracy"] == pytest.approx(accuracy_score(truth, predicted), abs=1e-12)
    positive = sorted(truth.unique())[1]
    assert metrics["f1"] == pytest.approx(f1_score(truth, predicted, pos_label=positive), abs=1e-12)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"algorithm": "telepathy"}, "algorithm"),
        ({"algorithm": "random_forest", "params": {"max_depth": -3}}, "params.max_depth"),
        ({"params": {"C": "abc"}}, "params.C"),
        ({"target": "nope"}, "target"),
        ({"holdout": 0.0}, "holdout"),
    ],
)
def test_bad_training_requests_are_400_and_store_nothing(scientist, credit, overrides, field):
    experiment, version = credit
    runs, jobs = Run.objects.count(), Job.objects.count()
    response = token_client(scientist).post("/api/training/", request(experiment, version, **overrides), format="json")
    assert response.status_code == 400 and field in response.json()["errors"], response.json()
    assert (Run.objects.count(), Job.objects.count()) == (runs, jobs)


def test_training_that_fails_on_the_worker_marks_job_and_run_failed(scientist, django_capture_on_commit_callbacks):
    dataset = services.create_dataset(name="one-class", actor=scientist)
    content = pd.DataFrame({"x": range(40), "y": ["yes"] * 40}).to_csv(index=False).encode()
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = services.upload_version(dataset, upload(content=content), actor=scientist)
    experiment = services.create_experiment(name="e", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_training(
            experiment,
            version,
            actor=scientist,
            target="y",
            algorithm="logistic_regression",
            params={},
            task="classification",
        )
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.job.status == "failed" and run.job.error


def test_reviewer_cannot_train(reviewer, credit):
    experiment, version = credit
    response = token_client(reviewer).post("/api/training/", request(experiment, version), format="json")
    assert response.status_code == 403 and Run.objects.count() == 0


@pytest.mark.parametrize("algorithm", ["random_forest", "hist_gradient_boosting"])
def test_reproduce_gives_exactly_the_same_metrics(scientist, credit, algorithm, django_capture_on_commit_callbacks):
    experiment, version = credit
    client = token_client(scientist)
    with django_capture_on_commit_callbacks(execute=True):
        original = client.post(
            "/api/training/",
            request(experiment, version, algorithm=algorithm, params={"max_depth": 4}, cv_folds=3),
            format="json",
        )
    run_id = original.json()["run"]["id"]
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(f"/api/runs/{run_id}/reproduce/")
    assert again.status_code == 202
    copy = Run.objects.get(pk=again.json()["run"]["id"])
    assert copy.reproduced_from_id == run_id and copy.status == "finished", copy.job.error
    first, second = client.get(f"/api/runs/{run_id}/").json(), client.get(f"/api/runs/{copy.pk}/").json()
    assert first["metrics"] and first["metrics"] == second["metrics"]  # exactly equal, not approximately
    assert first["params"] == second["params"]
    # skops archives are not byte-identical between saves; the evaluation data (split, curves, importance) is.
    first_eval = RunArtifact.objects.get(run_id=run_id, path="evaluation.json")
    second_eval = RunArtifact.objects.get(run=copy, path="evaluation.json")
    assert first_eval.sha256 == second_eval.sha256


def test_logged_runs_cannot_be_reproduced(scientist):
    experiment = services.create_experiment(name="outside", actor=scientist)
    run = services.create_run(experiment, actor=scientist)
    response = token_client(scientist).post(f"/api/runs/{run.pk}/reproduce/")
    assert response.status_code == 400 and "run" in response.json()["errors"]


def test_grid_sweep_trains_every_trial_and_names_the_best(scientist, credit, django_capture_on_commit_callbacks):
    experiment, version = credit
    client = token_client(scientist)
    body = request(experiment, version, algorithm="random_forest", params={"n_estimators": 10}) | {
        "search": "grid",
        "space": {"max_depth": [2, 4], "min_samples_leaf": [1, 5]},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/sweeps/", body, format="json")
    assert response.status_code == 202
    parent = Run.objects.get(pk=response.json()["id"])
    children = list(parent.children.all())
    assert len(children) == 4 and all(child.status == "finished" for child in children)
    parent.refresh_from_db()
    assert parent.status == "finished"
    sweep = client.get(f"/api/runs/{parent.pk}/").json()["sweep"]
    tried = {(t["params"]["max_depth"], t["params"]["min_samples_leaf"]) for t in sweep["trials"]}
    assert tried == {("2", "1"), ("2", "5"), ("4", "1"), ("4", "5")}
    best_f1 = max(t["metrics"]["f1"] for t in sweep["trials"])
    assert sweep["metric"] == "f1" and sweep["best"]["value"] == best_f1
    by_accuracy = client.get(f"/api/runs/{parent.pk}/", {"metric": "accuracy"}).json()["sweep"]["best"]
    assert by_accuracy["value"] == max(t["metrics"]["accuracy"] for t in sweep["trials"])


def test_random_sweep_draws_distinct_trials(scientist, credit, django_capture_on_commit_callbacks):
    experiment, version = credit
    with django_capture_on_commit_callbacks(execute=True):
        parent = services.start_sweep(
            experiment,
            version,
            actor=scientist,
            search="random",
            trials=3,
            space={"C": [0.01, 0.1, 1.0, 10.0]},
            target="defaulted",
            algorithm="logistic_regression",
            seed=5,
        )
    values = sorted(child.params.get(key="C").value for child in parent.children.all())
    assert len(values) == 3 and len(set(values)) == 3


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"search": "grid", "space": {"max_depth": [2, -3]}}, "trial[1]"),
        ({"search": "grid", "space": {}}, "space"),
        ({"search": "random", "space": {"max_depth": [2]}}, "trials"),
    ],
)
def test_bad_sweeps_store_nothing(scientist, credit, extra, field):
    experiment, version = credit
    body = request(experiment, version, algorithm="random_forest", params={}) | extra
    response = token_client(scientist).post("/api/sweeps/", body, format="json")
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["errors"]), response.json()
    assert Run.objects.count() == 0 and Job.objects.filter(kind="training.run").count() == 0
