"""Continuous training: a policy per registered model, and the loop alert → run → version → request.

A retraining trains the served version's recorded recipe (algorithm, parameters, features, preprocessing,
seed) again on new data; a scikit-learn version made elsewhere (no recipe of the site's catalogue) is refit
instead: `sklearn.base.clone` + `fit`, the recipe being the estimator's own parameters, with the target from
its run (or lineage) and its signature's input columns, recorded as "refit of vN". ONNX versions cannot be
refit: a policy that would retrain one is refused when it is saved. The new data is a dataset version the
policy names, or the served version's training data plus the labelled production rows of the model, stored
as the next version of that dataset (so the run's lineage points at exactly what it saw). When the run
finishes, the new model version is registered and a promotion request is opened on the policy owner's
behalf; it goes through the gates and human review like any other. Nothing is promoted automatically.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from deployments.models import Deployment, Prediction
from experiments import services as experiment_services
from experiments.models import DatasetVersion, Run
from experiments.services import training as training_services
from mlops_site import audit, jobs, lazy, permissions
from mlops_site import schemas as validation
from mlops_site.errors import Conflict
from mlops_site.models import Job
from monitoring import rules, schemas
from monitoring.models import Alert, Retraining, RetrainingPolicy
from registry import services as registry_services
from registry.models import ModelVersion, RegisteredModel

pd = lazy.module("pandas")

logger = logging.getLogger(__name__)
POLICY_FIELDS = ("enabled", "on_drift_alert", "on_performance_alert", "every_days", "data", "dataset_version")
POLICY_FIELDS += ("min_labelled_rows", "stage", "cooldown_hours")
ACTIVE = (Retraining.Status.QUEUED, Retraining.Status.TRAINING)
POLICY_PERMISSIONS = ("monitoring.change_retrainingpolicy", "experiments.add_run", "registry.add_promotionrequest")
RETRAIN_PERMISSIONS = ("monitoring.add_retraining", "experiments.add_run", "registry.add_promotionrequest")


def policy_of(model: RegisteredModel) -> RetrainingPolicy:
    """The model's policy, or an unsaved one with the defaults (disabled) when none was set."""
    policy = RetrainingPolicy.objects.select_related("dataset_version__dataset", "owner").filter(model=model).first()
    return policy or RetrainingPolicy(model=model, enabled=False)


def _check_policy(data: dict[str, Any]) -> dict[str, Any]:
    return validation.validate(schemas.RetrainingPolicyInput, data)


def can_set_policy(actor) -> bool:
    """Retraining acts on the policy owner's behalf, so the owner must be allowed to train and request."""
    return all(permissions.can(actor, perm) for perm in POLICY_PERMISSIONS)


def can_retrain(actor) -> bool:
    return all(permissions.can(actor, perm) for perm in RETRAIN_PERMISSIONS)


def policy_values(policy: RetrainingPolicy) -> dict[str, Any]:
    """The policy's settings as `put_policy` takes them (the dataset version by id)."""
    values = {field: getattr(policy, field) for field in POLICY_FIELDS if field != "dataset_version"}
    return values | {"dataset_version": policy.dataset_version_id}


def _policy_summary(policy: RetrainingPolicy) -> dict:
    return policy_values(policy) | {"model": policy.model.name}


def patch_policy(model: RegisteredModel, data: dict[str, Any], *, actor) -> RetrainingPolicy:
    """Change some settings; the others keep their current values (the defaults, without a policy)."""
    # Checked here for the shape and the fields as sent; put_policy checks the merged whole again.
    validation.validate(schemas.RetrainingPolicyInput, data, partial=True)
    policy = policy_of(model)
    changes = {field: value for field, value in data.items() if field in POLICY_FIELDS}
    return put_policy(model, (policy_values(policy) if policy.pk else {}) | changes, actor=actor)


