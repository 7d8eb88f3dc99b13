"""Models made in the test, outside the site, registered as versions the way a file trained elsewhere is.

Two versions of one model, both fitted here on the same rows:
- an ONNX export (skl2onnx) of a scikit-learn pipeline (imputer + scaler + one-hot + logistic regression);
- a skops `GradientBoostingClassifier` inside a `ColumnTransformer` pipeline, which the catalogue does not offer.

Each is a logged run holding the file at `model/pipeline.skops` (the bytes, not the name, decide the format)
and its `model/signature.json`, registered by `registry.services.register_version`, then deployed with an
admin's override (nobody reviewed them). The training rows are a dataset version on record: the skops
version's run names it as its input, the ONNX version's run names nothing (its drift reference is the
model's evaluation set, when one is configured).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from deployments import services as deployment_services
from deployments.models import Deployment, Environment
from experiments import services as experiment_services
from registry import services as registry_services
from registry.models import ModelVersion
from tests.builders import upload

MODEL = "churn-uploaded"
TARGET = "outcome"
CLASSES = ["bad", "good"]
COLUMNS = ["income", "age", "region"]
SIGNATURE = {
    "inputs": [
        {"name": "income", "kind": "numeric", "dtype": "float64"},
        {"name": "age", "kind": "numeric", "dtype": "float64"},
        {"name": "region", "kind": "categorical", "dtype": "object", "categories": ["east", "north", "south"]},
    ],
    "output": {"task": "classification", "classes": CLASSES},
}


def frame(rows: int = 300, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    """Inputs and the target; `shift` moves income (drift)."""
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "income": np.round(rng.normal(50, 10, rows) + shift, 3),
            "age": rng.integers(18, 80, rows).astype(float),
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )
    score = data["income"] - 50 + (data["region"] == "north") * 4 + rng.normal(0, 5, rows)
    data[TARGET] = np.where(score > 0, "bad", "good")
    return data


def preprocess() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["income", "age"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )


def linear_pipeline(data: pd.DataFrame) -> Pipeline:
    return Pipeline([("prep", preprocess()), ("model", LogisticRegression())]).fit(data[COLUMNS], data[TARGET])


def boosted_pipeline(data: pd.DataFrame) -> Pipeline:
    model = GradientBoostingClassifier(n_estimators=25, random_state=0)
    return Pipeline([("prep", preprocess()), ("model", model)]).fit(data[COLUMNS], data[TARGET])


def onnx_export(pipeline, X: pd.DataFrame) -> bytes:
    """One named input per column, as skl2onnx exports a pipeline over a DataFrame."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [
        (name, FloatTensorType([None, 1]) if pd.api.types.is_numeric_dtype(X[name]) else StringTensorType([None, 1]))
        for name in X
    ]
    return convert_sklearn(pipeline, initial_types=types).SerializeToString()


def register(model, data: bytes, *, actor, name: str, inputs=(), fmt: str = "skops") -> ModelVersion:
    """A version from a logged run holding `data` at model/pipeline.skops and the signature beside it."""
    experiment = experiment_services.create_experiment(name=f"notebook {name}", actor=actor)
    run = experiment_services.create_run(experiment, actor=actor, name=name, input_versions=[v.pk for v in inputs])
    experiment_services.log_batch(run, actor=actor, metrics=[{"key": "accuracy", "value": 0.8}])
    experiment_services.upload_artifact(
        run, SimpleUploadedFile("pipeline.skops", data), actor=actor, path="model/pipeline.skops"
    )
    experiment_services.upload_artifact(
        run,
        SimpleUploadedFile("signature.json", json.dumps(SIGNATURE).encode()),
        actor=actor,
        path="model/signature.json",
    )
    run = experiment_services.finish_run(run, actor=actor)
    version = registry_services.register_version(model, run, actor=actor)
    assert version.format == fmt  # read from the file's bytes
    return version


def dataset_version(name: str, data: pd.DataFrame, *, actor, capture):
    dataset = experiment_services.create_dataset(name=name, actor=actor)
    with capture(execute=True):
        made, _ = experiment_services.upload_version(
            dataset, upload(content=data.to_csv(index=False).encode()), actor=actor, target=TARGET
        )
    return made


@dataclass
class Uploaded:
    model: object
    onnx: ModelVersion  # v1
    skops: ModelVersion  # v2
    linear: Pipeline  # what the ONNX file was exported from
    boosted: Pipeline
    training: object  # the dataset version both were fitted on
    environment: Environment

    def deploy(self, version: ModelVersion, admin) -> Deployment:
        deployment_services.deploy(
            self.environment, version, actor=admin, override=True, reason="uploaded versions, not reviewed in tests"
        )
        return Deployment.objects.get(environment=self.environment, model=self.model)


def build(scientist, capture) -> Uploaded:
    data = frame()
    training = dataset_version("churn training", data, actor=scientist, capture=capture)
    linear, boosted = linear_pipeline(data), boosted_pipeline(data)
    model = registry_services.create_model(name=MODEL, actor=scientist)
    onnx = register(model, onnx_export(linear, data[COLUMNS]), actor=scientist, name="onnx", fmt="onnx")
    skops = register(model, sio.dumps(boosted), actor=scientist, name="boosted", inputs=[training])
    return Uploaded(model, onnx, skops, linear, boosted, training, Environment.objects.get(name="production"))


def records(data: pd.DataFrame) -> list[dict]:
    """Rows as a caller sends them (JSON, nulls for missing)."""
    return json.loads(data[COLUMNS].to_json(orient="records"))
