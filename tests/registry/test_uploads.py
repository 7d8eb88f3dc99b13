"""Uploading versions trained outside the site: models made here in the test, never the site's catalogue."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from experiments import services as experiment_services
from experiments.models import Run, RunArtifact
from mlops_site import roles
from registry import services
from registry.models import ModelVersion
from tests.builders import make_user, upload

pytestmark = pytest.mark.django_db


def frame(rows: int = 200, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = pd.DataFrame(
        {
            "income": rng.normal(50, 10, rows).round(2),
            "age": rng.integers(18, 80, rows).astype(float),
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )
    return data, np.where(data["income"] + rng.normal(0, 5, rows) > 50, "bad", "good")


def preprocess() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), ["income", "age"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["region"]),
        ]
    )


def boosted_classifier() -> Pipeline:
    X, y = frame()
    return Pipeline([("prep", preprocess()), ("model", GradientBoostingClassifier(n_estimators=15))]).fit(X, y)


def file(data: bytes, name: str = "model.skops") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def sample_csv(rows: int = 5) -> SimpleUploadedFile:
    X, _ = frame(rows=rows, seed=9)
    return SimpleUploadedFile("sample.csv", X.to_csv(index=False).encode(), content_type="text/csv")


def onnx_bytes(pipeline, X: pd.DataFrame) -> bytes:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [
        (name, FloatTensorType([None, 1]) if pd.api.types.is_numeric_dtype(X[name]) else StringTensorType([None, 1]))
        for name in X
    ]
    return convert_sklearn(pipeline, initial_types=types).SerializeToString()


@pytest.fixture
def dana():
    return make_user("dana", roles.DATA_SCIENTIST)


@pytest.fixture
def model(dana):
    return services.create_model(name="credit", actor=dana)


def nothing_stored(before: dict) -> bool:
    return before == {
        "versions": ModelVersion.objects.count(),
        "runs": Run.objects.count(),
        "artifacts": RunArtifact.objects.count(),
    }


@pytest.fixture
def counts():
    return {
        "versions": ModelVersion.objects.count(),
        "runs": Run.objects.count(),
        "artifacts": RunArtifact.objects.count(),
    }


def test_a_pipeline_the_catalogue_lacks_uploads_with_an_inferred_signature(model, dana):
    pipeline = boosted_classifier()
    version = services.upload_version(
        model,
        {"file": file(sio.dumps(pipeline)), "sample": sample_csv(), "description": "from my notebook"},
        actor=dana,
    )
    assert (version.number, version.format, version.metrics_source) == (1, "skops", "uploader")
    assert version.signature["output"] == {"task": "classification", "classes": ["bad", "good"]}
    assert [c["name"] for c in version.signature["inputs"]] == ["income", "age", "region"]
    assert version.run.source == Run.Source.UPLOADED and version.run.status == Run.Status.FINISHED
    assert version.run.experiment.name == "credit uploads"
    params = dict(version.run.params.values_list("key", "value"))
    assert params["estimator"] == "sklearn.pipeline.Pipeline" or params["estimator"].endswith(
        "GradientBoostingClassifier"
    )
    assert params["n_estimators"] == "15"
    assert version.artifact.path == "model/model.skops" and version.sha256 == version.artifact.sha256
    loaded = experiment_services.load_pipeline(version.artifact, version.signature)
    X, _ = frame(rows=20, seed=4)
    assert list(loaded.predict(X)) == list(pipeline.predict(X))


def test_a_regressor_with_a_given_signature_and_lineage(model, dana):
    X, _ = frame()
    data = X.assign(spend=X["income"] * 3)
    dataset = experiment_services.create_dataset(name="spend", actor=dana)
    dataset_version, _ = experiment_services.upload_version(
        dataset, upload(content=data.to_csv(index=False).encode()), actor=dana
    )
    regressor = make_pipeline(preprocess(), GradientBoostingRegressor(n_estimators=10)).fit(X, data["spend"])
    signature = {
        "inputs": [
            {"name": "income", "kind": "numeric"},
            {"name": "age", "kind": "numeric"},
            {"name": "region", "kind": "categorical", "categories": ["east", "north", "south"]},
        ]
    }
    version = services.upload_version(
        model,
        {
            "file": file(sio.dumps(regressor)),
            "signature": json.dumps(signature),
            "training_dataset_version": dataset_version.pk,
            "target": "spend",
        },
        actor=dana,
    )
    assert version.signature["output"] == {"task": "regression", "classes": None}
    assert list(version.run.input_versions.all()) == [dataset_version]
    assert version.lineage["target"] == "spend" and version.lineage["inputs"][0]["version"] == dataset_version.pk


def test_an_onnx_export_uploads_and_reads_its_classes_from_its_outputs(model, dana):
    X, y = frame()
    pipeline = make_pipeline(preprocess(), LogisticRegression()).fit(X, y)
    version = services.upload_version(
        model, {"file": file(onnx_bytes(pipeline, X), "model.onnx"), "sample": sample_csv()}, actor=dana
    )
    assert version.format == "onnx" and version.artifact.path == "model/model.onnx"
    assert version.signature["output"] == {"task": "classification", "classes": ["bad", "good"]}
    loaded = experiment_services.load_pipeline(version.artifact, version.signature)
    np.testing.assert_allclose(loaded.predict_proba(X.head()), pipeline.predict_proba(X.head()), atol=1e-5)


def with_ratio(X: pd.DataFrame) -> pd.DataFrame:
    return X.assign(ratio=X["income"] / X["age"])


def test_untrusted_types_are_refused_by_name_and_nothing_is_stored(model, dana, counts, settings):
    X, y = frame()
    odd = make_pipeline(FunctionTransformer(with_ratio), preprocess(), LogisticRegression()).fit(X, y)
    with pytest.raises(ValidationError) as refused:
        services.upload_version(model, {"file": file(sio.dumps(odd)), "sample": sample_csv()}, actor=dana)
    message = refused.value.message_dict["file"][0]
    assert f"{__name__}.with_ratio" in message and "MODEL_TRUSTED_TYPES" in message
    assert nothing_stored(counts)
    settings.MODEL_TRUSTED_TYPES = (f"{__name__}.with_ratio",)
    assert (
        services.upload_version(model, {"file": file(sio.dumps(odd)), "sample": sample_csv()}, actor=dana).number == 1
    )


def test_pickle_bytes_are_refused_and_nothing_is_stored(model, dana, counts):
    with pytest.raises(ValidationError, match="pickle"):
        services.upload_version(
            model, {"file": file(pickle.dumps(boosted_classifier()), "model.pkl"), "sample": sample_csv()}, actor=dana
        )
    assert nothing_stored(counts)


def test_columns_that_disagree_with_the_signature_are_refused(model, dana, counts):
    signature = {"inputs": [{"name": "income", "kind": "numeric"}, {"name": "years", "kind": "numeric"}]}
    with pytest.raises(ValidationError) as refused:
        services.upload_version(
            model, {"file": file(sio.dumps(boosted_classifier())), "signature": signature}, actor=dana
        )
    assert "disagree" in refused.value.message_dict["file"][0]
    assert nothing_stored(counts)


@pytest.mark.parametrize(
    "fields, key",
    [
        ({}, "signature"),
        ({"sample": SimpleUploadedFile("s.csv", b"")}, "sample"),
        ({"sample": SimpleUploadedFile("s.csv", b"\x00\x01")}, "sample"),
        ({"signature": "{not json"}, "signature"),
        ({"signature": {"inputs": []}}, "signature.inputs"),
        ({"signature": {"inputs": [{"name": "a", "kind": "numeric"}] * 2}}, "signature.inputs"),
        ({"signature": {"inputs": [{"name": "a", "kind": "numeric"}]}, "run": 999_999}, "run"),
        (
            {"signature": {"inputs": [{"name": "a", "kind": "numeric"}]}, "training_dataset_version": 999_999},
            "training_dataset_version",
        ),
        ({"signature": {"inputs": [{"name": "a", "kind": "numeric"}]}, "target": "y"}, "target"),
    ],
)
def test_bad_input_names_its_field_and_stores_nothing(model, dana, counts, fields, key):
    with pytest.raises(ValidationError) as refused:
        services.upload_version(model, {"file": file(sio.dumps(boosted_classifier())), **fields}, actor=dana)
    assert key in refused.value.message_dict, refused.value.message_dict
    assert nothing_stored(counts)


def test_a_reviewer_cannot_upload(model, counts):
    reviewer = make_user("rui", roles.REVIEWER)
    with pytest.raises(Exception, match="does not allow"):
        services.upload_version(model, {"file": file(b"x"), "sample": sample_csv()}, actor=reviewer)
    assert nothing_stored(counts)


def test_a_logged_runs_file_registers_and_the_card_carries_over(model, dana):
    experiment = experiment_services.create_experiment(name="notebook", actor=dana)
    run = experiment_services.create_run(experiment, actor=dana)
    experiment_services.log_batch(run, actor=dana, metrics=[{"key": "f1", "value": 0.8, "step": 0}])
    experiment_services.upload_artifact(
        run, file(sio.dumps(boosted_classifier()), "clf.skops"), actor=dana, path="clf.skops"
    )
    run = experiment_services.finish_run(run, actor=dana)
    first = services.register_run_file(model, run, path="clf.skops", sample=sample_csv(), actor=dana)
    assert first.metrics == {"f1": 0.8} and first.metrics_source == "uploader" and first.card == {}
    services.update_version(first, {"intended_use": "Scoring loan applicants."}, actor=dana)
    second = services.upload_version(
        model, {"file": file(sio.dumps(boosted_classifier())), "sample": sample_csv(), "run": run.pk}, actor=dana
    )
    assert second.card == {"intended_use": "Scoring loan applicants.", "carried_over_from": 1}
    assert second.run == run and second.artifact.path == "model/model.skops"


def test_saving_a_carried_over_card_marks_it_reviewed(model, dana):
    first = services.upload_version(
        model, {"file": file(sio.dumps(boosted_classifier())), "sample": sample_csv()}, actor=dana
    )
    services.update_version(first, {"limitations": "Trained on 2024 applicants only."}, actor=dana)
    second = services.upload_version(
        model, {"file": file(sio.dumps(boosted_classifier())), "sample": sample_csv()}, actor=dana
    )
    assert second.card["carried_over_from"] == 1
    reviewed = services.update_version(second, {"limitations": "Trained on 2024 applicants only."}, actor=dana)
    assert reviewed.card == {"limitations": "Trained on 2024 applicants only."}
