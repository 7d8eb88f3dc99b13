"""The "Upload a version" page: infer the signature from a sample, confirm it, upload; bad files change nothing."""

from __future__ import annotations

import json
import pickle

import pytest
import skops.io as sio
from django.test import Client

from mlops_site import roles
from registry import services
from registry.models import ModelVersion
from tests.builders import make_user
from tests.registry.test_uploads import boosted_classifier, file, sample_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def model():
    return services.create_model(name="credit", actor=make_user("dana", roles.DATA_SCIENTIST))


def client_for(username: str) -> Client:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client


def test_infer_then_upload(model):
    client = client_for("dana")
    page = client.get(f"/models/{model.name}/upload/")
    assert page.status_code == 200 and b"Infer signature" in page.content
    inferred = client.post(f"/models/{model.name}/upload/", {"infer": "1", "sample": sample_csv()})
    assert inferred.status_code == 200 and not ModelVersion.objects.exists()
    signature = json.loads(inferred.context["form"].data["signature"])
    assert [c["name"] for c in signature["inputs"]] == ["income", "age", "region"]
    done = client.post(
        f"/models/{model.name}/upload/",
        {"signature": json.dumps(signature), "file": file(sio.dumps(boosted_classifier())), "description": "nb"},
    )
    version = ModelVersion.objects.get()
    assert done.status_code == 302 and done["Location"] == version.get_absolute_url()
    assert version.signature["output"]["classes"] == ["bad", "good"] and version.description == "nb"


def test_a_refused_file_shows_why_and_stores_nothing(model):
    response = client_for("dana").post(
        f"/models/{model.name}/upload/", {"sample": sample_csv(), "file": file(pickle.dumps({"a": 1}), "m.pkl")}
    )
    assert response.status_code == 200 and "pickle" in response.content.decode()
    assert not ModelVersion.objects.exists()


def test_infer_without_a_sample_says_what_to_do(model):
    response = client_for("dana").post(f"/models/{model.name}/upload/", {"infer": "1"})
    assert response.status_code == 200 and "Choose a CSV" in response.content.decode()


def test_a_reviewer_may_not_upload(model):
    make_user("rui", roles.REVIEWER)
    assert client_for("rui").get(f"/models/{model.name}/upload/").status_code == 403


def test_register_a_logged_runs_file_from_its_page(model):
    from experiments import services as experiment_services

    dana = model.owner
    experiment = experiment_services.create_experiment(name="notebook", actor=dana)
    run = experiment_services.create_run(experiment, actor=dana)
    experiment_services.upload_artifact(run, file(sio.dumps(boosted_classifier())), actor=dana, path="model/clf.skops")
    client = client_for("dana")
    assert "Register…" not in client.get(run.get_absolute_url()).content.decode()  # still running
    experiment_services.finish_run(run, actor=dana)
    assert f"/runs/{run.pk}/register/?path=model/clf.skops" in client.get(run.get_absolute_url()).content.decode()
    page = client.get(f"/runs/{run.pk}/register/?path=model/clf.skops")
    assert page.status_code == 200 and "model/clf.skops" in page.content.decode()
    refused = client.post(f"/runs/{run.pk}/register/", {"model": model.pk, "path": "model/clf.skops"})
    assert refused.status_code == 200 and "signature" in refused.content.decode() and not ModelVersion.objects.exists()
    done = client.post(
        f"/runs/{run.pk}/register/", {"model": model.pk, "path": "model/clf.skops", "sample": sample_csv()}
    )
    version = ModelVersion.objects.get()
    assert done.status_code == 302 and version.run == run and version.metrics_source == "uploader"
