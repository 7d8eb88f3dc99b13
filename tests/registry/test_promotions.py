"""Promotion requests: gates evidence on real trained models, separation of duties, stages, rollback."""

import json

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from sklearn.metrics import f1_score

from experiments import services as experiment_services
from mlops_site import events
from mlops_site.errors import Conflict
from mlops_site.models import AuditEvent
from registry import services
from registry.models import ModelVersion, PromotionRequest, Review
from tests.builders import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def train(scientist, credit, django_capture_on_commit_callbacks):
    experiment, dataset_version = credit

    def train(algorithm="logistic_regression", **params):
        with django_capture_on_commit_callbacks(execute=True):
            run = experiment_services.start_training(
                experiment, dataset_version, actor=scientist, target="defaulted", algorithm=algorithm, seed=1, **params
            )
        run.refresh_from_db()
        assert run.status == "finished"
        return run

    return train


@pytest.fixture
def model(scientist):
    return services.create_model(name="credit-default", actor=scientist)


@pytest.fixture
def request_for(scientist, django_capture_on_commit_callbacks):
    """Open a request and run its gates inline, as a worker would."""

    def request_for(version, stage="production", actor=None):
        with django_capture_on_commit_callbacks(execute=True):
            promotion = services.request_promotion(
                version, stage, justification="better recall", actor=actor or scientist
            )
        promotion.refresh_from_db()
        return promotion

    return request_for


@pytest.fixture
def second_reviewer(db):
    return make_user("rita", "reviewer")


def promote(version, request_for, reviewer, django_capture_on_commit_callbacks, stage="production"):
    promotion = request_for(version, stage)
    assert promotion.gates_status == "pass", promotion.gates
    with django_capture_on_commit_callbacks(execute=True):
        services.approve(promotion, actor=reviewer, comment="ok")
    promotion.refresh_from_db()
    return promotion


def gate(promotion, name):
    return next(g for g in promotion.gates if g["name"] == name)


def test_a_first_request_runs_every_gate_and_waits_for_a_reviewer(scientist, model, train, request_for):
    version = services.register_version(model, train(), actor=scientist)
    promotion = request_for(version, "staging")
    assert promotion.status == "pending" and promotion.gates_status == "pass"
    assert [g["name"] for g in promotion.gates] == [
        "artifact_hash",
        "metric_thresholds",
        "signature_compatible",
        "champion_challenger",
        "fairness",
    ]
    assert gate(promotion, "artifact_hash")["status"] == "pass"
    assert gate(promotion, "artifact_hash")["details"]["actual"] == version.sha256
    # Nothing in production yet: nothing to compare with, and no thresholds configured.
    assert {g["name"]: g["status"] for g in promotion.gates if g["status"] == "skipped"} == {
        "metric_thresholds": "skipped",
        "signature_compatible": "skipped",
        "champion_challenger": "skipped",
        "fairness": "skipped",
    }
    assert promotion.job.status == "succeeded"
    assert version.stage == "none"
    assert AuditEvent.objects.filter(action="promotion.requested", target_id=str(promotion.pk)).exists()
    assert AuditEvent.objects.filter(action="promotion.gates_checked", target_id=str(promotion.pk)).exists()


def test_thresholds_fail_and_block_approval_until_an_admin_overrides(
    scientist, reviewer, admin_user, model, train, request_for, django_capture_on_commit_callbacks
):
    services.update_model(model, actor=scientist, gates={"thresholds": [{"metric": "f1", "op": ">=", "value": 0.99}]})
    version = services.register_version(model, train(), actor=scientist)
    promotion = request_for(version)
    check = gate(promotion, "metric_thresholds")
    assert promotion.gates_status == "fail" and check["status"] == "fail"
    assert check["details"]["checks"][0]["actual"] == pytest.approx(version.metrics["f1"])

    with pytest.raises(Conflict, match=r"failed gates \(metric_thresholds\)"):
        services.approve(promotion, actor=reviewer)
    with pytest.raises(PermissionDenied, match="Only admins"):
        services.approve(promotion, actor=reviewer, override_reason="trust me")
    assert not Review.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.approve(promotion, actor=admin_user, override_reason="the threshold is for next quarter")
    promotion.refresh_from_db()
    version.refresh_from_db()
    assert promotion.status == "approved" and promotion.overridden_by == admin_user
    assert version.stage == "production"
    assert AuditEvent.objects.filter(action="promotion.gates_overridden").count() == 1


