"""Domain actions of monitoring, called by pages, the API and tasks alike."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from deployments.models import Deployment, Prediction
from experiments import services as experiment_services
from experiments.models import DatasetVersion
from mlops_site import audit, jobs, lazy, permissions
from mlops_site import schemas as validation
from monitoring import drift, performance, schemas
from monitoring.models import DriftReport, FeatureDrift, Monitor
from monitoring.services import alerts, retraining

pd = lazy.module("pandas")

logger = logging.getLogger(__name__)
PREDICTION = "prediction"
REFERENCE_PREDICTION_ROWS = 50_000  # the served model scores at most this many reference rows (seeded sample)
MONITOR_FIELDS = tuple(schemas.MonitorSettings().fields)

KIND_OF_SCHEMA = {"numeric": drift.NUMERIC}  # every other platform kind (categorical, boolean, text...) is categorical


def kinds_of(version: DatasetVersion) -> dict[str, str]:
    return {c["name"]: KIND_OF_SCHEMA.get(c.get("kind"), drift.CATEGORICAL) for c in version.schema or []}


def compare_versions(
    reference: DatasetVersion,
    current: DatasetVersion,
    *,
    methods: Any = None,
    thresholds: Any = None,
    share: Any = drift.DATASET_SHARE,
) -> drift.DatasetDrift:
    """Ad-hoc drift between two dataset versions, every method computed for each column.

    Columns only one side has are reported ("missing in current", "new in current"), not compared; two
    versions with no column in common are a ValidationError. Column kinds come from the reference's schema.
    """
    settings = validation.validate(
        schemas.DriftSettings, {"methods": methods, "thresholds": thresholds, "share": share}
    )
    methods, thresholds, share = settings["methods"], settings["thresholds"], settings["share"]
    kinds = kinds_of(current) | kinds_of(reference)
    if not set(kinds_of(reference)) & set(kinds_of(current)):
        raise ValidationError({"current_version": f"{current} has no column in common with {reference}."})
    unknown = [key for key in methods if key not in (drift.NUMERIC, drift.CATEGORICAL) and key not in kinds]
    if unknown:
        raise ValidationError({"methods": f"No column named {', '.join(unknown)}."})
    for name, method in methods.items():
        kind = kinds.get(name, name)
        allowed = drift.NUMERIC_METHODS if kind == drift.NUMERIC else drift.CATEGORICAL_METHODS
        if method not in allowed:
            raise ValidationError({"methods": f"{name} is {kind}: use one of {', '.join(allowed)}."})
    return drift.compare(
        experiment_services.load_frame(reference),
        experiment_services.load_frame(current),
        kinds=kinds,
        methods=methods,
        thresholds=thresholds,
        share=share,
        all_methods=True,
    )


def compare_request(data: Any) -> tuple[DatasetVersion, DatasetVersion, drift.DatasetDrift]:
    """`compare_versions` for a body naming the two versions by id (the API's): the versions and the drift."""
    clean = validation.validate(schemas.CompareRequest, data)
    reference, current = clean["reference_version"], clean["current_version"]
    try:
        result = compare_versions(
            reference, current, methods=clean.get("methods"), thresholds=clean.get("thresholds"), share=clean["share"]
        )
    except (OSError, ValueError) as exc:  # a version's file is gone or unreadable
        raise ValidationError({"non_field_errors": f"The data cannot be read: {exc}"}) from None
    return reference, current, result


# ---------------------------------------------------------------------------------------------------
# Monitors of deployments
# ---------------------------------------------------------------------------------------------------


def ensure_monitor(deployment: Deployment) -> Monitor:
    """Every deployment has a monitor (post_save of Deployment; the schedule adds any that lack one)."""
    monitor, _ = Monitor.objects.get_or_create(deployment=deployment)
    return monitor


def can_change_monitor(actor) -> bool:
    return permissions.can(actor, "monitoring.change_monitor")


def update_monitor(monitor: Monitor, data: dict[str, Any], *, actor) -> Monitor:
    """Change a monitor's reference, window, schedule, methods and thresholds; checked field by field, audited.

    The row is locked first and the checks run against it, so two changes at once cannot combine into a
    state that neither would pass (both windows set, say)."""
    permissions.require(
        actor,
        "monitoring.change_monitor",
        "Your role does not allow changing monitors; data scientists and admins can.",
    )
    if isinstance(data, Mapping) and isinstance(data.get("reference"), DatasetVersion):
        data = dict(data)
        data["reference"] = data["reference"].pk
    with transaction.atomic():
        monitor = Monitor.objects.select_for_update().get(pk=monitor.pk)
        version = Deployment.objects.select_related("primary").get(pk=monitor.deployment_id).primary
        context = {"monitor": monitor, "version": version, "kinds": None if version is None else served_kinds(version)}
        changes = validation.validate(schemas.MonitorSettings, data, partial=True, context=context)
        before = _settings(monitor)
        for name, value in changes.items():
            setattr(monitor, name, value)
        monitor.save()
        audit.record(actor=actor, action="monitor.changed", target=monitor, before=before, after=_settings(monitor))
    return monitor


def served_kinds(version) -> dict[str, str]:
    """Column kinds of the version's inputs and its prediction. A version registered before signatures were
    required may have none: only kind-wide methods then."""
    columns = (version.signature or {}).get("inputs") or []
    kinds = {c["name"]: KIND_OF_SCHEMA.get(c.get("kind"), drift.CATEGORICAL) for c in columns}
    kinds[PREDICTION] = drift.CATEGORICAL if performance.is_classifier(version) else drift.NUMERIC
    return kinds


def _settings(monitor: Monitor) -> dict[str, Any]:
    return {
        "reference": monitor.reference_id,
        "window_hours": monitor.window_hours,
        "window_predictions": monitor.window_predictions,
        "every_minutes": monitor.every_minutes,
        "min_rows": monitor.min_rows,
        "methods": monitor.methods,
        "thresholds": monitor.thresholds,
        "share": monitor.share,
        "enabled": monitor.enabled,
    }


def request_run(monitor: Monitor, *, actor=None) -> jobs.Job:
    """Queue a run of the monitor on a worker; 202 territory."""
    permissions.require(
        actor, "monitoring.change_monitor", "Your role does not allow running monitors; data scientists and admins can."
    )
    jobs.check_rate("monitor.run", actor)
    return jobs.enqueue(
        kind="monitor.run",
        task="monitoring.tasks.run_monitor",
        actor=actor,
        title=f"Drift report of {monitor.deployment}",
        params={"monitor_id": monitor.pk},
        target=monitor,
    )


def run_due_monitors(now=None) -> int:
    """The schedule's entry point: queue a run of every enabled monitor whose interval has passed, and start
    the retrainings whose policy schedule is due."""
    now = now or timezone.now()
    for deployment in Deployment.objects.filter(monitor__isnull=True):  # deployed before monitoring existed
        ensure_monitor(deployment)
    queued = 0
    for monitor in Monitor.objects.filter(enabled=True, deployment__primary__isnull=False):
        if monitor.last_run_at is None or monitor.last_run_at + timedelta(minutes=monitor.every_minutes) <= now:
            with transaction.atomic():
                updated = Monitor.objects.filter(pk=monitor.pk, last_run_at=monitor.last_run_at).update(last_run_at=now)
                if updated:  # another scheduler tick took it otherwise
                    request_run(monitor)
                    queued += 1
    retraining.run_due_policies(now)
    return queued


def run_monitor(monitor: Monitor, *, job=None, now=None, progress=None) -> DriftReport:
    """Compare the window's logged inputs and predictions with the reference; store the report; then check
    the monitor's alert rules. Never raises for a lack of data: an empty window or a missing reference is a
    report with status "not enough data"."""
    now = now or timezone.now()
    report = _report(monitor, job=job, now=now, progress=progress)
    _progress(progress, 95, "Checking the alert rules")
    alerts.evaluate(monitor, report=report, now=now)
    return report


def _report(monitor: Monitor, *, job, now, progress) -> DriftReport:
    monitor = Monitor.objects.select_related("deployment__primary__run", "deployment__primary__model", "reference").get(
        pk=monitor.pk
    )
    version = monitor.deployment.primary
    report = DriftReport(
        monitor=monitor,
        job=job,
        version=version,
        window_end=now,
        share_threshold=monitor.share,
        settings=_settings(monitor),
        created_at=now,  # the report's time is the time it looks back from (the demo backfills history)
    )
    if version is None:
        return _save(monitor, report, [], message="Nothing is deployed, so there is nothing to compare.")
    reference_version = monitor.reference or default_reference(version)
    report.reference = reference_version
    if reference_version is None:
        return _save(
            monitor,
            report,
            [],
            message=f"{version} has no training data or evaluation set on record; choose a reference.",
        )
    _progress(progress, 10, "Reading the window's predictions")
    rows, report.window_start = _window(monitor, version, now)
    report.current_rows = len(rows)
    if len(rows) < monitor.min_rows:
        message = f"{len(rows)} predictions in the window; the monitor needs at least {monitor.min_rows}."
        return _save(monitor, report, [], message=message)
    columns = (version.signature or {}).get("inputs") or []
    if not columns:
        return _save(monitor, report, [], message=f"{version} has no input signature; drift needs its columns.")
    inputs = [c["name"] for c in columns]
    kinds = {c["name"]: KIND_OF_SCHEMA.get(c.get("kind"), drift.CATEGORICAL) for c in columns}
    current = pd.DataFrame.from_records([row[0] for row in rows]).reindex(columns=inputs)
    for name, kind in kinds.items():
        if kind == drift.NUMERIC:
            current[name] = pd.to_numeric(current[name], errors="coerce")
    _progress(progress, 30, "Reading the reference")
    try:
        reference = experiment_services.load_frame(reference_version)
    except (OSError, ValueError) as exc:
        return _save(monitor, report, [], message=f"The reference {reference_version} cannot be read: {exc}")
    report.reference_rows = len(reference)
    _progress(progress, 50, "Computing drift per feature")
    result = drift.compare(
        reference[[c for c in inputs if c in reference.columns]],
        current,
        kinds=kinds,
        methods=monitor.methods,
        thresholds=monitor.thresholds,
        share=monitor.share,
    )
    features = list(result.features)
    report.compared, report.drifted_count, report.drift_share = result.compared, result.drifted_count, result.share
    report.dataset_drifted = result.drifted
    _progress(progress, 70, "Prediction drift")
    classifier = performance.is_classifier(version)
    predicted = _reference_predictions(version, reference[[c for c in inputs if c in reference.columns]], classifier)
    if predicted is not None:
        current_predictions = [row[1] for row in rows]
        if classifier:
            predicted, current_predictions = (
                [performance.label(v) for v in predicted],
                [performance.label(v) for v in current_predictions],
            )
        kind = drift.CATEGORICAL if classifier else drift.NUMERIC
        prediction = drift.feature_drift(
            pd.Series(predicted, dtype=object if classifier else float),
            pd.Series(current_predictions, dtype=object if classifier else float),
            name=PREDICTION,
            kind=kind,
            method=monitor.methods.get(PREDICTION) or monitor.methods.get(kind),  # None: by sample size
            thresholds=monitor.thresholds,
        )
        report.prediction_drifted = prediction.drifted
        features.append(prediction)
    _progress(progress, 85, "Performance of the labelled predictions")
    labelled = [row for row in rows if row[3] is not None]
    report.labelled_rows = len(labelled)
    truth, answered = [row[3] for row in labelled], [row[1] for row in labelled]
    if classifier:
        report.performance = performance.classification(truth, answered, [row[2] for row in labelled])
    else:
        report.performance = performance.regression(truth, answered)
    report.baseline = {k: v for k, v in (version.metrics or {}).items() if k in _METRICS}
    report.status = DriftReport.Status.OK
    return _save(monitor, report, features, prediction_name=PREDICTION if predicted is not None else None)


_METRICS = performance.REPORTED  # the version's metrics a report compares with


def default_reference(version) -> DatasetVersion | None:
    """What a version's drift is measured against when its monitor names no reference: the dataset version it
    was trained on (its run's first input), else its model's evaluation set (`gates["evaluation"]`), else None.

    An uploaded version may come without its training data; its model's evaluation set is then the data the
    platform knows it was judged on.
    """
    run = version.run if version.run_id else None
    trained_on = run.input_versions.order_by("pk").first() if run is not None else None
    if trained_on is not None:
        return trained_on
    gates = getattr(version.model, "gates", None)
    evaluation = gates.get("evaluation") if isinstance(gates, dict) else None
    pk = evaluation.get("dataset_version") if isinstance(evaluation, dict) else None
    if isinstance(pk, bool) or not isinstance(pk, int | str):
        return None
    try:
        return DatasetVersion.objects.filter(pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


def _window(monitor: Monitor, version, now) -> tuple[list[tuple], Any]:
    """The primary version's answers in the window (not the canary's, shadow's or an earlier primary's)."""
    served = Prediction.objects.filter(
        deployment=monitor.deployment, version=version, role="primary", created_at__lte=now
    )
    fields = ("inputs", "prediction", "probabilities", "ground_truth", "created_at")
    if monitor.window_predictions:
        rows = list(served.order_by("-created_at").values_list(*fields)[: monitor.window_predictions])
        return rows, (min(row[4] for row in rows) if rows else None)
    start = now - timedelta(hours=monitor.window_hours or 24)
    return list(served.filter(created_at__gte=start).values_list(*fields)), start


def _reference_predictions(version, reference: pd.DataFrame, classifier: bool) -> list | None:
    """The served model's answers on (a seeded sample of) the reference rows; None when it cannot score them."""
    if len(reference) > REFERENCE_PREDICTION_ROWS:
        reference = reference.sample(REFERENCE_PREDICTION_ROWS, random_state=0)
    try:
        pipeline = experiment_services.load_pipeline(version.artifact, version.signature)  # skops or ONNX
        values = pipeline.predict(reference)
    except Exception:  # a reference the model cannot score leaves prediction drift out, not the report
        logger.exception("%s cannot score its monitor's reference", version)
        return None
    return [v.item() if isinstance(v, np.generic) else v for v in values]


def _progress(progress, percent: float, message: str) -> None:
    if progress is not None:
        progress(percent, message)


@transaction.atomic
def _save(monitor: Monitor, report: DriftReport, features: list, *, message: str = "", prediction_name=None):
    if message:
        report.status, report.message = DriftReport.Status.NOT_ENOUGH, message
    report.save()
    FeatureDrift.objects.bulk_create(
        FeatureDrift(
            report=report,
            feature=f.feature,
            is_prediction=prediction_name is not None and f is features[-1],
            kind=f.kind,
            status=f.status,
            method=f.method or "",
            statistic=f.statistic,
            p_value=f.p_value,
            threshold=f.threshold,
            drifted=f.drifted,
            reference_rows=f.reference_rows,
            current_rows=f.current_rows,
            reference_null_share=f.reference_null_share,
            current_null_share=f.current_null_share,
            statistics=f.statistics,
        )
        for f in features
    )
    Monitor.objects.filter(pk=monitor.pk).update(last_run_at=report.window_end)
    return report


def window_values(report: DriftReport, feature: str) -> tuple[pd.Series, pd.Series] | None:
    """The reference's and the report window's values of one input feature, for its distribution chart;
    None when the report has no reference or window, or the data cannot be read."""
    if report.reference is None or report.version is None or report.status != DriftReport.Status.OK:
        return None
    served = Prediction.objects.filter(
        deployment=report.monitor.deployment_id,
        version=report.version,
        role="primary",
        created_at__lte=report.window_end,
    )
    if report.window_start is not None:
        served = served.filter(created_at__gte=report.window_start)
    current = pd.Series([inputs.get(feature) for inputs in served.values_list("inputs", flat=True)], dtype=object)
    try:
        reference = experiment_services.load_frame(report.reference)
    except (OSError, ValueError):
        return None
    if feature not in reference.columns:
        return None
    return reference[feature], current
