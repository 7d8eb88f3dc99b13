"""Dataset versions of the demo credit data for the drift tests, and a deployed model that serves them."""

import pandas as pd
import pytest

from deployments import services as deployment_services
from deployments import serving
from deployments.models import Deployment, Environment
from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from registry import services as registry_services
from tests.experiments.conftest import credit, upload  # noqa: F401


def frame(seed: int, shift: float = 0.0) -> pd.DataFrame:
    data = credit_scoring_frame(rows=600, seed=seed).drop(columns=["customer_id", "application_date"])
    data["annual_income"] = data["annual_income"] + shift
    return data


@pytest.fixture
def versions(scientist, django_capture_on_commit_callbacks):
    dataset = experiment_services.create_dataset(name="credit", actor=scientist)
    made = []
    for seed, shift, drop in ((1, 0.0, None), (2, 25_000.0, None), (3, 0.0, "region")):
        data = frame(seed, shift)
        if drop:
            data = data.drop(columns=[drop]).assign(brand_new=1.0)
        with django_capture_on_commit_callbacks(execute=True):
            version, _ = experiment_services.upload_version(
                dataset, upload(content=data.to_csv(index=False).encode()), actor=scientist
            )
        made.append(version)
    return made


@pytest.fixture
def deployed(credit, scientist, admin_user, django_capture_on_commit_callbacks):  # noqa: F811
    experiment, dataset_version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, dataset_version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    model = registry_services.create_model(name="credit-default", actor=scientist)
    version = registry_services.register_version(model, run, actor=scientist)
    environment = Environment.objects.get(name="production")
    deployment_services.deploy(
        environment, version, actor=admin_user, override=True, reason="monitoring tests serve an unreviewed version"
    )
    serving.cache.clear()
    serving.deployments.clear()
    return Deployment.objects.get(environment=environment), version, dataset_version


def serve(deployment, frame: pd.DataFrame, *, served_at=None) -> list[str]:
    """Send the rows one by one through serving, as callers would; the prediction ids."""
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    ids = []
    for record in records:
        answer = serving.predict(deployment, {"records": [record]}, served_at=served_at)
        ids.append(answer.predictions[0]["prediction_id"])
    return ids


def inputs_of(version, dataset_version) -> pd.DataFrame:
    columns = [c["name"] for c in version.signature["inputs"]]
    return experiment_services.load_frame(dataset_version)[columns]
