"""Dataset versions of the demo credit data for the drift tests; `deployed` is in tests/builders.py."""

import pandas as pd
import pytest

from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from tests.builders import upload


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
