"""A repeated request does one thing: the API's Idempotency-Key header and the pages' one-time form tokens."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from experiments import services as experiment_services
from experiments.models import Experiment, Run
from mlops_site import idempotency, services
from mlops_site.models import ApiToken, IdempotencyKey
from registry import services as registry_services
from registry.models import ModelVersion
from tests.builders import PASSWORD, make_user, token_client

# How slow the slowed-down POSTs are, and how far apart the two clicks: the issue measured 1.5 s and 200 ms.
SLOW_SECONDS = float(os.environ.get("DOUBLE_CLICK_SLOW_SECONDS", "0.6"))
CLICK_GAP_SECONDS = float(os.environ.get("DOUBLE_CLICK_GAP_SECONDS", "0.2"))


@pytest.fixture
def experiment(scientist):
    return experiment_services.create_experiment(name="tracking", actor=scientist)


def post_run(client, experiment, key=None, name="a run", path="/api/runs/"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(path, {"experiment": experiment.pk, "name": name}, format="json", **headers)


# --- API --------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_same_key_and_body_replays_the_first_answer_and_creates_nothing(scientist, experiment):
    client = token_client(scientist)
    first = post_run(client, experiment, key="k-1")
    again = post_run(client, experiment, key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_without_a_key_nothing_changes(scientist, experiment):
    client = token_client(scientist)
    post_run(client, experiment)
    post_run(client, experiment)
    assert Run.objects.count() == 2 and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "second",
    [
        {"name": "another run"},  # another body
        {"path": "/api/experiments/"},  # another path (body valid there too)
    ],
)
def test_same_key_with_another_request_is_a_409_and_creates_nothing(scientist, experiment, second):
    client = token_client(scientist)
    assert post_run(client, experiment, key="k-2").status_code == 201
    runs, experiments = Run.objects.count(), Experiment.objects.count()
    response = post_run(client, experiment, key="k-2", **second)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "idempotency_key_reused" and set(body) == {"detail", "code", "errors"}
    assert (Run.objects.count(), Experiment.objects.count()) == (runs, experiments)


@pytest.mark.django_db
def test_same_key_with_another_method_is_a_409(scientist):
    client = token_client(scientist)
    body = {"name": "churn", "description": "who leaves"}  # the same body: only the method and path differ
    assert client.post("/api/models/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3").status_code == 201
    response = client.patch("/api/models/churn/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert response.status_code == 409 and response.json()["code"] == "idempotency_key_reused"
    assert "POST /api/models/" in response.json()["detail"]


@pytest.mark.django_db
def test_keys_are_per_user(scientist, experiment):
    other = make_user("sam", "data-scientist")
    assert post_run(token_client(scientist), experiment, key="shared").status_code == 201
    second = post_run(token_client(other), experiment, key="shared")
    assert second.status_code == 201 and not second.has_header("Idempotent-Replayed")
    assert Run.objects.count() == 2


@pytest.mark.django_db
def test_session_and_token_of_one_user_share_keys(scientist, experiment):
    session = APIClient()
    session.force_login(scientist)  # CSRF is not enforced by the test client
    assert post_run(session, experiment, key="k-4").status_code == 201
    assert post_run(token_client(scientist), experiment, key="k-4")["Idempotent-Replayed"] == "true"
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_4xx_answer_is_replayed(scientist, experiment):
    client = token_client(scientist)
    bad = client.post("/api/runs/", {"experiment": 999999}, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    again = client.post("/api/runs/", {"experiment": 999999}, format="json", HTTP_IDEMPOTENCY_KEY="k-5")
    assert bad.status_code == again.status_code == 400 and again.json() == bad.json()
    assert again["Idempotent-Replayed"] == "true" and not Run.objects.exists()


@pytest.mark.django_db
def test_a_5xx_answer_is_not_kept_so_the_retry_runs(scientist, experiment, monkeypatch):
    client = token_client(scientist)
    client.raise_request_exception = False
    original = experiment_services.create_run

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(experiment_services, "create_run", broken)
    assert post_run(client, experiment, key="k-6").status_code == 500
    assert not IdempotencyKey.objects.exists()
    monkeypatch.setattr(experiment_services, "create_run", original)
    retry = post_run(client, experiment, key="k-6")
    assert retry.status_code == 201 and not retry.has_header("Idempotent-Replayed")
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_refusals_before_the_action_are_not_kept(nobody, scientist, experiment):
    """A 403 (no role yet) is not replayed: once the role is given, the same key acts."""
    client = token_client(nobody)
    assert post_run(client, experiment, key="k-7").status_code == 403
    services.set_roles(nobody, roles=["data-scientist"], actor=None)
    assert post_run(client, experiment, key="k-7").status_code == 201
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_key_still_running_is_a_409_with_retry_after(scientist, experiment):
    client = token_client(scientist)
    post_run(client, experiment, key="k-8")
    IdempotencyKey.objects.update(state=IdempotencyKey.State.RUNNING, response=None)  # as while the first runs
    response = post_run(client, experiment, key="k-8")
    assert response.status_code == 409 and response["Retry-After"] == "1"
    assert response.json()["code"] == "idempotency_in_progress" and "in progress" in response.json()["detail"]
    assert Run.objects.count() == 1


@pytest.mark.django_db
def test_a_claim_whose_request_died_is_taken_over(scientist, experiment, settings):
    client = token_client(scientist)
    post_run(client, experiment, key="k-9")
    Run.objects.all().delete()  # as if that first request never got to create anything
    old = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_STALE_SECONDS + 1)
    IdempotencyKey.objects.update(state=IdempotencyKey.State.RUNNING, response=None, created_at=old)
    assert post_run(client, experiment, key="k-9").status_code == 201 and Run.objects.count() == 1


@pytest.mark.django_db
def test_expired_keys_act_again_and_are_swept(scientist, experiment, settings):
    client = token_client(scientist)
    post_run(client, experiment, key="k-10")
    day_ago = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_TTL_HOURS, seconds=1)
    IdempotencyKey.objects.update(created_at=day_ago)
    again = post_run(client, experiment, key="k-10")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed") and Run.objects.count() == 2
    post_run(client, experiment, key="k-11")
    IdempotencyKey.objects.filter(key_hash=idempotency._key_hash("api", "k-11")).update(created_at=day_ago)
    assert idempotency.sweep_expired() == 1
    assert IdempotencyKey.objects.count() == 1  # k-10's new claim stays


def test_the_sweep_is_scheduled():
    from mlops_site.schedules import all_schedules

    assert all_schedules()["sweep-idempotency-keys"] == ("mlops_site.tasks.sweep_idempotency_keys", 60)


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "naïve"])
def test_a_malformed_key_is_a_400_naming_the_header(scientist, experiment, key):
    client = token_client(scientist)
    headers = {"HTTP_IDEMPOTENCY_KEY": key.encode().decode("latin-1")}
    response = client.post("/api/runs/", {"experiment": experiment.pk}, format="json", **headers)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["errors"]
    assert not Run.objects.exists() and not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_stored_answers_are_sealed_and_hold_no_token_key(scientist):
    """POST /api/tokens/ answers with a new key: the replay shows it again, the table does not hold it."""
    client = token_client(scientist)
    first = client.post("/api/tokens/", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="tok-1")
    again = client.post("/api/tokens/", {"name": "ci"}, format="json", HTTP_IDEMPOTENCY_KEY="tok-1")
    assert first.status_code == 201 and again.json() == first.json()
    assert ApiToken.objects.filter(name="ci").count() == 1
    key = first.json()["token"]
    row = IdempotencyKey.objects.get()
    assert key.encode() not in bytes(row.response) and b"tok-1" not in bytes(row.response)
    assert "tok-1" not in row.key_hash


@pytest.mark.django_db
def test_a_multipart_retry_with_a_new_boundary_is_a_replay(scientist):
    """Clients pick a new multipart boundary per attempt: the body is compared by fields and file contents."""
    dataset = experiment_services.create_dataset(name="loans", actor=scientist)
    client = token_client(scientist)
    url = f"/api/datasets/{dataset.pk}/versions/"
    csv = b"a,b\n1,2\n3,4\n"

    def upload(boundary, content=csv):
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="d.csv"\r\n'
                f"Content-Type: text/csv\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        return client.generic(
            "POST",
            url,
            body,
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="up-1",
        )

    first = upload("aaaa1111")
    again = upload("bbbb2222")
    assert first.status_code == 201 and again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert upload("cccc3333", content=b"a,b\n9,9\n").status_code == 409
    assert dataset.versions.count() == 1


@pytest.mark.django_db
def test_the_schema_documents_the_header_on_state_changing_calls_only(scientist):
    client = APIClient()
    client.force_login(scientist)
    schema = client.get("/api/schema/", {"format": "json"}).json()
    runs = schema["paths"]["/api/runs/"]
    names = [p["name"] for p in runs["post"].get("parameters", []) if p["in"] == "header"]
    assert names == ["Idempotency-Key"]
    assert not any(p["name"] == "Idempotency-Key" for p in runs["get"].get("parameters", []))
    assert any(p["name"] == "Idempotency-Key" for p in schema["paths"]["/api/models/{name}/"]["patch"]["parameters"])


# --- Concurrency: real threads, real connections ----------------------------------------------------


def together(*calls, gap: float = 0.0):
    """Start the calls `gap` seconds apart, each in its own thread (its own DB connection); return the results."""
    outcomes: list = [None] * len(calls)

    def contender(index, call):
        try:
            outcomes[index] = call()
        except Exception as exc:  # asserted on by the test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=contender, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
        time.sleep(gap)
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def slowed(monkeypatch, module, name: str, seconds: float = SLOW_SECONDS) -> None:
    """Make a service slow before it acts (as a slow server is), without holding any lock while it waits."""
    original = getattr(module, name)

    def slow(*args, **kwargs):
        time.sleep(seconds)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, slow)


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_with_one_key_create_one_row(scientist, experiment, monkeypatch):
    slowed(monkeypatch, experiment_services, "create_run")
    _, key = services.create_api_token(scientist, name="threads")

    def call():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return post_run(client, experiment, key="same-key")

    outcomes = together(call, call, call)
    statuses = sorted(o.status_code for o in outcomes)
    assert statuses == [201, 409, 409], outcomes
    assert all(o.json()["code"] == "idempotency_in_progress" for o in outcomes if o.status_code == 409)
    assert Run.objects.count() == 1
    replay = call()
    created = next(o for o in outcomes if o.status_code == 201)
    assert replay.status_code == 201 and replay.json() == created.json()


def first_token(html: str) -> str:
    match = re.search(r'name="_submit_once" value="([^"]+)"', html)
    assert match, "the form carries no one-time token"
    return match.group(1)


def logged_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_training_form_starts_one_run(scientist, credit, monkeypatch, settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}  # queue the job, do not train in the request
    experiment, version = credit
    slowed(monkeypatch, experiment_services, "start_training_request")  # what the training page calls
    page = logged_in(scientist).get(reverse("run-new"))
    form = {
        "experiment": experiment.pk,
        "dataset_version": version.pk,
        "target": "defaulted",
        "algorithm": "knn",
        "holdout": 0.2,
        "seed": 0,
        "mode": "single",
        "_submit_once": first_token(page.content.decode()),
    }
    client = logged_in(scientist)
    started = time.perf_counter()
    outcomes = together(*[lambda: client.post(reverse("run-new"), form)] * 2, gap=CLICK_GAP_SECONDS)
    elapsed = time.perf_counter() - started
    runs = Run.objects.count()
    print(
        f"\ndouble click on Start training ({SLOW_SECONDS} s POSTs, {CLICK_GAP_SECONDS} s apart): {runs} run(s), {elapsed:.2f} s"
    )
    assert runs == 1
    run = Run.objects.get()
    assert [o.status_code for o in outcomes] == [302, 302]
    assert {o["Location"] for o in outcomes} == {run.get_absolute_url()}


@pytest.fixture
def finished_run(scientist, credit, django_capture_on_commit_callbacks):
    experiment, version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    assert run.status == "finished"
    return run


@pytest.mark.django_db(transaction=True)
def test_a_double_clicked_register_form_creates_one_version(scientist, finished_run, monkeypatch):
    model = registry_services.create_model(name="credit-default", actor=scientist)
    slowed(monkeypatch, registry_services, "register_version")
    page = logged_in(scientist).get(reverse("model-detail", args=[model.name]))
    form = {"run": finished_run.pk, "_submit_once": first_token(page.content.decode())}
    client = logged_in(scientist)
    url = reverse("model-register", args=[model.name])
    started = time.perf_counter()
    outcomes = together(*[lambda: client.post(url, form)] * 2, gap=CLICK_GAP_SECONDS)
    elapsed = time.perf_counter() - started
    versions = ModelVersion.objects.count()
    print(
        f"\ndouble click on Register as vN ({SLOW_SECONDS} s POSTs, {CLICK_GAP_SECONDS} s apart): {versions} version(s), {elapsed:.2f} s"
    )
    assert versions == 1
    assert [o.status_code for o in outcomes] == [302, 302]
    assert {o["Location"] for o in outcomes} == {model.get_absolute_url()}


# --- Pages: one-time form tokens ----------------------------------------------------------------------


@pytest.mark.django_db
def test_resubmitting_a_rendered_form_redirects_to_what_it_created(client, scientist):
    client.force_login(scientist)
    page = client.get(reverse("experiments"))
    form = {"new-name": "churn", "_submit_once": first_token(page.content.decode())}
    first = client.post(reverse("experiments"), form)
    assert first.status_code == 302
    again = client.post(reverse("experiments"), form, follow=True)
    assert again.redirect_chain[0][0] == first["Location"]
    assert "already sent" in again.content.decode()
    assert Experiment.objects.count() == 1
    fresh = first_token(client.get(reverse("experiments")).content.decode())
    assert fresh != form["_submit_once"]  # each rendering carries its own token


@pytest.mark.django_db
def test_a_double_submitted_token_form_shows_the_key_and_creates_one_token(client, scientist):
    """The new key is only in the first answer: the second submission gets that same page."""
    client.force_login(scientist)
    form = {"name": "laptop", "expires_in_days": 30, "scope": "full"}
    form["_submit_once"] = first_token(client.get(reverse("profile")).content.decode())
    first = client.post(reverse("profile"), form)
    again = client.post(reverse("profile"), form)
    assert first.status_code == again.status_code == 200 and again.content == first.content
    assert scientist.api_tokens.filter(name="laptop").count() == 1


@pytest.mark.django_db
def test_a_form_that_failed_validation_can_be_sent_again(client, scientist):
    client.force_login(scientist)
    form = {"new-name": "", "_submit_once": first_token(client.get(reverse("experiments")).content.decode())}
    assert client.post(reverse("experiments"), form).status_code == 200
    assert client.post(reverse("experiments"), form).status_code == 200  # the same answer again
    assert not Experiment.objects.exists()


@pytest.mark.django_db
def test_a_form_still_running_past_the_wait_says_so_and_creates_nothing(client, scientist, settings):
    settings.IDEMPOTENCY_FORM_WAIT_SECONDS = 0
    client.force_login(scientist)
    form = {"new-name": "churn", "_submit_once": first_token(client.get(reverse("experiments")).content.decode())}
    assert client.post(reverse("experiments"), form).status_code == 302
    IdempotencyKey.objects.update(state=IdempotencyKey.State.RUNNING, response=None)  # as while the first runs
    again = client.post(reverse("experiments"), form, HTTP_REFERER="http://testserver/experiments/", follow=True)
    assert again.redirect_chain == [("http://testserver/experiments/", 302)]
    assert "still being processed" in again.content.decode()
    assert Experiment.objects.count() == 1


def test_every_creating_form_carries_a_token():
    """The forms of templates/ that create something (or flip a state) render {% submit_once %}."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    expected = {
        "home.html": 1,
        "mlops_site/job_list.html": 1,
        "mlops_site/profile.html": 1,
        "monitoring/monitor_detail.html": 3,
        "monitoring/_retraining_panel.html": 1,
        "experiments/run_detail.html": 1,
        "experiments/version_detail.html": 2,
        "experiments/dataset_detail.html": 1,
        "experiments/run_new.html": 1,
        "experiments/dataset_list.html": 1,
        "experiments/experiment_list.html": 1,
        "registry/version_detail.html": 1,
        "mlops_site/webhook_detail.html": 2,
        "registry/model_detail.html": 2,
        "registry/model_list.html": 1,
        "registry/version_upload.html": 1,
        "registry/run_register.html": 1,
        "mlops_site/webhook_list.html": 1,
        "registry/promotion_detail.html": 2,
        "deployments/deployment_detail.html": 3,
        "deployments/deployment_confirm.html": 1,
    }
    found = {str(path.relative_to(root)): path.read_text().count("{% submit_once %}") for path in root.rglob("*.html")}
    assert {name: count for name, count in found.items() if count} == expected


