"""Training and sweeps count against the per-user training limit; over it, 429 (API) or a form error (page)."""

import pytest

from experiments import services
from experiments.models import Run
from mlops_site.models import Job
from tests.builders import PASSWORD, token_client
from tests.experiments.test_training_api import request

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_trainings_an_hour(settings):
    settings.JOB_RATE_LIMITS = {**settings.JOB_RATE_LIMITS, "training.run": (3, 3600)}


def test_training_over_the_limit_is_429_and_creates_no_run(scientist, credit, three_trainings_an_hour):
    experiment, version = credit
    client = token_client(scientist)
    assert [client.post("/api/training/", request(experiment, version)).status_code for _ in range(3)] == [202] * 3
    runs = Run.objects.count()

    response = client.post("/api/training/", request(experiment, version))

    assert response.status_code == 429 and response.json()["code"] == "throttled"
    assert int(response["Retry-After"]) > 0
    assert Run.objects.count() == runs and Job.objects.filter(kind="training.run").count() == 3


def test_a_sweep_counts_one_training_per_trial_and_is_refused_whole(scientist, credit, three_trainings_an_hour):
    experiment, version = credit
    client = token_client(scientist)
    assert client.post("/api/training/", request(experiment, version)).status_code == 202
    body = request(experiment, version) | {"search": "grid", "space": {"C": [0.1, 1.0, 10.0]}}

    response = client.post("/api/sweeps/", body)

    assert response.status_code == 429 and "this asks for 3" in response.json()["detail"]
    assert Run.objects.count() == 1 and Job.objects.count() == 2  # the first training and the profile job
    body["space"] = {"C": [0.1, 1.0]}
    assert client.post("/api/sweeps/", body).status_code == 202
    assert Job.objects.filter(kind="training.run").count() == 3


def test_reproducing_counts_too_but_retraining_does_not(scientist, credit, settings):
    experiment, version = credit
    settings.JOB_RATE_LIMITS = {**settings.JOB_RATE_LIMITS, "training.run": (1, 3600)}
    run = services.start_training(
        experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression"
    )

    response = token_client(scientist).post(f"/api/runs/{run.pk}/reproduce/")

    assert response.status_code == 429
    # What retraining calls: bounded by its own policy, so not counted against the person it acts for.
    services.start_training(
        experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", rate_limit=False
    )
    assert Run.objects.count() == 2


def test_training_page_over_the_limit_shows_the_message_on_the_form(client, scientist, credit, settings):
    experiment, version = credit
    settings.JOB_RATE_LIMITS = {**settings.JOB_RATE_LIMITS, "training.run": (1, 3600)}
    services.start_training(experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression")
    client.login(username=scientist.username, password=PASSWORD)
    form = {
        "mode": "single",
        "experiment": experiment.pk,
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "logistic_regression",
        "holdout": 0.2,
        "seed": 0,
    }

    response = client.post("/runs/new/", form)

    assert response.status_code == 200
    assert "Too many training jobs" in response.content.decode()
    assert Run.objects.count() == 1
