"""Memory of the whole `make run` tree at rest with the demo loaded, beside `mlflow server`; time to a ready demo;
and whether stopping `make run` as a process supervisor does leaves anything behind.

Usage:
    .venv/bin/python bench/footprint.py                 # fresh clone of HEAD, then the two mlflow servers
    .venv/bin/python bench/footprint.py --in-place      # this checkout and its .venv (no clone, no install)
    .venv/bin/python bench/footprint.py --skip-mlflow   # ours only
    Options: --settle 30 (seconds at rest before measuring), --port 8190

Ours: `make run` in a fresh clone of this repository's HEAD (its own .venv, built by `make` from pip's cache:
the newcomer's path), with a fresh DATA_DIR, a free port and DEMO_PASSWORD set, started in its own process group
(`setsid`, as a supervisor would). The script reads the console as it comes and notes when /healthz first
answers and when the console says "Demo data ready.". It then waits --settle seconds and reads RSS and PSS of
every process of the tree from /proc/<pid>/smaps_rollup. RSS counts a page shared by several processes once in
each of them (gunicorn workers forked from a preloaded master, django-q2 processes forked from the cluster), so
the sum of RSS overstates what the tree holds; the sum of PSS (each shared page divided among the processes that
share it) is what the tree takes from the machine. Both are printed.

Then: a few single-row predictions on the demo's production deployment (so both web workers have loaded the
model, as on a site that serves), and the tree measured again. Then the stop: SIGINT to the process group, and
20 s later SIGKILL to the group, what a supervisor such as systemd or Kubernetes does; any process of the tree
still alive after that is listed and counted (the target is none).

Theirs: `mlflow server` from the mlflow client's own virtual environment (.venv-mlflow, requirements-mlflow.txt),
SQLite backend and a local artifact root in a temporary folder, once with its defaults and once with `--workers 1`,
measured the same way after /health answers and --settle seconds. MLflow has no demo data to load.

Targets (issue 19): the tree at rest with the demo at most 800 MB (aim 400); demo ready within 5 minutes of
`make run` on a fresh clone; nothing left after the stop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-footprint"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree[ppid].append(int(entry))
    return tree


def descendants(root: int) -> list[int]:
    tree, found, todo = children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def memory(pid: int) -> tuple[float, float] | None:
    """(RSS, PSS) in MB, or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines()[1:]:
        key, _, rest = line.partition(":")
        values[key] = int(rest.split()[0]) / 1024
    return values.get("Rss", 0.0), values.get("Pss", 0.0)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def ppid_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def role(pid: int, roles: dict[int, str]) -> str:
    """What a process of our tree is, from its command line and its parent's role."""
    args = " ".join(cmdline(pid))
    parent = roles.get(ppid_of(pid), "")
    if args.startswith("make"):
        return "make run"
    if args.startswith("/bin/sh"):
        return "make's shell"
    if "manage.py serve" in args:
        return "supervisor (manage.py serve)"
    if "gunicorn" in args:
        return "gunicorn worker" if parent.startswith("gunicorn") else "gunicorn master"
    if "qcluster" in args:
        if parent.startswith("qcluster sentinel"):
            return "qcluster worker/pusher/monitor"
        return "qcluster sentinel" if parent.startswith("qcluster master") else "qcluster master"
    return Path(args.split(" ")[0]).name if args else "?"


def mlflow_role(pid: int, roles: dict[int, str]) -> str:
    args = cmdline(pid)
    text = " ".join(args)
    if "mlflow" in text and " server" in text:
        return "mlflow server (CLI)"
    for name in ("uvicorn", "gunicorn", "huey", "waitress"):
        if name in text:
            return name + (" worker" if roles.get(ppid_of(pid), "").startswith(name) else "")
    if "multiprocessing" in text:
        return "python (multiprocessing)"
    return Path(args[0]).name if args else "?"


def measure(root: int, classify) -> list[tuple[int, str, float, float]]:
    roles: dict[int, str] = {}
    rows = []
    for pid in sorted(descendants(root)):
        roles[pid] = classify(pid, roles)
    for pid in sorted(roles):
        mem = memory(pid)
        if mem is not None:
            rows.append((pid, roles[pid], *mem))
    return rows