@transaction.atomic
def put_policy(model: RegisteredModel, data: dict[str, Any], *, actor) -> RetrainingPolicy:
    """Set the whole policy (fields left out take their defaults). Retraining then acts on `actor`'s behalf,
    so the actor must be allowed to train, register and request promotions."""
    if actor is None or not can_set_policy(actor):  # a policy needs a person to act for
        raise PermissionDenied("Your role does not allow setting retraining policies; data scientists can.")
    clean = _check_policy(data)
    defaults = {f.name: f.get_default() for f in RetrainingPolicy._meta.fields if f.name in POLICY_FIELDS}
    values = defaults | clean
    if values["data"] == RetrainingPolicy.Data.DATASET_VERSION and values["dataset_version"] is None:
        raise ValidationError({"dataset_version": "Name the dataset version to retrain on, or use the other data."})
    if values["enabled"] and (refused := _cannot_refit(_base_version(model, None))):
        raise ValidationError({"enabled": refused})
    if values["data"] == RetrainingPolicy.Data.DATASET_VERSION:
        _check_recipe_fits(model, values["dataset_version"])
    RegisteredModel.objects.select_for_update().get(pk=model.pk)  # two saves at once: one after the other
    existing = RetrainingPolicy.objects.filter(model=model).first()
    before = _policy_summary(existing) if existing else None
    policy = existing or RetrainingPolicy(model=model)
    for field, value in values.items():
        setattr(policy, field, value)
    policy.owner, policy.updated_at = actor, timezone.now()
    policy.save()
    audit.record(
        actor=actor, action="retraining_policy.set", target=policy, before=before, after=_policy_summary(policy)
    )
    return policy


def _check_recipe_fits(model: RegisteredModel, version: DatasetVersion) -> None:
    """The named data must hold the recipe's target and features, or every retraining would fail."""
    base = _base_version(model, None)
    needed = _needed_columns(base) if base is not None else []
    columns = {c["name"] for c in version.schema or []}
    missing = [name for name in needed if name and name not in columns]
    if missing:
        raise ValidationError({"dataset_version": f"{version} lacks column(s) {', '.join(missing)} the recipe needs."})


def _needed_columns(base: ModelVersion) -> list[str]:
    """The target and features a retraining of `base` reads: its recipe's, or for a refit its target and inputs."""
    recipe = (base.run.training_request or {}) if base.run_id else {}
    if recipe:
        return [recipe.get("target"), *(recipe.get("features") or [])]
    target = _refit_target(base)
    return ([target] if target else []) + _input_columns(base)


def _cannot_refit(base: ModelVersion | None) -> str:
    """Why `base` cannot be retrained here, or "" (site-trained, or a scikit-learn file refit by clone + fit)."""
    if base is None or (base.run_id and base.run.training_request):
        return ""
    if base.format == "onnx":
        return (
            f"v{base.number} is an ONNX model, which cannot be refit here; retrain it where it was made and upload "
            "the new version."
        )
    return ""


def _refit_target(base: ModelVersion) -> str:
    """The column a version made elsewhere predicts: its run's `target` param, else its lineage's, else its
    training data's."""
    params = base.params or {}
    target = params.get("target") or (base.lineage or {}).get("target")
    if not target and base.run_id:
        target = base.run.params.filter(key="target").values_list("value", flat=True).first()
        data = base.run.input_versions.order_by("pk").first()
        target = target or (data.target if data is not None else "")
    return str(target or "")


def _input_columns(base: ModelVersion) -> list[str]:
    return [str(c["name"]) for c in (base.signature or {}).get("inputs") or [] if isinstance(c, dict) and "name" in c]


def _base_version(model: RegisteredModel, alert: Alert | None) -> ModelVersion | None:
    """Whose recipe is retrained: the alerting deployment's version, else the one serving in production, else
    the version in the production stage, else the newest."""
    if alert is not None and alert.monitor.deployment.primary_id:
        return alert.monitor.deployment.primary
    serving = (
        Deployment.objects.filter(model=model, environment__stage=ModelVersion.Stage.PRODUCTION, primary__isnull=False)
        .select_related("primary__run")
        .first()
    )
    if serving is not None:
        return serving.primary
    versions = model.versions.select_related("run").order_by("-number")
    return versions.filter(stage=ModelVersion.Stage.PRODUCTION).first() or versions.first()


