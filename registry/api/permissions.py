"""The registry API refuses a write before its service does, with the permission and sentence the service uses."""

from mlops_site.api.permissions import HasModelPermission


class ActionPermission(HasModelPermission):
    """`view.required_permission` to read; `view.action_permissions[(action, method)]` = (perm, message) to write."""

    def has_permission(self, request, view):
        if not super().has_permission(request, view):
            return False
        needed = getattr(view, "action_permissions", {}).get((view.action, request.method))
        if needed is None:
            return True
        perm, self.message = needed
        return request.user.has_perm(perm)
