"""Online predictions through the predict API, every row logged, against `mlflow models serve`.

Usage:
    .venv/bin/python bench/serving.py [--concurrency 1,2,4,8,16] [--seconds 10] [--batch-requests 20]
    .venv/bin/python bench/serving.py --quick          # smoke run: 2 s per level, concurrency 1 and 4
    .venv/bin/python bench/serving.py --skip-mlflow    # ours only

"The demo classifier pipeline" is the one the demo puts in production: the registry demo makes the
logistic-regression run (`C=1.0`, target `defaulted`, holdout 0.25, seed 42) v1 of `credit-default` and
its production champion. This script builds the same thing in a fresh PostgreSQL database of its own
(`bench_serving_<pid>` on --database-url, default postgres://postgres@127.0.0.1:5432/postgres; dropped at
the end): it migrates, creates an admin and a data scientist with an API token, uploads the demo
credit-scoring data (`experiments.demo_data.credit_scoring_csv()`), trains the pipeline through
`start_training` (Q_SYNC=1, so the job runs inline), registers it and deploys it to production with
`deployments.services.deploy`. That happens in a subprocess whose environment names the database.

Ours: gunicorn on 127.0.0.1 as `manage.py serve` starts it (`--workers 2 --threads 4`, DEBUG=0, no
access log), `POST /api/deployments/production/credit-default/predict` with `{records, entity_key}`. Every
answered row is written to `Prediction` (and every request to `RequestStat`) before the answer leaves;
the script counts the `Prediction` rows at the end against the rows the clients got answers for.

Theirs: the same fitted pipeline (loaded from our skops file, sha256 checked, pickled, unpickled in
MLflow's venv and saved with `mlflow.sklearn.save_model`), served by `mlflow models serve --env-manager
local -w 2` (two workers, like ours), `POST /invocations` with `{"dataframe_records": [...]}`. MLflow
is installed into its own virtual environment (MLFLOW_VENV, default /tmp/mlflow-venv) with the same
scikit-learn and skops versions as ours. The pipeline's FunctionTransformers call
`experiments.training.as_float`/`as_text`, so the saved model carries a two-file copy of the
`experiments` package (`__init__.py`, `training.py`, which needs no Django) through `code_paths`. MLflow
answers `predict()` only, validates nothing (no signature) and logs nothing; we also compute
`predict_proba`, check every value against the version's signature and log every row.

Load: closed loop, C concurrent clients (threads spread over --client-processes processes, one
keep-alive `http.client` connection each) for --seconds per level, single-row requests drawn at random
from the dataset's rows (the signature's input columns, null for missing values), random entity keys.
Requests completing inside the window count; the clients start sending before it opens (warm). The
script prints requests/s, p50/p95/p99 latency and errors per level, the highest rate with p99 under
50 ms for each server, ours over theirs at each concurrency, and the latency of --batch-requests
sequential 1,000-row requests.

Before the load, the setup also times single-row predict in process through the site's predict path
(`serving.deployments.find` + `serving.predict`, what the API view calls: route, validate, score, log) for
the scikit-learn version (numpy fast path on, and off) and for an ONNX export of the same fitted pipeline
(skl2onnx; registered as v2 like a file trained elsewhere and deployed to staging), and prints one line
each. skl2onnx cannot convert the pipeline's `as_float`/`as_text` FunctionTransformers, so the export is
the same fitted steps without them (typed float/string inputs instead); the output says so.

Targets (issue 19): ≥ 500 requests/s with p99 < 50 ms on this 2-core machine; a 1,000-row batch ≤ 50 ms median;
≥ 3× MLflow's throughput at every concurrency. The clients share the 2 cores with the server, for
both servers alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MODEL_NAME = "credit-default"
ENVIRONMENT = "production"
PREDICT_PATH = f"/api/deployments/{ENVIRONMENT}/{MODEL_NAME}/predict"
P99_LIMIT_MS = 50.0

# The load generator: runs in its own process (stdlib only), prints one JSON line of results.
CLIENT = r"""
import http.client, json, random, sys, threading, time
cfg = json.loads(sys.argv[1])
with open(cfg["records"]) as handle:
    records = json.load(handle)
