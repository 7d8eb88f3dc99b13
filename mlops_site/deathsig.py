"""A process that dies with its parent: Linux's parent-death signal, without Django.

A child that outlives its parent (a `qcluster` master whose supervisor was SIGKILLed, a django-q2 worker whose
sentinel is gone) holds memory, a database connection and perhaps a claimed job for nobody. `PR_SET_PDEATHSIG`
asks the kernel to send SIGKILL to the calling process when the thread that forked it ends. The setting does not
survive fork, so each level sets it: the supervisor for its children (`preexec_fn`), gunicorn's master for its
workers (`post_fork` in `mlops_site.gunicorn_conf`), and the qcluster command for every process django-q2 forks
(`os.register_at_fork`). On other systems this does nothing; the process-group stop still applies there.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask for SIGKILL when the parent dies; if it already died (it may, between fork and here), die now."""
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)
