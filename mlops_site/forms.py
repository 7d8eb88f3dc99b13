from django import forms


class CreateTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. “nightly retrain script”.")
    expires_in_days = forms.IntegerField(
        min_value=0, max_value=3650, initial=90, label="Expires in (days)", help_text="0 means it never expires."
    )