def test_champion_and_candidate_are_scored_on_the_same_holdout_rows(
    scientist, reviewer, model, train, request_for, django_capture_on_commit_callbacks
):
    champion = services.register_version(model, train(), actor=scientist)
    promote(champion, request_for, reviewer, django_capture_on_commit_callbacks)
    candidate_run = train("random_forest", params={"n_estimators": 20, "max_depth": 4})
    candidate = services.register_version(model, candidate_run, actor=scientist)
    services.update_model(model, actor=scientist, gates={"champion": {"metric": "f1", "tolerance": 0.5}})
    promotion = request_for(candidate)

    result = gate(promotion, "champion_challenger")
    holdout = experiment_services.holdout_of(candidate_run)
    columns = [c["name"] for c in candidate.signature["inputs"]]
    scores = {}
    for name, version in (("candidate", candidate), ("champion", champion)):
        pipeline = experiment_services.load_pipeline(version.artifact)
        scores[name] = f1_score(holdout.y, pipeline.predict(holdout.frame[columns]), pos_label=max(holdout.y))
    assert result["details"]["rows"] == len(holdout.y) == promotion.evidence["holdout"]["rows"] > 100
    assert result["details"]["candidate"] == pytest.approx(scores["candidate"], abs=1e-12)
    assert result["details"]["champion"] == pytest.approx(scores["champion"], abs=1e-12)
    assert result["status"] == "pass"  # within the generous tolerance
    assert promotion.champion == champion and promotion.evidence["champion_version"] == 1
    assert gate(promotion, "signature_compatible")["status"] == "pass"

    services.update_model(model, actor=scientist, gates={"champion": {"metric": "f1", "tolerance": 0.0}})
    services.withdraw(promotion, actor=scientist)
    again = request_for(candidate)
    expected = "pass" if scores["candidate"] >= scores["champion"] else "fail"
    assert gate(again, "champion_challenger")["status"] == expected


def test_fairness_gaps_are_measured_on_the_sensitive_column(scientist, model, train, request_for):
    services.update_model(model, actor=scientist, gates={"fairness": {"column": "home_ownership", "max_gap": 0.0}})
    run = train()
    version = services.register_version(model, run, actor=scientist)
    result = gate(request_for(version), "fairness")

    holdout = experiment_services.holdout_of(run)
    pipeline = experiment_services.load_pipeline(version.artifact)
    predicted = pipeline.predict(holdout.frame[[c["name"] for c in version.signature["inputs"]]])
    positive = max(holdout.y)
    rates = {}
    for group in sorted(holdout.frame["home_ownership"].unique()):
        rows = (holdout.frame["home_ownership"] == group).to_numpy()
        rates[group] = float(np.mean(predicted[rows] == positive))
    assert [g["group"] for g in result["details"]["groups"]] == sorted(rates)
    assert result["details"]["positive_rate_gap"] == pytest.approx(max(rates.values()) - min(rates.values()))
    assert result["status"] == ("fail" if max(rates.values()) > min(rates.values()) else "pass")


def test_a_missing_sensitive_column_fails_the_gate_with_its_name(scientist, model, train, request_for):
    services.update_model(model, actor=scientist, gates={"fairness": {"column": "gender", "max_gap": 0.1}})
    version = services.register_version(model, train(), actor=scientist)
    result = gate(request_for(version), "fairness")
    assert result["status"] == "fail" and "gender" in result["message"]


def test_separation_of_duties(scientist, reviewer, admin_user, model, train, request_for):
    version = services.register_version(model, train(), actor=scientist)
    promotion = request_for(version)
    with pytest.raises(PermissionDenied, match="Only reviewers"):
        services.approve(promotion, actor=scientist)
    # Even a reviewer or admin cannot approve what they asked for themselves.
    own = request_for(version, "staging", actor=admin_user)
    with pytest.raises(PermissionDenied, match="someone else"):
        services.approve(own, actor=admin_user)
    assert not Review.objects.exists()
    version.refresh_from_db()
    assert version.stage == "none"


