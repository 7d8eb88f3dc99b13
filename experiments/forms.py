import json

from django import forms

EXAMPLE_RECIPE = [
    {"op": "trim_strings"},
    {"op": "drop_duplicates"},
]


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class UploadForm(forms.Form):
    file = forms.FileField(help_text="CSV (UTF-8, header row) or Parquet.")
    target = forms.CharField(required=False, max_length=200, help_text="Optional: the column a model would predict.")


class RecipeForm(forms.Form):
    steps = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false", "class": "mono"}),
        help_text="A JSON list of steps; see the examples beside this box.",
    )

    def clean_steps(self):
        try:
            return json.loads(self.cleaned_data["steps"])
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"This is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            ) from None


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


def _json_field(label: str, help_text: str, rows: int = 3, required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows, "spellcheck": "false", "class": "mono"}),
    )


def _parse_json_object(text: str, example: str) -> dict:
    if not (text or "").strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"This is not valid JSON: {exc.msg} (column {exc.colno}).") from None
    if not isinstance(value, dict):
        raise forms.ValidationError(f"Give a JSON object, e.g. {example}.")
    return value


class TrainingForm(forms.Form):
    """One training run, or a grid/random sweep of them, from a dataset version."""

    MODES = [("single", "One run"), ("grid", "Grid search"), ("random", "Random search")]
    TASKS = [("", "Infer from the target"), ("classification", "Classification"), ("regression", "Regression")]

    experiment = forms.ModelChoiceField(queryset=None, required=False, empty_label="— new experiment —")
    new_experiment = forms.CharField(
        max_length=100, required=False, label="New experiment name", help_text="Used when no experiment is chosen."
    )
    dataset_version = forms.ModelChoiceField(queryset=None, label="Dataset version")
    target = forms.CharField(max_length=200, help_text="The column to predict.")
    features = forms.CharField(
        required=False,
        help_text="Comma-separated columns; empty means every other column (free text and dates excluded).",
    )
    algorithm = forms.ChoiceField(choices=[])
    task = forms.ChoiceField(choices=TASKS, required=False)
    params = _json_field("Hyperparameters", 'JSON, e.g. {"n_estimators": 200, "max_depth": 6}. Empty for defaults.')
    holdout = forms.FloatField(initial=0.2, min_value=0.05, max_value=0.5, help_text="Share of rows held out.")
    cv_folds = forms.IntegerField(
        required=False, min_value=2, max_value=20, label="Cross-validation folds", help_text="Optional, 2 to 20."
    )
    seed = forms.IntegerField(
        initial=0, min_value=0, max_value=2**32 - 1, help_text="Fixes the split and the estimator's randomness."
    )
    name = forms.CharField(max_length=200, required=False, help_text="Optional; a name is made up otherwise.")
    mode = forms.ChoiceField(choices=MODES, initial="single", label="Runs")
    space = _json_field(
        "Search space", 'For sweeps: each hyperparameter with its values, e.g. {"max_depth": [3, 6, null]}.'
    )
    trials = forms.IntegerField(required=False, min_value=1, max_value=100, help_text="For random search.")

    def __init__(self, *args, **kwargs):
        from experiments.models import DatasetVersion, Experiment
        from experiments.training import ALGORITHMS

        super().__init__(*args, **kwargs)
        self.fields["experiment"].queryset = Experiment.objects.all()
        versions = DatasetVersion.objects.select_related("dataset").order_by("dataset__name", "-number")
        self.fields["dataset_version"].queryset = versions
        self.fields["dataset_version"].label_from_instance = lambda v: f"{v} · {v.row_count:,} rows"
        self.fields["algorithm"].choices = [(name, spec.label) for name, spec in ALGORITHMS.items()]

    def clean_params(self):
        return _parse_json_object(self.cleaned_data["params"], '{"max_depth": 6}')

    def clean_space(self):
        return _parse_json_object(self.cleaned_data["space"], '{"max_depth": [3, 6]}')

    def clean_features(self):
        names = [name.strip() for name in self.cleaned_data["features"].split(",") if name.strip()]
        return names or None

    def clean(self):
        data = super().clean()
        if not data.get("experiment") and not (data.get("new_experiment") or "").strip():
            self.add_error("new_experiment", "Choose an experiment or name a new one.")
        if data.get("mode") in ("grid", "random") and not data.get("space"):
            self.add_error("space", "A sweep needs a search space.")
        return data