def on_alert(alert: Alert) -> Retraining | None:
    """Start a retraining if the model's policy asks for one on this kind of alert (and is not cooling down).
    Either way the alert says what happened, so its page never has to guess."""
    model = alert.monitor.deployment.model
    policy = RetrainingPolicy.objects.filter(model=model).first()
    family = rules.family(alert.metric)
    retraining, note = None, ""
    if policy is None:
        note = f"{model} has no retraining policy."
    elif not policy.enabled:
        note = f"{model}'s retraining policy is off."
    elif family == "service":
        note = "Service alerts (traffic, errors, latency) do not retrain: a new model would not fix them."
    elif family == "inputs":
        note = "Unseen-value alerts do not retrain: fix the caller's spelling, or add the values to the training data."
    elif (family == "drift" and not policy.on_drift_alert) or (
        family == "performance" and not policy.on_performance_alert
    ):
        note = f"{model}'s retraining policy does not react to {family} alerts."
    else:
        retraining, note = _start(model, trigger=Retraining.Trigger.ALERT, alert=alert, cooldown=True)
    Alert.objects.filter(pk=alert.pk).update(retraining_note=note)
    return retraining


def retrain_now(model: RegisteredModel, *, actor) -> Retraining:
    """A person asks for a retraining with the policy's data, whatever the cooldown; 409 while one runs."""
    if actor is None or not can_retrain(actor):  # a retraining acts for a person
        raise PermissionDenied("Your role does not allow starting retraining; data scientists can.")
    if not RetrainingPolicy.objects.filter(model=model).exists():
        raise ValidationError({"policy": f"{model} has no retraining policy; set one first (its data and stage)."})
    if refused := _cannot_refit(_base_version(model, None)):
        raise ValidationError({"policy": refused})
    retraining, note = _start(model, trigger=Retraining.Trigger.MANUAL, actor=actor, cooldown=False)
    if retraining is None:
        raise Conflict(note)
    return retraining


def run_due_policies(now: datetime | None = None) -> int:
    """The schedule's part: start the retraining of each enabled policy whose `every_days` has passed."""
    now = now or timezone.now()
    started = 0
    for policy in RetrainingPolicy.objects.filter(enabled=True, every_days__isnull=False).select_related("model"):
        last = policy.model.retrainings.order_by("-created_at").values_list("created_at", flat=True).first()
        due = (last or policy.updated_at) + timedelta(days=policy.every_days) <= now
        if due and _start(policy.model, trigger=Retraining.Trigger.SCHEDULE, cooldown=False)[0]:
            started += 1
    sweep_stuck()
    return started


def sweep_stuck() -> None:
    """Settle or fail retrainings whose job or run ended without telling them, so none blocks its model."""
    for retraining in Retraining.objects.filter(status__in=ACTIVE).select_related("job", "run__job"):
        try:
            if retraining.status == Retraining.Status.QUEUED:
                job = retraining.job
                if job is None or job.status in (Job.Status.FAILED, Job.Status.CANCELLED):
                    _fail(retraining, f"Its job ended {job.status if job else 'missing'}; the job page has the error.")
            elif retraining.run is None:
                _fail(retraining, "Its training run is gone.")
            elif retraining.run.ended_at is not None:
                settle_run(retraining.run_id)  # missed while its training worker died after the run ended
            elif retraining.run.job and retraining.run.job.status in (Job.Status.FAILED, Job.Status.CANCELLED):
                _fail(retraining, f"Its training job ended {retraining.run.job.status}; the job page has the error.")
        except Exception:
            logger.exception("retraining %s could not be swept", retraining.pk)


