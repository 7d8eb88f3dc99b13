"""A real S3 API on loopback: moto's standalone server (`moto_server`), one per test session.

tests/storage point the default storage at a fresh bucket of it (django-storages' S3 backend, as
AWS_STORAGE_BUCKET_NAME does in production), so every byte goes over HTTP to an S3 endpoint; with
TEST_STORAGE=s3 every test does (`make test` on S3: `TEST_STORAGE=s3 make test`).
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

MOTO = Path(sys.executable).with_name("moto_server")
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    port = free_port()
    process = subprocess.Popen(
        [str(MOTO), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **CREDENTIALS},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def s3_storage(endpoint: str, bucket: str) -> dict:
    """The STORAGES["default"] entry for `bucket` of the loopback S3, as settings.py builds it from the environment."""
    return {
        "BACKEND": "mlops_site.storage.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "access_key": "testing",
            "secret_key": "testing",
            "location": "site",
            "file_overwrite": True,
            "default_acl": None,
        },
    }


def new_bucket(endpoint: str):
    """(boto3 client, name) of a fresh bucket."""
    import boto3

    bucket = f"mlops-{secrets.token_hex(6)}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **_keys())
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.fixture
def s3(settings, s3_endpoint, monkeypatch):
    """The default storage is a fresh bucket of the loopback S3; (boto3 client, bucket name)."""
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    client, bucket = new_bucket(s3_endpoint)
    settings.STORAGES = {**settings.STORAGES, "default": s3_storage(s3_endpoint, bucket)}
    return client, bucket


def _keys() -> dict:
    return {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def objects(client, bucket: str) -> dict[str, bytes]:
    """Every object of the bucket: key → bytes."""
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            found[item["Key"]] = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found
