"""The API's one permission check: a view reads with `required_permission` and writes with `write_permissions`.

    class AlertRuleViewSet(viewsets.ModelViewSet):
        permission_classes = [HasModelPermission]
        required_permission = "monitoring.view_alertrule"  # every request (a property may choose it by action)
        write_permissions = {  # an unsafe method (POST, PUT, PATCH, DELETE) also needs the entry it matches
            "create": "monitoring.add_alertrule",  # by action,
            "destroy": ("monitoring.delete_alertrule", "Your role does not allow deleting alert rules."),
            "alias DELETE": "registry.delete_modelalias",  # by action and method (an action with several),
            "PUT": "monitoring.change_retrainingpolicy",  # or by method
        }

Look-up order: "<action> <METHOD>", then the action, then the method; no entry, no further permission.
With a message (the sentence the service refuses with), it is the 403's detail, so the API refuses
before the service does and says the same thing.
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from mlops_site.permissions import DEFAULT_MESSAGE


def write_permission(view, method: str) -> tuple[str, str | None] | None:
    """The (permission, message or None) an unsafe `method` on `view` needs besides `required_permission`."""
    if method in SAFE_METHODS:
        return None
    needed = getattr(view, "write_permissions", None) or {}
    action = getattr(view, "action", None)
    for key in (f"{action} {method}", action, method):
        if key in needed:
            entry = needed[key]
            return (entry, None) if isinstance(entry, str) else tuple(entry)
    return None


class HasModelPermission(BasePermission):
    """Require `view.required_permission` (e.g. "mlops_site.view_auditevent") and, to write, the matching
    `view.write_permissions` entry (see the module's docstring)."""

    message = DEFAULT_MESSAGE

    def has_permission(self, request, view):
        if not self._holds(request, getattr(view, "required_permission", None)):
            return False
        needed = write_permission(view, request.method)
        if needed is None:
            return True
        perm, message = needed
        if message:
            self.message = message
        return self._holds(request, perm)

    @staticmethod
    def _holds(request, perm: str | None) -> bool:
        checked = getattr(request.auth, "checked_permission", None)  # answered with the token lookup
        if perm is not None and checked is not None and checked[0] == perm:
            return checked[1]
        return bool(request.user and request.user.is_authenticated and (perm is None or request.user.has_perm(perm)))
