"""`manage.py serve` stopped the ways a supervisor or an operator stops it leaves no process of its tree behind.

Each test starts the real thing (gunicorn with its workers, `qcluster` with its sentinel, workers, monitor and
pusher) on a fresh SQLite database of its own, in a session of its own as `setsid make run` would be.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mlops_site.supervisor import descendants

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]
# gunicorn master + 2 workers, qcluster master + sentinel + 2 workers + monitor + pusher
TREE = 9


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=_env(path), check=True)
    return path


def _env(data_dir: Path) -> dict:
    drop = ("DATABASE_URL", "REDIS_URL", "TEST_STORAGE", "AWS_STORAGE_BUCKET_NAME")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return {**env, "DATA_DIR": str(data_dir), "HTTPS": "0", "Q_WORKERS": "2", "WEB_WORKERS": "2"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def _wait(predicate, seconds: float, what: str, log: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.25)
    raise AssertionError(f"no {what} within {seconds} s:\n{log.read_text()[-3000:]}")


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _tree(pid: int) -> list[int] | None:
    tree = descendants(pid)
    return tree if len(tree) >= TREE else None


@pytest.fixture
def serve(data_dir, tmp_path):
    """A running `manage.py serve`: (its Popen, the pids of its whole tree, its log)."""
    port, log = _port(), tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT,
            env=_env(data_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(lambda: _healthy(port), 90, "answer on /healthz", log)
        tree = _wait(lambda: _tree(process.pid), 90, "full tree", log)
        yield process, tree, log
    finally:
        for pid in [process.pid, *descendants(process.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait()


def test_sigint_then_sigkill_of_the_group_leaves_nothing(serve):
    """What a process supervisor does: SIGINT to the group, SIGKILL to the group 20 s later."""
    process, tree, log = serve
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(20)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=10)
    _wait(lambda: not [pid for pid in tree if _alive(pid)], 10, "end of every process", log)


def test_sigkill_of_the_supervisor_alone_takes_the_tree_down(serve):
    """`kill -9` of `manage.py serve` only: its children die with it, and their children with them."""
    process, tree, log = serve
    process.kill()
    process.wait(timeout=10)
    _wait(lambda: not [pid for pid in tree if _alive(pid)], 15, "end of every process", log)


def test_a_dead_qcluster_master_takes_its_cluster_down_and_serve_stops(serve):
    """The cluster's own processes die with their master; the supervisor sees the worker gone and stops the web."""
    process, tree, log = serve
    qcluster = next(
        pid
        for pid in tree
        if b"qcluster" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(process.pid)
    )
    os.kill(qcluster, signal.SIGKILL)
    assert process.wait(timeout=40) != 0
    _wait(lambda: not [pid for pid in tree if _alive(pid)], 15, "end of every process", log)
    assert "worker exited" in log.read_text()
