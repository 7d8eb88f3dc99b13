"""Schemathesis over /api/schema/: a bounded, seeded run that must end with no server error.

The run talks real HTTP to pytest-django's live server, as a user holding every role, over a small
world (a deployed model, a pending promotion, a monitor with a rule, a webhook...) whose ids and
names are offered to the generator as dictionaries, so the verbs reach their services instead of
404s. Every 5xx the server sends is recorded with its exception (`got_request_exception`), so a
failure names its causes. SCHEMATHESIS_SEED / SCHEMATHESIS_MAX_EXAMPLES override the bounds.
"""

from __future__ import annotations

import collections
import os
import threading
import traceback

import pytest
import schemathesis
import schemathesis.engine.events
from django.core.signals import got_request_exception

from deployments import serving
from deployments.models import Deployment, Environment
from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from mlops_site import roles
from mlops_site import services as site_services
from mlops_site.webhooks import services as webhook_services
from monitoring.models import Monitor
from monitoring.services import alerts as alert_services
from registry import services as registry_services
from tests.builders import make_user, upload

pytestmark = pytest.mark.django_db(transaction=True)

SEED = int(os.environ.get("SCHEMATHESIS_SEED", "14"))
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))


def build_world() -> dict:
    """The objects the generated requests can hit; every id and name the paths take."""
    for name in ("staging", "production"):  # a transactional test flushes the migration's rows
        Environment.objects.get_or_create(name=name, defaults={"stage": name})
    dana = make_user("dana", roles.DATA_SCIENTIST)
    fuzz = make_user("fuzz", None, is_staff=True)
    site_services.set_roles(fuzz, roles=list(roles.ROLE_NAMES), actor=None)
    dataset = experiment_services.create_dataset(name="credit", actor=dana)
    frame = credit_scoring_frame(rows=400, seed=5).drop(columns=["customer_id"])
    frame = frame[frame["defaulted"].notna()]
    version, _ = experiment_services.upload_version(
        dataset, upload(content=frame.to_csv(index=False).encode()), actor=dana, target="defaulted"
    )
    experiment = experiment_services.create_experiment(name="credit default", actor=dana)
    run, other_run = (
        experiment_services.start_training(
            experiment, version, actor=dana, target="defaulted", algorithm="logistic_regression", seed=seed
        )
        for seed in (1, 2)
    )
    run.refresh_from_db()
    other_run.refresh_from_db()
    logged = experiment_services.create_run(experiment, actor=fuzz, name="logged by hand")
    experiment_services.log_batch(logged, actor=fuzz, metrics=[{"key": "loss", "value": 0.5, "step": 1}])
    model = registry_services.create_model(name="credit-default", actor=dana)
    first = registry_services.register_version(model, run, actor=dana)
    second = registry_services.register_version(model, other_run, actor=dana)  # a run is registered once
    promotion = registry_services.request_promotion(first, "production", justification="first", actor=dana)
    promotion.refresh_from_db()
    registry_services.approve(promotion, actor=fuzz)
    pending = registry_services.request_promotion(second, "staging", justification="second", actor=dana)
    deployment = Deployment.objects.get(environment__name="production")
    columns = [c["name"] for c in first.signature["inputs"]]
    rows = frame[columns].head(3).astype(object).where(frame[columns].head(3).notna(), None).to_dict("records")
    serving.predict(deployment, {"records": rows, "entity_key": "c1"})
    monitor = Monitor.objects.get(deployment=deployment)
    rule = alert_services.create_rule(
        monitor, {"name": "drift", "metric": "drift_share", "comparison": "gt", "threshold": 0.5}, actor=dana
    )
    hook, _ = webhook_services.create_webhook(url="https://example.com/hook", events=[], actor=fuzz)
    _, key = site_services.create_api_token(fuzz, name="schemathesis")
    spare, _ = site_services.create_api_token(fuzz, name="spare")
    artifact = run.artifacts.first()
    ids = sorted(
        {
            dataset.pk,
            version.pk,
            experiment.pk,
            run.pk,
            logged.pk,
            promotion.pk,
            pending.pk,
            monitor.pk,
            rule.pk,
            hook.pk,
            spare.pk,
        }
    )
    return {
        "key": key,
        # The fuzzer may delete tokens: only the spare one, never the one it authenticates with.
        "operations": [{"include-name": "DELETE /api/tokens/{id}/", "parameters": {"path.id": spare.pk}}],
        "dictionaries": {
            "ids": {"values": ids},
            "names": {"values": ["credit-default"]},
            "environments": {"values": ["production", "staging"]},
            "numbers": {"values": [1, 2]},
            "others": {"values": [version.pk]},
            "keys": {"values": ["loss", "f1"]},
            "aliases": {"values": ["champion"]},
            "artifacts": {"values": [artifact.pk]},
        },
        "parameters": {
            "path.id": "ids",
            "path.name": "names",
            "path.model": "names",
            "path.environment": "environments",
            "path.number": "numbers",
            "path.other": "others",
            "path.key": "keys",
            "path.alias": "aliases",
            "path.artifact_id": "artifacts",
        },
    }


