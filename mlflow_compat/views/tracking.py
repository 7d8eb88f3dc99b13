"""Experiments, runs and what runs log, on MLflow's paths (`/api/2.0/mlflow/experiments/...`, `runs/...`).

Each view reshapes MLflow's request into a call of `experiments.services` and the answer back
(`mlflow_compat.entities`). Where MLflow's rules differ from the site's (see README, "Use it from the mlflow
client"), the MLflow ones apply here for runs logged from outside: NaN and ±Infinity are metric values, a
script may log to a run it has ended and may resume it. Runs the site trained stay as the site made them.
"""

from __future__ import annotations

import json
import math
import re

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.http import HttpResponse
from django.urls import re_path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from experiments import search
from experiments import services as experiments
from experiments.filters import apply_ordering, apply_search
from experiments.models import Experiment, Param, Run
from experiments.services.tracking import DENIED
from mlflow_compat import entities, protocol, selectors
from mlflow_compat.errors import already_exists, invalid, not_found
from mlflow_compat.search import MAX_ORDER_BY, translate_filter, translate_order
from mlflow_compat.services import tracking as compat
from mlflow_compat.views.base import MlflowView, route

MAX_RUNS = 50_000
MAX_EXPERIMENTS = 50_000
MAX_HISTORY = 25_000
INT64 = (-(2**63), 2**63 - 1)


def _experiment(value, actor, *, create_default: bool = False) -> Experiment:
    experiment_id = protocol.text(value, "experiment_id")
    if experiment_id == "0":
        return compat.default_experiment(actor, create=create_default)
    if not (experiment_id.isascii() and experiment_id.isdigit()) or len(experiment_id) > 18:
        raise not_found(f"No Experiment with id={experiment_id[:40]} exists")
    experiment = Experiment.objects.filter(pk=int(experiment_id)).first()
    if experiment is None:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    return experiment


def _run(args: dict, *, lock: bool = False) -> Run:
    run_id = args.get("run_id") or args.get("run_uuid")
    run_id = protocol.text(run_id, "run_id")
    if not (run_id.isascii() and run_id.isdigit()) or len(run_id) > 18:
        raise not_found(f"Run with id={run_id[:40]} not found")
    run = Run.objects.select_related("user").filter(pk=int(run_id)).first()
    if run is None:
        raise not_found(f"Run with id={run_id} not found")
    return run


def _metric_point(item, where: str) -> dict:
    """One MLflow metric as the site's log_batch takes it. Proto-JSON may send int64s and non-finite doubles as
    strings; well-typed points (nearly all) pass as they are, and log_batch's schema checks their ranges."""
    if type(item) is not dict:
        raise invalid(f"{where} must be a metric object.")
    key, value, stamp, step = item.get("key"), item.get("value"), item.get("timestamp"), item.get("step", 0)
    if (
        type(key) is str
        and key
        and type(value) in (int, float)
        and type(stamp) is int
        and type(step) is int
        and (0 <= stamp <= protocol.MAX_MS)
    ):
        return {"key": key, "value": value, "timestamp": stamp, "step": step}
    return {
        "key": protocol.text(key, f"{where}.key"),
        "value": protocol.number(value, f"{where}.value"),
        "timestamp": protocol.integer(stamp, f"{where}.timestamp", low=0, high=protocol.MAX_MS),
        "step": protocol.integer(step, f"{where}.step", default=0, low=INT64[0], high=INT64[1]),
    }


def _log(run: Run, actor, *, params=None, metrics=None, tags=None) -> None:
    """One batch through the site's log_batch, with MLflow's allowances for logged runs."""
    tags = dict(tags or {})
    name = tags.pop("mlflow.runName", None)
    for key in entities.FIELD_TAGS:
        tags.pop(key, None)  # the run's parent and user are fields the site sets itself
    logged = run.source == Run.Source.LOGGED
    if params or metrics or tags:
        experiments.log_batch(
            run,
            actor=actor,
            params=params or {},
            metrics=metrics or [],
            tags=tags,
            non_finite=True,
            after_finish=logged,
        )
    if name is not None:
        experiments.rename_run(run, name, actor=actor)


class RunReader(MlflowView):
    required_permission = "experiments.view_run"


class RunWriter(MlflowView):
    required_permission = "experiments.view_run"
    write_permissions = {"POST": ("experiments.add_run", DENIED.format("logging runs"))}


# --- experiments ---------------------------------------------------------------------------------


