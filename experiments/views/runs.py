"""Experiment and run pages: the run list with search, run detail, compare, and the training form."""

from __future__ import annotations

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from experiments import charts, comparison, metric_store, search, selectors, services
from experiments.filters import ExperimentFilter, RunFilter
from experiments.forms import ExperimentForm, TrainingForm
from experiments.metrics import HEADLINES, finite
from experiments.models import DatasetVersion, Experiment, Run, RunArtifact
from mlops_site import lazy, ui
from mlops_site.filters import sort_key

training = lazy.module("experiments.training")  # the estimator catalogue: only the training form needs it

PREFERRED_PARAMS = ("algorithm",)
DEFAULT_COLUMNS = 4
MAX_COLUMNS = 12
MAX_COMPARE = 20
MAX_PARALLEL_AXES = 8


@permission_required("experiments.view_experiment", raise_exception=True)
def experiment_list(request):
    form = ExperimentForm(request.POST or None, prefix="new")
    if request.method == "POST" and form.is_valid():
        with ui.service_errors(request, form) as call:
            experiment = services.create_experiment(actor=request.user, **form.cleaned_data)
        if not call.failed:
            messages.success(request, f"Experiment “{experiment.name}” created. Train a first run into it.")
            return redirect(f"{reverse('run-new')}?experiment={experiment.pk}")
    data = request.GET.copy()
    if data.get("sort", "").lstrip("-") not in ExperimentFilter.base_filters["sort"].sort_fields:
        data["sort"] = "-last_run"  # the page opens on recent activity; the API keeps alphabetical order
    filterset = ExperimentFilter(data, queryset=selectors.experiments_with_counts(), request=request)
    context = {"page": ui.paginate(request, filterset.qs), "sort": sort_key(filterset), "form": form}
    return render(request, "experiments/experiment_list.html", context)


def _chosen_columns(request, name: str, available: list[str], preferred: tuple[str, ...]) -> list[str]:
    """Columns from `?metrics=a,b` / `?params=a,b`, else the preferred ones present, then the most common."""
    if name in request.GET:
        return [key for key in request.GET.getlist(name) for key in key.split(",") if key][:MAX_COLUMNS]
    usable = [key for key in available if not key.startswith(("cv_", "holdout_", "train_"))]
    chosen = [key for key in preferred if key in usable]
    chosen += [key for key in usable if key not in chosen and key not in ("features", "space", "target")]
    return chosen[:DEFAULT_COLUMNS]


@permission_required("experiments.view_run", raise_exception=True)
def run_list(request):
    runs = Run.objects.select_related("experiment", "user")
    filterset = RunFilter(request.GET, queryset=runs, request=request)
    # A bad expression shows its error and no runs, as the API answers 400: never an unfiltered list.
    queryset = filterset.qs if filterset.is_valid() else runs.none()
    param_keys, metric_keys = selectors.column_keys(queryset)
    page = ui.paginate(request, queryset, per_page=50)
    page_ids = [run.pk for run in page.object_list]
    metrics = _chosen_columns(request, "metrics", metric_keys, HEADLINES)
    if "params" in request.GET:
        params = _chosen_columns(request, "params", param_keys, PREFERRED_PARAMS)
    else:  # by default, the algorithm and the params that tell this page's runs apart
        varying = selectors.varying_params(page_ids, param_keys)
        present = [key for key in PREFERRED_PARAMS if key in param_keys and key not in varying]
        params = _chosen_columns(request, "params", present + varying, PREFERRED_PARAMS)
    param_values, metric_values = selectors.run_values(page_ids, params=params, metrics=metrics)
    rows = [
        {
            "run": run,
            "params": [param_values[run.pk].get(key) for key in params],
            "metrics": [metric_values[run.pk].get(key) for key in metrics],
        }
        for run in page.object_list
    ]
    experiment = None
    if filterset.form.is_valid() and filterset.form.cleaned_data.get("experiment"):
        experiment = Experiment.objects.filter(pk=filterset.form.cleaned_data["experiment"]).first()
    context = {
        "filter": filterset,
        "page": page,
        "rows": rows,
        "params": params,
        "metrics": metrics,
        "param_columns": [(key, search.field_name("params", key)) for key in params],
        "metric_columns": [(key, search.field_name("metrics", key)) for key in metrics],
        "param_keys": param_keys,
        "metric_keys": metric_keys,
        "sort": request.GET.get("ordering", ""),
        "experiment": experiment,
        "experiments": Experiment.objects.order_by("name"),
        "syntax_help": search.SYNTAX_HELP,
        "max_compare": MAX_COMPARE,
    }
    return render(request, "experiments/run_list.html", context)


