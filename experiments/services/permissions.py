"""Deprecated: only `registry.services.catalog` still imports this; use `mlops_site.permissions.require`.

Kept (with its old signature, so the registry's messages stay the same) until the registry's refactor
moves to the kernel's check; the experiments services no longer use it.
"""

from mlops_site.permissions import require as _kernel_require


def require(actor, perm: str, what: str) -> None:
    _kernel_require(actor, perm, f"Your role does not allow {what}. Ask an admin for the data-scientist role.")