# --- Registering a run twice --------------------------------------------------------------------------


@pytest.mark.django_db
def test_registering_a_run_that_is_already_a_version_is_a_409_naming_it(scientist, finished_run):
    model = registry_services.create_model(name="credit-default", actor=scientist)
    client = token_client(scientist)
    url = f"/api/models/{model.name}/versions/"
    assert client.post(url, {"run": finished_run.pk}, format="json").status_code == 201
    again = client.post(url, {"run": finished_run.pk}, format="json")
    assert again.status_code == 409 and "credit-default v1" in again.json()["detail"]
    assert ModelVersion.objects.count() == 1
    other = registry_services.create_model(name="credit-other", actor=scientist)
    assert registry_services.register_version(other, finished_run, actor=scientist).number == 1  # another model may


@pytest.mark.django_db
def test_the_model_page_says_which_version_the_run_already_is(client, scientist, finished_run):
    model = registry_services.create_model(name="credit-default", actor=scientist)
    registry_services.register_version(model, finished_run, actor=scientist)
    client.force_login(scientist)
    page = client.post(reverse("model-register", args=[model.name]), {"run": finished_run.pk}, follow=True)
    assert f"Run {finished_run.pk} is already registered as credit-default v1." in page.content.decode()
    assert ModelVersion.objects.count() == 1


def test_sealed_answers_open_only_with_their_key():
    held = idempotency.Claim(row_id=1, user_id=7, raw_key="abc")
    sealed = idempotency._seal(held, 201, {"Content-Type": "application/json"}, json.dumps({"key": "s3cret"}).encode())
    row = IdempotencyKey(user_id=7, response=sealed)
    assert idempotency._open(row, "abc").body == b'{"key": "s3cret"}'
    assert idempotency._open(row, "abd") is None
    assert b"s3cret" not in sealed