def _evaluation(run: Run) -> dict | None:
    """The evaluation a worker wrote; a logged run's file of that name is the script's, not ours."""
    if run.source != Run.Source.TRAINED:
        return None
    artifact = run.artifacts.filter(path="evaluation.json").first()
    if artifact is None:
        return None
    try:
        with default_storage.open(artifact.file, "rb") as handle:
            evaluation = json.load(handle)
    except (OSError, ValueError):
        return None
    return evaluation if isinstance(evaluation, dict) else None


def _cross_validation(metrics: dict[int, dict]) -> list[dict]:
    """Fold scores per cross-validated metric with their mean and standard deviation (of the finite ones)."""
    import statistics

    rows = []
    for key, folds in sorted(metrics.items()):
        scores = [folds[step] for step in sorted(folds)]
        usable = [score for score in scores if finite(score) is not None]
        rows.append(
            {
                "key": key.removeprefix("cv_"),
                "scores": scores,
                "mean": statistics.fmean(usable) if usable else None,
                "std": statistics.pstdev(usable) if len(usable) > 1 else 0.0 if usable else None,
            }
        )
    return rows


@permission_required("experiments.view_run", raise_exception=True)
def run_detail(request, pk: int):
    run = get_object_or_404(Run.objects.select_related("experiment", "user", "parent", "reproduced_from", "job"), pk=pk)
    latest = selectors.latest_metrics(run)
    histories = [
        selectors.metric_history(run, key, max_points=settings.METRIC_HISTORY_MAX_POINTS)
        for key in selectors.history_keys([run.pk])
    ]
    cv_points: dict[str, dict[int, float]] = {}
    for key, step, value in run.metrics.filter(key__startswith="cv_").values_list("key", "step", "value"):
        cv_points.setdefault(key, {})[step] = metric_store.loaded(value)
    evaluation = _evaluation(run)
    figures = []
    for history in histories:
        figures.append(charts.metric_history(history["key"], [{"label": str(run), **history}]))
    if evaluation:
        details = evaluation.get("evaluation") or {}
        figures += [
            charts.confusion_matrix(details),
            charts.roc_curve(details),
            charts.pr_curve(details),
            charts.residuals(details),
            charts.residual_histogram(details),
            charts.feature_importance(evaluation.get("importance") or []),
        ]
    sweep = selectors.sweep_summary(run, request.GET.get("metric") or None)
    sweep_chart = None
    if sweep:
        best = sweep["best"]["run"] if sweep["best"] else None
        sweep_chart = charts.sweep_metric_vs_params(sweep["trials"], sweep["metric"], best)
        sweep["metric_choices"] = sorted({key for trial in sweep["trials"] for key in trial["metrics"]})
        values: dict[str, set] = {}
        for trial in sweep["trials"]:
            for key, value in trial["params"].items():
                values.setdefault(key, set()).add(value)
        sweep["param_names"] = sorted(key for key, seen in values.items() if len(seen) > 1)
    context = {
        "run": run,
        "params": list(run.params.order_by("key").values_list("key", "value")),
        "metrics": [(key, value) for key, value in latest.items() if not key.startswith("cv_")],
        "cross_validation": _cross_validation(cv_points),
        "figures": [figure for figure in figures if figure is not None],
        "artifacts": list(run.artifacts.all()),
        "inputs": list(run.input_versions.select_related("dataset")),
        "children_count": run.children.count(),
        "reproductions": list(run.reproductions.order_by("-started_at")[:10]),
        "sweep": sweep,
        "sweep_chart": sweep_chart,
        "evaluation": evaluation,
        "can_reproduce": run.source == Run.Source.TRAINED and bool(run.training_request),
    }
    return render(request, "experiments/run_detail.html", context)


@require_POST
@permission_required("experiments.add_run", raise_exception=True)
def run_reproduce(request, pk: int):
    run = get_object_or_404(Run, pk=pk)
    with ui.service_errors(request) as call:
        new = services.reproduce_run(run, actor=request.user)
    if call.failed:
        return redirect(run)
    messages.success(request, f"Reproducing {run}: a worker trains {new} from the same data, request and seed.")
    return redirect(new)


