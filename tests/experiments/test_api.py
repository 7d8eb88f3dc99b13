"""Datasets over REST: the issue's paths, status codes, field errors, permissions."""

import pytest

from experiments.models import Dataset, DatasetVersion
from mlops_site.models import Job
from tests.builders import MESSY_CSV, token_client, upload

pytestmark = pytest.mark.django_db


def test_create_upload_and_read_back(scientist, django_capture_on_commit_callbacks):
    client = token_client(scientist)
    created = client.post("/api/datasets/", {"name": "loans", "description": "d"}, format="json")
    assert created.status_code == 201
    dataset_id = created.json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(
            f"/api/datasets/{dataset_id}/versions/", {"file": upload(), "target": "defaulted"}, format="multipart"
        )
    assert first.status_code == 201
    body = first.json()
    assert body["row_count"] == 8 and body["column_count"] == 5 and body["target"] == "defaulted"
    again = client.post(f"/api/datasets/{dataset_id}/versions/", {"file": upload("copy.csv")}, format="multipart")
    assert again.status_code == 200 and again.json()["id"] == body["id"]

    version_id = body["id"]
    detail = client.get(f"/api/dataset-versions/{version_id}/").json()
    assert detail["profile_status"] == "ready" and detail["lineage"][0]["sha256"] == body["sha256"]
    profile = client.get(f"/api/dataset-versions/{version_id}/profile/").json()
    assert profile["row_count"] == 8
    quality = client.get(f"/api/dataset-versions/{version_id}/quality/").json()
    assert quality["summary"]["fail"] >= 1 and quality["results"]
    download = client.get(f"/api/dataset-versions/{version_id}/download/")
    assert download.status_code == 200 and b"".join(download.streaming_content) == MESSY_CSV
    listing = client.get(f"/api/datasets/{dataset_id}/versions/").json()
    assert [v["number"] for v in listing] == [1]


def test_clean_preview_compare(scientist, version, django_capture_on_commit_callbacks):
    client = token_client(scientist)
    steps = [{"op": "drop_duplicates"}, {"op": "drop_missing_target", "column": "defaulted"}]
    preview = client.post(f"/api/dataset-versions/{version.pk}/clean/preview/", {"steps": steps}, format="json")
    assert preview.status_code == 200 and preview.json()["rows_after"] == 6
    with django_capture_on_commit_callbacks(execute=True):
        queued = client.post(f"/api/dataset-versions/{version.pk}/clean/", {"steps": steps}, format="json")
    assert queued.status_code == 202
    job = Job.objects.get(pk=queued.json()["id"])
    assert job.status == "succeeded", job.error
    child = DatasetVersion.objects.get(parent=version)
    comparison = client.get(f"/api/dataset-versions/{version.pk}/compare/{child.pk}/").json()
    assert comparison["rows"] == {"a": 8, "b": 6, "delta": -2}
    assert comparison["added"] == [] and comparison["removed"] == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"steps": [{"op": "drop_columns", "columns": ["nope"]}]}, None), ({"steps": "x"}, None), ({}, "steps")],
    ids=["missing-column", "not-a-list", "no-steps"],
)
def test_bad_recipe_is_400_and_queues_nothing(scientist, version, payload, field):
    client = token_client(scientist)
    jobs_before = Job.objects.count()
    response = client.post(f"/api/dataset-versions/{version.pk}/clean/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]
    if field:
        assert field in response.json()["errors"]
    assert Job.objects.count() == jobs_before


@pytest.mark.parametrize("content", [b"", b"a,b\n", b"a,b\n1,2\n3,4,5\n", b"a,a\n1,2\n", b"a,b\n1,\xff\n"])
def test_bad_upload_is_400_with_file_error(scientist, dataset, content):
    response = token_client(scientist).post(
        f"/api/datasets/{dataset.pk}/versions/", {"file": upload(content=content)}, format="multipart"
    )
    assert response.status_code == 400 and "file" in response.json()["errors"]
    assert DatasetVersion.objects.count() == 0


def test_missing_file_and_duplicate_name(scientist, dataset):
    client = token_client(scientist)
    assert client.post(f"/api/datasets/{dataset.pk}/versions/", {}, format="multipart").status_code == 400
    duplicate = client.post("/api/datasets/", {"name": "Loans"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]
    assert Dataset.objects.count() == 1


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        ("data-scientist", 200, 201),
        ("reviewer", 200, 403),
        ("admin", 200, 201),
        ("none", 403, 403),
    ],
)
def test_permissions_per_role(users_by_role, role, read, write):
    client = token_client(users_by_role[role])
    assert client.get("/api/datasets/").status_code == read
    assert client.post("/api/datasets/", {"name": f"d-{role}"}, format="json").status_code == write


def test_reviewer_cannot_preview_or_clean(reviewer, version):
    client = token_client(reviewer)
    steps = {"steps": [{"op": "drop_duplicates"}]}
    assert client.post(f"/api/dataset-versions/{version.pk}/clean/preview/", steps, format="json").status_code == 403
    assert client.post(f"/api/dataset-versions/{version.pk}/clean/", steps, format="json").status_code == 403
    assert client.get(f"/api/dataset-versions/{version.pk}/profile/").status_code == 200


def test_unknown_ids_are_404(scientist, version):
    client = token_client(scientist)
    assert client.get("/api/dataset-versions/9999/").status_code == 404
    assert client.get(f"/api/dataset-versions/{version.pk}/compare/9999/").status_code == 404
    assert client.post("/api/datasets/9999/versions/", {"file": upload()}, format="multipart").status_code == 404


def test_version_list_is_query_bounded(scientist, version, django_assert_max_num_queries):
    from experiments import services

    parent = version
    for step in ([{"op": "drop_duplicates"}], [{"op": "drop_missing_target", "column": "defaulted"}]):
        parent, _ = services.apply_cleaning(parent, services.validate_recipe(parent, step), actor=scientist)
    client = token_client(scientist)
    with django_assert_max_num_queries(8):
        assert client.get("/api/dataset-versions/").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get("/api/datasets/").status_code == 200


def test_experiment_and_dataset_lists_sort_alike_on_the_page_and_the_api(scientist, client):
    from experiments import services
    from experiments.models import Experiment, Run

    for name, runs in (("b-two", 2), ("a-none", 0), ("c-one", 1)):
        experiment = services.create_experiment(name=name, actor=scientist)
        Run.objects.bulk_create(Run(experiment=experiment, user=scientist, name=f"r{i}") for i in range(runs))
    api = token_client(scientist)

    def names(query=""):
        return [row["name"] for row in api.get(f"/api/experiments/{query}").json()["results"]]

    assert names() == ["a-none", "b-two", "c-one"]  # the API keeps its alphabetical default
    assert names("?sort=-runs") == ["b-two", "c-one", "a-none"]
    assert names("?sort=no-such-key") == ["a-none", "b-two", "c-one"]  # an unknown key is the default order
    assert Experiment.objects.count() == 3
    client.force_login(scientist)
    page = client.get("/experiments/?sort=runs")
    assert [e.name for e in page.context["page"].object_list] == ["a-none", "c-one", "b-two"]
    assert page.context["sort"] == "runs"
    assert client.get("/experiments/").context["sort"] == "-last_run"  # the page opens on recent activity
    assert client.get("/experiments/?sort=bogus").context["sort"] == "-last_run"

    Dataset.objects.create(name="zeta", owner=scientist)
    Dataset.objects.create(name="alpha", owner=scientist)
    rows = api.get("/api/datasets/?sort=-name").json()["results"]
    assert [row["name"] for row in rows] == ["zeta", "alpha"]
