"""The cleaning recipe is part of what is served: a raw record scores as its cleaned form does."""

import pandas as pd
import pytest

from deployments import services as deployment_services
from deployments import serving
from deployments.models import Environment, Prediction
from experiments import services as experiment_services
from experiments.demo_data import DEMO_RECIPE, credit_scoring_frame
from registry import services as registry_services
from tests.builders import token_client, upload

pytestmark = pytest.mark.django_db
URL = "/api/deployments/production/credit-default/predict"


@pytest.fixture(autouse=True)
def _fresh_cache():
    serving.cache.clear()
    serving.deployments.clear()
    yield
    serving.cache.clear()
    serving.deployments.clear()


@pytest.fixture
def raw_frame():
    return credit_scoring_frame(rows=900, seed=3).drop(columns=["customer_id", "application_date"])


@pytest.fixture
def served_on_cleaned(raw_frame, scientist, admin_user, django_capture_on_commit_callbacks):
    """The demo's raw credit data, cleaned by the demo recipe; a model trained on the cleaned child, deployed."""
    dataset = experiment_services.create_dataset(name="credit", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        raw, _ = experiment_services.upload_version(
            dataset, upload(content=raw_frame.to_csv(index=False).encode()), actor=scientist, target="defaulted"
        )
    raw.refresh_from_db()
    steps = experiment_services.validate_recipe(raw, DEMO_RECIPE)
    cleaned, _ = experiment_services.apply_cleaning(raw, steps, actor=scientist)
    experiment = experiment_services.create_experiment(name="credit", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        run = experiment_services.start_training(
            experiment, cleaned, actor=scientist, target="defaulted", algorithm="logistic_regression", seed=1
        )
    run.refresh_from_db()
    model = registry_services.create_model(name="credit-default", actor=scientist)
    version = registry_services.register_version(model, run, actor=scientist)
    deployment_services.deploy(
        Environment.objects.get(name="production"),
        version,
        actor=admin_user,
        override=True,
        reason="tests serve an unreviewed version",
    )
    return version, raw, cleaned


def medians(raw_frame: pd.DataFrame) -> tuple[float, float]:
    """The medians the recipe imputes with, computed here from the raw data as the recipe describes."""
    data = raw_frame.copy()
    data.loc[data["age"] == 999, "age"] = float("nan")
    data = data.drop_duplicates()
    data = data[data["defaulted"].notna()]
    return float(data["annual_income"].median()), float(data["age"].median())


def test_registration_records_the_row_wise_steps_with_their_statistics(served_on_cleaned, raw_frame):
    version, _, cleaned = served_on_cleaned
    steps = version.lineage["serving_transform"]
    income, age = medians(raw_frame)
    assert [step["op"] for step in steps] == [
        "map_values",
        "trim_strings",
        "casefold_strings",
        "standardize_booleans",
        "impute",
        "impute",
        "clip_outliers",
    ]  # drop_duplicates and drop_missing_target drop rows: not for one record
    assert steps[4] == {
        "op": "impute",
        "column": "annual_income",
        "strategy": "constant",
        "value": pytest.approx(income),
        "step": 6,
        "dataset_version": cleaned.pk,
        "description": f"Impute annual_income with the constant {steps[4]['value']!r}",
    }
    assert steps[5]["value"] == pytest.approx(age)
    assert steps[6]["lower"] == 18 and steps[6]["upper"] == 100
    assert all(step["dataset_version"] == cleaned.pk for step in steps)


def test_a_raw_record_and_its_cleaned_form_score_alike_and_are_logged_alike(served_on_cleaned, raw_frame, scientist):
    version, _, _ = served_on_cleaned
    income, age = medians(raw_frame)
    names = [c["name"] for c in version.signature["inputs"]]
    base = raw_frame[names].iloc[5].to_dict()
    base = {k: (v.item() if hasattr(v, "item") else v) for k, v in base.items()}
    raw = base | {"home_ownership": " RENT", "has_cosigner": "Y", "age": 999, "annual_income": None}
    clean = base | {"home_ownership": "rent", "has_cosigner": True, "age": age, "annual_income": income}
    client = token_client(scientist)
    answers = []
    for record in (raw, clean):
        response = client.post(URL, {"records": [record]}, format="json")
        assert response.status_code == 200, response.json()
        answers.append(response.json()["predictions"][0])
    assert answers[0]["probabilities"] == answers[1]["probabilities"]
    logged = [Prediction.objects.get(pk=a["prediction_id"]).inputs for a in answers]
    assert logged[0] == logged[1]
    assert logged[0]["home_ownership"] == "rent" and logged[0]["has_cosigner"] is True
    assert logged[0]["age"] == pytest.approx(age)

    # The raw spelling alone ("Month-to-Month" vs "month-to-month" in the issue) is what the recipe fixes.
    mixed = client.post(URL, {"records": [clean | {"home_ownership": "Rent"}]}, format="json").json()
    assert mixed["predictions"][0]["probabilities"] == answers[1]["probabilities"]
    unseen = Prediction.objects.filter(unseen__isnull=False)
    assert not unseen.exists()  # after cleaning, every spelling is one training knew


def test_a_word_the_boolean_step_does_not_know_is_refused_not_imputed(served_on_cleaned, raw_frame, scientist):
    version, _, _ = served_on_cleaned
    names = [c["name"] for c in version.signature["inputs"]]
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in raw_frame[names].iloc[5].to_dict().items()}
    response = token_client(scientist).post(URL, {"records": [record | {"has_cosigner": "maybe"}]}, format="json")
    assert response.status_code == 400 and "has_cosigner" in str(response.json())
    assert not Prediction.objects.exists()


def test_the_version_page_shows_the_serving_transform(served_on_cleaned, client, scientist):
    version, _, _ = served_on_cleaned
    client.force_login(scientist)
    page = client.get(version.get_absolute_url()).content.decode()
    assert "Serving transform" in page
    assert "Lowercase home_ownership" in page and "Impute age with the constant" in page
    assert "Drop exact duplicate rows" not in page.split("Serving transform")[1].split("</ol>")[0]
