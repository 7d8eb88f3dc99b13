"""Every file the platform keeps, in an S3 bucket (django-storages against moto's server on loopback).

The loop a team runs, with the default storage pointed at the bucket: a dataset version is uploaded and
profiled, a run trains on a worker, its model is registered and served, a script's MLflow artifacts are
written, overwritten and read back. Every stored file is then an object of the bucket whose bytes hash
to what the database recorded, and nothing was written to MEDIA_ROOT.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from deployments import serving
from experiments.models import DatasetVersion, RunArtifact
from mlops_site import selfcheck
from registry.models import ModelVersion
from tests.builders import token_client
from tests.mlflow_compat.test_tracking import bearer, new_run
from tests.s3 import objects

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployed_on_s3(s3, deployed):
    """`deployed` (dataset → trained run → version → production), built with S3 as the default storage."""
    return deployed


def media_files(settings) -> list[Path]:
    root = Path(settings.MEDIA_ROOT)
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


def test_the_whole_loop_keeps_its_files_in_the_bucket(s3, deployed_on_s3, scientist, settings):
    client, bucket = s3
    _, version, dataset_version = deployed_on_s3
    assert type(default_storage._wrapped).__name__ == "S3Storage"

    # The model serves from the bucket: the pinned bytes are fetched and checked before use.
    serving.cache.clear()
    serving.deployments.clear()
    record = {c["name"]: None for c in version.signature["inputs"]}
    answer = token_client(scientist).post(
        f"/api/deployments/production/{version.model.name}/predict", {"records": [record]}, format="json"
    )
    assert answer.status_code == 200, answer.json()

    stored = objects(client, bucket)
    keys = set(stored)
    dataset_key = f"site/{dataset_version.file}"
    assert dataset_key in keys
    assert hashlib.sha256(stored[dataset_key]).hexdigest() == DatasetVersion.objects.get(pk=dataset_version.pk).sha256
    for artifact in RunArtifact.objects.filter(run=version.run):
        data = stored[f"site/{artifact.file}"]
        assert hashlib.sha256(data).hexdigest() == artifact.sha256 and len(data) == artifact.size_bytes
    assert f"site/{ModelVersion.objects.get(pk=version.pk).artifact.file}" in keys
    assert media_files(settings) == []


def test_mlflow_artifacts_overwrite_in_the_bucket_without_losing_the_new_bytes(
    s3, scientist, settings, django_capture_on_commit_callbacks
):
    client, bucket = s3
    mlflow = bearer(scientist)
    run = new_run(mlflow)
    path = f"{run['info']['experiment_id']}/{run['info']['run_id']}/artifacts/report.json"
    url = f"/api/2.0/mlflow-artifacts/artifacts/{path}"
    for body in (b'{"v": 1}', b'{"v": 2}'):
        with django_capture_on_commit_callbacks(execute=True):  # the replaced file goes once the new one is in
            response = mlflow.generic("PUT", url, body, content_type="application/json")
        assert response.status_code == 200, response.content
    assert json.loads(b"".join(mlflow.get(url).streaming_content)) == {"v": 2}
    artifact = RunArtifact.objects.get(run_id=int(run["info"]["run_id"]), path="report.json")
    stored = objects(client, bucket)
    # One object for the one artifact: the first upload's bytes were deleted after the second committed.
    run_objects = {key: data for key, data in stored.items() if key.startswith(f"site/runs/{run['info']['run_id']}/")}
    assert list(run_objects) == [f"site/{artifact.file}"]
    assert hashlib.sha256(run_objects[f"site/{artifact.file}"]).hexdigest() == artifact.sha256
    assert media_files(settings) == []


def test_selfcheck_names_the_bucket(s3):
    _, bucket = s3

    class Context:
        def progress(self, *args, **kwargs):
            pass

        log = progress

    result = selfcheck.run(Context())
    assert result["storage"]["backend"] == "mlops_site.storage.S3Storage"
    assert result["storage"]["where"] == bucket


def test_a_copied_bucket_verifies_file_by_file_and_a_changed_or_lost_file_is_named(s3, deployed_on_s3, settings):
    """The object-store half of a restore: every object copied to a fresh bucket, the site pointed at it,
    then `manage.py verify_storage` checks each stored file against the sha256 its row recorded."""
    from django.core.management import CommandError, call_command

    from tests.s3 import new_bucket, s3_storage

    client, bucket = s3
    endpoint = settings.STORAGES["default"]["OPTIONS"]["endpoint_url"]
    _, restored = new_bucket(endpoint)
    for key in objects(client, bucket):
        client.copy_object(Bucket=restored, Key=key, CopySource={"Bucket": bucket, "Key": key})
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(endpoint, restored)}
    stored = RunArtifact.objects.count() + DatasetVersion.objects.count()
    assert stored >= 4

    out = io.StringIO()
    call_command("verify_storage", stdout=out)
    assert out.getvalue().strip() == f"{stored} stored files checked, 0 missing or different."

    changed, lost = RunArtifact.objects.order_by("pk")[:2]
    client.put_object(Bucket=restored, Key=f"site/{changed.file}", Body=b"not what was stored")
    client.delete_object(Bucket=restored, Key=f"site/{lost.file}")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="2 stored files"):
        call_command("verify_storage", stdout=out, stderr=err)
    report = err.getvalue()
    assert f"experiments.RunArtifact {changed.pk}: {changed.file}: sha256 " in report
    assert f"experiments.RunArtifact {lost.pk}: {lost.file}: missing from storage" in report


def test_verify_storage_on_the_filesystem_too(deployed):
    from django.core.management import CommandError, call_command

    artifact = RunArtifact.objects.order_by("pk").first()
    out = io.StringIO()
    call_command("verify_storage", stdout=out)
    assert ", 0 missing or different." in out.getvalue()
    with default_storage.open(artifact.file, "wb") as handle:
        handle.write(b"changed on disk")
    with pytest.raises(CommandError, match="1 stored files"):
        call_command("verify_storage", stdout=io.StringIO(), stderr=io.StringIO())
