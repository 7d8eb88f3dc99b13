"""Logged models, the artifact proxy and the registry on MLflow's paths, through Django's test client.

The JSON and raw bodies are what the mlflow client sends (recorded in test_client_models.py's runs);
these pin the refusals, the hostile inputs and the rules the real-client tests cannot reach quickly.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from django.core.files.storage import default_storage
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from experiments.models import RunArtifact
from mlflow_compat import mlmodel
from mlflow_compat.models import LoggedModel
from mlflow_compat.views import artifacts as artifact_views
from mlflow_compat.views import logged_models as logged_model_views
from mlflow_compat.views import registry as registry_views
from mlops_site import roles
from registry.models import ModelVersion, RegisteredModel
from tests.builders import make_user
from tests.mlflow_compat.test_tracking import API, bearer, call, new_run

pytestmark = pytest.mark.django_db
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


@pytest.fixture
def mlflow(scientist):
    return bearer(scientist)


def fitted():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=120), "b": rng.normal(size=120)})
    y = (X.a - X.b > 0).astype(int)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y), X


def mlmodel_text(model_id: str, *, serialization="skops", signature=True) -> str:
    """An MLmodel as mlflow 3.17's sklearn flavor writes it."""
    document = {
        "flavors": {
            "python_function": {
                "loader_module": "mlflow.sklearn",
                "model_path": "model.skops",
                "predict_fn": "predict",
            },
            "sklearn": {
                "pickled_model": "model.skops" if serialization == "skops" else "model.pkl",
                "serialization_format": serialization,
                "sklearn_version": "1.9.1",
                "skops_trusted_types": None,
                "code": None,
            },
        },
        "model_id": model_id,
        "mlflow_version": "3.17.2",
    }
    if signature:
        document["signature"] = {
            "inputs": json.dumps(
                [{"type": "double", "name": "a", "required": True}, {"type": "double", "name": "b", "required": True}]
            ),
            "outputs": json.dumps([{"type": "long", "required": True}]),
            "params": None,
        }
    return yaml.safe_dump(document)


def put(client, path: str, data: bytes):
    return client.generic("PUT", f"{ARTIFACTS}/{path}", data, content_type="application/octet-stream")


def log_model(client, run, *, serialization="skops", signature=True, finalize=True):
    """What `mlflow.sklearn.log_model` sends: create, upload the directory, finalize."""
    status, body = call(
        client,
        "POST",
        "logged-models",
        {"experiment_id": run["info"]["experiment_id"], "name": "model", "source_run_id": run["info"]["run_id"]},
    )
    assert status == 200, body
    info = body["model"]["info"]
    base = f"{info['experiment_id']}/models/{info['model_id']}/artifacts"
    pipeline, X = fitted()
    assert (
        put(
            client,
            f"{base}/MLmodel",
            mlmodel_text(info["model_id"], serialization=serialization, signature=signature).encode(),
        ).status_code
        == 200
    )
    name = "model.skops" if serialization == "skops" else "model.pkl"
    assert (
        put(
            client, f"{base}/{name}", sio.dumps(pipeline) if serialization == "skops" else b"\x80\x04pickle"
        ).status_code
        == 200
    )
    if finalize:
        status, body = call(client, "PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
        assert status == 200, body
    return info, pipeline, X


def register(client, name: str, source: str):
    call(client, "POST", "registered-models/create", {"name": name})
    return call(client, "POST", "model-versions/create", {"name": name, "source": source})


def test_a_logged_model_registers_once_ready_and_its_files_are_then_frozen(mlflow):
    run = new_run(mlflow)
    info, _, _ = log_model(mlflow, run, finalize=False)
    status, body = register(mlflow, "m", f"models:/{info['model_id']}")
    assert status == 400 and "pending" in body["message"]  # not before its files are uploaded
    status, _ = call(mlflow, "PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
    assert status == 200
    status, body = call(mlflow, "POST", "model-versions/create", {"name": "m", "source": f"models:/{info['model_id']}"})
    assert status == 200, body
    version = ModelVersion.objects.get(model__name="m", number=int(body["model_version"]["version"]))
    assert body["model_version"]["status"] == "READY" and body["model_version"]["model_id"] == info["model_id"]
    assert version.sha256 == LoggedModel.objects.get(model_id=info["model_id"]).artifacts.get(path="model.skops").sha256
    # Ready means frozen: what a reviewer approves is what stays there.
    base = f"{info['experiment_id']}/models/{info['model_id']}/artifacts"
    response = put(mlflow, f"{base}/model.skops", b"other bytes")
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    status, body = call(mlflow, "PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_UPLOAD_FAILED"})
    assert status == 400
    # A second registration of the same file is refused rather than made twice (a double click).
    status, body = call(mlflow, "POST", "model-versions/create", {"name": "m", "source": f"models:/{info['model_id']}"})
    assert status == 400 and "already registered" in body["message"]
    assert ModelVersion.objects.filter(model__name="m").count() == 1


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("pickle", 'serialization_format="skops"'),
        ("no signature", "input_example"),
    ],
)
def test_models_the_site_cannot_serve_are_refused_with_what_to_change(mlflow, kind, expected):
    run = new_run(mlflow)
    info, _, _ = log_model(
        mlflow, run, serialization="cloudpickle" if kind == "pickle" else "skops", signature=kind != "no signature"
    )
    status, body = register(mlflow, "m", f"models:/{info['model_id']}")
    assert status == 400 and expected in body["message"], body
    assert not ModelVersion.objects.exists()
    assert RunArtifact.objects.filter(run_id=int(run["info"]["run_id"])).count() == 0  # nothing half-written


