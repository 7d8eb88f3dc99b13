"""Concurrent decisions over real separate database connections: one consistent outcome each time.

Each case starts its contenders on a barrier so their transactions overlap. On PostgreSQL the row
locks (request, then model) serialise them; on SQLite the IMMEDIATE transactions do.
"""

import threading

import pytest
from django.db import connection

from experiments import services as experiment_services
from mlops_site.errors import Conflict
from registry import services
from registry.models import ModelVersion, PromotionRequest, Review
from tests.builders import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def race(*calls):
    """Run the calls at the same moment in threads; return each one's result or exception."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def contender(index, call):
        try:
            barrier.wait(timeout=10)
            outcomes[index] = call()
        except Exception as exc:  # collected and asserted on by the test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=contender, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def versions(scientist, credit):
    experiment, dataset_version = credit
    model = services.create_model(name="credit-default", actor=scientist)
    versions = []
    for _ in range(2):  # a run is registered once per model: two versions need two (alike) runs
        run = experiment_services.start_training(
            experiment, dataset_version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
        run.refresh_from_db()
        assert run.status == "finished"
        versions.append(services.register_version(model, run, actor=scientist))
    return versions


def open_request(version, scientist, stage="production"):
    promotion = services.request_promotion(version, stage, justification="ship it", actor=scientist)
    promotion.refresh_from_db()
    assert promotion.status == "pending", promotion.gates  # gates ran inline (sync broker, autocommit)
    return promotion


def test_two_reviewers_approving_at_once_give_one_approval(scientist, reviewer, versions):
    other = make_user("rita", "reviewer")
    promotion = open_request(versions[0], scientist)
    outcomes = race(
        lambda: services.approve(promotion, actor=reviewer), lambda: services.approve(promotion, actor=other)
    )
    assert sum(isinstance(o, PromotionRequest) for o in outcomes) == 1
    assert [type(o) for o in outcomes if not isinstance(o, PromotionRequest)] == [Conflict]
    assert Review.objects.count() == 1
    assert list(ModelVersion.objects.filter(stage="production")) == [versions[0]]


def test_a_double_clicked_approve_counts_once(scientist, reviewer, versions):
    promotion = open_request(versions[0], scientist)
    outcomes = race(*[lambda: services.approve(promotion, actor=reviewer)] * 3)
    assert sum(isinstance(o, PromotionRequest) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) for o in outcomes if not isinstance(o, PromotionRequest))
    assert Review.objects.filter(reviewer=reviewer).count() == 1


def test_two_versions_promoted_to_production_at_once_leave_exactly_one(scientist, reviewer, versions):
    other = make_user("rita", "reviewer")
    first, second = (open_request(version, scientist) for version in versions)
    outcomes = race(lambda: services.approve(first, actor=reviewer), lambda: services.approve(second, actor=other))
    assert all(isinstance(o, PromotionRequest) for o in outcomes), outcomes
    stages = sorted(ModelVersion.objects.values_list("stage", flat=True))
    assert stages == ["archived", "production"]
    assert PromotionRequest.objects.filter(status="approved").count() == 2


def test_a_double_clicked_request_opens_one(scientist, versions):
    outcomes = race(
        *[lambda: services.request_promotion(versions[0], "staging", justification="x", actor=scientist)] * 2
    )
    assert sum(isinstance(o, PromotionRequest) for o in outcomes) == 1
    assert [type(o) for o in outcomes if not isinstance(o, PromotionRequest)] == [Conflict]
    assert PromotionRequest.objects.count() == 1


def test_the_database_refuses_a_second_production_version(versions):
    """The constraint holds even for code that skips the service."""
    from django.db import IntegrityError

    ModelVersion.objects.filter(pk=versions[0].pk).update(stage="production")
    with pytest.raises(IntegrityError):
        ModelVersion.objects.filter(pk=versions[1].pk).update(stage="production")
