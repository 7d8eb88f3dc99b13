"""What the monitor compares is what the model saw: fresh rows from the training distribution, with booleans
spelled as callers spell them ("yes", "Y", "true"), must not look drifted."""

import numpy as np
import pandas as pd
import pytest

from deployments import services as deployment_services
from deployments import serving
from deployments.models import Deployment, Environment, Prediction
from experiments import cleaning
from experiments import services as experiment_services
from experiments.demo_data import DEMO_RECIPE, credit_scoring_frame
from monitoring import services
from monitoring.models import Monitor
from registry import services as registry_services
from tests.builders import upload

pytestmark = pytest.mark.django_db

TRUE_SPELLINGS, FALSE_SPELLINGS = ("yes", "Y", "true"), ("no", "N", "false")


def cleaned() -> pd.DataFrame:
    """The demo's credit data after the demo's cleaning recipe: 2,000 rows of one distribution."""
    raw = credit_scoring_frame(rows=2000, seed=3).drop(columns=["customer_id", "application_date"])
    return cleaning.apply_recipe(raw, DEMO_RECIPE).sample(frac=1.0, random_state=0).reset_index(drop=True)


TRAINING_ROWS = 1400


@pytest.fixture
def deployed_on_booleans(scientist, admin_user, django_capture_on_commit_callbacks):
    """A model trained on data whose two boolean columns hold true/false, as the cleaning recipe writes them."""
    dataset = experiment_services.create_dataset(name="credit-clean", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = experiment_services.upload_version(
            dataset,
            upload(content=cleaned().head(TRAINING_ROWS).to_csv(index=False).encode()),
            actor=scientist,
            target="defaulted",
        )
    kinds = {c["name"]: (c["kind"], c["dtype"]) for c in version.schema}
    assert kinds["has_cosigner"][0] == kinds["is_self_employed"][0] == "boolean"
    experiment = experiment_services.create_experiment(name="credit", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    model = registry_services.create_model(name="credit-default", actor=scientist)
    model_version = registry_services.register_version(model, run, actor=scientist)
    environment = Environment.objects.get(name="production")
    deployment_services.deploy(
        environment, model_version, actor=admin_user, override=True, reason="tests serve an unreviewed version"
    )
    serving.cache.clear()
    serving.deployments.clear()
    return Deployment.objects.get(environment=environment), model_version


def spelled(frame: pd.DataFrame, columns: list[str], seed: int) -> list[dict]:
    """The rows as JSON records, each boolean written as one of the words callers use."""
    rng = np.random.default_rng(seed)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for record in records:
        for name in columns:
            if record[name] is not None:
                record[name] = str(rng.choice(TRUE_SPELLINGS if record[name] else FALSE_SPELLINGS))
    return records


def test_fresh_rows_with_booleans_spelled_as_words_show_no_drift(deployed_on_booleans):
    deployment, version = deployed_on_booleans
    inputs = [c["name"] for c in version.signature["inputs"]]
    booleans = [c["name"] for c in version.signature["inputs"] if c["kind"] == "boolean"]
    fresh = cleaned().iloc[TRAINING_ROWS:][inputs]  # rows training never saw
    records = spelled(fresh, booleans, seed=5)
    for start in range(0, len(records), 50):
        serving.predict(deployment, {"records": records[start : start + 50]})

    report = services.run_monitor(Monitor.objects.get(deployment=deployment))
    drifted = sorted(f.feature for f in report.features.all() if f.drifted and not f.is_prediction)
    print(f"\ndrifted features on unchanged rows: {len(drifted)} of {report.compared}: {drifted}")
    assert report.status == "ok" and report.compared == len(inputs) == 12
    assert drifted == []
    # The log holds what the model scored: the training data's true/false, not the words sent.
    logged = list(Prediction.objects.values_list("inputs", flat=True))
    assert {row[name] for row in logged for name in booleans} <= {True, False, None}
