"""The WSGI application, with the URLconf (every view module) imported now rather than by the first request:
under `manage.py serve` gunicorn loads this in its master, so the workers forked from it share those pages."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlops_site.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018  (imports the URLconf)