rng = random.Random(cfg["seed"])
rows = cfg["rows"]

def body():
    chosen = [rng.choice(records) for _ in range(rows)]
    if cfg["kind"] == "ours":
        return json.dumps({"records": chosen, "entity_key": f"customer-{rng.randrange(100_000)}"}).encode()
    return json.dumps({"dataframe_records": chosen}).encode()

bodies = [body() for _ in range(cfg["bodies"])]
headers = {"Content-Type": "application/json", **cfg["headers"]}
lock = threading.Lock()
out = {"latencies_ms": [], "ok": 0, "errors": 0, "rows_answered": 0, "error_samples": []}

def connect():
    return http.client.HTTPConnection(cfg["host"], cfg["port"], timeout=60)

def worker(index):
    connection = connect()
    latencies, ok, errors, answered, samples = [], 0, 0, 0, []
    start_at, count = cfg.get("start_at"), cfg.get("requests")
    end_at = start_at + cfg["seconds"] if start_at is not None else None
    sent, position = 0, index * 7919
    while True:
        if count is not None and sent >= count:
            break
        began_wall = time.time()
        if end_at is not None and began_wall >= end_at:
            break
        payload = bodies[position % len(bodies)]
        position += 1
        sent += 1
        began = time.perf_counter()
        try:
            connection.request("POST", cfg["path"], payload, headers)
            response = connection.getresponse()
            data = response.read()
            status = response.status
        except Exception as exc:
            connection.close()
            connection = connect()
            status, data = None, repr(exc).encode()
        elapsed_ms = (time.perf_counter() - began) * 1000
        if status == 200:
            answered += rows
        counted = start_at is None or (began_wall >= start_at and time.time() <= end_at)
        if not counted:
            continue
        if status == 200:
            ok += 1
            latencies.append(elapsed_ms)
        else:
            errors += 1
            if len(samples) < 3:
                samples.append(f"{status}: {data[:300].decode(errors='replace')}")
    connection.close()
    with lock:
        out["latencies_ms"] += latencies
        out["ok"] += ok
        out["errors"] += errors
        out["rows_answered"] += answered
        out["error_samples"] += samples

threads = [threading.Thread(target=worker, args=(i,)) for i in range(cfg["threads"])]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(out))
"""

# Single-row predict through the site's own path, in process: `serving.deployments.find` + `serving.predict`,
# what the predict API view calls (route, parse and validate against the signature, score, log the row in
# the database), for the scikit-learn version and an ONNX export of the same fitted pipeline. The ONNX file
# is registered as v2 of the same model the way a file trained elsewhere is (a logged run holding it at
# model/pipeline.skops with its signature.json) and deployed to staging with an admin override, so the
# load test above never routes to it. skl2onnx cannot convert the FunctionTransformers that call
# experiments.training.as_float/as_text, so the exported pipeline is the same fitted one with those two
# steps removed (ONNX inputs are typed: float per numeric or boolean column, string per categorical one) and
# the text imputer looking for "" (what onnxruntime is fed for a missing category) instead of NaN; for
# pipelines built of scikit-learn's own transformers (issue 16), only the text block's second imputer (None)
# goes, for the same reason. The rows it
# wrote are deleted afterwards, so the load test's logging check counts only its own.
SINGLE_ROW = r"""
def onnx_export(pipeline, signature):
    import copy
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from experiments.training import as_text
    equivalent = copy.deepcopy(pipeline)
    text_columns = set()
    for _, block, columns in equivalent.steps[0][1].transformers_:
        if not isinstance(block, Pipeline):
            continue
        if isinstance(block.steps[0][1], FunctionTransformer):  # pipelines trained before issue 16
            text = block.steps[0][1].func is as_text
            block.steps = block.steps[1:]
            if text:
                block.steps[0][1].missing_values = ""
                text_columns.update(columns)
            continue
        imputers = [step for step in block.steps if isinstance(step[1], SimpleImputer)]
        if len(imputers) == 2:  # text: one imputer for NaN, one for None; onnxruntime is fed "" when missing
            block.steps = [step for step in block.steps if step is not imputers[1]]
            imputers[0][1].missing_values = ""
            text_columns.update(columns)
    types = [
        (c["name"], StringTensorType([None, 1]) if c["name"] in text_columns else FloatTensorType([None, 1]))
        for c in signature["inputs"]
    ]
    options = {id(equivalent.steps[-1][1]): {"zipmap": False}}
    return convert_sklearn(equivalent, initial_types=types, options=options).SerializeToString()


