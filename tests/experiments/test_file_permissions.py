"""Stored files may hold personal data: readable by the site's user only (0600 files, 0700 folders)."""

import os
import stat

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from experiments import services
from experiments.models import RunArtifact
from tests.builders import token_client

pytestmark = [
    pytest.mark.django_db,
    # File modes are the filesystem's; a bucket's objects are private by its policy (tests/storage).
    pytest.mark.skipif(os.environ.get("TEST_STORAGE") == "s3", reason="stored files are objects of a bucket"),
]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def folders_up_to_media_root(name: str) -> list[str]:
    path, folders = os.path.dirname(default_storage.path(name)), []
    while os.path.abspath(path) != os.path.abspath(settings.MEDIA_ROOT):
        folders.append(path)
        path = os.path.dirname(path)
    return [*folders, str(settings.MEDIA_ROOT)]


def test_dataset_model_and_artifact_files_are_private(scientist, credit, django_capture_on_commit_callbacks):
    os.umask(0o022)  # the usual umask, under which Django's default would give 0644 files
    experiment, version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = services.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression"
        )
    model = RunArtifact.objects.get(run=run, path="model/pipeline.skops")
    logged = services.create_run(experiment, actor=scientist, name="logged")
    response = token_client(scientist).post(
        f"/api/runs/{logged.pk}/artifacts/",
        {"file": SimpleUploadedFile("notes.txt", b"personal"), "path": "notes/notes.txt"},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    uploaded = RunArtifact.objects.get(run=logged)

    for name in (version.file, model.file, uploaded.file):
        assert mode(default_storage.path(name)) == 0o600, name
        for folder in folders_up_to_media_root(name):
            assert mode(folder) == 0o700, folder
