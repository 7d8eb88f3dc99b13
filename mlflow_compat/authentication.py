"""How the mlflow client authenticates: `MLFLOW_TRACKING_TOKEN` (Bearer) or `MLFLOW_TRACKING_USERNAME`/`PASSWORD`.

Bearer tokens are the site's personal tokens (`ApiTokenAuthentication` takes `Bearer` as well as `Token`),
so roles apply exactly as on the rest of the API and service ("predict") tokens are refused. Basic auth goes
through the login lockout. A script sends its password with every call, and checking a password hash costs
tens of milliseconds, so a successful check is remembered for a minute in this process: keyed by a hash of
the username and password, and only while the user's stored password hash is unchanged.
"""

from __future__ import annotations

import hashlib
import threading
import time

from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions

from mlops_site import lockout

REMEMBER_SECONDS = 60
_remembered: dict[str, tuple[float, int, str]] = {}
_lock = threading.Lock()


class PasswordAuthentication(authentication.BasicAuthentication):
    www_authenticate_realm = "mlflow"

    def authenticate_credentials(self, userid, password, request=None):
        key = hashlib.sha256(f"{userid}\x00{password}".encode("utf-8", "surrogatepass")).hexdigest()
        now = time.monotonic()
        with _lock:
            seen = _remembered.get(key)
        if seen is not None and seen[0] > now:
            user = get_user_model().objects.filter(pk=seen[1], is_active=True).first()
            if user is not None and user.password == seen[2]:
                return user, None
        user = lockout.authenticate(request, userid, password)
        if user is None or not user.is_active:
            raise exceptions.AuthenticationFailed("Invalid username or password.")
        with _lock:
            if len(_remembered) > 1000:
                _remembered.clear()
            _remembered[key] = (now + REMEMBER_SECONDS, user.pk, user.password)
        return user, None
