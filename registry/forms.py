from __future__ import annotations

from django import forms

from registry import gate_config


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


class GatesForm(forms.Form):
    """The gate configuration as a person writes it; `to_config` gives the shape `gate_config.normalise` checks."""

    thresholds = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "f1 >= 0.8\nroc_auc >= 0.85"}),
        help_text="One per line: metric, operator (>=, >, <=, <), value.",
    )
    champion_metric = forms.ChoiceField(
        required=False,
        choices=[("", "task default (f1 / rmse)")] + [(m, m) for m in gate_config.METRICS],
        label="Champion metric",
    )
    tolerance = forms.FloatField(min_value=0, initial=0.01, help_text="How much worse than production is accepted.")
    fairness_column = forms.CharField(required=False, label="Sensitive column", help_text="Blank: no fairness gate.")
    max_gap = forms.FloatField(required=False, min_value=0, max_value=1, initial=0.1, label="Max gap")
    approvals_staging = forms.IntegerField(min_value=1, max_value=5, initial=1, label="Approvals for staging")
    approvals_production = forms.IntegerField(min_value=1, max_value=5, initial=1, label="Approvals for production")
    evaluation_dataset_version = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="none: each version's own holdout",
        label="Evaluation set",
        help_text="A dataset version every version is scored on, wherever it was trained.",
    )
    evaluation_target = forms.CharField(
        required=False, max_length=200, label="Target column", help_text="Blank: the dataset version's target."
    )

    def __init__(self, *args, **kwargs):
        from experiments.models import DatasetVersion

        super().__init__(*args, **kwargs)
        versions = DatasetVersion.objects.select_related("dataset").order_by("dataset__name", "-number")
        self.fields["evaluation_dataset_version"].queryset = versions
        self.fields["evaluation_dataset_version"].label_from_instance = lambda version: (
            f"{version.dataset.name} v{version.number} ({version.row_count:,} rows)"
        )

    @classmethod
    def from_config(cls, config: dict) -> GatesForm:
        fairness = config.get("fairness") or {}
        return cls(
            initial={
                "thresholds": "\n".join(f"{t['metric']} {t['op']} {t['value']:g}" for t in config["thresholds"]),
                "champion_metric": config["champion"]["metric"] or "",
                "tolerance": config["champion"]["tolerance"],
                "fairness_column": fairness.get("column", ""),
                "max_gap": fairness.get("max_gap", 0.1),
                "approvals_staging": config["approvals"]["staging"],
                "approvals_production": config["approvals"]["production"],
                "evaluation_dataset_version": (config.get("evaluation") or {}).get("dataset_version"),
                "evaluation_target": (config.get("evaluation") or {}).get("target", ""),
            }
        )

    def clean_thresholds(self):
        parsed = []
        for number, line in enumerate(self.cleaned_data["thresholds"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise forms.ValidationError(f"Line {number}: write “metric operator value”, e.g. f1 >= 0.8.")
            try:
                value = float(parts[2])
            except ValueError:
                raise forms.ValidationError(f"Line {number}: {parts[2]!r} is not a number.") from None
            if parts[0] not in gate_config.THRESHOLD_METRICS:
                raise forms.ValidationError(
                    f"Line {number}: unknown metric {parts[0]!r}; use one of {', '.join(gate_config.THRESHOLD_METRICS)}."
                )
            if parts[1] not in (">=", ">", "<=", "<"):
                raise forms.ValidationError(f"Line {number}: the operator is one of >=, >, <=, <, not {parts[1]!r}.")
            parsed.append({"metric": parts[0], "op": parts[1], "value": value})
        return parsed

    def to_config(self) -> dict:
        data = self.cleaned_data
        column = data["fairness_column"].strip()
        return {
            "thresholds": data["thresholds"],
            "champion": {"metric": data["champion_metric"] or None, "tolerance": data["tolerance"]},
            "fairness": {"column": column, "max_gap": 0.1 if data["max_gap"] is None else data["max_gap"]}
            if column
            else None,
            "approvals": {"staging": data["approvals_staging"], "production": data["approvals_production"]},
            "evaluation": {
                "dataset_version": data["evaluation_dataset_version"].pk,
                "target": data["evaluation_target"].strip(),
            }
            if data["evaluation_dataset_version"]
            else None,
        }


class AliasForm(forms.Form):
    alias = forms.CharField(max_length=64, help_text="e.g. champion, challenger")
    version = forms.IntegerField(min_value=1)


class DescribeForm(forms.Form):
    """Description and tags of a model or a version; tags one `key=value` per line."""

    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), max_length=5000)
    tags = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "team=risk"}),
        help_text="One key=value per line.",
    )

    @classmethod
    def for_object(cls, obj) -> DescribeForm:
        return cls(
            initial={
                "description": obj.description,
                "tags": "\n".join(f"{key}={value}" if value else key for key, value in obj.tags.items()),
            }
        )

    def clean_tags(self) -> dict:
        tags = {}
        for number, line in enumerate(self.cleaned_data["tags"].splitlines(), start=1):
            if not line.strip():
                continue
            key, _, value = line.partition("=")
            if not key.strip():
                raise forms.ValidationError(f"Line {number}: a tag needs a name before “=”.")
            tags[key.strip()] = value.strip()
        return tags


