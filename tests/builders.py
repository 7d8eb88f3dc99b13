"""The shared test builders, one plugin (`pytest_plugins` in tests/conftest.py) for every folder.

Users per role and API clients; the messy CSV and `upload`; the credit dataset version, a finished
training run, a deployment that serves it, and helpers to send it rows. Folder conftests keep only
what their folder alone uses, and nothing imports fixtures from another folder's conftest.

Training, profiling and quality checks are memoised for the session (`_computed_once`): the same
frame, schema and request always give the same result (experiments/training.py says so and
tests/experiments/test_training.py checks it), so the scikit-learn and pandas work of a fixture that
builds the same trained run for every test is done once, while each test still creates its own rows
and writes its own files (no state is shared between tests). Loading a stored model (`_loaded_once`)
is memoised alike, by the file's sha256.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import threading

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from mlops_site import roles, services

PASSWORD = "correct horse battery staple"

MESSY_CSV = (
    b"id,income,owns_home,city,defaulted\n"
    b"1,50000,yes,Paris,0\n"
    b"2,,Yes,paris ,1\n"
    b"3,62000,no,Lyon,0\n"
    b"3,62000,no,Lyon,0\n"
    b"4,58000,N,Lyon,\n"
    b"5,1000000,no,Nice,0\n"
    b"6,51000,yes,Nice,1\n"
    b"7,49000,no,Paris,0\n"
)

# Tests of training itself, where a second identical training must really run again.
REAL_TRAINING = (
    "tests/experiments/test_training.py::",
    "tests/experiments/test_training_api.py::test_reproduce_gives_exactly_the_same_metrics",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "real_training: train every time, without the session's memo")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(REAL_TRAINING):
            item.add_marker(pytest.mark.real_training)


# --- users and clients --------------------------------------------------------------------------


def make_user(username: str, role: str | None = None, **extra):
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **extra)
    if role:
        services.set_roles(user, roles=[role], actor=None)
    return user


def token_client(user) -> APIClient:
    _, key = services.create_api_token(user, name="test")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def scientist(db):
    return make_user("sci", roles.DATA_SCIENTIST)


@pytest.fixture
def reviewer(db):
    return make_user("rev", roles.REVIEWER)


@pytest.fixture
def admin_user(db):
    return make_user("adm", roles.ADMIN, is_staff=True)


@pytest.fixture
def nobody(db):
    """Logged in, but without any platform role."""
    return make_user("nobody")


@pytest.fixture
def users_by_role(scientist, reviewer, admin_user, nobody):
    return {"data-scientist": scientist, "reviewer": reviewer, "admin": admin_user, "none": nobody}


@pytest.fixture
def api_client():
    return APIClient()


# --- datasets -----------------------------------------------------------------------------------


def upload(name: str = "data.csv", content: bytes = MESSY_CSV) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="text/csv")


@pytest.fixture
def dataset(scientist):
    from experiments import services as experiment_services

    return experiment_services.create_dataset(name="loans", description="test", actor=scientist)


@pytest.fixture
def version(dataset, scientist, django_capture_on_commit_callbacks):
    from experiments import services as experiment_services

    with django_capture_on_commit_callbacks(execute=True):
        created, _ = experiment_services.upload_version(dataset, upload(), actor=scientist, target="defaulted")
    created.refresh_from_db()
    return created


_CREDIT_CSV: list[bytes] = []


def credit_csv() -> bytes:
    """800 rows of the demo credit data, labelled and deduplicated; built once per session."""
    if not _CREDIT_CSV:
        from experiments.demo_data import credit_scoring_frame

        frame = credit_scoring_frame(rows=800, seed=3).drop(columns=["customer_id"])
        frame = frame[frame["defaulted"].notna() & (frame["age"] < 200)].drop_duplicates()
        _CREDIT_CSV.append(frame.to_csv(index=False).encode())
    return _CREDIT_CSV[0]


@pytest.fixture
def credit(scientist, django_capture_on_commit_callbacks):
    """(experiment, dataset version) of the demo credit data, target `defaulted`."""
    from experiments import services as experiment_services

    dataset = experiment_services.create_dataset(name="credit", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        version, _ = experiment_services.upload_version(
            dataset, upload(content=credit_csv()), actor=scientist, target="defaulted"
        )
    experiment = experiment_services.create_experiment(name="credit default", actor=scientist)
    return experiment, version


# --- trained runs, versions, deployments --------------------------------------------------------


@pytest.fixture
def deployed(credit, scientist, admin_user, django_capture_on_commit_callbacks):
    """(deployment, model version, dataset version): a logistic regression on `credit`, in production."""
    from deployments import services as deployment_services
    from deployments import serving
    from deployments.models import Deployment, Environment
    from experiments import services as experiment_services
    from registry import services as registry_services

    experiment, dataset_version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, dataset_version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    model = registry_services.create_model(name="credit-default", actor=scientist)
    version = registry_services.register_version(model, run, actor=scientist)
    environment = Environment.objects.get(name="production")
    deployment_services.deploy(
        environment, version, actor=admin_user, override=True, reason="monitoring tests serve an unreviewed version"
    )
    serving.cache.clear()
    serving.deployments.clear()
    return Deployment.objects.get(environment=environment), version, dataset_version


def serve(deployment, frame: pd.DataFrame, *, served_at=None) -> list[str]:
    """Send the rows one by one through serving, as callers would; the prediction ids."""
    from deployments import serving

    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    ids = []
    for record in records:
        answer = serving.predict(deployment, {"records": [record]}, served_at=served_at)
        ids.append(answer.predictions[0]["prediction_id"])
    return ids


def inputs_of(version, dataset_version) -> pd.DataFrame:
    from experiments import services as experiment_services

    columns = [c["name"] for c in version.signature["inputs"]]
    return experiment_services.load_frame(dataset_version)[columns]


# --- pure computations once per session -------------------------------------------------------

_MEMO: dict[tuple, tuple[object, list[tuple]]] = {}
_MEMO_LOCK = threading.Lock()


def _fingerprint(value) -> object:
    """A hashable stand-in for an argument: frames by content, everything else by its JSON or repr."""
    if isinstance(value, pd.DataFrame | pd.Series):
        frame = value.to_frame() if isinstance(value, pd.Series) else value
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
        digest.update(json.dumps([list(map(str, frame.columns)), list(map(str, frame.dtypes))]).encode())
        return ("frame", digest.hexdigest())
    return json.dumps(value, sort_keys=True, default=repr)


def _memoise(monkeypatch, module, name: str) -> None:
    """Replace module.name by a session memo of it. A `progress` callback is called as the first call
    called it (so cancelling through progress behaves as before); exceptions are not memoised; each
    caller gets its own deep copy."""
    real = getattr(module, name)
    reports = "progress" in inspect.signature(real).parameters

    def memoised(*args, progress=None, **kwargs):
        key = (module.__name__, name, *map(_fingerprint, args), _fingerprint(kwargs))
        with _MEMO_LOCK:
            known = _MEMO.get(key)
        if known is None:
            calls: list[tuple] = []

            def record(*progress_args):
                calls.append(progress_args)
                if progress is not None:
                    progress(*progress_args)

            result = real(*args, progress=record, **kwargs) if reports else real(*args, **kwargs)
            with _MEMO_LOCK:
                _MEMO[key] = (copy.deepcopy(result), calls)
            return result
        result, calls = known
        if progress is not None:
            for progress_args in calls:
                progress(*progress_args)
        return copy.deepcopy(result)

    monkeypatch.setattr(module, name, memoised)


@pytest.fixture(autouse=True)
def _computed_once(request, monkeypatch):
    """Training, profiling and quality checks are pure and deterministic (the same frame, schema and
    request give the same result; tests/experiments/test_training.py checks it for training), so the
    session computes each distinct call once. Tests of training itself train every time."""
    from experiments import profiling, quality, training

    if not request.node.get_closest_marker("real_training"):
        _memoise(monkeypatch, training, "train")
    _memoise(monkeypatch, profiling, "profile_frame")
    _memoise(monkeypatch, quality, "run_checks")


_LOADED: dict[str, object] = {}


@pytest.fixture(autouse=True)
def _loaded_once(monkeypatch):
    """Memoise `experiments.training.load_model` by the bytes' sha256 for the session: skops audits
    the whole tree on every load (a quarter of a second), and registration, gates and serving each
    load the same file. A hash mismatch or a refused type still goes through the real check."""
    from experiments import training

    real = training.load_model

    def load_model(model_bytes: bytes, expected_sha256: str, **options):
        if options or not model_bytes.startswith(b"PK"):  # ONNX sessions cannot be copied; options change the load
            return real(model_bytes, expected_sha256, **options)
        actual = hashlib.sha256(model_bytes).hexdigest()
        with _MEMO_LOCK:
            known = _LOADED.get(actual) if actual == expected_sha256 else None
        if known is not None:
            return copy.deepcopy(known)
        pipeline = real(model_bytes, expected_sha256)
        with _MEMO_LOCK:
            _LOADED[actual] = copy.deepcopy(pipeline)
        return pipeline

    monkeypatch.setattr(training, "load_model", load_model)


def queries(client, url: str) -> int:
    """Queries of a warm GET of `url` (the first call of a token also stamps its last use), asserting a 200.

    The query-count tests compare this for N and 2N rows: equal counts mean no query per row.
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return len(captured)


@pytest.fixture
def fresh_serving():
    """Serving's per-process caches (models, deployments) empty before and after the test."""
    from deployments import serving

    serving.cache.clear()
    serving.deployments.clear()
    yield
    serving.cache.clear()
    serving.deployments.clear()


@pytest.fixture
def made(scientist, fresh_serving, django_capture_on_commit_callbacks):
    """Models trained outside the site, registered as versions (`tests.deployments.uploaded.build`)."""
    from tests.deployments import uploaded

    return uploaded.build(scientist, django_capture_on_commit_callbacks)
