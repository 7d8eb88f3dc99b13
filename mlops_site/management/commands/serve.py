"""Run the web server (gunicorn) and a django-q2 worker cluster together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection

from mlops_site import demo

DEMO_CHECK_SECONDS = 5
DEMO_REPORT_SECONDS = 60  # progress lines at most this often; "Demo data ready." at once


class Command(BaseCommand):
    help = "Start gunicorn and a django-q2 cluster side by side, stopping both when either stops or on Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--no-worker", action="store_true", help="Web server only (workers run elsewhere).")

    def handle(self, *args, host, port, web_workers, no_worker, **options):
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "mlops_site.wsgi:application",
                "--bind",
                f"{host}:{port}",
                "--workers",
                str(web_workers),
                "--threads",
                "4",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
                "--no-control-socket",
                "--chdir",
                str(settings.BASE_DIR),
            ],
        }
        if not no_worker:
            commands["worker"] = [*manage, "qcluster"]
        # Each child leads its own process group, so stopping it also stops its workers, even
        # when the master is gone before them (no orphaned gunicorn workers holding the port).
        processes = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR, start_new_session=True) for name, cmd in commands.items()
        }
        self.stdout.write(
            self.style.SUCCESS(f"Site on http://{host}:{port}/  (Ctrl-C stops the web server and the worker)")
        )

        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        watcher = _DemoWatcher(self.stdout.write, self.style.SUCCESS)
        while not stopping:
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping the rest.")
                    exit_code = process.returncode or 1
                    stopping = True
            watcher.tick()
            time.sleep(0.5)
        for process in processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(process, signal.SIGKILL)  # stragglers of the group, if any
        self.stdout.write("Stopped.")
        if exit_code:
            sys.exit(exit_code)


class _DemoWatcher:
    """Says "Demo data ready." once the demo's background work is done (healthy is not ready), and what is
    left until then; silent when the demo never ran here."""

    def __init__(self, write, success):
        self.write, self.success = write, success
        self.done, self.next_check, self.last_report, self.last_summary = False, 0.0, 0.0, ""

    def tick(self) -> None:
        now = time.monotonic()
        if self.done or now < self.next_check:
            return
        self.next_check = now + DEMO_CHECK_SECONDS
        try:
            state = demo.progress()
        except Exception as exc:  # a busy database must not stop the site
            self.write(f"(demo progress unavailable: {type(exc).__name__})")
            return
        finally:
            if not connection.in_atomic_block:  # no idle connection (or SQLite snapshot) kept between checks
                connection.close()
        if not state.started:
            self.done = True
        elif state.ready:
            self.done = True
            self.write(self.success("Demo data ready."))
        elif state.summary() != self.last_summary and now - self.last_report >= DEMO_REPORT_SECONDS:
            self.last_summary, self.last_report = state.summary(), now
            self.write(state.summary())


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
