from rest_framework.permissions import BasePermission


class HasModelPermission(BasePermission):
    """Require `view.required_permission` (e.g. "mlops_site.view_auditevent")."""

    message = "Your role does not allow this. Ask an admin for the needed role."

    def has_permission(self, request, view):
        perm = getattr(view, "required_permission", None)
        return bool(request.user and request.user.is_authenticated and (perm is None or request.user.has_perm(perm)))
