"""Several hosts on one machine, for the scale-out tests.

Where the machine allows it (root, iproute2), each host is a network namespace on a bridge of its own,
with its own address and hostname: its processes reach PostgreSQL and the object store only over
that bridge, at the machine's address on it (the gateway), as separate machines would. Elsewhere
(or with SCALEOUT_NETNS=0) a host is a process group on loopback. Either way a host has its own
DATA_DIR and shares nothing else, and `kill()` ends every process of it with SIGKILL, as a lost
machine ends.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def namespaces_available() -> bool:
    if os.environ.get("SCALEOUT_NETNS") == "0" or os.geteuid() != 0 or not shutil.which("ip"):
        return False
    probe = f"mlops-probe-{secrets.token_hex(3)}"
    if _ip("netns", "add", probe, check=False).returncode != 0:
        return False
    _ip("netns", "del", probe, check=False)
    return True


class Host:
    def __init__(self, network: Network, name: str, address: str, namespace: str | None):
        self.network, self.name, self.address, self.namespace = network, name, address, namespace
        self.data_dir = network.root / name
        self.data_dir.mkdir(parents=True)
        self.processes: list[subprocess.Popen] = []

    def start(self, argv: list[str], env: dict[str, str], log: str) -> subprocess.Popen:
        """Start a process on this host (its output goes to <DATA_DIR>/<log>.log)."""
        if self.namespace:
            # The host's own hostname too, so job rows name the machine that ran them.
            argv = [
                *("ip", "netns", "exec", self.namespace, "unshare", "--uts", "--"),
                *("sh", "-c", 'hostname "$0" && exec "$@"', self.name, *argv),
            ]
        with open(self.data_dir / f"{log}.log", "ab") as out:
            process = subprocess.Popen(
                argv,
                env={**env, "DATA_DIR": str(self.data_dir)},
                cwd=self.network.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def pids(self) -> set[int]:
        """Every live process of the host."""
        if self.namespace:
            listed = _ip("netns", "pids", self.namespace, check=False).stdout.split()
            return {int(pid) for pid in listed}
        found = set()
        for process in self.processes:
            if process.poll() is None:
                found.add(process.pid)
                found |= _descendants(process.pid)
        return found

    def runs(self, worker: str) -> bool:
        """Whether a job's `worker` ("hostname:pid") is a process of this host."""
        hostname, _, pid = worker.rpartition(":")
        return hostname == self.name if self.namespace else int(pid) in self.pids()

    def kill(self) -> int:
        """SIGKILL every process of the host at once; returns how many there were."""
        pids = self.pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait(10)
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        return len(pids)

    def log(self, name: str) -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _descendants(pid: int) -> set[int]:
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    found = {int(child) for child in children}
    for child in list(found):
        found |= _descendants(child)
    return found


class Network:
    """A bridge with an address for this machine (`gateway`) and the hosts added to it."""

    def __init__(self, root: Path, cwd: Path):
        self.root, self.cwd = root, cwd
        self.tag = secrets.token_hex(2)
        self.namespaced = namespaces_available()
        self.hosts: list[Host] = []
        self.services: list[subprocess.Popen] = []
        if self.namespaced:
            self.subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250)}"
            self.gateway = f"{self.subnet}.1"
            self.bridge = f"mlbr{self.tag}"
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        else:
            self.gateway = "127.0.0.1"

    def add_host(self, name: str) -> Host:
        if not self.namespaced:
            host = Host(self, name, "127.0.0.1", None)
        else:
            index = len(self.hosts)
            namespace, veth = f"mlops-{self.tag}-{name}", f"mlv{self.tag}{index}"
            address = f"{self.subnet}.{10 + index}"
            _ip("netns", "add", namespace)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", namespace, "link", "set", "eth0", "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            host = Host(self, name, address, namespace)
        self.hosts.append(host)
        return host

    def serve(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a service on this machine (the database relay, the object store), stopped by close()."""
        process = subprocess.Popen(
            argv, env=env or os.environ.copy(), cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.services.append(process)
        return process

    def free_port(self) -> int:
        with socket.socket() as probe:
            probe.bind((self.gateway, 0))
            return probe.getsockname()[1]

    def close(self) -> None:
        for host in self.hosts:
            host.kill()
        for process in self.services:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        if self.namespaced:
            for host in self.hosts:
                _ip("netns", "del", host.namespace, check=False)
            _ip("link", "del", self.bridge, check=False)


def wait_for_port(address: str, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {address}:{port} after {timeout} s")
