"""The real mlflow client's own path: metric ingest and history read, this site against `mlflow server`.

Usage:
    .venv/bin/python bench/mlflow_client.py [--points 100000] [--history 10000] [--repeats 5]
        [--database-url postgres://postgres@127.0.0.1:5432/postgres]

One run starts both servers in turn on 127.0.0.1, each with one worker process and a fresh database on the
same PostgreSQL server (bench/metric_ingest.py's `site_server` and `mlflow_server`), and runs the same client
script against each, with the mlflow client from its own virtual environment (MLFLOW_VENV, default
.venv-mlflow; requirements-mlflow.txt):

- ingest: `MlflowClient.log_batch` of `--points` points (10 metric keys, increasing steps), 1,000 per call
  (the client's limit per batch);
- history: `MlflowClient.get_metric_history` of one metric with `--history` points, the median of
  `--repeats` reads after one warm-up read, every point checked.

Where the time goes: the same script times, apart, the client's own work (building each batch's JSON with
`to_proto` + `message_to_json`, as `RestStore.log_batch` does; parsing a history answer with `json.loads` +
`parse_dict` + `Metric.from_proto`, as `call_endpoint` does) and the HTTP round trips alone (the same request
bodies sent with `requests` to a second run; the same history GET), so that
client total ≈ client JSON work + HTTP and server + the client's other bookkeeping.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.metric_ingest import mlflow_server, mlflow_venv, site_server  # noqa: E402

CLIENT = r"""
import json, os, statistics, sys, time
import requests
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric
from mlflow.protos.service_pb2 import GetMetricHistory, LogBatch
from mlflow.utils.proto_json_utils import message_to_json, parse_dict

uri, points, history_points, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
T0 = 1_700_000_000_000
client = MlflowClient(tracking_uri=uri)
experiment = client.create_experiment(f"bench-{time.time_ns()}")
headers = {"Content-Type": "application/json"}
if os.environ.get("MLFLOW_TRACKING_TOKEN"):
    headers["Authorization"] = "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"]
session = requests.Session()


def batches_of(n):
    return [[Metric(f"m{i % 10}", float(i), T0 + i, i) for i in range(start, min(n, start + 1000))]
            for start in range(0, n, 1000)]


def body_of(run_id, metrics):
    return message_to_json(LogBatch(run_id=run_id, metrics=[m.to_proto() for m in metrics], params=[], tags=[]))


# Ingest through the client.
run_id = client.create_run(experiment).info.run_id
batches = batches_of(points)
began = time.perf_counter()
for metrics in batches:
    client.log_batch(run_id, metrics=metrics)
ingest = time.perf_counter() - began

# The client's JSON work for those calls, alone.
began = time.perf_counter()
for metrics in batches:
    body_of(run_id, metrics)
ingest_json = time.perf_counter() - began

# The same request bodies sent without the client, to a second run: HTTP and server alone.
raw_run = client.create_run(experiment).info.run_id
bodies = [body_of(raw_run, metrics) for metrics in batches]
began = time.perf_counter()
for body in bodies:
    response = session.post(f"{uri}/api/2.0/mlflow/runs/log-batch", data=body, headers=headers)
    assert response.status_code == 200, response.text[:300]
ingest_http = time.perf_counter() - began
assert client.get_run(raw_run).data.metrics == client.get_run(run_id).data.metrics

# History: one metric of `history_points` points.
history_run = client.create_run(experiment).info.run_id
points_in = [Metric("loss", 1 / (i + 1), T0 + 7 * i, i) for i in range(history_points)]
for start in range(0, history_points, 1000):
    client.log_batch(history_run, metrics=points_in[start:start + 1000])
expected = [(m.step, m.value, m.timestamp) for m in points_in]
assert [(m.step, m.value, m.timestamp) for m in client.get_metric_history(history_run, "loss")] == expected  # warm
reads = []
for _ in range(repeats):
    began = time.perf_counter()
    history = client.get_metric_history(history_run, "loss")
    reads.append(time.perf_counter() - began)
    assert len(history) == history_points
query = {"run_id": history_run, "run_uuid": history_run, "metric_key": "loss", "max_results": 25000}
raw_reads, parses = [], []
for _ in range(repeats):
    began = time.perf_counter()
    response = session.get(f"{uri}/api/2.0/mlflow/metrics/get-history", params=query, headers=headers)
    raw_reads.append(time.perf_counter() - began)
    assert response.status_code == 200
    began = time.perf_counter()
    parsed = GetMetricHistory.Response()
    parse_dict(json.loads(response.text), parsed)
    metrics = [Metric.from_proto(m) for m in parsed.metrics]
    parses.append(time.perf_counter() - began)
    assert [(m.step, m.value, m.timestamp) for m in metrics] == expected
print(json.dumps({
    "client": mlflow.__version__,
    "ingest": ingest, "ingest_json": ingest_json, "ingest_http": ingest_http,
    "history": statistics.median(reads), "history_http": statistics.median(raw_reads),
    "history_parse": statistics.median(parses), "history_bytes": len(response.content),
}))
"""


def measure(python: Path, uri: str, args, token: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", GIT_PYTHON_REFRESH="quiet")
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    out = subprocess.run(
        [python, "-c", CLIENT, uri, str(args.points), str(args.history), str(args.repeats)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"the client failed against {uri}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    venv = mlflow_venv()
    python = venv / "bin" / "python"
    with site_server(args.database_url, 8313, database="bench_client_ours") as (base, token, _):
        ours = measure(python, base, args, token)
    with mlflow_server(args.database_url, 8314, venv, database="bench_client_mlflow") as base:
        theirs = measure(python, base, args)

    n, h = args.points, args.history
    print(f"mlflow client {ours['client']}, both servers one worker on 127.0.0.1, same PostgreSQL server")
    print(f"{'':44}{'this site':>14}{'mlflow server':>16}{'site faster':>13}")
    rows = [
        (f"ingest {n:,} points, log_batch ×{-(-n // 1000)}", "ingest", n),
        (f"history read {h:,} points (median of {args.repeats})", "history", h),
    ]
    for label, key, count in rows:
        a, b = ours[key], theirs[key]
        print(f"{label:44}{a:12.3f} s{b:14.3f} s{b / a:12.1f}×")
        print(f"{'  points/s':44}{count / a:14,.0f}{count / b:16,.0f}")
    print("where the time goes (seconds):")
    parts = [
        ("ingest: client builds the JSON (to_proto + message_to_json)", "ingest_json"),
        ("ingest: HTTP + server, same bodies sent with requests", "ingest_http"),
        ("history: HTTP + server, the same GET with requests", "history_http"),
        ("history: client parses (json.loads + parse_dict + from_proto)", "history_parse"),
    ]
    for label, key in parts:
        print(f"  {label:62}{ours[key]:8.3f}{theirs[key]:14.3f}")
    print(f"  {'history answer size (bytes)':62}{ours['history_bytes']:8,}{theirs['history_bytes']:14,}")
    print("goal: the site ≥ 5× faster on both")


if __name__ == "__main__":
    main()