def test_several_approvals_and_no_double_approval(
    scientist, reviewer, second_reviewer, model, train, request_for, django_capture_on_commit_callbacks
):
    services.update_model(model, actor=scientist, gates={"approvals": {"production": 2}})
    version = services.register_version(model, train(), actor=scientist)
    promotion = request_for(version)
    assert promotion.approvals_required == 2
    services.approve(promotion, actor=reviewer)
    with pytest.raises(Conflict, match="already reviewed"):
        services.approve(promotion, actor=reviewer)
    promotion.refresh_from_db()
    version.refresh_from_db()
    assert promotion.status == "pending" and version.stage == "none"

    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    events.model_stage_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.approve(promotion, actor=second_reviewer)
    finally:
        events.model_stage_changed.disconnect(receiver)
    version.refresh_from_db()
    assert version.stage == "production" and promotion.reviews.count() == 2
    assert received == [
        {
            "signal": events.model_stage_changed,
            "model": "credit-default",
            "version": 1,
            "version_id": version.pk,
            "stage": "production",
            "previous_stage": "none",
        }
    ]
    with pytest.raises(Conflict, match="already approved"):
        services.approve(promotion, actor=make_user("third", "reviewer"))


def test_rejected_and_withdrawn_requests_keep_their_history(scientist, reviewer, model, train, request_for):
    version = services.register_version(model, train(), actor=scientist)
    promotion = request_for(version)
    with pytest.raises(ValidationError):
        services.reject(promotion, actor=reviewer, comment="  ")
    services.reject(promotion, actor=reviewer, comment="recall on new customers is too low")
    with pytest.raises(Conflict, match="already rejected"):
        services.approve(promotion, actor=make_user("rita", "reviewer"))
    promotion.refresh_from_db()
    assert promotion.status == "rejected" and promotion.reviews.get().comment.startswith("recall")

    again = request_for(version)
    with pytest.raises(PermissionDenied, match="requester"):
        services.withdraw(again, actor=reviewer)
    services.withdraw(again, actor=scientist)
    with pytest.raises(Conflict, match="already withdrawn"):
        services.withdraw(again, actor=scientist)
    assert PromotionRequest.objects.filter(version=version).count() == 2
    assert list(PromotionRequest.objects.values_list("status", flat=True).order_by("pk")) == ["rejected", "withdrawn"]


def test_only_one_open_request_per_version_and_stage(scientist, model, train, request_for):
    version = services.register_version(model, train(), actor=scientist)
    first = request_for(version)
    with pytest.raises(Conflict, match=f"#{first.pk}"):
        request_for(version)
    with pytest.raises(ValidationError, match="Say why"):
        services.request_promotion(version, "staging", justification="", actor=scientist)
    with pytest.raises(ValidationError):
        services.request_promotion(version, "archived", justification="x", actor=scientist)
    assert PromotionRequest.objects.count() == 1


def test_a_model_file_changed_after_the_gates_cannot_be_approved(scientist, reviewer, model, train, request_for):
    version = services.register_version(model, train(), actor=scientist)
    promotion = request_for(version)
    with default_storage.open(version.artifact.file, "wb") as handle:
        handle.write(b"swapped")
    with pytest.raises(ValidationError, match="sha256"):
        services.approve(promotion, actor=reviewer)
    promotion.refresh_from_db()
    version.refresh_from_db()
    assert promotion.status == "pending" and version.stage == "none" and not Review.objects.exists()


def test_promoting_archives_the_previous_version_and_rollback_brings_it_back(
    scientist, reviewer, model, train, request_for, django_capture_on_commit_callbacks
):
    first = services.register_version(model, train(), actor=scientist)
    second = services.register_version(model, train(), actor=scientist)
    with pytest.raises(ValidationError, match="no earlier production"):
        services.request_rollback(model, justification="oops", actor=scientist)
    promote(first, request_for, reviewer, django_capture_on_commit_callbacks)
    promote(second, request_for, reviewer, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.stage == "archived" and first.production_until is not None
    assert list(ModelVersion.objects.filter(stage="production")) == [second]

    rollback = services.request_rollback(model, justification="v2 misroutes new customers", actor=scientist)
    assert rollback.kind == "rollback" and rollback.status == "pending" and rollback.version == first
    assert [g["name"] for g in rollback.gates] == ["artifact_hash", "signature_compatible"]
    assert rollback.gates_status == "pass" and rollback.approvals_required == 1
    with pytest.raises(PermissionDenied):
        services.approve(rollback, actor=scientist)
    services.approve(rollback, actor=reviewer)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.stage, second.stage) == ("production", "archived")
    assert services.rollback_target(model) == second
    moves = AuditEvent.objects.filter(action="model.stage_changed").order_by("pk")
    assert [(e.target_id, e.before["stage"], e.after["stage"]) for e in moves] == [
        (str(first.pk), "none", "production"),
        (str(first.pk), "production", "archived"),
        (str(second.pk), "none", "production"),
        (str(second.pk), "production", "archived"),
        (str(first.pk), "archived", "production"),
    ]
    assert moves.last().after == {
        "model": "credit-default",
        "version": 1,
        "stage": "production",
        "previous_stage": "archived",
    }
    with pytest.raises(ValidationError, match="is in production"):
        services.request_promotion(first, "staging", justification="demote", actor=scientist)