def test_an_upload_under_a_model_file_a_version_pins_cannot_replace_it(mlflow, scientist):
    run = new_run(mlflow)
    info, _, _ = log_model(mlflow, run)
    assert register(mlflow, "m", f"models:/{info['model_id']}")[0] == 200
    version = ModelVersion.objects.get()
    pinned = version.artifact.path  # model/model.skops under the run
    response = put(mlflow, f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts/{pinned}", b"evil")
    assert response.status_code == 400 and "model version" in response.json()["message"]
    with default_storage.open(version.artifact.file, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == version.sha256
    # Other paths are overwritten as MLflow does, keeping one row with the new hash.
    path = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts/notes.txt"
    assert put(mlflow, path, b"one").status_code == 200 and put(mlflow, path, b"two").status_code == 200
    row = RunArtifact.objects.get(run_id=int(run["info"]["run_id"]), path="notes.txt")
    assert row.sha256 == hashlib.sha256(b"two").hexdigest() and mlflow.get(f"{ARTIFACTS}/{path}").getvalue() == b"two"


def test_artifact_paths_that_escape_or_clash_are_refused(mlflow):
    run = new_run(mlflow)
    root = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts"
    assert put(mlflow, f"{root}/dir/file.txt", b"x").status_code == 200
    for bad in ["../../etc/passwd", "dir/file.txt/inner", "dir", "a//b", "x\x00y", "n" * 400]:
        response = put(mlflow, f"{root}/{bad}", b"y")
        assert response.status_code in (400, 404), (bad, response.status_code)
        # A NUL anywhere in a path is refused by the site's middleware, in the site's own error shape.
        assert "error_code" in response.json() or "\x00" in bad
    other = new_run(mlflow, experiment_name="other")
    wrong_experiment = f"{other['info']['experiment_id']}/{run['info']['run_id']}/artifacts/f.txt"
    assert put(mlflow, wrong_experiment, b"x").status_code == 404
    assert mlflow.get(ARTIFACTS, {"path": "not/a/site/path"}).status_code == 404
    assert RunArtifact.objects.filter(run_id=int(run["info"]["run_id"])).count() == 1


def test_a_reviewer_reads_but_cannot_upload_or_register(mlflow, scientist):
    run = new_run(mlflow)
    info, _, _ = log_model(mlflow, run)
    reviewer = bearer(make_user("rhea", roles.REVIEWER))
    root = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts"
    assert put(reviewer, f"{root}/x.txt", b"x").status_code == 403
    assert (
        reviewer.get(ARTIFACTS, {"path": f"{info['experiment_id']}/models/{info['model_id']}/artifacts"}).status_code
        == 200
    )
    status, body = call(reviewer, "POST", "registered-models/create", {"name": "theirs"})
    assert status == 403 and body["error_code"] == "PERMISSION_DENIED"
    assert not RegisteredModel.objects.filter(name="theirs").exists()


@pytest.mark.parametrize("fmt", ["skops", "onnx"])
def test_a_site_version_downloads_as_an_mlmodel_directory_holding_its_pinned_bytes(mlflow, made, fmt):
    version = getattr(made, fmt)
    status, body = call(
        mlflow, "GET", "model-versions/get-download-uri", name=version.model.name, version=str(version.number)
    )
    assert status == 200
    root = body["artifact_uri"].removeprefix("mlflow-artifacts:/")
    listed = {f["path"] for f in mlflow.get(ARTIFACTS, {"path": root}).json()["files"]}
    expected_file = "model.onnx" if version.format == "onnx" else "model.skops"
    assert {"MLmodel", expected_file, "requirements.txt"} <= listed
    data = mlflow.get(f"{ARTIFACTS}/{root}/{expected_file}").getvalue()
    assert hashlib.sha256(data).hexdigest() == version.sha256
    document = yaml.safe_load(mlflow.get(f"{ARTIFACTS}/{root}/MLmodel").getvalue())
    inputs = json.loads(document["signature"]["inputs"])
    assert [c["name"] for c in inputs] == [c["name"] for c in version.signature["inputs"]]
    assert put(mlflow, f"{root}/MLmodel", b"x").status_code == 400


def test_transition_stage_never_moves_a_stage(mlflow, made):
    version = made.skops
    status, body = call(
        mlflow,
        "POST",
        "model-versions/transition-stage",
        {"name": version.model.name, "version": str(version.number), "stage": "Production"},
    )
    assert status == 400 and "/api/promotions/" in body["message"]
    version.refresh_from_db()
    assert version.stage == "none"


def test_mlmodel_column_types_round_trip():
    site = {
        "inputs": [{"name": "n", "kind": "numeric", "dtype": "int64"}, {"name": "c", "kind": "categorical"}],
        "output": {"task": "classification", "classes": ["no", "yes"]},
    }
    block = mlmodel.signature_json(site)
    assert json.loads(block["inputs"]) == [
        {"type": "long", "name": "n", "required": True},
        {"type": "string", "name": "c", "required": True},
    ]
    assert json.loads(block["outputs"]) == [{"type": "string", "required": True}]
    back = mlmodel.site_signature({"signature": block})
    assert back == {"inputs": [{"name": "n", "kind": "numeric"}, {"name": "c", "kind": "categorical"}]}
    with pytest.raises(mlmodel.MLmodelError, match="tensor"):
        mlmodel.site_signature({"signature": {"inputs": json.dumps([{"type": "tensor", "tensor-spec": {}}])}})
    with pytest.raises(mlmodel.MLmodelError):
        mlmodel.parse("flavors: [unclosed")


WRONG = [None, "", "x", -1, 2**70, 1.5, True, [], {"key": 1}, "\ud800", "9" * 30, "²"]
FIELDS = [
    "name",
    "version",
    "source",
    "model_id",
    "run_id",
    "alias",
    "key",
    "value",
    "description",
    "filter",
    "order_by",
    "max_results",
    "page_token",
    "stages",
    "tags",
    "params",
    "experiment_id",
    "experiment_ids",
    "status",
    "source_run_id",
    "path",
]
ROUTES = {
    p.pattern.regex.pattern: [
        m.upper() for m in ("post", "patch", "delete", "get") if hasattr(p.callback.view_class, m)
    ]
    for module in (registry_views, logged_model_views)
    for p in module.urlpatterns
}


@pytest.mark.parametrize("route", ROUTES)
def test_no_model_endpoint_answers_500_to_wrong_types(mlflow, route):
    run = new_run(mlflow, experiment_name=f"fuzz {route[:50]}")
    info, _, _ = log_model(mlflow, run)
    register(mlflow, "fuzzed", f"models:/{info['model_id']}")
    path = route.removeprefix("^api/2\\.0/mlflow/").removesuffix("$").replace("\\.", ".").replace("\\-", "-")
    path = path.replace("(?P<model_id>[^/]{1,100})", info["model_id"]).replace("(?P<key>.{1,250})", "k")
    valid = {
        "name": "fuzzed",
        "version": "1",
        "source": f"models:/{info['model_id']}",
        "alias": "champion",
        "key": "k",
        "value": "v",
        "experiment_id": run["info"]["experiment_id"],
        "experiment_ids": [run["info"]["experiment_id"]],
    }
    for index, field in enumerate(FIELDS):
        for wrong in [WRONG[(index + k) % len(WRONG)] for k in range(0, len(WRONG), 3)]:
            body = {**valid, field: wrong}
            for method in ROUTES[route]:
                if method == "GET":
                    query = {k: v for k, v in body.items() if isinstance(v, str) and v != "\ud800"}
                    response = mlflow.get(f"{API}/{path}", query)
                else:
                    response = mlflow.generic(
                        method, f"{API}/{path}", json.dumps(body), content_type="application/json"
                    )
                assert response.status_code < 500, (path, method, field, wrong, response.content[:300])
                if response.status_code >= 400:
                    assert "error_code" in response.json(), (path, method, field, wrong)


@pytest.mark.parametrize("route", [p.pattern.regex.pattern for p in artifact_views.urlpatterns])
def test_no_artifact_endpoint_answers_500_to_hostile_paths(mlflow, route):
    run = new_run(mlflow)
    root = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts"
    for path in [
        "",
        "/",
        "..",
        f"{root}/..",
        f"{root}/%00",
        "registry/1/1/MLmodel",
        "registry/x",
        f"{root}/" + "a/" * 200,
        "1/models/m-zz/artifacts/x",
        f"{run['info']['experiment_id']}/models/m-{'0' * 32}/artifacts/x",
    ]:
        for response in (
            mlflow.get(ARTIFACTS, {"path": path}),
            mlflow.get(f"{ARTIFACTS}/{path}"),
            put(mlflow, path, b"x"),
        ):
            assert response.status_code < 500, (path, response.content[:300])


def test_one_logged_model_under_two_registered_models_pins_one_file(mlflow):
    run = new_run(mlflow)
    info, _, _ = log_model(mlflow, run)
    assert register(mlflow, "first", f"models:/{info['model_id']}")[0] == 200
    assert register(mlflow, "second", f"models:/{info['model_id']}")[0] == 200
    first, second = ModelVersion.objects.get(model__name="first"), ModelVersion.objects.get(model__name="second")
    assert first.artifact_id == second.artifact_id and first.sha256 == second.sha256
    assert RunArtifact.objects.filter(run_id=int(run["info"]["run_id"])).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_registrations_of_one_logged_model_at_once_make_one_version(scientist):
    """A double click on "register" (or a retried request): one version, the other a clear refusal."""
    import threading

    from django.db import connection

    from mlflow_compat.errors import translate
    from mlflow_compat.services import registry as compat
    from registry import services as registry_services

    client = bearer(scientist)
    run = new_run(client)
    info, _, _ = log_model(client, run)
    model = registry_services.create_model(name="raced", actor=scientist)
    barrier, outcomes = threading.Barrier(2), []

    def register_once():
        try:
            barrier.wait()
            compat.create_version(model, source=f"models:/{info['model_id']}", model_id=None, actor=scientist)
            outcomes.append("made")
        except Exception as exc:  # what the view would answer
            error = translate(exc)
            outcomes.append(error.code if error else repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=register_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["INVALID_STATE", "made"], outcomes
    assert ModelVersion.objects.filter(model=model).count() == 1
    assert RunArtifact.objects.filter(run_id=int(run["info"]["run_id"])).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("replace", [False, True])
def test_two_uploads_to_one_path_at_once_leave_one_artifact(scientist, replace):
    import threading

    from django.core.exceptions import ValidationError
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.db import connection

    from experiments import services as experiments
    from experiments.models import Run

    run = Run.objects.get(pk=int(new_run(bearer(scientist))["info"]["run_id"]))
    barrier, outcomes = threading.Barrier(2), []

    def upload_once(body: bytes):
        try:
            barrier.wait()
            experiments.upload_artifact(
                run, SimpleUploadedFile("r.txt", body), actor=scientist, path="report.txt", replace=replace
            )
            outcomes.append("stored")
        except ValidationError as exc:
            outcomes.append(" ".join(exc.messages))
        finally:
            connection.close()

    threads = [threading.Thread(target=upload_once, args=(body,)) for body in (b"one", b"two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = list(RunArtifact.objects.filter(run=run))
    assert len(rows) == 1
    if replace:
        assert outcomes == ["stored", "stored"]
    else:
        assert sorted(outcomes)[1] == "stored" and "already has an artifact" in sorted(outcomes)[0]
    with default_storage.open(rows[0].file, "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == rows[0].sha256


def test_a_version_downloads_as_the_site_builds_it_whatever_the_logged_mlmodel_says(mlflow):
    """A logged MLmodel whose python_function flavor names a pickle and code is registered for its skops file,
    but what `models:/name/1` downloads is the site's own directory around the pinned bytes."""
    run = new_run(mlflow)
    info, _, _ = log_model(mlflow, run, finalize=False)
    base = f"{info['experiment_id']}/models/{info['model_id']}/artifacts"
    document = yaml.safe_load(mlmodel_text(info["model_id"]))
    document["flavors"]["python_function"] = {
        "loader_module": "mlflow.pyfunc.model",
        "python_model": "python_model.pkl",
        "code": "code",
    }
    assert put(mlflow, f"{base}/MLmodel", yaml.safe_dump(document).encode()).status_code == 200
    assert put(mlflow, f"{base}/python_model.pkl", b"\x80\x04evil").status_code == 200
    assert put(mlflow, f"{base}/code/evil.py", b"import os").status_code == 200
    call(mlflow, "PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
    assert register(mlflow, "m", f"models:/{info['model_id']}")[0] == 200
    _, body = call(mlflow, "GET", "model-versions/get-download-uri", name="m", version="1")
    root = body["artifact_uri"].removeprefix("mlflow-artifacts:/")
    listed = {f["path"] for f in mlflow.get(ARTIFACTS, {"path": root}).json()["files"]}
    assert listed == {"MLmodel", "model.skops", "requirements.txt", "python_env.yaml", "conda.yaml"}
    served = yaml.safe_load(mlflow.get(f"{ARTIFACTS}/{root}/MLmodel").getvalue())
    assert served["flavors"]["python_function"]["loader_module"] == "mlflow.sklearn"
    assert "code" not in served["flavors"]["python_function"]
    assert mlflow.get(f"{ARTIFACTS}/{root}/python_model.pkl").status_code == 404


def test_refused_creations_leave_nothing_behind(mlflow):
    status, _ = call(
        mlflow, "POST", "registered-models/create", {"name": "tagged", "tags": [{"key": " ", "value": "x"}]}
    )
    assert status == 400 and not RegisteredModel.objects.filter(name="tagged").exists()
    _, created = call(mlflow, "POST", "experiments/create", {"name": "e"})
    status, _ = call(mlflow, "POST", "runs/create", {"experiment_id": created["experiment_id"], "start_time": "x"})
    assert status == 400 and not RunArtifact.objects.exists()
    from experiments.models import Run

    assert not Run.objects.exists()
    run = new_run(mlflow, experiment_name="other")
    info, _, _ = log_model(mlflow, run)
    call(mlflow, "POST", "registered-models/create", {"name": "m"})
    status, _ = call(
        mlflow,
        "POST",
        "model-versions/create",
        {"name": "m", "source": f"models:/{info['model_id']}", "tags": [{"key": " ", "value": "x"}]},
    )
    assert status == 400 and not ModelVersion.objects.exists()


def test_a_reviewer_is_refused_before_any_model_file_is_read(mlflow, monkeypatch):
    from registry.services import uploads

    run = new_run(mlflow)
    info, _, _ = log_model(mlflow, run)
    call(mlflow, "POST", "registered-models/create", {"name": "m"})
    loads = []
    monkeypatch.setattr(uploads, "checked_model", lambda *a, **k: loads.append(a))
    reviewer = bearer(make_user("rhea", roles.REVIEWER))
    status, body = call(
        reviewer, "POST", "model-versions/create", {"name": "m", "source": f"models:/{info['model_id']}"}
    )
    assert status == 403 and body["error_code"] == "PERMISSION_DENIED" and loads == []


def test_ids_in_digits_other_than_ascii_are_unknown_not_500(mlflow):
    run = new_run(mlflow)
    call(mlflow, "POST", "registered-models/create", {"name": "m"})
    experiment = run["info"]["experiment_id"]
    for method, path, args in [
        ("GET", "experiments/get", {"experiment_id": "²"}),
        ("GET", "runs/get", {"run_id": "²"}),
        ("GET", "metrics/get-history", {"run_id": "²", "metric_key": "k"}),
        ("GET", "model-versions/get", {"name": "m", "version": "²"}),
        ("GET", "model-versions/search", {"filter": "run_id = '²'"}),
        ("GET", "model-versions/search", {"filter": "version_number = '²'"}),
        ("POST", "logged-models/search", {"experiment_ids": [experiment], "filter": "source_run_id = '²'"}),
        ("POST", "runs/search", {"experiment_ids": [experiment], "filter": "attributes.run_id = '²'"}),
    ]:
        status, body = call(mlflow, method, path, args) if method == "POST" else call(mlflow, method, path, **args)
        assert status in (200, 400, 404), (path, args, status)
        assert status == 200 or "error_code" in body


def test_the_proxy_never_writes_into_a_run_the_site_trained(mlflow, deployed):
    _, version, _ = deployed
    run = version.run
    before = set(RunArtifact.objects.filter(run=run).values_list("path", "sha256"))
    response = put(mlflow, f"{run.experiment_id}/{run.pk}/artifacts/model/extra.skops", b"x")
    assert response.status_code == 400 and "the site made" in response.json()["message"]
    assert set(RunArtifact.objects.filter(run=run).values_list("path", "sha256")) == before


def test_deeply_nested_bodies_and_an_absurd_length_are_4xx(mlflow):
    run = new_run(mlflow)
    deep = "[" * 20000 + "]" * 20000
    for path in ["runs/log-batch", "registered-models/create", "logged-models", "model-versions/create"]:
        body = '{"run_id": "' + run["info"]["run_id"] + '", "metrics": ' + deep + "}"
        response = mlflow.generic("POST", f"{API}/{path}", body, content_type="application/json")
        assert response.status_code == 400, (path, response.status_code)
    root = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts"
    response = mlflow.generic(
        "PUT",
        f"{ARTIFACTS}/{root}/big.bin",
        b"x",
        content_type="application/octet-stream",
        CONTENT_LENGTH=str(10**13),
    )
    assert 400 <= response.status_code < 500
    assert not RunArtifact.objects.filter(run_id=int(run["info"]["run_id"])).exists()
