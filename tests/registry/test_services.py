"""Registry foundations: versions pinned to trained runs, aliases, one production version per model."""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from experiments import services as experiment_services
from mlops_site.models import AuditEvent
from registry import services
from registry.models import ModelAlias, ModelVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained_run(scientist, credit, django_capture_on_commit_callbacks):
    experiment, version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    assert run.status == "finished"
    return run


@pytest.fixture
def second_run(scientist, credit, django_capture_on_commit_callbacks):
    """Another finished run trained alike (same metrics): a run is registered once per model, so two
    versions need two runs."""
    experiment, version = credit
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, version, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    assert run.status == "finished"
    return run


@pytest.fixture
def model(scientist):
    return services.create_model(name="credit-default", description="loan defaults", actor=scientist)


def test_a_version_pins_the_run_model_file_signature_metrics_and_lineage(
    scientist, model, trained_run, second_run, credit
):
    _, dataset_version = credit
    first = services.register_version(model, trained_run, actor=scientist)
    second = services.register_version(model, second_run, actor=scientist)
    assert (first.number, second.number) == (1, 2) and first.stage == "none"
    artifact = trained_run.artifacts.get(path="model/pipeline.skops")
    assert first.artifact == artifact and first.sha256 == artifact.sha256
    stored = trained_run.artifacts.get(path="model/signature.json")
    with default_storage.open(stored.file, "rb") as handle:
        assert first.signature == json.load(handle) and first.signature
    assert first.metrics["f1"] == trained_run.latest_metrics.get(key="f1").value
    assert not any(key.startswith("cv_") for key in first.metrics)
    assert first.params["algorithm"] == "logistic_regression"
    assert first.lineage["inputs"][0]["version"] == dataset_version.pk
    assert first.lineage["inputs"][0]["chain"][0]["sha256"] == dataset_version.sha256
    assert AuditEvent.objects.filter(action="model.version_created").count() == 2


def test_a_tampered_model_file_is_refused(scientist, model, trained_run):
    artifact = trained_run.artifacts.get(path="model/pipeline.skops")
    with default_storage.open(artifact.file, "wb") as handle:
        handle.write(b"not the model")
    with pytest.raises(ValidationError, match="no longer matches"):
        services.register_version(model, trained_run, actor=scientist)
    assert not ModelVersion.objects.exists()


def test_unfinished_or_untrained_runs_are_refused(scientist, model, credit):
    experiment, _ = credit
    logged = experiment_services.create_run(experiment, actor=scientist)
    with pytest.raises(ValidationError, match="only finished runs"):
        services.register_version(model, logged, actor=scientist)
    logged = experiment_services.finish_run(logged, actor=scientist)
    with pytest.raises(ValidationError, match=r"has no model/pipeline\.skops"):
        services.register_version(model, logged, actor=scientist)


def test_model_names_are_unique_ignoring_case(scientist, model):
    with pytest.raises(ValidationError, match="already registered"):
        services.create_model(name="CREDIT-DEFAULT", actor=scientist)


def test_reviewers_cannot_register(reviewer, scientist, model, trained_run):
    with pytest.raises(PermissionDenied):
        services.create_model(name="other", actor=reviewer)
    with pytest.raises(PermissionDenied):
        services.register_version(model, trained_run, actor=reviewer)


def test_an_alias_points_at_one_version_and_moving_it_is_audited(scientist, model, trained_run, second_run):
    v1 = services.register_version(model, trained_run, actor=scientist)
    v2 = services.register_version(model, second_run, actor=scientist)
    services.set_alias(model, "Champion", v1, actor=scientist)
    services.set_alias(model, "champion", v2, actor=scientist)
    alias = ModelAlias.objects.get(model=model)
    assert (alias.name, alias.version) == ("champion", v2)
    moved = AuditEvent.objects.filter(action="model.alias_set").order_by("id").last()
    assert moved.before == {"version": 1} and moved.after == {"alias": "champion", "version": 2}
    with pytest.raises(ValidationError):
        services.set_alias(model, "no spaces allowed", v1, actor=scientist)
    services.delete_alias(model, "champion", actor=scientist)
    assert not ModelAlias.objects.exists()
    with pytest.raises(ValidationError, match="no alias"):
        services.delete_alias(model, "champion", actor=scientist)


def test_the_database_refuses_two_aliases_of_one_name(scientist, model, trained_run):
    v1 = services.register_version(model, trained_run, actor=scientist)
    ModelAlias.objects.create(model=model, name="champion", version=v1)
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelAlias.objects.create(model=model, name="champion", version=v1)


def test_a_new_production_version_archives_the_previous_one(admin_user, scientist, model, trained_run, second_run):
    v1 = services.register_version(model, trained_run, actor=scientist)
    v2 = services.register_version(model, second_run, actor=scientist)
    services.move_to_stage(v1, "production", actor=admin_user)
    services.move_to_stage(v2, "production", actor=admin_user)
    v1.refresh_from_db()
    assert (v1.stage, ModelVersion.objects.get(pk=v2.pk).stage) == ("archived", "production")
    assert ModelVersion.objects.filter(model=model, stage="production").count() == 1
    with pytest.raises(ValidationError):
        services.move_to_stage(v1, "retired", actor=admin_user)


def test_the_database_refuses_a_second_production_version(scientist, model, trained_run, second_run):
    v1 = services.register_version(model, trained_run, actor=scientist)
    v2 = services.register_version(model, second_run, actor=scientist)
    ModelVersion.objects.filter(pk=v1.pk).update(stage="production")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=v2.pk).update(stage="production")


def test_a_stage_change_is_announced_after_commit(
    admin_user, scientist, model, trained_run, django_capture_on_commit_callbacks
):
    from mlops_site import events

    heard = []

    def listener(sender, **kwargs):
        heard.append(kwargs)

    events.model_stage_changed.connect(listener)
    try:
        v1 = services.register_version(model, trained_run, actor=scientist)
        with django_capture_on_commit_callbacks(execute=False) as pending:
            services.move_to_stage(v1, "staging", actor=admin_user)
        assert heard == []  # nothing before the commit
        for callback in pending:
            callback()
    finally:
        events.model_stage_changed.disconnect(listener)
    assert heard == [
        {
            "model": "credit-default",
            "version": 1,
            "version_id": v1.pk,
            "stage": "staging",
            "previous_stage": "none",
            "signal": events.model_stage_changed,
        }
    ]
