"""`manage.py serve`: gunicorn and a django-q2 cluster side by side, and nothing left when it stops.

This module does not import Django: the supervisor only starts, watches and stops processes, so it need not hold
the ~100 MB of the site in memory (`manage.py` hands `serve` to `main` before Django loads). What it knows of the
site it asks over HTTP (`/healthz?demo=1`).

Stopping leaves nothing behind, whoever stops it:
- the children stay in the supervisor's process group (no session of their own), so a supervisor's SIGKILL of the
  group (systemd, Kubernetes, `kill -- -PGID`) reaches every process of the tree at once;
- each child gets SIGKILL from the kernel when the supervisor dies (`PR_SET_PDEATHSIG`), and gunicorn workers and
  django-q2 processes get the same from their own parent (`mlops_site.deathsig`), so `kill -9` of the supervisor
  alone takes the tree down too;
- on SIGINT or SIGTERM the children get SIGTERM, and after `STOP_SECONDS` whatever of the tree is left gets SIGKILL.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from mlops_site import deathsig

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_SECONDS = 20
DEMO_CHECK_SECONDS = 5
DEMO_REPORT_SECONDS = 60  # progress lines at most this often; "Demo data ready" at once


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="manage.py serve",
        description="Start gunicorn and a django-q2 cluster side by side, stopping both when either stops or on Ctrl-C.",
    )
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
    parser.add_argument("--no-worker", action="store_true", help="Web server only (workers run elsewhere).")
    args = parser.parse_args(argv)

    commands = {"web": web_command(args.host, args.port, args.web_workers)}
    if not args.no_worker:
        commands["worker"] = [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"]
    started = time.monotonic()
    processes = {
        name: subprocess.Popen(command, cwd=BASE_DIR, preexec_fn=deathsig.die_with_parent)
        for name, command in commands.items()
    }
    print(f"Site on http://{args.host}:{args.port}/  (Ctrl-C stops the web server and the worker)", flush=True)

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    url = f"http://{_local(args.host)}:{args.port}/healthz?demo=1"
    watcher = DemoWatcher(lambda: demo_state(url), started, lambda line: print(line, flush=True))
    while not stopping:
        for name, process in processes.items():
            if process.poll() is not None:
                print(f"{name} exited with code {process.returncode}; stopping the rest.", file=sys.stderr, flush=True)
                exit_code = process.returncode or 1
                stopping = True
        watcher.tick()
        time.sleep(0.5)
    stop_tree(list(processes.values()))
    print("Stopped.", flush=True)
    return exit_code


def web_command(host: str, port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "mlops_site.wsgi:application",
        "--config",
        "python:mlops_site.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--chdir",
        str(BASE_DIR),
    ]


def stop_tree(processes: list[subprocess.Popen]) -> None:
    """SIGTERM to the children, then SIGKILL to every descendant still there after STOP_SECONDS. Only processes
    still below this one are signalled, so a pid the system reused meanwhile is never hit; an orphan that left
    the tree has its parent-death signal."""
    for process in processes:
        _signal(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for pid in descendants(os.getpid()):
        _signal(pid, signal.SIGKILL)  # stragglers: a worker whose master is gone, a job ignoring SIGTERM
    for process in processes:
        process.wait()


def descendants(root: int) -> list[int]:
    """Every process below `root`, read from /proc (empty where there is no /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], list(parents.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def demo_state(url: str) -> dict:
    """The site's `/healthz?demo=1` account of the demo: {started, ready, summary}."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read()).get("demo") or {}


class DemoWatcher:
    """Says when the demo's background work is done (healthy is not ready), and what is left until then; silent
    when the demo never ran here. `fetch` returns the site's account of it (`demo_state`)."""

    def __init__(self, fetch: Callable[[], dict], started: float, write: Callable[[str], None] = print):
        self.fetch, self.started, self.write = fetch, started, write
        self.done, self.next_check, self.last_report, self.last_summary = False, 0.0, 0.0, ""

    def tick(self) -> None:
        now = time.monotonic()
        if self.done or now < self.next_check:
            return
        self.next_check = now + DEMO_CHECK_SECONDS
        try:
            demo = self.fetch()
        except Exception:
            return  # not up yet, or busy: ask again at the next check
        if not demo.get("started"):
            self.done = True
        elif demo.get("ready"):
            self.done = True
            elapsed = now - self.started
            at = datetime.now().strftime("%H:%M:%S")
            self.write(f"Demo data ready at {at}, {elapsed // 60:.0f} min {elapsed % 60:.0f} s after the site started.")
        elif demo.get("summary") != self.last_summary and now - self.last_report >= DEMO_REPORT_SECONDS:
            self.last_summary, self.last_report = demo.get("summary"), now
            self.write(demo["summary"])