class ExperimentGetByName(MlflowView):
    required_permission = "experiments.view_experiment"

    def get(self, request):
        name = protocol.text(self.params(request).get("experiment_name"), "experiment_name")
        experiment = Experiment.objects.filter(name__iexact=name).first()
        if experiment is None:
            raise not_found(f"Could not find experiment with name '{name}'")
        return Response({"experiment": entities.experiment_json(experiment)})


class ExperimentGet(MlflowView):
    required_permission = "experiments.view_experiment"

    def get(self, request):
        experiment = _experiment(self.params(request).get("experiment_id"), request.user)
        return Response({"experiment": entities.experiment_json(experiment)})


class ExperimentCreate(MlflowView):
    required_permission = "experiments.view_experiment"
    write_permissions = {"POST": ("experiments.add_experiment", DENIED.format("creating experiments"))}

    def post(self, request):
        args = self.params(request)
        name = protocol.text(args.get("name"), "name", max_length=100)
        if Experiment.objects.filter(name__iexact=name).exists():
            raise already_exists(f"Experiment '{name}' already exists.")
        tags = protocol.key_values(args.get("tags"), "tags")
        try:
            experiment = experiments.create_experiment(
                name=name, description=tags.get("mlflow.note.content", ""), actor=request.user
            )
        except ValidationError:
            if Experiment.objects.filter(name__iexact=name).exists():  # created meanwhile by another request
                raise already_exists(f"Experiment '{name}' already exists.") from None
            raise
        return Response({"experiment_id": str(experiment.pk)})


NAME_FILTER = re.compile(
    r"""^\s*(?:attributes?\.)?name\s*(=|!=|LIKE|ILIKE)\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*$""",
    re.IGNORECASE,
)


def _like(pattern: str) -> str:
    return "(?s)\\A" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern) + "\\Z"


class ExperimentSearch(MlflowView):
    required_permission = "experiments.view_experiment"

    def get(self, request):
        return self.post(request)

    def post(self, request):
        args = self.params(request)
        limit = protocol.integer(args.get("max_results"), "max_results", default=1000, low=1, high=MAX_EXPERIMENTS)
        offset = protocol.page_token(args.get("page_token"))
        queryset = Experiment.objects.all()
        text = protocol.text(args.get("filter"), "filter", required=False, max_length=2000)
        if text.strip():
            match = NAME_FILTER.match(text)
            if match is None:
                raise invalid(f"Unsupported experiment filter {text[:200]!r}: filter by name (=, !=, LIKE, ILIKE).")
            op, value = match.group(1).upper(), match.group(2) if match.group(2) is not None else match.group(3)
            condition = {
                "=": Q(name=value),
                "!=": ~Q(name=value),
                "LIKE": Q(name__regex=_like(value)),
                "ILIKE": Q(name__iregex=_like(value)),
            }[op]
            queryset = queryset.filter(condition)
        if (args.get("view_type") or "ACTIVE_ONLY") == "DELETED_ONLY":
            queryset = queryset.none()  # the site never deletes experiments
        order = {"name": "name", "creation_time": "created_at", "last_update_time": "created_at", "experiment_id": "pk"}
        keys = []
        for item in protocol.strings(args.get("order_by"), "order_by", max_items=10):
            words = item.split()
            field = order.get(words[0].removeprefix("attributes.").removeprefix("attribute.")) if words else None
            if field is None:
                raise invalid(f"Cannot order experiments by {str(item)[:100]!r}.")
            keys.append(("-" if len(words) > 1 and words[1].upper() == "DESC" else "") + field)
        ordered = queryset.order_by(*(keys or ["-created_at"]), "-pk")
        return Response(
            protocol.page(
                ordered, offset, limit, "experiments", lambda rows: [entities.experiment_json(e) for e in rows]
            )
        )


class ExperimentDelete(MlflowView):
    required_permission = "experiments.view_experiment"

    def post(self, request):
        raise invalid("Experiments are never deleted on this site: their runs are the record of what was tried.")


# --- runs ----------------------------------------------------------------------------------------


