from django import forms

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