def single_row(sklearn_version, run, frame, records, requests=1500):
    import statistics, time
    from deployments import serving
    from deployments.models import Prediction, RequestStat
    from registry.models import ModelVersion
    pipeline = experiment_services.load_pipeline(sklearn_version.artifact)
    experiment = experiment_services.create_experiment(name="credit default, exported", actor=scientist)
    logged = experiment_services.create_run(
        experiment, actor=scientist, name="onnx export", input_versions=[v.pk for v in run.input_versions.all()]
    )
    experiment_services.upload_artifact(
        logged, SimpleUploadedFile("pipeline.skops", onnx_export(pipeline, sklearn_version.signature)),
        actor=scientist, path="model/pipeline.skops",
    )
    experiment_services.upload_artifact(
        logged, SimpleUploadedFile("signature.json", json.dumps(sklearn_version.signature).encode()),
        actor=scientist, path="model/signature.json",
    )
    logged = experiment_services.finish_run(logged, actor=scientist)
    onnx_version = registry_services.register_version(sklearn_version.model, logged, actor=scientist)
    assert onnx_version.format == "onnx"  # read from the file's bytes
    staging = Environment.objects.get(name="staging")
    deployment_services.deploy(staging, onnx_version, actor=admin, override=True, reason="bench: ONNX beside sklearn")
    bodies = [{"records": [records[(i * 7919) % len(records)]]} for i in range(requests)]
    ours = {"production": sklearn_version, "staging": onnx_version}

    def timed(environment, *, fast=True):
        deployment = serving.deployments.find(environment, sklearn_version.model.name)
        scorer = serving.cache.get(ours[environment])
        kept, scorer.fast = scorer.fast, (scorer.fast if fast else None)
        answers, times = [], []
        try:
            for body in bodies[:50]:  # warm: the cache, the connection, onnxruntime's first run
                serving.predict(deployment, body)
            for body in bodies:
                began = time.perf_counter()
                answer = serving.predict(deployment, body)
                times.append((time.perf_counter() - began) * 1000)
                answers.append(answer.predictions[0])
        finally:
            scorer.fast = kept
        times.sort()
        figures = {
            "p50": statistics.median(times),
            "p95": times[int(0.95 * (len(times) - 1))],
            "mean": statistics.fmean(times),
        }
        score_times = []
        for body in bodies[:500]:
            columns = scorer.parse(body["records"], ours[environment].signature)
            began = time.perf_counter()
            if fast:
                scorer.score(columns)
            else:
                kept, scorer.fast = scorer.fast, None
                try:
                    scorer.score(columns)
                finally:
                    scorer.fast = kept
            score_times.append((time.perf_counter() - began) * 1000)
        figures["score_p50"] = statistics.median(score_times)
        return figures, answers

    sk_fast, sk_answers = timed("production")
    sk_plain, _ = timed("production", fast=False)
    onnx, onnx_answers = timed("staging")
    onnx_frame, _ = timed("staging", fast=False)
    same = sum(a["prediction"] == b["prediction"] for a, b in zip(sk_answers, onnx_answers))
    gap = max(abs(a["probabilities"][k] - b["probabilities"][k]) for a, b in zip(sk_answers, onnx_answers) for k in a["probabilities"])
    Prediction.objects.all().delete()  # nothing else has served yet
    RequestStat.objects.all().delete()
    return {
        "requests": requests,
        "sklearn_fast": sk_fast,
        "sklearn_pipeline": sk_plain,
        "onnx": onnx,
        "onnx_frame": onnx_frame,
        "onnx_version": onnx_version.number,
        "fast_path": serving.cache.get(sklearn_version).fast is not None,
        "agree": same,
        "max_probability_gap": gap,
    }
