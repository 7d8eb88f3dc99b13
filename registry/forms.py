from django import forms


class ModelForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class RegisterForm(forms.Form):
    """Pick a finished run trained here (the newest first) to become the next version."""

    run = forms.ModelChoiceField(queryset=None, empty_label=None)

    def __init__(self, *args, **kwargs):
        from experiments.models import Run

        super().__init__(*args, **kwargs)
        runs = Run.objects.filter(status=Run.Status.FINISHED, source=Run.Source.TRAINED, training_request__isnull=False)
        self.fields["run"].queryset = runs.select_related("experiment").order_by("-started_at")
        self.fields["run"].label_from_instance = lambda run: f"#{run.pk} {run} ({run.experiment.name})"
