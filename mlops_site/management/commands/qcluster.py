"""django-q2's `qcluster`, made small and clean for a worker host.

- Every process django-q2 forks (sentinel, workers, monitor, pusher, and the workers it recycles) dies with its
  parent (`mlops_site.deathsig`), so no part of a cluster outlives the command.
- With WORKER_PRELOAD on (the default), the ML stack and the modules that use it are imported here, once, before
  the cluster forks: the workers share those pages instead of each importing ~300 MB on its first job, and a
  recycled worker starts ready. `gc.freeze()` keeps the collector from copying them.
- Unless Q_MAX_RSS_KB is set, a worker whose peak memory grew by more than WORKER_MAX_GROWTH_MB since it was
  forked is replaced after its job (django-q2's `max_rss`): a finished training gives its data and model back.

This app comes before `django_q` in INSTALLED_APPS, so this command is the one `manage.py qcluster` runs.
"""

import gc
import importlib
import os
import resource
import time

from django.conf import settings
from django_q.conf import Conf
from django_q.management.commands.qcluster import Command as QCluster

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
        gc.freeze()
        super().handle(*args, **options)


_MAX_RSS_SET = Conf.MAX_RSS is not None  # Q_MAX_RSS_KB given: django-q2's own check, unchanged


def _child_started() -> None:
    """In every process the cluster forks: die with the parent, and measure growth from this process's start
    (django-q2 compares the peak RSS, `ru_maxrss`, with `max_rss` after each task)."""
    deathsig.die_with_parent()
    if not _MAX_RSS_SET:
        Conf.MAX_RSS = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + settings.WORKER_MAX_GROWTH_MB * 1024