"""

# Run in our venv with the bench database: build the deployment the demo builds, export what the load needs.
SETUP = r"""
import json, pickle, sys
from pathlib import Path
import django
django.setup()
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
out = Path(sys.argv[1])
call_command("migrate", verbosity=0)
import sklearn, skops
from deployments import fastpath
from deployments import services as deployment_services
from deployments.models import Environment
from experiments import demo_data
from experiments import services as experiment_services
from experiments.models import Run
from mlops_site import roles
from mlops_site.services import create_api_token
from registry import services as registry_services
User = get_user_model()
admin = User.objects.create_user("bench-admin", is_staff=True, is_superuser=True)
admin.groups.add(Group.objects.get(name=roles.ADMIN))
scientist = User.objects.create_user("bench-scientist")
scientist.groups.add(Group.objects.get(name=roles.DATA_SCIENTIST))
admin, scientist = User.objects.get(pk=admin.pk), User.objects.get(pk=scientist.pk)  # fresh permission caches
token = create_api_token(scientist, name="bench-serving")[1]
dataset = experiment_services.create_dataset(name="credit-scoring", actor=scientist)
upload = SimpleUploadedFile("credit_scoring_raw.csv", demo_data.credit_scoring_csv(), content_type="text/csv")
version, _ = experiment_services.upload_version(dataset, upload, actor=scientist, target="defaulted")
experiment = experiment_services.create_experiment(name="credit default", actor=scientist)
run = experiment_services.start_training(
    experiment, version, actor=scientist, algorithm="logistic_regression", params={"C": 1.0},
    target="defaulted", holdout=0.25, seed=42, cv_folds=5,
)
run = Run.objects.get(pk=run.pk)
assert run.status == Run.Status.FINISHED, f"training did not finish inline: {run.status} ({run.job.error})"
model = registry_services.create_model(name=sys.argv[2], actor=scientist)
model_version = registry_services.register_version(model, run, actor=scientist)
environment = Environment.objects.get(name=sys.argv[3])
warnings = []
# Nobody reviews the bench's version: production serves it as an admin's emergency override.
deployment_services.deploy(environment, model_version, actor=admin, override=True, reason="bench: unreviewed version")
columns = [column["name"] for column in model_version.signature["inputs"]]
frame = experiment_services.load_frame(version)
records = json.loads(frame[columns].to_json(orient="records"))  # as the demo's traffic replay sends them
(out / "records.json").write_text(json.dumps(records))
pipeline = experiment_services.load_pipeline(model_version.artifact)  # the served bytes, sha256 checked
with open(out / "pipeline.pkl", "wb") as handle:
    pickle.dump(pipeline, handle, protocol=5)
info = {
    "single_row": single_row(model_version, run, frame, records),
    "token": token,
    "rows": len(records),
    "columns": len(columns),
    "metrics": {k: round(v, 4) for k, v in model_version.metrics.items() if k in ("roc_auc", "f1", "accuracy")},
    "sklearn": sklearn.__version__,
    "skops": skops.__version__,
    "warnings": warnings,
    "fast_path": (fast := fastpath.compile_pipeline(pipeline)) is not None and fastpath.verify(pipeline, fast) is None,
}
(out / "setup.json").write_text(json.dumps(info))
"""
SETUP = SETUP.replace("info = {", SINGLE_ROW + "\ninfo = {", 1)

# Run in MLflow's venv: unpickle our fitted pipeline and save it in MLflow's format.
MLFLOW_SAVE = r"""
import pickle, sys
code, pickled, target = sys.argv[1:4]
sys.path.insert(0, code)  # experiments.training, for the FunctionTransformers' functions
import mlflow, mlflow.sklearn, sklearn
with open(pickled, "rb") as handle:
    pipeline = pickle.load(handle)
