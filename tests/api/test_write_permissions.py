"""An API write needs the permission its service checks, so the API refuses first, with the service's sentence.

For each write guarded in issue 15's refactor: a user holding only the `view_` permissions gets a 403 whose
detail is the sentence the service refuses with, and nothing is written; a data scientist still succeeds.
"""

import pytest
from django.contrib.auth.models import Permission
from rest_framework import viewsets

from experiments import services as experiment_services
from experiments.models import Dataset, DatasetVersion, Experiment, LatestMetric, Metric, Param, Run, RunArtifact
from experiments.services.datasets import DENIED
from experiments.services.training import TRAINING_DENIED
from mlops_site.api.permissions import HasModelPermission, write_permission
from mlops_site.models import AuditEvent, Job
from registry import services as registry_services
from registry.models import ModelVersion
from registry.services.catalog import denied
from tests.builders import make_user, token_client, upload

pytestmark = pytest.mark.django_db

OWNER_ONLY = "Only the person who started this run (or an admin) can log to it."
COUNTED = [
    Dataset,
    DatasetVersion,
    Experiment,
    Run,
    Param,
    Metric,
    LatestMetric,
    RunArtifact,
    ModelVersion,
    Job,
    AuditEvent,
]


def state() -> dict:
    """Every row count the guarded writes could change, and the fields the updates change."""
    return {
        "counts": {model.__name__: model.objects.count() for model in COUNTED},
        "runs": sorted(Run.objects.values_list("pk", "status", "ended_at")),
        "versions": sorted(ModelVersion.objects.values_list("pk", "description", "tags", "card")),
    }


@pytest.fixture
def viewer(db):
    """Holds every `view_` permission of the platform's apps, nothing else."""
    user = make_user("viewer")
    user.user_permissions.set(
        Permission.objects.filter(
            codename__startswith="view_",
            content_type__app_label__in=["mlops_site", "experiments", "registry", "deployments", "monitoring"],
        )
    )
    return user


@pytest.fixture
def world(scientist, credit, django_capture_on_commit_callbacks):
    """The scientist's logged run, a trained run registered as credit-default v1, and the credit data."""
    experiment, version = credit
    logged = experiment_services.create_run(experiment, actor=scientist, name="logged")
    with django_capture_on_commit_callbacks(execute=True):
        trained = experiment_services.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    trained.refresh_from_db()
    assert trained.status == "finished"
    model = registry_services.create_model(name="credit-default", actor=scientist)
    registry_services.register_version(model, trained, actor=scientist)
    return {
        "experiment": experiment.pk,
        "dataset": version.dataset_id,
        "version": version.pk,
        "run": logged.pk,
        "trained": trained.pk,
    }


def training_body(w, **extra):
    body = {
        "experiment": w["experiment"],
        "dataset_version": w["version"],
        "target": "defaulted",
        "algorithm": "logistic_regression",
        "seed": 7,
    }
    return body | extra


STEPS = {"steps": [{"op": "drop_duplicates"}]}

