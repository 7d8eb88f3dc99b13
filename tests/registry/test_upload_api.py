"""POST /api/models/{name}/versions/ as multipart: a model file trained anywhere, checked before anything is stored."""

from __future__ import annotations

import json
import pickle

import pytest
import skops.io as sio
from django.core.files.uploadedfile import SimpleUploadedFile
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


@pytest.mark.parametrize(
    "fields",
    [
        {"signature": json.dumps({"inputs": [{"name": "inc\x00ome", "kind": "numeric"}]})},
        {"signature": "[" * 5000 + "]" * 5000},
        {"signature": json.dumps({"inputs": "income"})},
        {"signature": json.dumps({"inputs": [{"name": "income", "kind": "numeric", "categories": [[[[]]]]}]})},
        {"sample": SimpleUploadedFile("s.csv", b"income,age\n" + b"1,2\n" * 300_000)},
        {"sample": SimpleUploadedFile("s.json", b'[{"income": {"a": [1, 2]}}]')},
        {"sample": SimpleUploadedFile("s.json", b"[" * 5000 + b"]" * 5000)},
        {"sample": SimpleUploadedFile("s.csv", b"income\x00,age\n1,2\n")},
        {"sample": sample_csv(), "task": "clustering"},
        {"sample": sample_csv(), "run": "x" * 10_000},
    ],
)
def test_hostile_fields_are_a_400_and_store_nothing(model, dana, fields):
    response = token_client(dana).post(
        f"/api/models/{model.name}/versions/",
        {"file": file(sio.dumps(boosted_classifier())), **fields},
        format="multipart",
    )
    assert response.status_code == 400, response.content[:300]
    assert response.json()["errors"] and not ModelVersion.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_double_submitted_upload_with_one_idempotency_key_makes_one_version(dana):
    import threading

    from experiments.models import Run

    model = services.create_model(name="credit-race", actor=dana)
    data = sio.dumps(boosted_classifier())
    statuses = []

    def send():
        client = token_client(dana)
        response = client.post(
            f"/api/models/{model.name}/versions/",
            {"file": file(data), "sample": sample_csv()},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="upload-once-1",
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) in ([201, 201], [201, 409]), statuses  # the second replays or waits its turn
    assert ModelVersion.objects.filter(model=model).count() == 1
    assert Run.objects.filter(source=Run.Source.UPLOADED).count() == 1
