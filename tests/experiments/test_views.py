"""Dataset pages: forms call the same services; errors are shown and change nothing."""

import json

import pytest

from experiments.models import Dataset, DatasetVersion
from mlops_site.models import Job
from tests.builders import upload

pytestmark = pytest.mark.django_db


def test_create_dataset_and_upload_from_pages(client, scientist, django_capture_on_commit_callbacks):
    client.force_login(scientist)
    response = client.post("/datasets/", {"new-name": "loans", "new-description": "x"})
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/datasets/{dataset.pk}/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/datasets/{dataset.pk}/", {"file": upload(), "target": "defaulted"})
    version = DatasetVersion.objects.get()
    assert response["Location"] == f"/datasets/versions/{version.pk}/"
    page = client.get(response["Location"]).content.decode()
    assert ("Quality report" in page and "missing target" in page.lower()) or "missing_target" in page
    assert "plotly-chart" in page and '-figure"' in page
    assert client.get(f"/datasets/{dataset.pk}/").status_code == 200
    assert client.get("/datasets/?sort=-versions").status_code == 200


def test_bad_upload_shows_the_error_on_the_page(client, scientist, dataset):
    client.force_login(scientist)
    response = client.post(f"/datasets/{dataset.pk}/", {"file": upload(content=b"a,b\n1,2\n3,4,5\n")})
    assert response.status_code == 400
    assert "cannot be parsed" in response.content.decode()
    assert DatasetVersion.objects.count() == 0


def test_recipe_preview_run_and_errors(client, scientist, version, django_capture_on_commit_callbacks):
    client.force_login(scientist)
    steps = json.dumps([{"op": "drop_duplicates"}])
    preview = client.post(f"/datasets/versions/{version.pk}/", {"steps": steps, "action": "preview"})
    assert preview.status_code == 200 and 'id="preview"' in preview.content.decode()
    bad = client.post(f"/datasets/versions/{version.pk}/", {"steps": "[{", "action": "run"})
    assert bad.status_code == 400 and "not valid JSON" in bad.content.decode()
    wrong = client.post(f"/datasets/versions/{version.pk}/", {"steps": '[{"op": "nope"}]', "action": "run"})
    assert wrong.status_code == 400
    assert not Job.objects.filter(kind="dataset.clean").exists()
    with django_capture_on_commit_callbacks(execute=True):
        run = client.post(f"/datasets/versions/{version.pk}/", {"steps": steps, "action": "run"})
    job = Job.objects.get(kind="dataset.clean")
    assert run["Location"] == f"/jobs/{job.pk}/" and job.status == "succeeded"
    child = DatasetVersion.objects.get(parent=version)
    compare = client.get(f"/datasets/versions/{version.pk}/compare/?other={child.pk}")
    assert compare.status_code == 200 and "v1 → v2" in compare.content.decode()
    download = client.get(f"/datasets/versions/{child.pk}/download/")
    assert download.status_code == 200 and download["Content-Disposition"].startswith("attachment")


def test_reviewer_reads_but_cannot_change(client, reviewer, version):
    client.force_login(reviewer)
    assert client.get("/datasets/").status_code == 200
    assert client.get(f"/datasets/versions/{version.pk}/").status_code == 200
    assert client.post("/datasets/", {"new-name": "nope"}).status_code == 403
    assert not Dataset.objects.filter(name="nope").exists()
    assert client.post(f"/datasets/versions/{version.pk}/", {"steps": "[]", "action": "run"}).status_code == 403


def test_unknown_ids_are_404(client, scientist):
    client.force_login(scientist)
    assert client.get("/datasets/999/").status_code == 404
    assert client.get("/datasets/versions/999/").status_code == 404


def test_compare_page_reads_older_to_newer_and_stays_in_the_dataset(client, scientist, version):
    from experiments import services

    client.force_login(scientist)
    child, _ = services.apply_cleaning(
        version, services.validate_recipe(version, [{"op": "drop_duplicates"}]), actor=scientist
    )
    page = client.get(f"/datasets/versions/{child.pk}/compare/?other={version.pk}").content.decode()
    assert "v1 → v2" in page and "(-1)" in page
    other = services.create_dataset(name="other", actor=scientist)
    foreign, _ = services.upload_version(other, upload(content=b"a\n1\n"), actor=scientist)
    assert client.get(f"/datasets/versions/{version.pk}/compare/?other={foreign.pk}").status_code == 404