def test_schemathesis_finds_no_server_error(live_server, settings):
    world = build_world()
    # From here jobs stay queued: the fuzzer must not train models inline in the server thread.
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.JOB_RATE_LIMITS = {}  # one user sends every request: limits would leave the verbs untested
    errors: list[str] = []
    lock = threading.Lock()

    def remember(sender, request=None, **kwargs):
        text = traceback.format_exc(limit=-3)
        with lock:
            errors.append(f"{request.method} {request.path}\n{text}" if request is not None else text)

    got_request_exception.connect(remember, weak=False, dispatch_uid="schemathesis-errors")
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "cache": {"enabled": False},  # a cache would replay earlier failures: runs must not depend on it
            "workers": 1,
            # One connection per request: a kept-alive socket holds a server thread, and with it a database
            # connection that stops PostgreSQL dropping the test database at the end.
            "headers": {"Authorization": f"Token {world['key']}", "Connection": "close"},
            "continue-on-failure": True,
            "dictionaries": world["dictionaries"],
            "parameters": {
                name: {"dictionary": dictionary, "probability": 0.8} for name, dictionary in world["parameters"].items()
            },
            "generation": {"max-examples": MAX_EXAMPLES, "no-shrink": True, "database": "none"},
            "checks": {"enabled": False, "not_a_server_error": {"enabled": True}},
            "phases": {"stateful": {"enabled": False}},
            "operations": world["operations"],
        }
    )
    try:
        schema = schemathesis.openapi.from_url(
            f"{live_server.url}/api/schema/?format=json",
            config=config,
            headers={"Authorization": f"Token {world['key']}"},
        )
        statuses: collections.Counter = collections.Counter()
        server_errors: list[str] = []
        timings: collections.Counter = collections.Counter()
        problems: list[str] = []
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, schemathesis.engine.events.NonFatalError):
                problems.append(f"{event.label}: {event.info.title} {event.info.message}"[:300])
            if not isinstance(event, schemathesis.engine.events.ScenarioFinished):
                continue
            timings[f"{event.phase.value} {event.label}"] += event.elapsed_time
            for interaction in event.recorder.interactions.values():
                status = interaction.response.status_code if interaction.response is not None else 0
                statuses[status // 100 * 100] += 1
                if status >= 500:
                    server_errors.append(f"{status} {interaction.request.method} {interaction.request.uri}")
    finally:
        got_request_exception.disconnect(dispatch_uid="schemathesis-errors")
    causes = collections.Counter(error.split("\n", 1)[1].strip().splitlines()[-1] for error in errors)
    report = "\n".join(f"{count} × {cause}" for cause, count in causes.most_common())
    print("slowest:", [(label, round(seconds, 1)) for label, seconds in timings.most_common(15)])
    print("schemathesis errors:", *problems[:50], sep="\n")
    print(f"statuses: {dict(sorted(statuses.items()))}; server errors: {len(server_errors)}\n{report}")
    for error in errors[:200]:
        print(error)
    assert not server_errors and not errors, report
