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
