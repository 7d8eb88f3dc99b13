"""Tracking from outside scripts: runs, batched params/metrics/tags, artifacts, histories."""

import hashlib

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from experiments import services
from experiments.models import Experiment, Metric, Param, Run, RunArtifact
from tests.builders import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(scientist):
    experiment = services.create_experiment(name="credit", actor=scientist)
    return services.create_run(experiment, actor=scientist, name="baseline")


def test_script_flow_through_the_api(scientist, version):
    client = token_client(scientist)
    experiment = client.post("/api/experiments/", {"name": "credit default"}, format="json").json()
    created = client.post(
        "/api/runs/",
        {"experiment": experiment["id"], "name": "lr", "tags": {"team": "risk"}, "input_versions": [version.pk]},
        format="json",
    )
    assert created.status_code == 201
    run_id = created.json()["id"]
    points = [{"key": "loss", "value": 1.0 / (step + 1), "step": step} for step in range(500)]
    points.append({"key": "f1", "value": 0.81, "step": 0, "timestamp": 1_700_000_000_000})
    logged = client.post(
        f"/api/runs/{run_id}/log-batch/",
        {"params": {"C": 0.5, "penalty": "l2"}, "metrics": points, "tags": {"stage": "dev"}},
        format="json",
    )
    assert logged.status_code == 200 and logged.json() == {"params": 2, "metrics": 501, "tags": 1}
    artifact = client.post(
        f"/api/runs/{run_id}/artifacts/",
        {"file": SimpleUploadedFile("roc.csv", b"fpr,tpr\n0,0\n1,1\n"), "path": "plots/roc.csv"},
        format="multipart",
    )
    assert artifact.status_code == 201
    assert artifact.json()["sha256"] == hashlib.sha256(b"fpr,tpr\n0,0\n1,1\n").hexdigest()
    download = client.get(f"/api/runs/{run_id}/artifacts/{artifact.json()['id']}/download/")
    assert b"".join(download.streaming_content) == b"fpr,tpr\n0,0\n1,1\n"
    finished = client.post(f"/api/runs/{run_id}/finish/", {"status": "finished"}, format="json")
    assert finished.status_code == 200
    detail = finished.json()
    assert detail["status"] == "finished" and detail["params"] == {"C": "0.5", "penalty": "l2"}
    assert detail["metrics"] == {"f1": 0.81, "loss": 1.0 / 500}
    assert detail["tags"] == {"team": "risk", "stage": "dev"} and detail["inputs"] == [version.pk]

    history = client.get(f"/api/runs/{run_id}/metrics/loss/", {"max_points": 50}).json()
    assert history["total_points"] == 500 and history["downsampled"] and len(history["points"]) <= 50
    assert history["points"][0] == {"step": 0, "value": 1.0} and history["points"][-1]["step"] == 499
    full = client.get(f"/api/runs/{run_id}/metrics/loss/").json()
    assert [p["value"] for p in full["points"]] == [1.0 / (s + 1) for s in range(500)]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"metrics": [{"key": "a", "value": 1}, {"key": "a", "value": "high"}]}, "metrics[1].value"),
        ({"metrics": [{"key": "a", "value": 1, "step": 1.5}]}, "metrics[0].step"),
        ({"metrics": [{"key": "a", "value": 1, "step": 2**64}]}, "metrics[0].step"),
        ({"metrics": [{"key": "a", "value": True}]}, "metrics[0].value"),
        ({"metrics": [{"value": 1}]}, "metrics[0].key"),
        ({"metrics": [{"key": "a", "value": 1, "timestamp": "yesterday"}]}, "metrics[0].timestamp"),
        ({"metrics": "lots"}, "metrics"),
        ({"params": {"C": {"nested": 1}}}, "params.C"),
        ({"params": {"C": 1}, "tags": "x"}, "tags"),
    ],
)
def test_bad_batches_name_the_field_and_store_nothing(scientist, run, payload, field):
    response = token_client(scientist).post(f"/api/runs/{run.pk}/log-batch/", payload, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert Metric.objects.count() == 0 and Param.objects.count() == 0


def test_infinite_value_is_refused(scientist, run):
    client = token_client(scientist)
    response = client.post(
        f"/api/runs/{run.pk}/log-batch/", '{"metrics": [{"key": "a", "value": 1e400}]}', content_type="application/json"
    )
    assert response.status_code == 400 and "metrics[0].value" in response.json()["errors"]
    nan = client.post(
        f"/api/runs/{run.pk}/log-batch/", '{"metrics": [{"key": "a", "value": NaN}]}', content_type="application/json"
    )
    assert nan.status_code == 400 and Metric.objects.count() == 0


def test_batch_over_the_limit(settings, scientist, run):
    settings.RUN_LOG_BATCH_LIMIT = 100
    points = [{"key": "a", "value": i} for i in range(101)]
    response = token_client(scientist).post(f"/api/runs/{run.pk}/log-batch/", {"metrics": points}, format="json")
    assert response.status_code == 400 and "At most 100" in response.json()["errors"]["metrics"][0]
    assert Metric.objects.count() == 0


def test_params_are_set_once(scientist, run):
    services.log_batch(run, actor=scientist, params={"C": 1})
    services.log_batch(run, actor=scientist, params={"C": 1})  # the same value again is fine
    response = token_client(scientist).post(f"/api/runs/{run.pk}/log-batch/", {"params": {"C": 2}}, format="json")
    assert response.status_code == 400 and "params.C" in response.json()["errors"]
    assert Param.objects.get(run=run, key="C").value == "1"


def test_nothing_can_be_logged_to_a_finished_run(scientist, run):
    client = token_client(scientist)
    assert client.post(f"/api/runs/{run.pk}/finish/", {}, format="json").status_code == 200
    response = client.post(f"/api/runs/{run.pk}/log-batch/", {"metrics": [{"key": "a", "value": 1}]}, format="json")
    assert response.status_code == 400 and "run" in response.json()["errors"]
    again = client.post(f"/api/runs/{run.pk}/finish/", {"status": "failed"}, format="json")
    assert again.status_code == 400
    assert Metric.objects.count() == 0 and Run.objects.get(pk=run.pk).status == "finished"


def test_other_users_cannot_log_and_reviewers_cannot_create(reviewer, run, admin_user):
    from tests.builders import make_user

    other = make_user("other-scientist", "data-scientist")
    response = token_client(other).post(
        f"/api/runs/{run.pk}/log-batch/", {"metrics": [{"key": "a", "value": 1}]}, format="json"
    )
    assert response.status_code == 403 and Metric.objects.count() == 0
    assert token_client(reviewer).get(f"/api/runs/{run.pk}/").status_code == 200
    created = token_client(reviewer).post("/api/runs/", {"experiment": run.experiment_id}, format="json")
    assert created.status_code == 403
    assert token_client(reviewer).post("/api/experiments/", {"name": "x"}, format="json").status_code == 403
    assert Experiment.objects.count() == 1


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../b", "/"])
def test_artifact_paths_stay_inside_the_run(scientist, run, path):
    upload = SimpleUploadedFile("x.txt", b"x")
    response = token_client(scientist).post(
        f"/api/runs/{run.pk}/artifacts/", {"file": upload, "path": path}, format="multipart"
    )
    assert response.status_code == 400 and RunArtifact.objects.count() == 0


def test_unknown_run_input_version_and_metric(scientist, run):
    client = token_client(scientist)
    assert client.get("/api/runs/9999/").status_code == 404
    bad = client.post("/api/runs/", {"experiment": run.experiment_id, "input_versions": [9999]}, format="json")
    assert bad.status_code == 400 and "input_versions" in bad.json()["errors"]
    empty = client.get(f"/api/runs/{run.pk}/metrics/nothing/").json()
    assert empty["total_points"] == 0
    assert client.get(f"/api/runs/{run.pk}/metrics/a/", {"max_points": "lots"}).status_code == 400


def test_run_list_is_query_bounded(scientist, run, django_assert_max_num_queries):
    for i in range(10):
        services.create_run(run.experiment, actor=scientist, name=f"r{i}")
    client = token_client(scientist)
    with django_assert_max_num_queries(10):  # auth, permissions, filter lookup, count, page, prefetch
        body = client.get("/api/runs/", {"experiment": run.experiment_id}).json()
    assert body["count"] == 11


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (None, "plots/" + "é" * 128 + ".png"),  # 256 bytes in UTF-8, 133 characters
        ("model", "model/weights.bin"),  # under an existing file's name
        ("model/weights.bin", "model"),  # over an existing folder's name
        (None, "a//b.txt"),
        (None, "./a.txt"),
    ],
)
def test_artifact_paths_the_storage_cannot_hold_are_a_400_naming_the_path(scientist, run, first, second):
    client = token_client(scientist)
    if first:
        stored = client.post(
            f"/api/runs/{run.pk}/artifacts/", {"file": SimpleUploadedFile("f", b"1"), "path": first}, format="multipart"
        )
        assert stored.status_code == 201
    before = RunArtifact.objects.count()
    answer = client.post(
        f"/api/runs/{run.pk}/artifacts/", {"file": SimpleUploadedFile("f", b"2"), "path": second}, format="multipart"
    )
    assert answer.status_code == 400, answer.content
    assert "path" in answer.json()["errors"]
    assert RunArtifact.objects.count() == before
