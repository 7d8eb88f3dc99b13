"""A version is registered only from a file that can serve: trusted types, a signature, a probe prediction."""

import json
import pickle

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from experiments import services as experiment_services
from mlops_site.models import AuditEvent
from registry import services
from registry.models import ModelVersion
from tests.builders import token_client
from tests.registry.servable import servable_model_bytes
from tests.registry.test_services import model  # noqa: F401

pytestmark = pytest.mark.django_db

SIGNATURE = {
    "inputs": [{"name": "income", "kind": "numeric", "dtype": "float64"}, {"name": "city", "kind": "categorical"}],
    "output": {"task": "classification", "classes": [0, 1]},
}


def logged_run(actor, *, model_bytes: bytes | None, signature: bytes | None):
    experiment = experiment_services.create_experiment(name="script", actor=actor)
    run = experiment_services.create_run(experiment, actor=actor, name="logged")
    if model_bytes is not None:
        experiment_services.upload_artifact(
            run, SimpleUploadedFile("p.skops", model_bytes), actor=actor, path="model/pipeline.skops"
        )
    if signature is not None:
        experiment_services.upload_artifact(
            run, SimpleUploadedFile("s.json", signature), actor=actor, path="model/signature.json"
        )
    return experiment_services.finish_run(run, actor=actor)


GOOD = servable_model_bytes(SIGNATURE)
CASES = {
    "pickle bytes under the skops name": (pickle.dumps({"not": "skops"}), json.dumps(SIGNATURE).encode(), "skops"),
    "no signature": (GOOD, None, "signature.json"),
    "a signature without inputs": (GOOD, b'{"output": {}}', "inputs"),
    "a signature that is not JSON": (GOOD, b"\xff{", "JSON"),
    "a model that needs a column the signature lacks": (
        GOOD,
        json.dumps({"inputs": [{"name": "city", "kind": "categorical"}]}).encode(),
        "cannot predict",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_file_that_can_never_serve_is_refused_at_registration(scientist, model, case):  # noqa: F811
    model_bytes, signature, message = CASES[case]
    run = logged_run(scientist, model_bytes=model_bytes, signature=signature)
    client = token_client(scientist)
    before = AuditEvent.objects.count()
    answer = client.post(f"/api/models/{model.name}/versions/", {"run": run.pk}, format="json")
    assert answer.status_code == 400, answer.content
    assert message in answer.json()["errors"]["run"][0]
    assert not ModelVersion.objects.exists() and AuditEvent.objects.count() == before


def test_a_servable_logged_file_is_registered(scientist, model):  # noqa: F811
    run = logged_run(scientist, model_bytes=GOOD, signature=json.dumps(SIGNATURE).encode())
    version = services.register_version(model, run, actor=scientist)
    assert version.signature == SIGNATURE and version.number == 1
