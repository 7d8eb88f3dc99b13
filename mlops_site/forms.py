from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from mlops_site import lockout
from mlops_site.errors import RateLimited
from mlops_site.models import ApiToken


class CreateTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “nightly retrain script”.")
    expires_in_days = forms.IntegerField(
        min_value=0, max_value=3650, initial=90, label="Expires in (days)", help_text="0 means it never expires."
    )
    scope = forms.ChoiceField(
        choices=ApiToken.Scope.choices,
        initial=ApiToken.Scope.FULL,
        required=False,
        help_text="A service token may only call predict and ground truth, e.g. for an application.",
    )


class LockoutMixin:
    """Authentication forms that go through `lockout.authenticate`: a locked-out login is a clear form error.

    `locked_out` holds the refusal, so the view can answer 429 with Retry-After.
    """

    locked_out = None

    def clean(self):
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if username is not None and password:
            try:
                self.user_cache = lockout.authenticate(self.request, username, password)
            except RateLimited as exc:
                self.locked_out = exc
                raise ValidationError(exc.message, code="locked_out") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class LoginForm(LockoutMixin, AuthenticationForm):
    """The login page's form."""


class AdminLoginForm(LockoutMixin, AdminAuthenticationForm):
    """The Django admin's login form (staff only, as Django's)."""