def report(title: str, rows: list[tuple[int, str, float, float]]) -> tuple[float, float]:
    grouped: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, name, rss, pss in rows:
        grouped[name].append((rss, pss))
    print(f"\n{title}")
    print(f"  {'process':<34}{'count':>6}{'RSS MB':>10}{'PSS MB':>10}   (per process)")
    for name, values in grouped.items():
        rss = sum(v[0] for v in values)
        pss = sum(v[1] for v in values)
        per = ", ".join(f"{v[0]:.0f}/{v[1]:.0f}" for v in values)
        print(f"  {name:<34}{len(values):>6}{rss:>10.0f}{pss:>10.0f}   ({per})")
    total_rss = sum(r[2] for r in rows)
    total_pss = sum(r[3] for r in rows)
    print(f"  {'total':<34}{len(rows):>6}{total_rss:>10.0f}{total_pss:>10.0f}")
    return total_rss, total_pss


def get(url: str, timeout: float = 2) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except Exception:
        return None


def post(url: str, body: dict, token: str | None = None) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Console:
    """Reads a child's output on a thread, keeping each line with the seconds since `began`."""

    def __init__(self, stream, began: float, echo: Path):
        self.lines: list[tuple[float, str]] = []
        self.began, self.echo = began, echo.open("w")
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append((time.monotonic() - self.began, line))
            self.echo.write(line + "\n")
            self.echo.flush()

    def first(self, text: str) -> float | None:
        return next((at for at, line in self.lines if text in line), None)


