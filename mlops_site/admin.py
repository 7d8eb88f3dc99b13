"""Admin: role assignment (audited), and read-only views of the audit trail, jobs and tokens."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from mlops_site import audit
from mlops_site.forms import AdminLoginForm
from mlops_site.models import ApiToken, AuditEvent, Job
from mlops_site.roles import ROLE_NAMES

User = get_user_model()
admin.site.login_form = AdminLoginForm  # wrong passwords count toward the lockout (mlops_site.lockout)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "actor_name", "action", "target_type", "target_repr", "request_id"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor_name", "action", "target_repr", "request_id"]
    date_hierarchy = "created_at"


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "status", "progress", "created_by", "created_at", "attempts", "worker"]
    list_filter = ["status", "kind"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]
    exclude = ["key_hash"]


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    """Roles are groups; changing them here writes an audit event."""

    list_display = ["username", "email", "is_active", "is_staff", "roles"]

    @admin.display(description="Roles")
    def roles(self, user):
        return ", ".join(g.name for g in user.groups.all() if g.name in ROLE_NAMES)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    def save_related(self, request, form, formsets, change):
        before = (
            sorted(form.instance.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True)) if change else []
        )
        super().save_related(request, form, formsets, change)
        after = sorted(form.instance.groups.filter(name__in=ROLE_NAMES).values_list("name", flat=True))
        if before != after:
            audit.record(
                actor=request.user,
                action="user.roles_changed",
                target=form.instance,
                before={"roles": before},
                after={"roles": after},
            )


admin.site.site_header = "MLOps platform administration"
admin.site.site_title = "MLOps admin"
