"""Monitoring pages: the overview, a monitor with its charts and rules, alerts, retraining, ad-hoc drift."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from deployments import selectors as deployment_selectors
from experiments import services as experiment_services
from experiments.models import DatasetVersion
from mlops_site import ui
from mlops_site.api.parsers import query_id
from mlops_site.filters import sort_key
from monitoring import charts, drift, filters, performance, selectors, services
from monitoring.forms import AlertRuleForm, RetrainingPolicyForm
from monitoring.models import Alert, AlertRule, DriftReport, FeatureDrift, Monitor

HISTORY = 60  # reports charted over time


@permission_required("monitoring.view_monitor", raise_exception=True)
def overview(request):
    monitors = list(selectors.monitors_with_latest().order_by("deployment__model__name", "pk"))
    reports = selectors.latest_reports(monitors)
    rows = [(monitor, reports.get(monitor.latest_report_id), monitor.active) for monitor in monitors]
    return render(request, "monitoring/overview.html", {"rows": rows})


@permission_required("monitoring.view_monitor", raise_exception=True)
def monitor_detail(request, pk: int, rule_form: AlertRuleForm | None = None, status: int = 200):
    """A deployment's monitor: its settings, the latest report feature by feature, and the history."""
    monitor = get_object_or_404(
        Monitor.objects.select_related(
            "deployment__environment", "deployment__model", "deployment__primary", "reference"
        ),
        pk=pk,
    )
    reports = filters.DriftReportFilter(request.GET, queryset=monitor.reports.select_related("version"))
    latest = monitor.reports.order_by("-created_at", "-id").first()
    features = []
    if latest is not None:
        features = sorted(
            latest.features.all(), key=lambda f: (f.is_prediction, f.status != "ok", not f.drifted, f.feature)
        )
    metrics = sorted(set(latest.performance) | set(latest.baseline)) if latest else []
    unseen = _unseen(monitor, latest, features)
    history = list(monitor.reports.filter(status=DriftReport.Status.OK).order_by("-created_at", "-id")[:HISTORY])[::-1]
    context = {
        "monitor": monitor,
        "latest": latest,
        "features": features,
        "metrics": [(m, latest.baseline.get(m), latest.performance.get(m)) for m in metrics],
        "page": ui.paginate(request, reports.qs),
        "sort": sort_key(reports),
        "rules": monitor.rules.all(),
        "alerts": monitor.alerts.select_related("rule")[:10],
        "rule_form": rule_form or AlertRuleForm(),
        "can_change_monitor": services.can_change_monitor(request.user),
        "can_add_rule": services.can_add_rule(request.user),
        "can_change_rule": services.can_change_rule(request.user),
        "can_delete_rule": services.can_delete_rule(request.user),
        "unseen": unseen,
        **_history_charts(history),
        **_feature_chart(request, latest, features),
        **_traffic_charts(monitor, history),
    }
    return render(request, "monitoring/monitor_detail.html", context, status=status)


def _unseen(monitor: Monitor, latest: DriftReport | None, features: list) -> dict | None:
    """The share of the report window's rows whose value training never had, overall and per feature (set on
    each categorical feature row as `unseen_share`); None without a report to take the window from."""
    if latest is None or latest.status != DriftReport.Status.OK or latest.version is None:
        return None
    summary = deployment_selectors.unseen_summary(
        monitor.deployment, latest.window_start, latest.window_end, version=latest.version
    )
    for feature in features:
        categorical = not feature.is_prediction and feature.kind == drift.CATEGORICAL
        feature.unseen_share = summary["features"].get(feature.feature, 0.0) if categorical else None
    return summary


def _feature_chart(request, latest: DriftReport | None, features: list) -> dict:
    """The reference and window distributions of the feature picked with ?feature= (default: the most drifted)."""
    inputs = [f for f in features if not f.is_prediction and f.status == drift.OK]
    if latest is None or not inputs:
        return {}
    by_name = {f.feature: f for f in inputs}
    picked = by_name.get(request.GET.get("feature")) or inputs[0]
    values = services.window_values(latest, picked.feature)
    if values is None:
        return {"feature_names": list(by_name), "feature": picked.feature}
    return {
        "feature_names": list(by_name),
        "feature": picked.feature,
        "distribution_chart": charts.distributions(picked.feature, picked.kind, *values),
    }


