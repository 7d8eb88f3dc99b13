"""The backup procedure of docs/scale-out.md, restored into a fresh database and bucket and checked.

A site with every file in a bucket (a trained, registered, deployed model that has answered
predictions) is backed up as the document says: `pg_dump --format=custom`, then a copy of the
bucket. The original bucket is then emptied, as a lost store would be. The dump is restored with
`pg_restore` into a new database, the copy becomes a new bucket, and a site pointed at the two
(separate processes, configured only from the environment) passes `manage.py verify_storage`
for every stored file and answers the same prediction as before.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

from deployments import serving
from mlops_site.stored_files import STORED_FILES
from tests.builders import inputs_of
from tests.s3 import CREDENTIALS, new_bucket, objects

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PREDICT = """
import json, sys
from deployments import serving
from deployments.models import Deployment
deployment = Deployment.objects.get(environment__name="production")
answer = serving.predict(deployment, {"records": json.loads(sys.stdin.read())})
print(json.dumps([p["prediction"] for p in answer.predictions]))
"""


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("the procedure is pg_dump and pg_restore")


@pytest.fixture
def fresh_database(postgres):
    db = connection.settings_dict
    name = f"restore_{secrets.token_hex(4)}"
    server = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]
    subprocess.run(["createdb", *server, name], check=True)
    yield name, server
    subprocess.run(["dropdb", *server, "--force", name], check=False)


def site(database: str, bucket: str, endpoint: str, tmp_path) -> dict[str, str]:
    """The environment of a machine of the restored site: nothing but the database and the bucket."""
    db = connection.settings_dict
    return {
        "PATH": os.environ["PATH"],
        "DATA_DIR": str(tmp_path / "restored-host"),
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{database}",
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_LOCATION": "site",
        **CREDENTIALS,
        "OMP_NUM_THREADS": "1",
    }


def manage(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_backup_restores_into_a_fresh_database_and_bucket_and_every_file_verifies(
    s3, deployed, fresh_database, tmp_path
):
    client, bucket = s3
    endpoint = settings.STORAGES["default"]["OPTIONS"]["endpoint_url"]
    deployment, version, dataset_version = deployed
    records = inputs_of(version, dataset_version).head(5)
    records = json.loads(records.to_json(orient="records"))
    before = [p["prediction"] for p in serving.predict(deployment, {"records": records}).predictions]
    rows = sum(apps.get_model(label).objects.count() for label in STORED_FILES)
    assert rows >= 4  # the dataset version and the run's artifacts (the model file among them)

    # Back up: the database first, then the bucket, so every file a row names is in the copy.
    db = connection.settings_dict
    database, server = fresh_database
    dump = tmp_path / "mlops.dump"
    subprocess.run(["pg_dump", *server, "--format=custom", f"--file={dump}", db["NAME"]], check=True)
    _, copy = new_bucket(endpoint)
    original = objects(client, bucket)
    for key, body in original.items():
        client.put_object(Bucket=copy, Key=key, Body=body)
    for key in original:  # the store is lost: nothing may be read from it any more
        client.delete_object(Bucket=bucket, Key=key)

    # Restore into a new database; the copy is the new bucket.
    subprocess.run(["pg_restore", *server, "--no-owner", f"--dbname={database}", str(dump)], check=True)
    env = site(database, copy, endpoint, tmp_path)

    checked = manage(env, "verify_storage")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.strip() == f"{rows} stored files checked, 0 missing or different."
    migrations = manage(env, "migrate", "--check")
    assert migrations.returncode == 0, migrations.stdout + migrations.stderr
    answered = manage(env, "shell", "-c", PREDICT, stdin=json.dumps(records))
    assert answered.returncode == 0, answered.stderr
    assert json.loads(answered.stdout.strip().splitlines()[-1]) == before

    # And a file that did not survive the copy intact is named, with exit status 1.
    client.put_object(Bucket=copy, Key=next(iter(original)), Body=b"not what was stored")
    broken = manage(env, "verify_storage")
    assert broken.returncode == 1
    assert "sha256" in broken.stderr and "1 stored files are missing or differ" in broken.stderr
