from rest_framework.permissions import BasePermission


class HasModelPermission(BasePermission):
    """Require `view.required_permission` (e.g. "mlops_site.view_auditevent")."""

    message = "Your role does not allow this. Ask an admin for the needed role."

    def has_permission(self, request, view):
        perm = getattr(view, "required_permission", None)
        checked = getattr(request.auth, "checked_permission", None)  # answered with the token lookup
        if perm is not None and checked is not None and checked[0] == perm:
            return checked[1]
        return bool(request.user and request.user.is_authenticated and (perm is None or request.user.has_perm(perm)))
