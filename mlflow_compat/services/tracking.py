"""What the MLflow surface stores beyond the experiments services: run inputs and outputs, the Default experiment."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from experiments import services as experiments
from experiments.models import Experiment, Run
from mlflow_compat import protocol
from mlflow_compat.errors import invalid, not_found
from mlflow_compat.models import LoggedModel, RunInput, RunOutput

DEFAULT_EXPERIMENT = "Default"
MAX_INPUTS = 100


def default_experiment(actor, *, create: bool) -> Experiment:
    """MLflow's experiment "0", where runs go when a script names none: the site's "Default" experiment."""
    experiment = Experiment.objects.filter(name__iexact=DEFAULT_EXPERIMENT).first()
    if experiment is not None:
        return experiment
    if not create:
        raise not_found("No Default experiment yet: it is made by the first run logged without an experiment.")
    try:
        return experiments.create_experiment(
            name=DEFAULT_EXPERIMENT,
            description="Runs logged from the mlflow client without an experiment.",
            actor=actor,
        )
    except Exception:
        experiment = Experiment.objects.filter(name__iexact=DEFAULT_EXPERIMENT).first()
        if experiment is None:
            raise
        return experiment


@transaction.atomic
def log_inputs(run: Run, datasets: list, *, actor) -> int:
    """Keep the datasets a run logged (MLflow's entity, as sent); the same name and digest twice is kept once."""
    experiments.check_can_log(run, actor)
    if not isinstance(datasets, list) or len(datasets) > MAX_INPUTS:
        raise invalid(f"datasets must be a list of at most {MAX_INPUTS} dataset inputs.")
    rows = []
    for i, item in enumerate(datasets):
        dataset = item.get("dataset") if isinstance(item, dict) else None
        if not isinstance(dataset, dict):
            raise invalid(f"datasets[{i}].dataset must be an object.")
        where = f"datasets[{i}].dataset"
        rows.append(
            RunInput(
                run=run,
                name=protocol.text(dataset.get("name"), f"{where}.name", max_length=500),
                digest=protocol.text(dataset.get("digest"), f"{where}.digest", max_length=36),
                source_type=protocol.text(dataset.get("source_type"), f"{where}.source_type", max_length=36),
                source=protocol.text(dataset.get("source"), f"{where}.source", max_length=65535),
                schema=protocol.text(dataset.get("schema"), f"{where}.schema", required=False, max_length=1_000_000),
                profile=protocol.text(dataset.get("profile"), f"{where}.profile", required=False, max_length=65535),
                tags=protocol.key_values(item.get("tags"), f"datasets[{i}].tags"),
            )
        )
    known = set(RunInput.objects.filter(run=run).values_list("name", "digest"))
    fresh = {}
    for row in rows:
        if (row.name, row.digest) not in known:
            fresh[(row.name, row.digest)] = row
    try:
        with transaction.atomic():
            RunInput.objects.bulk_create(fresh.values())
    except IntegrityError:  # logged at the same moment by another request
        pass
    return len(fresh)


@transaction.atomic
def log_outputs(run: Run, models: list, *, actor) -> int:
    """Link logged models to the run that produced them (`runs/outputs`)."""
    experiments.check_can_log(run, actor)
    if not isinstance(models, list) or len(models) > MAX_INPUTS:
        raise invalid(f"models must be a list of at most {MAX_INPUTS} model outputs.")
    linked = 0
    for i, item in enumerate(models):
        if not isinstance(item, dict):
            raise invalid(f"models[{i}] must be an object.")
        model_id = protocol.text(item.get("model_id"), f"models[{i}].model_id", max_length=40)
        model = LoggedModel.objects.filter(model_id=model_id).first()
        if model is None:
            raise not_found(f"Logged model with ID '{model_id}' not found.")
        step = protocol.integer(item.get("step"), f"models[{i}].step", default=0, low=-(2**63), high=2**63 - 1)
        _, created = RunOutput.objects.update_or_create(run=run, logged_model=model, defaults={"step": step})
        linked += created
    return linked