def ours(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-footprint-"))
    if args.in_place:
        checkout = ROOT
    else:
        checkout = tmp / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(checkout)], check=True)
    port = args.port or free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "VIRTUAL_ENV")},
        "DATA_DIR": str(tmp / "data"),
        "PORT": str(port),
        "DEMO_PASSWORD": PASSWORD,
    }
    print(f"make run in {checkout} (DATA_DIR {tmp / 'data'}, port {port}); console in {tmp / 'console.log'}")
    began = time.monotonic()
    make = subprocess.Popen(
        ["make", "run"],
        cwd=checkout,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    console = Console(make.stdout, began, tmp / "console.log")
    base = f"http://127.0.0.1:{port}"
    healthy = ready = None
    result: dict = {}
    try:
        while time.monotonic() - began < args.timeout:
            if make.poll() is not None:
                raise SystemExit(f"make run exited with {make.returncode}; see {tmp / 'console.log'}")
            if healthy is None and get(base + "/healthz"):
                healthy = time.monotonic() - began
                print(f"  healthy after {healthy:.0f} s")
            ready = console.first("Demo data ready at ")
            if ready is not None:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"no 'Demo data ready.' within {args.timeout} s; see {tmp / 'console.log'}")
        installed = console.first("manage.py migrate")
        print(f"  dependencies installed after {installed or 0:.0f} s; demo data ready after {ready:.0f} s")
        visited = visit_pages(base)
        print(f"  visited {visited} pages as the demo scientist")
        time.sleep(args.settle)
        rest = measure(make.pid, role)
        result["rest"] = report(f"ours at rest with the demo loaded, pages visited, {args.settle} s later", rest)
        token = post(base + "/api/auth/token/", {"username": "scientist", "password": PASSWORD})["token"]
        predicted = predict_a_little(base, token)
        served = measure(make.pid, role)
        result["served"] = report(f"ours after {predicted} single-row predictions (both web workers warm)", served)
        result.update(healthy=healthy, ready=ready, installed=installed)
        pids = [pid for pid, *_ in served]
    finally:
        stopped_at = time.monotonic()
        try:
            os.killpg(make.pid, signal.SIGINT)
        except ProcessLookupError:
            pass
        time.sleep(20)
        try:
            os.killpg(make.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        make.wait()
    time.sleep(1)
    left = [(pid, " ".join(cmdline(pid))[:100]) for pid in pids if memory(pid) is not None]
    print(f"\nstop: SIGINT to the group, SIGKILL 20 s later ({time.monotonic() - stopped_at:.0f} s in all)")
    print(f"  processes left behind: {len(left)}")
    for pid, line in left:
        print(f"    {pid} {line}")
        os.kill(pid, signal.SIGKILL)
    result["left"] = len(left)
    shutil.copy(tmp / "console.log", Path(tempfile.gettempdir()) / "footprint-console.log")
    print(f"  console kept in {Path(tempfile.gettempdir()) / 'footprint-console.log'}")
    shutil.rmtree(tmp, ignore_errors=True)
    return result


PAGES = (
    "/",
    "/datasets/",
    "/runs/",
    "/models/",
    "/deployments/",
    "/deployments/production/credit-default/",
    "/monitoring/",
    "/jobs/",
    "/api/schema/",
)


def visit_pages(base: str) -> int:
    """Log in as the demo scientist and open the main pages twice (so both web workers have served them)."""
    import http.cookiejar
    import re
    import urllib.parse

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(base + "/accounts/login/", timeout=30).read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode({"username": "scientist", "password": PASSWORD, "csrfmiddlewaretoken": csrf})
    login = urllib.request.Request(base + "/accounts/login/", data=data.encode(), headers={"Referer": base + "/"})
    opener.open(login, timeout=30).read()
    visited = 0
    for _ in range(2):
        for page in PAGES:
            opener.open(base + page, timeout=60).read()
            visited += 1
    return visited


def predict_a_little(base: str, token: str, requests: int = 40) -> int:
    """Single-row predictions on the demo's production deployment, replaying inputs its log already holds; four at
    a time, so both web workers load the model."""
    from concurrent.futures import ThreadPoolExecutor

    request = urllib.request.Request(
        f"{base}/api/predictions/?deployment=production/credit-default&page_size={requests}",
        headers={"Authorization": f"Token {token}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        records = [row["inputs"] for row in json.loads(response.read())["results"]]

    def one(record):
        post(f"{base}/api/deployments/production/credit-default/predict", {"records": [record]}, token)
        return 1

    with ThreadPoolExecutor(4) as pool:
        return sum(pool.map(one, records))


def theirs(args, workers: str | None) -> tuple[float, float]:
    from bench.metric_ingest import mlflow_venv

    venv = mlflow_venv()
    tmp = Path(tempfile.mkdtemp(prefix="bench-footprint-mlflow-"))
    port = free_port()
    command = [
        str(venv / "bin" / "mlflow"),
        "server",
        "--backend-store-uri",
        f"sqlite:///{tmp / 'mlflow.db'}",
        "--default-artifact-root",
        str(tmp / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if workers:
        command += ["--workers", workers]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    began = time.monotonic()
    server = subprocess.Popen(
        command, cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while not get(f"http://127.0.0.1:{port}/health"):
            if time.monotonic() - began > 240 or server.poll() is not None:
                raise SystemExit("mlflow server did not answer /health")
            time.sleep(0.5)
        print(
            f"\nmlflow server {'--workers ' + workers if workers else '(defaults)'}: healthy after "
            f"{time.monotonic() - began:.0f} s"
        )
        time.sleep(args.settle)
        label = f"mlflow server {'--workers ' + workers if workers else 'with its defaults'}, at rest"
        return report(label, measure(server.pid, mlflow_role))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--in-place", action="store_true", help="run this checkout instead of a fresh clone")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--settle", type=int, default=30)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--timeout", type=int, default=1800)
    args = parser.parse_args()
    mine = ours(args)
    peers = {}
    if not args.skip_mlflow:
        peers["mlflow server (defaults)"] = theirs(args, None)
        peers["mlflow server --workers 1"] = theirs(args, "1")
    print("\nsummary (MB)                                 sum of RSS   sum of PSS")
    print(f"  ours at rest, demo loaded                 {mine['rest'][0]:>10.0f}   {mine['rest'][1]:>10.0f}")
    print(f"  ours after predictions                    {mine['served'][0]:>10.0f}   {mine['served'][1]:>10.0f}")
    for name, (rss, pss) in peers.items():
        print(f"  {name:<42}{rss:>10.0f}   {pss:>10.0f}")
    verdict = "met" if mine["rest"][1] <= 800 else "missed"
    print(
        f"target: the tree at rest ≤ 800 MB: {verdict} by PSS ({mine['rest'][1]:.0f}), "
        f"{'met' if mine['rest'][0] <= 800 else 'missed'} by the sum of RSS ({mine['rest'][0]:.0f})"
    )
    print(
        f"target: demo ready ≤ 300 s after `make run`: {'met' if mine['ready'] <= 300 else 'missed'} "
        f"({mine['ready']:.0f} s; healthy after {mine['healthy']:.0f} s)"
    )
    print(
        f"target: nothing left after SIGINT + SIGKILL of the group: {'met' if not mine['left'] else 'missed'} "
        f"({mine['left']} left)"
    )


if __name__ == "__main__":
    main()