class UploadForm(forms.Form):
    """A model trained anywhere: step 1 infers the signature from sample rows, step 2 uploads the file with it."""

    sample = forms.FileField(
        required=False, help_text="A few input rows as CSV (or a JSON list of objects), without the target column."
    )
    task = forms.ChoiceField(
        required=False,
        choices=[("", "read it from the model"), ("classification", "classification"), ("regression", "regression")],
        help_text="Needed for ONNX files, which do not say.",
    )
    signature = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono", "spellcheck": "false"}),
        help_text='{"inputs": [{"name": "income", "kind": "numeric"}, …]}: filled in by step 1; check it.',
    )
    file = forms.FileField(required=False, help_text="The model: a skops file (scikit-learn) or an ONNX model.")
    training_dataset_version = forms.ModelChoiceField(
        queryset=None, required=False, help_text="The data it was fitted on: lineage, drift reference and refits."
    )
    target = forms.CharField(required=False, max_length=200, help_text="The label column of that data.")
    run = forms.IntegerField(required=False, min_value=1, help_text="Optional: the id of a logged run it belongs to.")
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        from experiments.models import DatasetVersion

        super().__init__(*args, **kwargs)
        versions = DatasetVersion.objects.select_related("dataset").order_by("-created_at")
        self.fields["training_dataset_version"].queryset = versions
        self.fields["training_dataset_version"].label_from_instance = lambda v: f"{v.dataset.name} v{v.number}"

    def service_data(self) -> dict:
        """What `registry.services.upload_version` takes: only the fields given."""
        data = {key: value for key, value in self.cleaned_data.items() if value not in (None, "")}
        if "training_dataset_version" in data:
            data["training_dataset_version"] = data["training_dataset_version"].pk
        if data.get("signature"):
            data.pop("sample", None)  # the confirmed signature wins over the rows it came from
        return data


class RunRegisterForm(forms.Form):
    """Register a model file a finished run holds (logged from a notebook, or trained here) as a model's next version."""

    model = forms.ModelChoiceField(
        queryset=None, empty_label=None, help_text="The registered model it becomes a version of."
    )
    path = forms.ChoiceField(label="Model file", help_text="A skops or ONNX artifact of the run.")
    sample = forms.FileField(required=False, help_text="A few input rows (CSV), when the run logged no signature.")
    signature = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5, "class": "mono", "spellcheck": "false"}),
        help_text="Leave empty to use the run's model/signature.json, or to infer it from the sample.",
    )
    task = UploadForm.base_fields["task"]
    description = forms.CharField(required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, paths: list[str], **kwargs):
        from registry.models import RegisteredModel

        super().__init__(*args, **kwargs)
        self.fields["model"].queryset = RegisteredModel.objects.order_by("name")
        self.fields["path"].choices = [(path, path) for path in paths]