def _start(
    model: RegisteredModel, *, trigger: str, alert: Alert | None = None, actor=None, cooldown: bool
) -> tuple[Retraining | None, str]:
    """The retraining queued, or None and why not (no policy, one under way, cooling down)."""
    with transaction.atomic():
        policy = RetrainingPolicy.objects.select_for_update().filter(model=model).first()
        if policy is None:
            return None, f"{model} has no retraining policy."
        recent = model.retrainings.exclude(status=Retraining.Status.FAILED)
        running = recent.filter(status__in=ACTIVE).first()
        if running is not None:
            return (
                None,
                f"A retraining of {model} is already under way (#{running.pk}, started {running.created_at:%Y-%m-%d %H:%M} UTC).",
            )
        last = recent.filter(created_at__gte=timezone.now() - timedelta(hours=policy.cooldown_hours)).first()
        if cooldown and last is not None:
            return None, (
                f"Cooling down: {model} was retrained at {last.created_at:%Y-%m-%d %H:%M} UTC (#{last.pk}), and the "
                f"policy allows one alert-started retraining per {policy.cooldown_hours} h."
            )
        retraining = Retraining.objects.create(
            model=model,
            trigger=trigger,
            alert=alert,
            base_version=_base_version(model, alert),
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        retraining.job = jobs.enqueue(
            kind="retraining",
            task="monitoring.tasks.retrain",
            actor=actor or policy.owner,
            title=f"Retrain {model} ({trigger})",
            params={"retraining_id": retraining.pk},
            target=retraining,
        )
        retraining.save(update_fields=["job"])
        after = {"model": model.name, "trigger": trigger, "alert": alert.pk if alert else None}
        audit.record(actor=actor, action="retraining.started", target=retraining, after=after)
    return retraining, f"Retraining #{retraining.pk} started."


def run_retraining(retraining: Retraining, *, progress=None) -> Retraining:
    """The job: assemble the data and queue the training run with the base version's recipe."""
    progress = progress or (lambda percent, message: None)
    retraining = Retraining.objects.select_related("model", "base_version__run__experiment", "alert").get(
        pk=retraining.pk
    )
    if retraining.status != Retraining.Status.QUEUED:
        return retraining  # a retried job after the run was queued: nothing to do twice
    policy = RetrainingPolicy.objects.select_related("owner", "dataset_version").get(model=retraining.model)
    actor = retraining.created_by or policy.owner
    try:
        base = retraining.base_version
        if base is None or base.run is None:
            raise ValidationError(f"{retraining.model} has no version to retrain.")
        if refused := _cannot_refit(base):
            raise ValidationError(refused)
        if actor is None or not actor.is_active:
            raise PermissionDenied("The policy has no active owner to act for; save the policy again.")
        refit = not base.run.training_request
        if refit:
            target = _refit_target(base)
            if not target:
                raise ValidationError(
                    f"v{base.number} names no target column (its run's target param), so it cannot be refit."
                )
            recipe = {"target": target, "features": _input_columns(base)}
        else:
            recipe = dict(base.run.training_request)
        if policy.data == RetrainingPolicy.Data.DATASET_VERSION:
            if policy.dataset_version is None:
                raise ValidationError("The policy's dataset version is gone; name another.")
            data, rows = policy.dataset_version, 0
        else:
            progress(10, "Reading the training data and the labelled production rows")
            data, rows = _with_production_rows(retraining, base, recipe, policy, actor, progress)
        earlier = (
            Retraining.objects.filter(base_version=base, dataset_version=data, status=Retraining.Status.REQUESTED)
            .exclude(pk=retraining.pk)
            .select_related("version")
            .first()
        )
        if earlier is not None:
            raise ValidationError(
                f"Nothing new: retraining #{earlier.pk} already trained v{base.number}'s recipe on {data} and made "
                f"v{earlier.version.number if earlier.version else '?'}. Wait for more labelled production rows."
            )
        if refit:
            return _refit(retraining, base, data, rows, recipe, actor, progress)
        progress(85, f"Queueing the training run on {data}")
        # One transaction: the run's job is queued at commit, when the retraining already points at the
        # run, so a worker that finishes it at once still finds whom to settle.
        with transaction.atomic():
            new_run = experiment_services.start_training(
                base.run.experiment,
                data,
                actor=actor,
                name=f"{retraining.model.name} v{base.number} recipe on new data ({retraining.get_trigger_display()})",
                rate_limit=False,  # bounded by the policy's cooldown and one retraining at a time
                **recipe,
            )
            Retraining.objects.filter(pk=retraining.pk).update(
                status=Retraining.Status.TRAINING,
                dataset_version=data,
                production_rows=rows,
                rows_until=retraining.rows_until,
                run=new_run,
            )
    except (ValidationError, PermissionDenied, ValueError, OSError) as exc:
        return _fail(retraining, " ".join(getattr(exc, "messages", None) or [str(exc)]))
    retraining.refresh_from_db()
    return retraining


def _refit(retraining: Retraining, base: ModelVersion, data: DatasetVersion, rows: int, recipe: dict, actor, progress):
    """Fit a copy of the base's model on `data` in this job, as a run of its own (tagged `refit_of`).

    The run finishing settles the retraining as a trained run's would (`settle_run`, through the audit
    event): the version, then the promotion request.
    """
    model = training_services.load_pipeline(base.artifact, base.signature)
    if not hasattr(model, "get_params"):
        raise ValidationError(f"v{base.number} is not a scikit-learn model, so it cannot be refit here.")
    with transaction.atomic():
        run_ = training_services.start_refit(
            base.run.experiment,
            data,
            actor=actor,
            refit_of=f"v{base.number}",
            name=f"{retraining.model.name} v{base.number} refit on new data ({retraining.get_trigger_display()})",
            job=retraining.job,
        )
        Retraining.objects.filter(pk=retraining.pk).update(
            status=Retraining.Status.TRAINING,
            dataset_version=data,
            production_rows=rows,
            rows_until=retraining.rows_until,
            run=run_,
        )
    progress(50, f"Refitting v{base.number} on {data}")
    try:
        training_services.refit_training(
            run_,
            data,
            model,
            target=recipe["target"],
            features=recipe["features"],
            task=base.task,
            inputs=(base.signature or {}).get("inputs"),
            progress=lambda percent, message: progress(50 + 0.45 * percent, message),
        )
    except Exception as exc:  # the reason goes on the retraining first, then the run is marked failed
        reasons = getattr(exc, "errors", None)  # a TrainingError's messages per field
        messages = [m for ms in reasons.values() for m in ms] if isinstance(reasons, dict) else None
        error = " ".join(messages or getattr(exc, "messages", None) or [str(exc)])
        failed = _fail(retraining, f"Refitting v{base.number} failed: {error}")
        training_services.fail_training(run_, f"{type(exc).__name__}: {exc}")
        return failed
    retraining.refresh_from_db()
    return retraining


def _with_production_rows(retraining, base: ModelVersion, recipe: dict, policy, actor, progress):
    """The base's training data plus every labelled production row the model answered, as a new version."""
    reference = base.run.input_versions.order_by("pk").first()
    if reference is None:
        raise ValidationError(f"{base} has no training data on record.")
    target = recipe["target"]
    served = Prediction.objects.filter(
        version__model=retraining.model,
        deployment__environment__stage=ModelVersion.Stage.PRODUCTION,
        role="primary",
        ground_truth__isnull=False,
    )
    # Rows an earlier retraining already put into this training data are not added twice.
    included = Retraining.objects.filter(dataset_version=reference, rows_until__isnull=False)
    until = included.order_by("-rows_until").values_list("rows_until", flat=True).first()
    if until is not None:
        served = served.filter(created_at__gt=until)
    labelled = list(served.order_by("created_at").values_list("inputs", "ground_truth", "created_at"))
    if len(labelled) < policy.min_labelled_rows:
        raise ValidationError(
            f"{len(labelled)} new labelled production rows; the policy needs at least {policy.min_labelled_rows}. "
            "Send ground truth to /api/ground-truth/, or lower min_labelled_rows."
        )
    retraining.rows_until = labelled[-1][2] if labelled else until
    if not labelled:  # allowed by min_labelled_rows = 0: the training data as it is
        return reference, 0
    frame = experiment_services.load_frame(reference)
    production = pd.DataFrame.from_records([row[0] for row in labelled]).reindex(columns=frame.columns)
    production[target] = [row[1] for row in labelled]
    for column in frame.columns:  # logged JSON back to the reference's types, so the CSV reads as one kind
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            production[column] = pd.to_numeric(production[column], errors="coerce")
    combined = pd.concat([frame, production], ignore_index=True)
    progress(40, f"Storing {len(frame)} training rows + {len(labelled)} production rows as a new version")
    # The lineage says what was added (a description, not a cleaning step that could be replayed).
    added = {
        "op": "append_production_rows",
        "model": retraining.model.name,
        "rows": len(labelled),
        "from": labelled[0][2].isoformat(),
        "until": labelled[-1][2].isoformat(),
    }
    version, _ = experiment_services.store_frame(
        reference.dataset, combined, actor=actor, parent=reference, recipe=[added], target=target, progress=progress
    )
    return version, len(labelled)


def settle_run(run_id: int) -> Retraining | None:
    """After the training run ends: register its version and open the promotion request, or say why not."""
    retraining = Retraining.objects.filter(run_id=run_id, status=Retraining.Status.TRAINING).first()
    if retraining is None:
        return None
    run_ = Run.objects.get(pk=run_id)
    if run_.status != Run.Status.FINISHED:
        return _fail(retraining, f"The training run ended {run_.status}; its job shows the error.")
    policy = RetrainingPolicy.objects.select_related("owner").filter(model=retraining.model_id).first()
    actor = retraining.created_by or (policy.owner if policy else None)
    if policy is None or actor is None or not actor.is_active:
        return _fail(retraining, "The policy or its owner is gone; nobody can register the version. Save the policy.")
    try:
        with transaction.atomic():
            retraining = Retraining.objects.select_for_update().get(pk=retraining.pk)
            if retraining.status != Retraining.Status.TRAINING:
                return retraining  # settled by the schedule's sweep a moment ago
            why = _why(retraining)
            version = registry_services.register_version(retraining.model, run_, actor=actor, description=why)
            if refit_of := (run_.tags or {}).get("refit_of"):
                base = retraining.base_version
                version.lineage = dict(version.lineage or {}) | {
                    "refit_of": {
                        "version": base.number if base else None,
                        "sha256": base.sha256 if base else None,
                        "run": base.run_id if base else None,
                        "label": f"refit of {refit_of}",
                    }
                }
                ModelVersion.objects.filter(pk=version.pk).update(lineage=version.lineage)
            promotion = registry_services.request_promotion(version, policy.stage, justification=why, actor=actor)
            retraining.version, retraining.promotion = version, promotion
            retraining.status, retraining.finished_at = Retraining.Status.REQUESTED, timezone.now()
            retraining.save(update_fields=["version", "promotion", "status", "finished_at"])
            after = {"model": retraining.model.name, "version": version.number, "promotion": promotion.pk}
            audit.record(actor=actor, action="retraining.requested", target=retraining, after=after)
    except (ValidationError, PermissionDenied, Conflict) as exc:
        return _fail(retraining, " ".join(getattr(exc, "messages", None) or [str(exc)]))
    except Exception as exc:  # e.g. the model file vanished: say so on the retraining, never leave it active
        logger.exception("retraining %s could not be settled", retraining.pk)
        return _fail(retraining, f"{type(exc).__name__}: {exc}")
    return retraining


def _why(retraining: Retraining) -> str:
    data = retraining.dataset_version
    source = f"{data}" + (
        f" (training data + {retraining.production_rows} labelled production rows)"
        if retraining.production_rows
        else ""
    )
    if retraining.alert_id:
        cause = f"alert #{retraining.alert_id}: {retraining.alert.message}"
    else:
        causes = {"schedule": "the policy's schedule", "manual": "a request by hand"}
        cause = causes.get(retraining.trigger, "an alert that has since been deleted")
    base = retraining.base_version
    number = base.number if base else "?"
    if retraining.run_id and (retraining.run.tags or {}).get("refit_of"):
        return (
            f"Retrained automatically after {cause}. Refit of v{number} (its own estimator and parameters) on {source}."
        )
    return f"Retrained automatically after {cause}. Recipe of v{number}, trained on {source}."


def _fail(retraining: Retraining, error: str) -> Retraining:
    """Mark an active retraining failed with the reason, once (a second caller changes nothing)."""
    with transaction.atomic():
        failed = Retraining.objects.filter(pk=retraining.pk, status__in=ACTIVE).update(
            status=Retraining.Status.FAILED, error=error[:2000], finished_at=timezone.now()
        )
        retraining.refresh_from_db()
        if failed:
            audit.record(actor=None, action="retraining.failed", target=retraining, after={"error": error[:500]})
    return retraining