class RunCreate(RunWriter):
    def post(self, request):
        args = self.params(request)
        experiment = _experiment(args.get("experiment_id") or "0", request.user, create_default=True)
        tags = protocol.key_values(args.get("tags"), "tags")
        name = protocol.text(args.get("run_name"), "run_name", required=False) or tags.get("mlflow.runName", "")
        parent = None
        if parent_id := tags.get("mlflow.parentRunId"):
            parent = _run({"run_id": parent_id})
        code_version = tags.get("mlflow.source.git.commit", "")
        started = None
        if args.get("start_time") not in (None, ""):  # checked before anything is written
            started = protocol.from_ms(args["start_time"], "start_time")
        for key in entities.FIELD_TAGS:
            tags.pop(key, None)
        run = experiments.create_run(
            experiment,
            actor=request.user,
            name=name,
            tags=tags,
            parent=parent,
            source=Run.Source.LOGGED,
            code_version=code_version,
            command=tags.get("mlflow.source.name", ""),
        )
        if started is not None:
            run.started_at = started
            run.save(update_fields=["started_at"])
        run = Run.objects.select_related("user").get(pk=run.pk)
        return Response({"run": entities.runs_json([run])[0]})


class RunGet(RunReader):
    def get(self, request):
        return Response({"run": entities.runs_json([_run(self.params(request))])[0]})


