"""POST /api/models/{name}/versions/ as multipart: a model file trained anywhere, checked before anything is stored."""

from __future__ import annotations

import json
import pickle

import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from mlops_site import roles
from registry import services
from registry.models import ModelVersion
from tests.builders import make_user, token_client
from tests.registry.test_uploads import boosted_classifier, file, frame, onnx_bytes, preprocess, sample_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def dana():
    return make_user("dana", roles.DATA_SCIENTIST)


@pytest.fixture
def model(dana):
    return services.create_model(name="credit", actor=dana)


def test_upload_a_skops_pipeline(model, dana):
    response = token_client(dana).post(
        f"/api/models/{model.name}/versions/",
        {"file": file(sio.dumps(boosted_classifier())), "sample": sample_csv(), "description": "notebook"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["number"], body["format"], body["metrics_source"]) == (1, "skops", "uploader")
    assert body["signature"]["output"] == {"task": "classification", "classes": ["bad", "good"]}
    assert ModelVersion.objects.get().description == "notebook"


def test_upload_an_onnx_export_with_a_signature(model, dana):
    X, y = frame()
    signature = {"inputs": [{"name": n, "kind": "numeric" if n != "region" else "categorical"} for n in X.columns]}
    pipeline = make_pipeline(preprocess(), LogisticRegression()).fit(X, y)
    response = token_client(dana).post(
        f"/api/models/{model.name}/versions/",
        {"file": file(onnx_bytes(pipeline, X), "m.onnx"), "signature": json.dumps(signature), "task": "classification"},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["format"] == "onnx"


def test_refused_uploads_say_why_and_store_nothing(model, dana):
    client = token_client(dana)
    url = f"/api/models/{model.name}/versions/"
    pickled = client.post(url, {"file": file(pickle.dumps([1]), "m.pkl"), "sample": sample_csv()}, format="multipart")
    assert pickled.status_code == 400 and "pickle" in pickled.json()["errors"]["file"][0]
    unsigned = client.post(url, {"file": file(sio.dumps(boosted_classifier()))}, format="multipart")
    assert unsigned.status_code == 400 and "signature" in unsigned.json()["errors"]
    nul = client.post(url, {"file": file(b"\x00" * 10), "sample": sample_csv()}, format="multipart")
    assert nul.status_code == 400 and "file" in nul.json()["errors"]
    assert not ModelVersion.objects.exists()


def test_a_reviewer_is_refused_before_the_file_is_read(model):
    response = token_client(make_user("rui", roles.REVIEWER)).post(
        f"/api/models/{model.name}/versions/", {"file": file(b"anything"), "sample": sample_csv()}, format="multipart"
    )
    assert response.status_code == 403 and not ModelVersion.objects.exists()
