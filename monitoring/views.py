"""Monitoring pages: the overview, and ad-hoc drift between two dataset versions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from experiments import services as experiment_services
from experiments.models import DatasetVersion
from mlops_site import ui
from monitoring import charts, drift, services
from monitoring.models import DriftReport, FeatureDrift, Monitor

HISTORY = 60  # reports charted over time
REPORT_SORTS = {"time": "created_at", "drifted": "drifted_count", "rows": "current_rows"}


@permission_required("monitoring.view_monitor", raise_exception=True)
def overview(request):
    monitors = Monitor.objects.select_related("deployment__environment", "deployment__model", "deployment__primary")
    rows = [
        (monitor, monitor.reports.order_by("-created_at", "-id").first())
        for monitor in monitors.order_by("deployment__model__name", "pk")
    ]
    return render(request, "monitoring/overview.html", {"rows": rows})


@permission_required("monitoring.view_monitor", raise_exception=True)
def monitor_detail(request, pk: int):
    """A deployment's monitor: its settings, the latest report feature by feature, and the history."""
    monitor = get_object_or_404(
        Monitor.objects.select_related(
            "deployment__environment", "deployment__model", "deployment__primary", "reference"
        ),
        pk=pk,
    )
    reports, sort = ui.sort_queryset(request, monitor.reports.select_related("version"), REPORT_SORTS, "-time")
    latest = monitor.reports.order_by("-created_at", "-id").first()
    features = []
    if latest is not None:
        features = sorted(
            latest.features.all(), key=lambda f: (f.is_prediction, f.status != "ok", not f.drifted, f.feature)
        )
    metrics = sorted(set(latest.performance) | set(latest.baseline)) if latest else []
    history = list(monitor.reports.filter(status=DriftReport.Status.OK).order_by("-created_at", "-id")[:HISTORY])[::-1]
    context = {
        "monitor": monitor,
        "latest": latest,
        "features": features,
        "metrics": [(m, latest.baseline.get(m), latest.performance.get(m)) for m in metrics],
        "page": ui.paginate(request, reports),
        "sort": sort,
        **_history_charts(history),
    }
    return render(request, "monitoring/monitor_detail.html", context)


def _history_charts(history: list[DriftReport]) -> dict:
    if not history:
        return {}
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
        "performance_chart": charts.performance_over_time(times, metrics, history[-1].baseline) if names else None,
    }


@require_POST
def monitor_run(request, pk: int):
    monitor = get_object_or_404(Monitor, pk=pk)
    try:
        job = services.request_run(monitor, actor=request.user)
    except PermissionDenied as exc:
        messages.error(request, ui.error_message(exc))
    else:
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
        try:
            report = services.compare_versions(chosen["reference"], chosen["current"], methods=methods)
        except ValidationError as exc:
            context["error"] = " ".join(" ".join(v) for v in exc.message_dict.values())
        except (OSError, ValueError) as exc:  # a version's file is gone or unreadable
            context["error"] = f"The data cannot be read: {exc}"
        else:
            compared = [f for f in report.features if f.status == drift.OK]
            ranked = sorted(report.features, key=lambda f: (f.status != drift.OK, not f.drifted, -_score(f)))
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
    if not value or not str(value).isdigit():
        return None
    return DatasetVersion.objects.select_related("dataset").filter(pk=int(value)).first()


def _score(feature: drift.FeatureDrift) -> float:
    """How far past (or short of) its threshold a feature is, comparable across methods."""
    if feature.status != drift.OK or feature.threshold is None:
        return 0.0
    if feature.method in drift.TESTS:
        return feature.threshold / max(feature.p_value or 0.0, 1e-300)
    return (feature.statistic or 0.0) / feature.threshold