class RunUpdate(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        if name := protocol.text(args.get("run_name"), "run_name", required=False):
            experiments.rename_run(run, name, actor=request.user)
        status = args.get("status")
        if status not in (None, ""):
            if not isinstance(status, str) or status not in entities.STATUS_IN:
                raise invalid(f"Unknown run status {str(status)[:40]!r}: use RUNNING, FINISHED, FAILED or KILLED.")
            site_status = entities.STATUS_IN[status]
            if site_status == Run.Status.RUNNING:
                experiments.reopen_run(run, actor=request.user)
            else:
                end = args.get("end_time")
                ended_at = protocol.from_ms(end, "end_time") if end not in (None, "") else None
                experiments.end_run(run, actor=request.user, status=site_status, ended_at=ended_at)
        run = Run.objects.select_related("user").get(pk=run.pk)
        return Response({"run_info": entities.run_info(run)})


class RunDelete(RunWriter):
    def post(self, request):
        _run(self.params(request))
        raise invalid("Runs are never deleted on this site: they are the lineage of models and comparisons.")


class RunRestore(RunWriter):
    def post(self, request):
        _run(self.params(request))
        return Response({})  # nothing is deleted, so everything is restored


class LogParameter(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        key = protocol.text(args.get("key"), "key")
        _log(run, request.user, params={key: protocol.text(args.get("value"), "value", required=False)})
        return Response({})


class LogMetric(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        _log(run, request.user, metrics=[_metric_point(args, "metric")])
        return Response({})


class LogBatch(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        metrics = args.get("metrics") or []
        if not isinstance(metrics, list):
            raise invalid("metrics must be a list.")
        points = [_metric_point(item, f"metrics[{i}]") for i, item in enumerate(metrics)]
        params = protocol.key_values(args.get("params"), "params")
        tags = protocol.key_values(args.get("tags"), "tags")
        _log(run, request.user, params=params, metrics=points, tags=tags)
        return Response({})


class SetTag(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        key = protocol.text(args.get("key"), "key")
        _log(run, request.user, tags={key: protocol.text(args.get("value"), "value", required=False)})
        return Response({})


class DeleteTag(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        experiments.delete_tag(run, protocol.text(args.get("key"), "key"), actor=request.user)
        return Response({})


class LogInputs(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        compat.log_inputs(run, args.get("datasets") or [], actor=request.user)
        return Response({})


class LogOutputs(RunWriter):
    def post(self, request):
        args = self.params(request)
        run = _run(args)
        compat.log_outputs(run, args.get("models") or [], actor=request.user)
        return Response({})


TIME_LOOKUPS = {"=": "exact", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


class RunSearch(RunReader):
    def post(self, request):
        args = self.params(request)
        ids = protocol.strings(args.get("experiment_ids"), "experiment_ids")
        if not ids:
            raise invalid("Pass experiment_ids: the experiments whose runs to search.")
        experiment_pks = [_experiment(value, request.user).pk for value in ids]
        limit = protocol.integer(args.get("max_results"), "max_results", default=1000, low=1, high=MAX_RUNS)
        offset = protocol.page_token(args.get("page_token"))
        order_by = protocol.strings(args.get("order_by"), "order_by", max_items=MAX_ORDER_BY)
        try:
            translated = translate_filter(protocol.text(args.get("filter"), "filter", required=False))
            clauses = search.parse(translated.text)
            orderings = [search.parse_ordering(text) for text in translate_order(order_by)]
        except search.SearchError as exc:
            raise invalid(str(exc)) from None
        runs = apply_search(Run.objects.filter(experiment_id__in=experiment_pks), clauses)
        for field, op, value in translated.times:
            moment = protocol.from_ms(value, field)
            if op == "!=":  # as in SQL (and MLflow): a run without the time (not ended) matches no comparison
                runs = runs.exclude(**{field: moment}).filter(**{f"{field}__isnull": False})
            else:
                runs = runs.filter(**{f"{field}__{TIME_LOOKUPS[op]}": moment})
        for entity, key, is_null in translated.nulls:
            runs = _where_null(runs, entity, key, is_null)
        if (args.get("run_view_type") or "ACTIVE_ONLY") == "DELETED_ONLY":
            runs = runs.none()
        runs = apply_ordering(runs, *orderings) if orderings else runs.order_by("-started_at", "-pk")
        return Response(protocol.page(runs.select_related("user"), offset, limit, "runs", entities.runs_json))


def _where_null(runs, entity: str, key: str, is_null: bool):
    """Runs with (or, is_null, without) the tag or param `key`: MLflow's `IS NOT NULL` / `IS NULL`."""
    if entity == "attributes" and key == "name":
        return runs.none() if is_null else runs  # every run has a name in MLflow's eyes (run-<id> at worst)
    if entity == "attributes":
        present = Q(**{f"{key}__isnull": False})
    elif entity == "tags":
        present = Q(tags__has_key=key)
    else:
        present = Exists(Param.objects.filter(run=OuterRef("pk"), key=key))
    return runs.filter(~present if is_null else present)


class MetricHistory(RunReader):
    """Every point of one metric with its timestamp, paged (this surface never downsamples)."""

    def get(self, request):
        args = self.params(request)
        run = _run(args)
        key = protocol.text(args.get("metric_key"), "metric_key")
        limit = protocol.integer(args.get("max_results"), "max_results", default=MAX_HISTORY, low=1, high=MAX_HISTORY)
        offset = protocol.page_token(args.get("page_token"))
        rows = selectors.history_page(run.pk, key, offset, limit + 1)
        more = len(rows) > limit
        # Written out by hand: the generic JSON encoder was most of the time of a 25,000-point page. Each point
        # is what MLflow's server sends (key, value, timestamp, step; no run_id): the client parses every byte.
        head = json.dumps({"key": key})[1:-1]
        points = ",".join(
            f'{{{head},"value":{_json_number(value)},"timestamp":{stamp},"step":{step}}}'
            for value, stamp, step in rows[:limit]
        )
        tail = f',"next_page_token":"{offset + limit}"' if more else ""
        return HttpResponse(f'{{"metrics":[{points}]{tail}}}', content_type="application/json")


def _json_number(value: float | None) -> str:
    if value is None:  # how a database without NaN keeps one
        return '"NaN"'
    if math.isfinite(value):
        return repr(value)
    return json.dumps(protocol.wire_number(value))


class ServerInfo(APIView):
    """What the client asks before its first artifact download; public, as on MLflow's server."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    schema = None

    def get(self, request):
        return Response(
            {
                "store_type": "SqlStore",
                "workspaces_enabled": False,
                "trace_archival_enabled": False,
                "multipart_uploads_enabled": False,
                "multipart_downloads_enabled": False,
                "presigned_upload_run_id_supported": False,
                "presigned_upload_model_id_supported": False,
                "features_enabled": {"gateway": False},
            }
        )


urlpatterns = [
    route("experiments/get-by-name", ExperimentGetByName),
    route("experiments/get", ExperimentGet),
    route("experiments/create", ExperimentCreate),
    route("experiments/search", ExperimentSearch),
    route("experiments/delete", ExperimentDelete),
    route("runs/create", RunCreate),
    route("runs/get", RunGet),
    route("runs/update", RunUpdate),
    route("runs/delete", RunDelete),
    route("runs/restore", RunRestore),
    route("runs/log-parameter", LogParameter),
    route("runs/log-metric", LogMetric),
    route("runs/log-batch", LogBatch),
    route("runs/set-tag", SetTag),
    route("runs/delete-tag", DeleteTag),
    route("runs/log-inputs", LogInputs),
    route("runs/outputs", LogOutputs),
    route("runs/search", RunSearch),
    route("metrics/get-history", MetricHistory),
    re_path(r"^api/3\.0/mlflow/server-info$", ServerInfo.as_view()),
]