# id, method, url, body (from the world), format, the service's sentence, the data scientist's status
# fmt: off
CASES = [
    ("experiment-create", "post", "/api/experiments/", lambda w: {"name": "new"}, "json",
     DENIED.format("creating experiments"), 201),
    ("run-create", "post", "/api/runs/", lambda w: {"experiment": w["experiment"], "name": "r"}, "json",
     DENIED.format("creating runs"), 201),
    ("run-log-batch", "post", "/api/runs/{run}/log-batch/",
     lambda w: {"params": {"C": 1}, "metrics": [{"key": "f1", "value": 0.5}], "tags": {"t": "x"}}, "json",
     OWNER_ONLY, 200),
    ("run-finish", "post", "/api/runs/{run}/finish/", lambda w: {"status": "finished"}, "json", OWNER_ONLY, 200),
    ("run-artifact-upload", "post", "/api/runs/{run}/artifacts/", lambda w: {"file": upload("notes.csv")},
     "multipart", OWNER_ONLY, 201),
    ("run-reproduce", "post", "/api/runs/{trained}/reproduce/", lambda w: None, "json", TRAINING_DENIED, 202),
    ("dataset-create", "post", "/api/datasets/", lambda w: {"name": "fresh"}, "json",
     DENIED.format("creating datasets"), 201),
    ("dataset-version-upload", "post", "/api/datasets/{dataset}/versions/", lambda w: {"file": upload()},
     "multipart", DENIED.format("uploading data"), 201),
    ("dataset-version-clean", "post", "/api/dataset-versions/{version}/clean/", lambda w: STEPS, "json",
     DENIED.format("cleaning data"), 202),
    ("dataset-version-clean-preview", "post", "/api/dataset-versions/{version}/clean/preview/", lambda w: STEPS,
     "json", DENIED.format("cleaning data"), 200),
    ("training", "post", "/api/training/", training_body, "json", TRAINING_DENIED, 202),
    ("sweep", "post", "/api/sweeps/",
     lambda w: training_body(w, search="grid", space={"C": [0.1, 1.0]}), "json", TRAINING_DENIED, 202),
    ("model-version-patch", "patch", "/api/models/credit-default/versions/1/",
     lambda w: {"description": "changed", "tags": {"k": "v"}, "limitations": "x"}, "json",
     denied("editing model versions"), 200),
]
# fmt: on


@pytest.mark.parametrize(
    ("method", "url", "body", "fmt", "sentence", "ok"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_view_only_is_refused_with_the_services_sentence_and_a_data_scientist_is_not(
    world, viewer, scientist, method, url, body, fmt, sentence, ok
):
    url = url.format(**world)
    viewing, scientific = token_client(viewer), token_client(scientist)
    before = state()

    refused = getattr(viewing, method)(url, body(world), format=fmt)

    assert refused.status_code == 403, refused.content
    assert refused.json()["code"] == "permission_denied" and refused.json()["detail"] == sentence
    # Refused before the view reads the body: a garbled one is the same 403, not a 400.
    garbled = viewing.generic(method.upper(), url, "{", content_type="application/json")
    assert garbled.status_code == 403 and garbled.json()["detail"] == sentence
    assert state() == before

    allowed = getattr(scientific, method)(url, body(world), format=fmt)
    assert allowed.status_code == ok, allowed.content
    assert state() != before or url.endswith("/clean/preview/")  # a preview stores nothing


def test_reads_still_need_only_the_view_permission(world, viewer):
    client = token_client(viewer)
    for url in (
        "/api/experiments/",
        f"/api/runs/{world['run']}/",
        f"/api/runs/{world['run']}/artifacts/",
        f"/api/datasets/{world['dataset']}/versions/",
        "/api/models/credit-default/versions/1/",
    ):
        assert client.get(url).status_code == 200, url


def test_without_the_read_permission_a_write_is_refused_with_the_default_sentence(world, nobody):
    response = token_client(nobody).post("/api/experiments/", {"name": "new"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == HasModelPermission.message
    assert not Experiment.objects.filter(name="new").exists()


class _View(viewsets.ViewSet):
    write_permissions = {
        "alias DELETE": "app.delete_alias",
        "alias": ("app.change_alias", "Moving aliases is not for you."),
        "PATCH": "app.change_thing",
    }


@pytest.mark.parametrize(
    ("action", "method", "needed"),
    [
        ("alias", "DELETE", ("app.delete_alias", None)),  # action and method first
        ("alias", "PUT", ("app.change_alias", "Moving aliases is not for you.")),  # then the action
        ("other", "PATCH", ("app.change_thing", None)),  # then the method
        ("other", "POST", None),  # no entry: only `required_permission`
        ("alias", "GET", None),  # reads never need a write permission
    ],
)
def test_write_permission_lookup_order(action, method, needed):
    view = _View()
    view.action = action
    assert write_permission(view, method) == needed
