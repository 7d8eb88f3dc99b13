"""Pages of the shared kernel: dashboard, jobs, audit trail, profile and tokens, health."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from mlops_site import charts, demo, selectors, services, ui
from mlops_site.filters import AuditEventFilter, JobFilter, sort_key
from mlops_site.forms import CreateTokenForm, LoginForm
from mlops_site.models import ApiToken, AuditEvent, Job


def home(request):
    """The dashboard; each panel only for a role that may see what it summarises."""
    context = {"cards": [(card, card.count()) for card in ui.dashboard_cards()]}
    demo_state = demo.progress()
    if demo_state.started:  # healthy is not ready: say what the worker is still making
        context["demo"] = demo_state
    if request.user.has_perm("mlops_site.view_job"):
        days, counts = selectors.jobs_per_day(14)
        context.update(
            job_counts=selectors.job_status_counts(),
            jobs_chart=charts.jobs_per_day(days, counts),
            recent_jobs=Job.objects.select_related("created_by").defer("log", "traceback")[:6],
        )
    if request.user.has_perm("mlops_site.view_auditevent"):
        context["recent_events"] = selectors.recent_activity(10)
    return render(request, "home.html", context)


def _locked_out_status(response, form):
    """A login refused by the lockout answers 429 with Retry-After (the page still shows the form and why)."""
    refusal = getattr(form, "locked_out", None)
    if refusal is not None:
        response.status_code = 429
        response["Retry-After"] = str(refusal.retry_after)
    return response


class LoginView(auth_views.LoginView):
    """Django's login page with the wrong-password lockout (mlops_site.lockout)."""

    form_class = LoginForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        return _locked_out_status(super().form_invalid(form), form)


@login_not_required
def admin_login(request):
    """The Django admin's login (its form is `AdminLoginForm`, set in admin.py), with the lockout's 429."""
    response = admin.site.login(request)
    return _locked_out_status(response, (getattr(response, "context_data", None) or {}).get("form"))


@permission_required("mlops_site.view_job", raise_exception=True)
def job_list(request):
    queryset = Job.objects.select_related("created_by").defer("log", "traceback", "params", "result")
    filterset = JobFilter(request.GET, queryset=queryset, request=request)
    page = ui.paginate(request, filterset.qs)
    template = "mlops_site/_job_table.html" if request.GET.get("partial") else "mlops_site/job_list.html"
    any_active = any(not job.is_finished for job in page.object_list)
    return render(
        request, template, {"filter": filterset, "page": page, "sort": sort_key(filterset), "any_active": any_active}
    )


@permission_required("mlops_site.view_job", raise_exception=True)
def job_detail(request, pk: int):
    job = get_object_or_404(Job.objects.select_related("created_by", "target_type"), pk=pk)
    return render(
        request, "mlops_site/job_detail.html", {"job": job, "can_cancel": services.can_cancel(job, request.user)}
    )


@require_POST
@permission_required("mlops_site.view_job", raise_exception=True)
def job_cancel(request, pk: int):
    job = get_object_or_404(Job, pk=pk)
    with ui.service_errors(request) as call:
        services.cancel_job(job, actor=request.user)
    if not call.failed:
        messages.success(request, f"Cancellation of job #{job.pk} requested.")
    return redirect(job)


@require_POST
@permission_required("mlops_site.add_job", raise_exception=True)
def selfcheck_start(request):
    with ui.service_errors(request) as call:
        job = services.start_selfcheck(actor=request.user)
    if call.failed:
        return redirect("job-list")
    messages.success(request, "Self-check queued. This page follows it while a worker runs it.")
    return redirect(job)


@permission_required("mlops_site.view_auditevent", raise_exception=True)
def audit_list(request):
    queryset = AuditEvent.objects.select_related("target_type")
    filterset = AuditEventFilter(request.GET, queryset=queryset, request=request)
    page = ui.paginate(request, filterset.qs, per_page=50)
    return render(
        request, "mlops_site/audit_list.html", {"filter": filterset, "page": page, "sort": sort_key(filterset)}
    )


def profile(request):
    form = CreateTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with ui.service_errors(None, form) as call:
            try:
                token, key = services.create_api_token(
                    request.user,
                    name=form.cleaned_data["name"],
                    expires_in_days=form.cleaned_data["expires_in_days"],
                    scope=form.cleaned_data["scope"] or ApiToken.Scope.FULL,
                )
            except PermissionDenied as exc:  # the only refusal about a field: the scope asked for
                raise ValidationError({"scope": str(exc)}) from exc
        if not call.failed:
            # Shown in this response only (never stored, not even in the session).
            messages.success(request, f"Token “{token.name}” created. Copy it now: it will not be shown again.")
            context = {
                "form": CreateTokenForm(),
                "tokens": request.user.api_tokens.all(),
                "new_token": {"name": token.name, "key": key},
            }
            return render(request, "mlops_site/profile.html", context)
    return render(request, "mlops_site/profile.html", {"form": form, "tokens": request.user.api_tokens.all()})


@require_POST
def token_revoke(request, pk: int):
    token = get_object_or_404(request.user.api_tokens, pk=pk)
    with ui.service_errors(request, denied="message") as call:
        services.revoke_api_token(token, actor=request.user)
    if not call.failed:
        messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("profile")


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """200 when the database and the job broker answer, 503 otherwise. No login needed.

    `?demo=1` adds what the demo still prepares (`manage.py serve` asks it, not having Django itself)."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", **checks}
    if healthy and request.GET.get("demo"):
        state = demo.progress()
        body["demo"] = {"started": state.started, "ready": state.ready, "summary": state.summary()}
    return JsonResponse(body, status=200 if healthy else 503)


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # report, don't raise: this is the health endpoint
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_broker() -> str:
    try:
        from django_q.brokers import get_broker

        broker = get_broker()
        if not broker.ping():
            return "error: no answer"
        broker.queue_size()
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@login_not_required
def favicon(request):
    # Resolved per request: the hashed static name exists only after collectstatic.
    return redirect(static("img/favicon.svg"), permanent=True)
