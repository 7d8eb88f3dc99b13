"""gunicorn settings of `manage.py serve` (`--config python:mlops_site.gunicorn_conf`); flags given on its command
line (bind, workers) override these.

The app is loaded once in the master (`preload_app`) and the workers are forked from it, so the pages of Django,
the URLconf and every view module are shared between workers instead of loaded by each (`mlops_site.wsgi`
resolves the URLconf at import). `gc.freeze()` before each fork keeps the collector from touching, and so copying,
those shared objects. The ML stack is not among them: it loads in a worker on the first request that needs it
(`mlops_site.lazy`). Workers die with the master (`mlops_site.deathsig`).
"""

import gc
import os

from mlops_site import deathsig

preload_app = True
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = 120
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None  # "-": stdout; empty: none
control_socket_disable = True  # gunicorn ≥ 23's control socket: nothing here uses it


def pre_fork(server, worker):
    gc.freeze()


def post_fork(server, worker):
    deathsig.die_with_parent()