mlflow.sklearn.save_model(
    pipeline, target, code_paths=[f"{code}/experiments"], serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
)
print(mlflow.__version__, sklearn.__version__)
"""


# ---------------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------------


def wait_for(url: str, seconds: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise SystemExit(f"the server exited with code {process.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def stop(process: subprocess.Popen | None) -> None:
    """Stop a server started with start_new_session (its whole process group: master and workers)."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def database(server_url: str, name: str, *, drop_only: bool = False) -> str:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def count_rows(database_url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------------------------------------------
# Load
# ---------------------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class Target:
    """One server under load: where it listens, what it is sent, and every row it answered."""

    def __init__(self, kind: str, port: int, path: str, records: Path, headers: dict | None = None):
        self.kind, self.port, self.path, self.records = kind, port, path, records
        self.headers = headers or {}
        self.rows_answered = 0

    def _clients(self, processes: int, threads: int, rows: int, seed: int, **timing) -> dict:
        spread = [threads // processes + (1 if i < threads % processes else 0) for i in range(processes)]
        started = []
        for i, count in enumerate(n for n in spread if n):
            config = {
                "kind": self.kind,
                "host": "127.0.0.1",
                "port": self.port,
                "path": self.path,
                "headers": self.headers,
                "records": str(self.records),
                "rows": rows,
                "bodies": 2000 if rows == 1 else 20,
                "threads": count,
                "seed": seed * 100 + i,
                **timing,
            }
            started.append(subprocess.Popen([PYTHON, "-c", CLIENT, json.dumps(config)], stdout=subprocess.PIPE))
        merged = {"latencies_ms": [], "ok": 0, "errors": 0, "rows_answered": 0, "error_samples": []}
        for process in started:
            out, _ = process.communicate()
            if process.returncode:
                raise SystemExit(f"a load client exited with code {process.returncode}")
            result = json.loads(out)
            for key in merged:
                merged[key] += result[key]
        self.rows_answered += merged["rows_answered"]
        return merged

    def agreement_probe(self, rows: int = 200) -> list:
        """The predictions for the dataset's first `rows` rows in one request, to compare both servers' answers."""
        records = json.loads(self.records.read_text())[:rows]
        body = {"records": records} if self.kind == "ours" else {"dataframe_records": records}
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{self.path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **self.headers},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            answer = json.load(response)["predictions"]
        self.rows_answered += len(answer)
        return [row["prediction"] for row in answer] if self.kind == "ours" else answer

    def warm_up(self, requests: int = 40) -> None:
        """Both workers load the pipeline and open their database connections before anything is timed."""
        result = self._clients(2, 4, 1, seed=1, requests=requests // 4)
        result_batch = self._clients(1, 1, 1000, seed=2, requests=2)
        if result["errors"] or result_batch["errors"]:
            samples = result["error_samples"] + result_batch["error_samples"]
            raise SystemExit(f"{self.kind}: warm-up requests failed: {samples}")

    def closed_loop(self, concurrency: int, seconds: float, processes: int) -> dict:
        start_at = time.time() + 2.0  # clients start, connect and send (unrecorded) before the window opens
        result = self._clients(
            min(processes, concurrency), concurrency, 1, seed=concurrency, start_at=start_at, seconds=seconds
        )
        latencies = result["latencies_ms"]
        return {
            "concurrency": concurrency,
            "rps": result["ok"] / seconds,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "errors": result["errors"],
            "error_samples": result["error_samples"],
        }

    def batch(self, requests: int, rows: int) -> dict:
        result = self._clients(1, 1, rows, seed=3, requests=requests)
        latencies = result["latencies_ms"]
        return {
            "rows": rows,
            "requests": requests,
            "median": statistics.median(latencies) if latencies else float("nan"),
            "p95": percentile(latencies, 95),
            "errors": result["errors"],
            "error_samples": result["error_samples"],
        }


def sweep(label: str, target: Target, args) -> tuple[list[dict], dict]:
    target.warm_up()
    levels = []
    for concurrency in args.concurrency:
        level = target.closed_loop(concurrency, args.seconds, args.client_processes)
        levels.append(level)
        print(
            f"{label:<7} c={concurrency:<3} {level['rps']:8.1f} req/s   p50 {level['p50']:6.1f} ms   "
            f"p95 {level['p95']:6.1f} ms   p99 {level['p99']:6.1f} ms   errors {level['errors']}",
            flush=True,
        )
        for sample in level["error_samples"]:
            print(f"          e.g. {sample}")
    batch = target.batch(args.batch_requests, args.batch_rows)
    print(
        f"{label:<7} {args.batch_rows:,}-row batch × {args.batch_requests}: median {batch['median']:6.1f} ms   "
        f"p95 {batch['p95']:6.1f} ms   errors {batch['errors']}",
        flush=True,
    )
    for sample in batch["error_samples"]:
        print(f"          e.g. {sample}")
    return levels, batch


def best(levels: list[dict]) -> dict | None:
    """The highest throughput among the levels with p99 under the limit and no errors."""
    good = [level for level in levels if level["p99"] < P99_LIMIT_MS and not level["errors"]]
    return max(good, key=lambda level: level["rps"]) if good else None


# ---------------------------------------------------------------------------------------------------
# The two servers
# ---------------------------------------------------------------------------------------------------


def ours(args, env: dict, work: Path, token: str) -> tuple[list[dict], dict, int, list]:
    server = subprocess.Popen(
        [
            PYTHON,
            "-m",
            "gunicorn",
            "mlops_site.wsgi:application",
            "--config",
            "python:mlops_site.gunicorn_conf",  # as `manage.py serve` runs it: preloaded, workers die with it
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
        ],
        cwd=ROOT,
        env={**env, "WEB_ACCESS_LOG": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{args.port}/healthz", 60, server)
        target = Target(
            "ours", args.port, PREDICT_PATH, work / "records.json", headers={"Authorization": f"Token {token}"}
        )
        levels, batch = sweep("ours", target, args)
        probe = target.agreement_probe()
        return levels, batch, target.rows_answered, probe
    finally:
        stop(server)


def mlflow_venv(sklearn_version: str, skops_version: str) -> Path:
    """MLflow in its own venv with our scikit-learn and skops versions (installed once, then reused)."""
    venv = Path(os.environ.get("MLFLOW_VENV", "/tmp/mlflow-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([PYTHON, "-m", "venv", str(venv)], check=True)
    probe = "import mlflow, sklearn, skops; print(sklearn.__version__, skops.__version__)"
    found = subprocess.run([python, "-c", probe], capture_output=True, text=True)
    if found.returncode or found.stdout.split() != [sklearn_version, skops_version]:
        print(f"installing mlflow, scikit-learn=={sklearn_version}, skops=={skops_version} into {venv} …", flush=True)
        install = subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "mlflow",
                f"scikit-learn=={sklearn_version}",
                f"skops=={skops_version}",
            ],
            capture_output=True,
            text=True,
        )
        if install.returncode:
            raise SystemExit(f"pip install into {venv} failed:\n{install.stderr[-3000:]}")
    return venv


def theirs(args, work: Path, info: dict) -> tuple[list[dict], dict, str, list]:
    venv = mlflow_venv(info["sklearn"], info["skops"])
    code = work / "mlflow-code"
    (code / "experiments").mkdir(parents=True)
    (code / "experiments" / "__init__.py").write_text("")
    shutil.copy(ROOT / "experiments" / "training.py", code / "experiments" / "training.py")
    model_dir = work / "mlflow-model"
    saved = subprocess.run(
        [venv / "bin" / "python", "-c", MLFLOW_SAVE, str(code), str(work / "pipeline.pkl"), str(model_dir)],
        capture_output=True,
        text=True,
    )
    if saved.returncode:
        raise SystemExit(f"mlflow.sklearn.save_model failed:\n{saved.stderr[-3000:]}")
    versions = saved.stdout.split()[-2:]
    log = open(work / "mlflow-serve.log", "w")  # noqa: SIM115 (closed once the server has stopped)
    server = subprocess.Popen(
        [
            venv / "bin" / "mlflow",
            "models",
            "serve",
            "-m",
            str(model_dir),
            "-h",
            "127.0.0.1",
            "-p",
            str(args.port + 1),
            "-w",
            str(args.workers),
            "--env-manager",
            "local",
        ],
        cwd=work,
        # `mlflow models serve` execs `uvicorn` from PATH: its venv's bin comes first.
        env={**os.environ, "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}"},
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    try:
        try:
            wait_for(f"http://127.0.0.1:{args.port + 1}/ping", 180, server)
        except SystemExit:
            print((work / "mlflow-serve.log").read_text()[-3000:])
            raise
        target = Target("mlflow", args.port + 1, "/invocations", work / "records.json")
        levels, batch = sweep("MLflow", target, args)
        return levels, batch, f"MLflow {versions[0]}, scikit-learn {versions[1]}", target.agreement_probe()
    finally:
        stop(server)
        log.close()


# ---------------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------------


def report(our_levels, our_batch, their_levels, their_batch, logged, answered, peer, agreement) -> None:
    print("\n=== results ===")
    header = f"{'clients':>7} | {'ours req/s':>10} {'p50':>6} {'p99':>6} {'err':>4}"
    if their_levels:
        header += f" | {'MLflow req/s':>12} {'p50':>6} {'p99':>6} {'err':>4} | {'ours/MLflow':>11}"
    print(header)
    print("-" * len(header))
    theirs_by_c = {level["concurrency"]: level for level in their_levels or []}
    for level in our_levels:
        line = (
            f"{level['concurrency']:>7} | {level['rps']:>10.1f} {level['p50']:>6.1f} {level['p99']:>6.1f} "
            f"{level['errors']:>4}"
        )
        other = theirs_by_c.get(level["concurrency"])
        if other:
            ratio = level["rps"] / other["rps"] if other["rps"] else float("inf")
            line += (
                f" | {other['rps']:>12.1f} {other['p50']:>6.1f} {other['p99']:>6.1f} {other['errors']:>4}"
                f" | {ratio:>10.2f}×"
            )
        print(line)
    print("(latencies in ms; p99 limit 50 ms)")
    for label, levels in (("ours", our_levels), ("MLflow", their_levels)):
        if levels is None:
            continue
        top = best(levels)
        if top:
            print(
                f"{label:<7} highest rate with p99 < 50 ms: {top['rps']:.1f} req/s at {top['concurrency']} clients "
                f"(p99 {top['p99']:.1f} ms)" + ("   target ≥ 500 req/s" if label == "ours" else "")
            )
        else:
            print(f"{label:<7} no concurrency level kept p99 under 50 ms without errors")
    print(
        f"ours    {our_batch['rows']:,}-row batch: median {our_batch['median']:.1f} ms, p95 {our_batch['p95']:.1f} ms "
        f"over {our_batch['requests']} requests   target ≤ 50 ms"
    )
    if their_batch:
        print(
            f"MLflow  {their_batch['rows']:,}-row batch: median {their_batch['median']:.1f} ms, "
            f"p95 {their_batch['p95']:.1f} ms"
        )
    verdict = "every answered row logged" if logged >= answered else f"{answered - logged} ANSWERED ROWS NOT LOGGED"
    print(f"ours    logging: {logged:,} Prediction rows for {answered:,} answered rows ({verdict})")
    if peer:
        print(f"peer    {peer}, `mlflow models serve --env-manager local -w 2`: predict() only, no logging")
        print(f"check   {agreement}")


def print_single_row(figures: dict) -> None:
    """The in-process single-row lines: the site's predict path (route, validate, score, log) and scoring alone."""
    print(
        f"single-row predict through serving.predict (what the API view calls; the row logged), "
        f"{figures['requests']:,} requests each, in process:",
        flush=True,
    )
    lines = (
        ("scikit-learn, numpy fast path", figures["sklearn_fast"]),
        ("scikit-learn, pipeline (no fast path)", figures["sklearn_pipeline"]),
        (f"ONNX v{figures['onnx_version']}, onnxruntime (column feed)", figures["onnx"]),
        (f"ONNX v{figures['onnx_version']}, onnxruntime via DataFrame", figures["onnx_frame"]),
    )
    for label, row in lines:
        print(
            f"  {label:<42} p50 {row['p50']:6.2f} ms   p95 {row['p95']:6.2f} ms   mean {row['mean']:6.2f} ms   "
            f"(scoring alone p50 {row['score_p50']:6.3f} ms)",
            flush=True,
        )
    print(
        f"  the ONNX file is the same fitted pipeline exported with skl2onnx (inputs typed float/string; the text "
        f'imputer for None dropped, onnxruntime is fed "" for a missing category), float32 inside: {figures["agree"]:,} of '
        f"{figures['requests']:,} predictions alike, probabilities within {figures['max_probability_gap']:.1e}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="1,2,4,8,16", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per concurrency level")
    parser.add_argument("--batch-requests", type=int, default=20)
    parser.add_argument("--batch-rows", type=int, default=1000)
    parser.add_argument("--client-processes", type=int, default=2, help="load-generator processes (threads inside)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes, both servers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (ours)")
    parser.add_argument("--port", type=int, default=8321, help="ours; MLflow listens on port + 1")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s per level, 1 and 4 clients, 3 batches")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.concurrency, args.batch_requests = 2.0, "1,4", 3
    args.concurrency = [int(c) for c in str(args.concurrency).split(",") if c.strip()]

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    name = f"bench_serving_{os.getpid()}"
    database_url = database(args.database_url, name)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlops_site.settings",
        "DATABASE_URL": database_url,
        "DATA_DIR": str(work / "data"),
        "DEBUG": "0",
        "HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    try:
        began = time.perf_counter()
        setup = subprocess.run(
            [PYTHON, "-c", SETUP, str(work), MODEL_NAME, ENVIRONMENT],
            cwd=ROOT,
            env={**env, "Q_SYNC": "1"},
            capture_output=True,
            text=True,
        )
        if setup.returncode:
            raise SystemExit(f"setup failed:\n{setup.stdout[-2000:]}\n{setup.stderr[-4000:]}")
        info = json.loads((work / "setup.json").read_text())
        for warning in info["warnings"]:
            print(f"WARNING {warning}", flush=True)
        print(
            f"setup   {time.perf_counter() - began:.0f} s: {info['rows']:,} rows × {info['columns']} inputs, "
            f"logistic regression {info['metrics']} deployed to {ENVIRONMENT} (database {name}, "
            f"scikit-learn {info['sklearn']}, numpy fast path: {'yes' if info['fast_path'] else 'no'})",
            flush=True,
        )
        print_single_row(info["single_row"])
        our_levels, our_batch, answered, our_probe = ours(args, env, work, info["token"])
        logged = count_rows(database_url, "deployments_prediction")
        their_levels = their_batch = peer = agreement = None
        if not args.skip_mlflow:
            their_levels, their_batch, peer, their_probe = theirs(args, work, info)
            same = sum(a == b for a, b in zip(our_probe, their_probe, strict=True))
            agreement = f"the same {len(our_probe)} rows sent to both: {same} predicted alike"
        report(our_levels, our_batch, their_levels, their_batch, logged, answered, peer, agreement)
    finally:
        database(args.database_url, name, drop_only=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
