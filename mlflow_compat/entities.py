"""The site's experiments and runs in MLflow's JSON (the shapes of MLflow's protos).

Runs are read in bulk (`runs_json`): one query each for params, latest metrics, inputs and outputs of a
whole page, so `search_runs` of 1,000 runs costs a handful of queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from experiments.models import Experiment, LatestMetric, Param, Run
from mlflow_compat.models import LoggedModel, RunInput, RunOutput
from mlflow_compat.protocol import kv, ms, wire_number

STATUS_OUT = {
    Run.Status.RUNNING: "RUNNING",
    Run.Status.FINISHED: "FINISHED",
    Run.Status.FAILED: "FAILED",
    Run.Status.KILLED: "KILLED",
}
STATUS_IN = {"RUNNING": Run.Status.RUNNING, "SCHEDULED": Run.Status.RUNNING, **{v: k for k, v in STATUS_OUT.items()}}

# Tags the client sets that the site keeps as fields of the run instead (the run's own name, parent, user).
FIELD_TAGS = ("mlflow.runName", "mlflow.parentRunId", "mlflow.user")


def experiment_json(experiment: Experiment) -> dict:
    created = ms(experiment.created_at)
    return {
        "experiment_id": str(experiment.pk),
        "name": experiment.name,
        "artifact_location": f"mlflow-artifacts:/{experiment.pk}",
        "lifecycle_stage": "active",
        "last_update_time": created,
        "creation_time": created,
        "tags": kv({"mlflow.note.content": experiment.description} if experiment.description else {}),
    }


def artifact_uri(run: Run) -> str:
    return f"mlflow-artifacts:/{run.experiment_id}/{run.pk}/artifacts"


def run_info(run: Run) -> dict:
    return {
        "run_id": str(run.pk),
        "run_uuid": str(run.pk),
        "run_name": run.name or f"run-{run.pk}",
        "experiment_id": str(run.experiment_id),
        "user_id": run.user.username if run.user else "",
        "status": STATUS_OUT.get(run.status, "RUNNING"),
        "start_time": ms(run.started_at),
        "end_time": ms(run.ended_at),
        "artifact_uri": artifact_uri(run),
        "lifecycle_stage": "active",
    }


def run_tags(run: Run) -> dict[str, str]:
    """The run's tags as MLflow shows them: its own, plus the ones MLflow keeps as tags and the site as fields."""
    tags = {k: v for k, v in (run.tags or {}).items() if k not in FIELD_TAGS}
    tags["mlflow.runName"] = run.name or f"run-{run.pk}"
    if run.user:
        tags["mlflow.user"] = run.user.username
    if run.parent_id:
        tags["mlflow.parentRunId"] = str(run.parent_id)
    if run.code_version and "mlflow.source.git.commit" not in tags:
        tags["mlflow.source.git.commit"] = run.code_version
    return tags


def runs_json(runs: Iterable[Run]) -> list[dict]:
    runs = list(runs)
    ids = [run.pk for run in runs]
    params: dict[int, dict] = defaultdict(dict)
    for run_id, key, value in Param.objects.filter(run_id__in=ids).values_list("run_id", "key", "value"):
        params[run_id][key] = value
    metrics: dict[int, list] = defaultdict(list)
    for run_id, key, value, step, stamp in (
        LatestMetric.objects.filter(run_id__in=ids)
        .order_by("key")
        .values_list("run_id", "key", "value", "step", "timestamp")
    ):
        value = "NaN" if value is None else wire_number(value)  # NULL is how the site keeps a NaN point
        metrics[run_id].append({"key": key, "value": value, "timestamp": ms(stamp), "step": step})
    inputs: dict[int, list] = defaultdict(list)
    for item in RunInput.objects.filter(run_id__in=ids):
        inputs[item.run_id].append(
            {
                "tags": kv(item.tags or {}),
                "dataset": {
                    "name": item.name,
                    "digest": item.digest,
                    "source_type": item.source_type,
                    "source": item.source,
                    "schema": item.schema,
                    "profile": item.profile,
                },
            }
        )
    outputs: dict[int, list] = defaultdict(list)
    for run_id, model_id, step in RunOutput.objects.filter(run_id__in=ids).values_list(
        "run_id", "logged_model__model_id", "step"
    ):
        outputs[run_id].append({"model_id": model_id, "step": step})
    return [
        {
            "info": run_info(run),
            "data": {"metrics": metrics[run.pk], "params": kv(params[run.pk]), "tags": kv(run_tags(run))},
            "inputs": {"dataset_inputs": inputs[run.pk], "model_inputs": []},
            "outputs": {"model_outputs": outputs[run.pk]},
        }
        for run in runs
    ]


def logged_model_uri(model: LoggedModel) -> str:
    return f"mlflow-artifacts:/{model.experiment_id}/models/{model.model_id}/artifacts"


def logged_model_json(model: LoggedModel) -> dict:
    """MLflow's LoggedModel (`info` and `data`); its metrics stay on the run that logged them."""
    return {
        "info": {
            "model_id": model.model_id,
            "experiment_id": str(model.experiment_id),
            "name": model.name,
            "artifact_uri": logged_model_uri(model),
            "creation_timestamp_ms": ms(model.created_at),
            "last_updated_timestamp_ms": ms(model.updated_at),
            "model_type": model.model_type,
            "source_run_id": str(model.source_run_id) if model.source_run_id else "",
            "status": model.status,
            "status_message": model.status_message,
            "tags": kv(model.tags),
        },
        "data": {"params": kv(model.params), "metrics": []},
    }
