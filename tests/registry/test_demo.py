"""The registry's demo step waits for the demo runs, then leaves a champion in production and a request pending."""

import pytest
from django_q.models import Schedule

from experiments import services as experiment_services
from mlops_site import demo
from registry import demo as registry_demo
from registry.models import ModelVersion, PromotionRequest, RegisteredModel

pytestmark = pytest.mark.django_db


def test_the_demo_registry_waits_then_promotes_and_leaves_one_request_for_the_reviewer(
    credit, django_capture_on_commit_callbacks
):
    users = demo.ensure_users("pw-for-tests", reset_password=True)
    experiment, dataset_version = credit
    started = "2026-01-01T00:00:00+00:00"
    assert registry_demo.finish_demo_registry(started).startswith("gave up")
    assert registry_demo.finish_demo_registry("2999-01-01T00:00:00+00:00").startswith("waiting for 3")
    assert Schedule.objects.filter(func=registry_demo.TASK, schedule_type=Schedule.ONCE).count() == 1

    for algorithm in registry_demo.ALGORITHMS:
        with django_capture_on_commit_callbacks(execute=True):
            experiment_services.start_training(
                experiment, dataset_version, actor=users["scientist"], target="defaulted", algorithm=algorithm, seed=3
            )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = registry_demo.finish_demo_registry("2999-01-01T00:00:00+00:00")
    assert outcome.startswith("registered 3 versions"), outcome

    model = RegisteredModel.objects.get(name="credit-default")
    assert model.gates["fairness"] == {"column": "region", "max_gap": 0.2}
    stages = dict(model.versions.values_list("number", "stage"))
    assert stages == {1: "production", 2: "none", 3: "none"}
    assert dict(model.aliases.values_list("name", "version__number")) == {"champion": 1, "challenger": 3}
    pending = PromotionRequest.objects.get(status="pending")
    assert pending.version.number == 3 and pending.requested_by == users["scientist"]
    assert pending.champion == ModelVersion.objects.get(model=model, number=1)
    assert len(pending.gates) == 5
    assert registry_demo.finish_demo_registry(started) == "demo model exists already"