def _traffic_charts(monitor: Monitor, history: list[DriftReport]) -> dict:
    """What the served version predicted over time, and the deployment's request rate and latency, over the
    charted reports' span (at least the last day)."""
    deployment, end = monitor.deployment, timezone.now()
    start = end - timedelta(hours=24)
    if history and history[0].window_start:  # as far back as the charted reports look, up to a week
        start = max(min(start, history[0].window_start), end - timedelta(days=7))
    out = {}
    per_version = deployment_selectors.service_series(deployment, start, end)
    if per_version:
        out["service_chart"] = charts.service(per_version)
    if deployment.primary is not None:
        classifier = performance.is_classifier(deployment.primary)
        series = deployment_selectors.prediction_series(
            deployment, deployment.primary, start, end, classifier=classifier
        )
        if series:
            out["predictions_chart"] = charts.predictions_over_time(series, classifier=classifier)
    return out


def _history_charts(history: list[DriftReport]) -> dict:
    if not history:
        return {}
    if len(history) < 2:  # one point over time is not a trend; the latest report above says it all
        return {"history_note": "Charts over time appear from the second report on."}
    times = [report.created_at for report in history]
    position = {report.pk: i for i, report in enumerate(history)}
    series: dict[str, list] = {}
    for row in FeatureDrift.objects.filter(report__in=history).order_by("is_prediction", "feature"):
        name = "the prediction" if row.is_prediction else row.feature
        values = series.setdefault(name, [None] * len(history))
        values[position[row.report_id]] = charts.ratio(row.method or None, row.statistic, row.p_value, row.threshold)
    names = sorted({m for report in history for m in report.performance})
    metrics = {name: [report.performance.get(name) for report in history] for name in names}
    return {
        "drift_chart": charts.drift_over_time(times, series),
        "heatmap_chart": charts.drift_heatmap(times, series),
        "performance_chart": charts.performance_over_time(times, metrics, history[-1].baseline) if names else None,
    }


@require_POST
def monitor_run(request, pk: int):
    monitor = get_object_or_404(Monitor, pk=pk)
    with ui.service_errors(request, denied="message") as call:
        job = services.request_run(monitor, actor=request.user)
    if not call.failed:
        messages.success(request, f"Queued: job {job.pk}. The report appears here when the worker finishes it.")
    return redirect(monitor)


@permission_required("experiments.view_datasetversion", raise_exception=True)
def compare(request):
    """Pick two dataset versions; see which features drifted, by how much, and one feature's distributions."""
    versions = DatasetVersion.objects.select_related("dataset").order_by("dataset__name", "-number")
    context = {
        "versions": versions,
        "numeric_methods": drift.NUMERIC_METHODS,
        "categorical_methods": drift.CATEGORICAL_METHODS,
    }
    chosen = {key: _version(request.GET.get(key)) for key in ("reference", "current")}
    context |= {"reference": chosen["reference"], "current": chosen["current"]}
    if request.GET and not all(chosen.values()):
        context["error"] = "Choose two dataset versions that exist."
    elif all(chosen.values()):
        methods = {k: request.GET[k] for k in (drift.NUMERIC, drift.CATEGORICAL) if request.GET.get(k)}
        report = None
        try:
            with ui.service_errors(None) as call:  # shown in the page, not as a message
                report = services.compare_versions(chosen["reference"], chosen["current"], methods=methods)
        except (OSError, ValueError) as exc:  # a version's file is gone or unreadable
            context["error"] = f"The data cannot be read: {exc}"
        if call.failed:
            context["error"] = " ".join(call.messages)
        elif report is not None:
            compared = [f for f in report.features if f.status == drift.OK]
            ranked = drift.ranked(report.features)
            names = [f.feature for f in compared]
            feature = request.GET.get("feature") if request.GET.get("feature") in names else None
            feature = feature or (ranked[0].feature if compared else None)
            context |= {"report": report, "ranked": ranked, "feature": feature, "chosen_methods": methods}
            if compared:
                context["scores_chart"] = charts.scores(compared)
            if feature:
                picked = next(f for f in compared if f.feature == feature)
                reference = experiment_services.load_frame(chosen["reference"])[feature]
                current = experiment_services.load_frame(chosen["current"])[feature]
                context["distribution_chart"] = charts.distributions(feature, picked.kind, reference, current)
    return render(request, "monitoring/compare.html", context)


def _version(value) -> DatasetVersion | None:
    pk = query_id(str(value)) if value else None
    if pk is None:
        return None
    return DatasetVersion.objects.select_related("dataset").filter(pk=pk).first()


