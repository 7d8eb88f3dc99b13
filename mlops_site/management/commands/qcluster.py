"""django-q2's `qcluster`, made small and clean for a worker host.

- Every process django-q2 forks (sentinel, workers, monitor, pusher, and the workers it recycles) dies with its
  parent (`mlops_site.deathsig`), so no part of a cluster outlives the command.
- With WORKER_PRELOAD on (the default), the ML stack and the modules that use it are imported here, once, before
  the cluster forks: the workers share those pages instead of each importing ~300 MB on its first job, and a
  recycled worker starts ready. `gc.freeze()` keeps the collector from copying them.
- Unless Q_MAX_RSS_KB is set, a worker holding more than WORKER_MAX_PRIVATE_MB of memory of its own after a job
  is replaced (a cheap fork of the preloaded sentinel): a finished training gives its data and model back.

This app comes before `django_q` in INSTALLED_APPS, so this command is the one `manage.py qcluster` runs.
"""

import gc
import importlib
import os
import time
from pathlib import Path

from django.conf import settings
from django_q.conf import Conf
from django_q.management.commands.qcluster import Command as QCluster
from django_q.signals import post_execute_in_worker

from mlops_site import deathsig

# What jobs import: training and model files, dataset profiling and cleaning, gates, drift, serving (the demo's
# replay and the guardrail score through it).
PRELOAD = (
    "experiments.training",
    "experiments.cleaning",
    "experiments.profiling",
    "experiments.quality",
    "registry.gates",
    "monitoring.drift",
    "deployments.serving",
)


class Command(QCluster):
    def handle(self, *args, **options):
        os.register_at_fork(after_in_child=_child_started)
        if settings.WORKER_PRELOAD:
            began = time.monotonic()
            for name in PRELOAD:
                importlib.import_module(name)
            self.stdout.write(f"Worker: ML stack imported in {time.monotonic() - began:.1f} s, before forking.")
        if Conf.MAX_RSS is None:  # Q_MAX_RSS_KB unset: private memory decides, not RSS
            post_execute_in_worker.connect(_recycle_if_grown, dispatch_uid="mlops-recycle-if-grown")
        gc.freeze()
        super().handle(*args, **options)


def _child_started() -> None:
    """In every process the cluster forks: die with the parent."""
    deathsig.die_with_parent()


def private_mb() -> float:
    """Memory this process holds alone (private pages), in MB: what replacing it gives back. RSS would also
    count the pages it shares with the cluster, which grow as it merely runs code that was preloaded."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return 0.0
    kb = sum(int(line.split()[1]) for line in text.splitlines() if line.startswith(("Private_Clean", "Private_Dirty")))
    return kb / 1024


def _recycle_if_grown(sender, **kwargs) -> None:
    """After each task in a worker: past WORKER_MAX_PRIVATE_MB, ask django-q2 to replace this worker (its
    `max_rss` check, made true for this process only)."""
    if private_mb() > settings.WORKER_MAX_PRIVATE_MB:
        Conf.MAX_RSS = 1