def test_gate_configuration_is_checked(scientist, reviewer, model):
    with pytest.raises(ValidationError) as caught:
        services.update_model(
            model,
            actor=scientist,
            gates={"thresholds": [{"metric": "f2", "op": "=>", "value": "x"}], "approvals": {"production": 0}},
        )
    assert set(caught.value.message_dict) == {"gates.thresholds[0]", "gates.approvals.production"}
    with pytest.raises(PermissionDenied, match="owner or an admin"):
        services.update_model(model, actor=make_user("other", "data-scientist"), gates={})
    model.refresh_from_db()
    assert model.gates == {}


def test_names_and_aliases_that_would_break_urls_or_read_as_versions_are_refused(scientist, model, train):
    for bad in ("bad name/with slash", "a b", "-lead", "x" * 101, "credit?v=2"):
        with pytest.raises(ValidationError, match="letters, digits"):
            services.create_model(name=bad, actor=scientist)
    version = services.register_version(model, train(), actor=scientist)
    for reserved in ("v3", "V12", "latest"):
        with pytest.raises(ValidationError, match="reserved"):
            services.set_alias(model, reserved, version, actor=scientist)
    assert not model.aliases.exists()
    assert list(type(model).objects.values_list("name", flat=True)) == ["credit-default"]


def test_thresholds_can_use_any_recorded_metric(scientist, model, train, request_for):
    services.update_model(
        model,
        actor=scientist,
        gates={
            "thresholds": [
                {"metric": "recall", "op": ">=", "value": 0.0},
                {"metric": "log_loss", "op": "<", "value": 9},
            ]
        },
    )
    version = services.register_version(model, train(), actor=scientist)
    result = gate(request_for(version), "metric_thresholds")
    assert result["status"] == "pass"
    assert [c["actual"] for c in result["details"]["checks"]] == [
        version.metrics["recall"],
        version.metrics["log_loss"],
    ]


def test_a_retrained_candidate_is_compared_on_rows_the_champion_never_trained_on(
    scientist, reviewer, model, train, credit, request_for, django_capture_on_commit_callbacks
):
    experiment, dataset_version = credit
    champion_run = train()
    champion = services.register_version(model, champion_run, actor=scientist)
    promote(champion, request_for, reviewer, django_capture_on_commit_callbacks)
    # Retraining data: the champion's data plus new rows, as continuous training builds it.
    original = experiment_services.load_frame(dataset_version)
    extra = original[original["annual_income"].notna()].sample(200, random_state=3)
    extra = extra.assign(annual_income=extra["annual_income"] * 1.3)  # new rows, none equal to an old one
    combined = pd.concat([original, extra], ignore_index=True)
    child, _ = experiment_services.store_frame(
        dataset_version.dataset, combined, actor=scientist, parent=dataset_version, target="defaulted"
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, child, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=2
        )
    run.refresh_from_db()
    candidate = services.register_version(model, run, actor=scientist)
    promotion = request_for(candidate)

    def test_index(r):
        with default_storage.open(r.artifacts.get(path="evaluation.json").file, "rb") as handle:
            return json.load(handle)["split"]["test_index"]

    champion_holdout = set(test_index(champion_run))
    seen = [i for i in test_index(run) if i < len(original) and i not in champion_holdout]
    assert 0 < len(seen) < len(test_index(run))
    assert promotion.evidence["holdout"]["seen_by_champion"] == len(seen)
    result = gate(promotion, "champion_challenger")
    assert (
        result["details"]["rows"] == len(test_index(run)) - len(seen) == promotion.evidence["holdout"]["compared_rows"]
    )
    # The champion's score, computed independently on the rows it never saw.
    holdout = experiment_services.holdout_of(run)
    unseen = holdout.frame.loc[[i for i in test_index(run) if i not in set(seen)]]
    columns = [c["name"] for c in champion.signature["inputs"]]
    truth = holdout.y[[i not in set(seen) for i in test_index(run)]]
    predicted = experiment_services.load_pipeline(champion.artifact).predict(unseen[columns])
    assert result["details"]["champion"] == pytest.approx(f1_score(truth, predicted, pos_label=max(truth)), abs=1e-12)
