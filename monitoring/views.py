"""Monitoring pages: the overview, and ad-hoc drift between two dataset versions."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.shortcuts import render

from experiments import services as experiment_services
from experiments.models import DatasetVersion
from monitoring import charts, drift, services


def overview(request):
    return render(request, "monitoring/overview.html")


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
