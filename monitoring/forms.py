"""Page forms of monitoring: plain fields; the services check the values."""

from __future__ import annotations

from django import forms

from monitoring.models import AlertRule, RetrainingPolicy
from registry.models import PromotionRequest


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=100)
    metric = forms.ChoiceField(choices=AlertRule.Metric.choices)
    comparison = forms.ChoiceField(choices=AlertRule.Comparison.choices)
    threshold = forms.FloatField()
    window_minutes = forms.IntegerField(min_value=1, initial=60, label="Window (minutes)")
    severity = forms.ChoiceField(choices=AlertRule.Severity.choices, initial=AlertRule.Severity.WARNING)
    emails = forms.CharField(required=False, help_text="Comma-separated; empty: ALERT_EMAILS.", label="E-mail to")

    @property
    def cleaned(self) -> dict:
        data = dict(self.cleaned_data)
        data["emails"] = [e.strip() for e in (data.get("emails") or "").split(",") if e.strip()]
        return data


class RetrainingPolicyForm(forms.Form):
    enabled = forms.BooleanField(required=False)
    on_drift_alert = forms.BooleanField(required=False, label="On a drift alert")
    on_performance_alert = forms.BooleanField(required=False, label="On a performance alert")
    every_days = forms.IntegerField(required=False, min_value=1, max_value=365, label="Also every N days")
    data = forms.ChoiceField(
        choices=[
            (RetrainingPolicy.Data.REFERENCE_AND_PRODUCTION, "training + production rows"),
            (RetrainingPolicy.Data.DATASET_VERSION, "a named dataset version"),
        ]
    )
    dataset_version = forms.IntegerField(required=False, label="Named dataset version (id)")
    min_labelled_rows = forms.IntegerField(min_value=0, initial=50, label="At least N labelled rows")
    stage = forms.ChoiceField(choices=[(s, s) for s in PromotionRequest.TARGET_STAGES], label="Request promotion to")
    cooldown_hours = forms.IntegerField(min_value=0, max_value=8760, initial=24, label="Cooldown (hours)")