@permission_required("experiments.view_run", raise_exception=True)
def artifact_download(request, pk: int, artifact_id: int):
    artifact = get_object_or_404(RunArtifact, run_id=pk, pk=artifact_id)
    try:
        handle = default_storage.open(artifact.file, "rb")
    except FileNotFoundError:
        raise Http404("The artifact's file is missing from storage.") from None
    return FileResponse(handle, as_attachment=True, filename=artifact.path.rsplit("/", 1)[-1])


@permission_required("experiments.view_run", raise_exception=True)
def run_compare(request):
    ids, error = comparison.run_ids(request.GET.getlist("run"), MAX_COMPARE)
    found = (
        {}
        if error
        else selectors.run_comparison(
            ids,
            preferred=HEADLINES,
            max_axes=MAX_PARALLEL_AXES,
            max_points=settings.METRIC_HISTORY_MAX_POINTS,
            history=request.GET.get("history"),
            metric=request.GET.get("metric"),
            x=request.GET.get("x"),
            y=request.GET.get("y"),
        )
    )
    if error or "error" in found:
        return render(request, "experiments/run_compare.html", {"error": error or found["error"]}, status=400)
    rows, colour, x_field, y_field = found["rows"], found["colour_metric"], found["x_field"], found["y_field"]
    context = found | {
        "show_all_params": request.GET.get("all") == "1",
        "history_chart": charts.metric_history(found["history_key"], found["history_series"])
        if found["history_key"]
        else None,
        "parallel_chart": charts.parallel_coordinates(rows, found["varying"], colour) if colour else None,
        "scatter_chart": charts.scatter(rows, x_field, y_field) if x_field and y_field else None,
        "bars_chart": charts.final_metric_bars(
            rows, [key for key in found["metric_keys"] if not key.startswith("holdout_")][:9]
        ),
    }
    return render(request, "experiments/run_compare.html", context)


def _query_id(request, name: str) -> int | None:
    try:
        value = int(request.GET.get(name, ""))
    except ValueError:
        return None
    return value if 0 < value < 2**63 else None


def _training_initial(request) -> dict:
    initial = {"mode": "single", "holdout": 0.2, "seed": 0}
    if _query_id(request, "experiment"):
        initial["experiment"] = _query_id(request, "experiment")
    version = None
    if _query_id(request, "version"):
        version = DatasetVersion.objects.filter(pk=_query_id(request, "version")).first()
    if version is not None:
        initial["dataset_version"] = version.pk
        initial["target"] = version.target
    return initial


@permission_required("experiments.add_run", raise_exception=True)
def run_new(request):
    form = TrainingForm(request.POST or None, initial=_training_initial(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        sweep = data["mode"] != "single"
        fields = {
            "experiment": data["experiment"].pk if data["experiment"] else None,
            "dataset_version": data["dataset_version"].pk,
            "name": data["name"],
            "target": data["target"].strip(),
            "algorithm": data["algorithm"],
            "params": data["params"],
            "features": data["features"],
            "task": data["task"] or None,
            "holdout": data["holdout"],
            "cv_folds": data["cv_folds"],
            "seed": data["seed"],
        }
        if sweep:
            fields |= {"search": data["mode"], "space": data["space"], "trials": data["trials"]}
        with ui.service_errors(request, form, fallback="space" if sweep else None) as call:
            run = services.start_training_request(
                fields,
                actor=request.user,
                sweep=sweep,
                new_experiment="" if data["experiment"] else data["new_experiment"],
            )
        if not call.failed:
            what = "sweep" if sweep else "training"
            messages.success(request, f"Queued the {what}: a worker picks it up; this page follows its progress.")
            return redirect(run)
    versions = DatasetVersion.objects.only("id", "schema", "target")
    columns = {v.pk: {"columns": v.columns, "target": v.target} for v in versions}
    algorithms = {
        name: {"tasks": list(spec.tasks), "params": list(spec.allowed_params())}
        for name, spec in training.ALGORITHMS.items()
    }
    context = {"form": form, "version_columns": columns, "algorithms": algorithms}
    return render(request, "experiments/run_new.html", context)