@require_POST
def rule_create(request, pk: int):
    monitor = get_object_or_404(Monitor, pk=pk)
    form = AlertRuleForm(request.POST)
    if form.is_valid():
        with ui.service_errors(request, form, denied="message") as call:
            rule = services.create_rule(monitor, form.cleaned, actor=request.user)
        if not call.failed:
            messages.success(request, f"Rule “{rule.name}” added; it is checked after each report.")
            return redirect(f"{monitor.get_absolute_url()}#rules")
        if not form.errors:  # refused as a whole (role, conflict, rate limit): the message says why
            return redirect(monitor)
    messages.error(request, "The rule was not added: " + _form_errors(form))
    return monitor_detail(request, pk, rule_form=form, status=400)  # the form keeps what was typed


def _form_errors(form) -> str:
    """Each error with the label of its field, e.g. "Threshold: Enter a number."."""
    parts = []
    for name, errors in form.errors.items():
        label = form[name].label if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return "; ".join(parts)


@require_POST
def rule_toggle(request, pk: int):
    rule = get_object_or_404(AlertRule.objects.select_related("monitor"), pk=pk)
    with ui.service_errors(request, denied="message") as call:
        rule = services.update_rule(rule, {"enabled": not rule.enabled}, actor=request.user)
    if not call.failed:
        messages.success(request, f"Rule “{rule.name}” {'enabled' if rule.enabled else 'paused'}.")
    return redirect(f"{rule.monitor.get_absolute_url()}#rules")


@require_POST
def rule_delete(request, pk: int):
    rule = get_object_or_404(AlertRule.objects.select_related("monitor"), pk=pk)
    with ui.service_errors(request, denied="message") as call:
        services.delete_rule(rule, actor=request.user)
    if not call.failed:
        messages.success(request, f"Rule “{rule.name}” deleted with its alerts.")
    return redirect(rule.monitor)


@permission_required("monitoring.view_alert", raise_exception=True)
def alert_list(request):
    """Every alert, open ones first by default; filter by status, sort, paginate, acknowledge or resolve."""
    alerts = Alert.objects.select_related("rule", "monitor__deployment__environment", "monitor__deployment__model")
    filterset = filters.AlertPageFilter(request.GET, queryset=alerts)
    status = (filterset.form.cleaned_data.get("status") if filterset.is_valid() else None) or "active"
    counts = {value: Alert.objects.filter(status=value).count() for value in Alert.Status.values}
    return render(
        request,
        "monitoring/alert_list.html",
        {
            "page": ui.paginate(request, filterset.qs),
            "sort": sort_key(filterset),
            "status": status,
            "counts": counts,
            "can_acknowledge": services.can_acknowledge(request.user),
        },
    )


@permission_required("monitoring.view_alert", raise_exception=True)
def alert_detail(request, pk: int):
    alert = get_object_or_404(
        Alert.objects.select_related(
            "rule",
            "report",
            "acknowledged_by",
            "resolved_by",
            "monitor__deployment__environment",
            "monitor__deployment__model",
        ),
        pk=pk,
    )
    retrainings = alert.retrainings.select_related("run", "version", "promotion", "dataset_version__dataset")
    context = {"alert": alert, "retrainings": retrainings, "can_acknowledge": services.can_acknowledge(request.user)}
    return render(request, "monitoring/alert_detail.html", context)


@require_POST
def alert_action(request, pk: int, action: str):
    alert = get_object_or_404(Alert, pk=pk)
    act = {"acknowledge": services.acknowledge, "resolve": services.resolve}[action]
    with ui.service_errors(request, denied="message") as call:
        act(alert, actor=request.user, comment=request.POST.get("comment", ""))
    if not call.failed:
        messages.success(request, f"Alert {alert.pk} {'acknowledged' if action == 'acknowledge' else 'resolved'}.")
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return redirect(target if target and safe else alert)


def _model(name: str):
    from registry.models import RegisteredModel

    return get_object_or_404(RegisteredModel, name=name)


@require_POST
def policy_save(request, name: str):
    model = _model(name)
    form = RetrainingPolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The retraining policy was not saved: " + _form_errors(form))
        return redirect(model)  # the top of the page, where the message is
    with ui.service_errors(None, form, denied="message") as call:  # one message, on the page it returns to
        services.put_policy(model, form.cleaned_data, actor=request.user)
    if isinstance(call.error, ValidationError):
        messages.error(request, "The retraining policy was not saved: " + _form_errors(form))
    elif call.failed:
        messages.error(request, " ".join(call.messages))
    else:
        messages.success(request, "Retraining policy saved (see Continuous training below); it acts on your behalf.")
    return redirect(model)


@require_POST
def retrain(request, name: str):
    model = _model(name)
    with ui.service_errors(request, denied="message") as call:
        retraining = services.retrain_now(model, actor=request.user)
    if not call.failed:
        messages.success(request, f"Retraining queued (job {retraining.job_id}); Continuous training below shows it.")
    return redirect(model)
