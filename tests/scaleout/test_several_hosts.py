"""A web host and two worker hosts that share nothing but PostgreSQL and an S3 bucket, then one host lost.

Each host is a network namespace with its own address, hostname and DATA_DIR (tests/scaleout/hosts.py).
The web host runs gunicorn, each worker host a `manage.py qcluster` with its scheduler, as production
does; the machine itself holds PostgreSQL (reached through a relay on the bridge) and moto's S3 server.
Everything goes through the REST API of the web host, as a team's scripts would.

Then a long training job is started, and the host that took it is killed in the middle of fitting
(every process of it, SIGKILL): the surviving host's stale-job sweep re-queues the job and trains the
run again, which ends with one set of params, metrics and artifacts, and one registrable version.
The timings are printed (`pytest -s`) and written to <tmp>/kill-a-host.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

from experiments.models import DatasetVersion, Metric, Param, Run, RunArtifact
from mlops_site import services as site_services
from mlops_site.models import AuditEvent, Job
from registry.models import ModelVersion
from tests.builders import make_user
from tests.s3 import CREDENTIALS, MOTO, new_bucket, objects
from tests.scaleout.hosts import Network, wait_for_port

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# Seconds; production defaults are 10 and 90 (SCALEOUT_HEARTBEAT=10 SCALEOUT_STALE=90 times those).
HEARTBEAT = int(os.environ.get("SCALEOUT_HEARTBEAT", 1))
STALE = int(os.environ.get("SCALEOUT_STALE", 5))
FAST = {"algorithm": "logistic_regression", "seed": 1}
# Long enough on one core to be killed while fitting (progress 15 to 50), twice.
SLOW = {"algorithm": "random_forest", "params": {"n_estimators": 300, "min_samples_leaf": 1}, "cv_folds": 3, "seed": 7}


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("hosts share a PostgreSQL database; SQLite is one machine's file")


def credit_csv(rows: int) -> bytes:
    from experiments.demo_data import credit_scoring_frame

    frame = credit_scoring_frame(rows=rows, seed=5).drop(columns=["customer_id"])
    frame = frame[frame["defaulted"].notna() & (frame["age"] < 200)].drop_duplicates()
    return frame.to_csv(index=False).encode()


@pytest.fixture
def network(postgres, tmp_path):
    net = Network(tmp_path / "hosts", Path(settings.BASE_DIR))
    yield net
    net.close()


@pytest.fixture
def site(network, tmp_path):
    """(web host, [worker hosts], environment, bucket client, bucket): the hosts running and the API up."""
    db = connection.settings_dict
    if network.namespaced:
        db_host, db_port = network.gateway, network.free_port()
        network.serve(
            [sys.executable, "tests/scaleout/relay.py", db_host, str(db_port), "127.0.0.1", str(db["PORT"] or 5432)]
        )
        wait_for_port(db_host, db_port)
    else:
        db_host, db_port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    s3_port = network.free_port()
    endpoint = f"http://{network.gateway}:{s3_port}"
    network.serve([str(MOTO), "-H", network.gateway, "-p", str(s3_port)], env={**os.environ, **CREDENTIALS})
    wait_for_port(network.gateway, s3_port)
    client, bucket = new_bucket(endpoint)

    web = network.add_host("web")
    workers = [network.add_host("worker1"), network.add_host("worker2")]
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"postgres://{db['USER']}@{db_host}:{db_port}/{db['NAME']}",
        "SECRET_KEY": "scale-out-test-secret-key-shared-by-every-host",
        "Q_CLUSTER_NAME": "hosts",
        "Q_WORKERS": "1",
        "Q_TIMEOUT": "600",
        "Q_RETRY": "900",  # django-q2's own redelivery is far off: the stale-job sweep must do the work
        "JOB_HEARTBEAT_SECONDS": str(HEARTBEAT),
        "JOB_STALE_SECONDS": str(STALE),
        "AWS_STORAGE_BUCKET_NAME": bucket,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "AWS_LOCATION": "site",
        **CREDENTIALS,
        "HTTPS": "0",
        "ALLOWED_HOSTS": web.address,
        "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "TRAINING_IMPORTANCE_REPEATS": "1",
        "TRAINING_IMPORTANCE_MAX_ROWS": "500",
    }
    port = 8000 if network.namespaced else network.free_port()
    web.start(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "mlops_site.wsgi:application",
            "--bind",
            f"{web.address}:{port}",
            "--workers",
            "2",
            "--threads",
            "2",
            "--timeout",
            "120",
        ],
        env,
        "gunicorn",
    )
    for worker in workers:
        worker.start([sys.executable, "manage.py", "qcluster"], env, "qcluster")
    base = f"http://{web.address}:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/healthz", timeout=10).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, web.log("gunicorn")[-3000:]
        time.sleep(0.3)
    return web, workers, base, client, bucket


def api_as(base: str, user) -> requests.Session:
    _, key = site_services.create_api_token(user, name="scale-out test")
    session = requests.Session()
    session.headers["Authorization"] = f"Token {key}"
    session.base = base
    return session


def call(session: requests.Session, method: str, path: str, expected: int, **kwargs) -> dict:
    answer = session.request(method, f"{session.base}{path}", timeout=60, **kwargs)
    assert answer.status_code == expected, (method, path, answer.status_code, answer.text[:2000])
    return answer.json()


def wait_for(predicate, timeout: float, what: str, hosts=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    logs = "\n".join(f"--- {h.name}\n{h.log('qcluster')[-3000:]}" for h in hosts)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


def finished(job_id: int, hosts, timeout: float = 180) -> Job:
    job = wait_for(
        lambda: Job.objects.filter(pk=job_id, status__in=["succeeded", "failed", "cancelled"]).first(),
        timeout,
        f"job {job_id}",
        hosts,
    )
    assert job.status == "succeeded", (job.error, job.traceback)
    return job


def recorded_objects() -> set[str]:
    """The bucket key of every file a row records (every table `manage.py verify_storage` checks)."""
    from django.apps import apps

    from mlops_site.stored_files import STORED_FILES

    keys = set()
    for label, (name_field, _) in STORED_FILES.items():
        keys |= {f"site/{name}" for name in apps.get_model(label).objects.values_list(name_field, flat=True)}
    return keys


def host_of(job: Job, hosts):
    owners = [host for host in hosts if host.runs(job.worker)]
    assert len(owners) == 1, (job.worker, [h.name for h in hosts])
    return owners[0]


def test_two_worker_hosts_share_only_the_database_and_the_bucket_and_survive_losing_one(site, network, tmp_path):
    web, workers, base, s3, bucket = site
    scientist = make_user("sci", "data-scientist")
    reviewer = make_user("rev", "reviewer")
    sci, rev = api_as(base, scientist), api_as(base, reviewer)

    # A dataset uploaded on the web host, profiled on a worker host that reads it from the bucket.
    dataset = call(sci, "POST", "/api/datasets/", 201, json={"name": "credit"})
    version = call(
        sci,
        "POST",
        f"/api/datasets/{dataset['id']}/versions/",
        201,
        files={"file": ("credit.csv", credit_csv(6000), "text/csv")},
        data={"target": "defaulted"},
    )
    profiled = finished(version["profile_job"], workers)
    experiment = call(sci, "POST", "/api/experiments/", 201, json={"name": "credit default"})
    training = {"experiment": experiment["id"], "dataset_version": version["id"], "target": "defaulted"}

    # Train on whichever worker host takes it, register, gate on a worker, approve, serve from the web host.
    started = call(sci, "POST", "/api/training/", 202, json={**training, **FAST})
    trained = finished(started["job"]["id"], workers)
    call(sci, "POST", "/api/models/", 201, json={"name": "credit-default"})
    call(sci, "PATCH", "/api/models/credit-default/", 200, json={"gates": {"approvals": {"production": 1}}})
    v1 = call(sci, "POST", "/api/models/credit-default/versions/", 201, json={"run": started["run"]["id"]})
    request = call(
        sci,
        "POST",
        "/api/promotions/",
        202,
        json={"model": "credit-default", "version": v1["number"], "stage": "production", "justification": "first"},
    )
    gated = finished(request["job"], workers)
    call(rev, "POST", f"/api/promotions/{request['id']}/approve/", 200, json={"comment": "ok"})
    row = {c["name"]: None for c in v1["signature"]["inputs"]} | {"age": 41, "annual_income": 52000.0}
    answer = call(sci, "POST", "/api/deployments/production/credit-default/predict", 200, json={"records": [row]})
    assert answer["predictions"][0]["version"] == v1["number"]
    ran_on = {host_of(job, workers).name for job in (profiled, trained, gated)}

    # Every stored file is an object of the bucket whose bytes hash to its row's sha256; no host has one.
    stored = objects(s3, bucket)
    stored_version = DatasetVersion.objects.get(pk=version["id"])
    assert hashlib.sha256(stored[f"site/{stored_version.file}"]).hexdigest() == stored_version.sha256
    for artifact in RunArtifact.objects.filter(run_id=started["run"]["id"]):
        assert hashlib.sha256(stored[f"site/{artifact.file}"]).hexdigest() == artifact.sha256
    for host in [web, *workers]:
        media = host.data_dir / "media"
        assert not media.exists() or not any(p.is_file() for p in media.rglob("*")), host.name

    # A long training job; its host is lost in the middle of fitting.
    slow = call(sci, "POST", "/api/training/", 202, json={**training, **SLOW})
    job_id, run_id = slow["job"]["id"], slow["run"]["id"]
    job = wait_for(
        lambda: Job.objects.filter(pk=job_id, status="running", progress__gte=15, progress__lt=50).first(),
        120,
        "the long job to be fitting",
        workers,
    )
    lost = host_of(job, workers)
    survivor = next(host for host in workers if host is not lost)
    killed_at, clock = timezone.now(), time.monotonic()
    processes = lost.kill()
    assert lost.pids() == set()

    retried = wait_for(
        lambda: (
            Job.objects.filter(pk=job_id, attempts=2, status="running").first()
            or Job.objects.filter(pk=job_id, status__in=["succeeded", "failed"]).first()
        ),
        STALE + 240,
        "the job to be retried",
        [survivor],
    )
    restarted_after = time.monotonic() - clock
    done = finished(job_id, [survivor], timeout=300)
    finished_after = time.monotonic() - clock
    requeued = AuditEvent.objects.get(action="job.requeued", target_id=str(job_id))
    requeued_after = (requeued.created_at - killed_at).total_seconds()
    timings = {
        "heartbeat_seconds": HEARTBEAT,
        "stale_seconds": STALE,
        "sweep_every_minutes": 1,
        "processes_killed": processes,
        "lost_host": lost.name,
        "progress_when_killed": job.progress,
        "requeued_after_s": round(requeued_after, 1),
        "restarted_after_s": round(restarted_after, 1),
        "finished_after_s": round(finished_after, 1),
        "namespaces": network.namespaced,
    }
    (tmp_path / "kill-a-host.json").write_text(json.dumps(timings, indent=2))
    print("\nkill-a-host:", json.dumps(timings))

    assert done.attempts == 2 and host_of(done, workers) is survivor, done.log
    assert f"worker {job.worker} stopped responding" in done.log
    assert retried.worker != job.worker

    # Nothing twice: one value per param, one point per metric step, one file per artifact path,
    # and no object in the bucket that no row records.
    run = Run.objects.get(pk=run_id)
    assert run.status == "finished"
    params = list(Param.objects.filter(run=run).values_list("key", flat=True))
    assert len(params) == len(set(params)) and {"algorithm", "n_estimators"} <= set(params)
    points = Counter(Metric.objects.filter(run=run).values_list("key", "step"))
    assert points and max(points.values()) == 1, points.most_common(3)
    paths = list(RunArtifact.objects.filter(run=run).values_list("path", flat=True))
    assert sorted(paths) == sorted(set(paths)) and "model/pipeline.skops" in paths
    stored = objects(s3, bucket)
    assert set(stored) == recorded_objects()
    for artifact in RunArtifact.objects.filter(run=run):
        assert hashlib.sha256(stored[f"site/{artifact.file}"]).hexdigest() == artifact.sha256

    # The retried run registers once, and the web host serves it.
    v2 = call(sci, "POST", "/api/models/credit-default/versions/", 201, json={"run": run_id})
    call(sci, "POST", "/api/models/credit-default/versions/", 409, json={"run": run_id})
    assert ModelVersion.objects.filter(model__name="credit-default").count() == 2
    assert v2["metrics"]["f1"] == pytest.approx(done.result["metrics"]["f1"])
    assert ran_on <= {w.name for w in workers}
