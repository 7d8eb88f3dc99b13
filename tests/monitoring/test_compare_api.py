"""POST /api/drift/compare/: ad-hoc drift between two dataset versions, recomputed here with scipy."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from experiments import services as experiment_services
from tests.builders import token_client, upload

pytestmark = pytest.mark.django_db
URL = "/api/drift/compare/"


def read(version) -> pd.DataFrame:
    return experiment_services.load_frame(version)


def test_compare_gives_per_feature_rows_that_match_scipy(versions, scientist):
    reference, shifted, _ = versions
    response = token_client(scientist).post(
        URL, {"reference_version": reference.pk, "current_version": shifted.pk}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    rows = {row["feature"]: row for row in body["features"]}
    income = rows["annual_income"]
    assert income["kind"] == "numeric" and income["method"] == "ks" and income["drifted"] is True
    ref, cur = read(reference)["annual_income"].dropna(), read(shifted)["annual_income"].dropna()
    test = stats.ks_2samp(ref, cur)
    assert income["statistic"] == pytest.approx(test.statistic, abs=1e-9)
    assert income["p_value"] == pytest.approx(test.pvalue, abs=1e-9)
    expected = stats.wasserstein_distance(ref, cur) / np.std(ref)
    assert income["statistics"]["wasserstein"]["statistic"] == pytest.approx(expected, abs=1e-9)
    assert set(income["statistics"]) == {"ks", "wasserstein", "psi", "jensenshannon"}
    assert rows["region"]["kind"] == "categorical" and set(rows["region"]["statistics"]) == {
        "chisquare",
        "psi",
        "jensenshannon",
    }
    assert body["compared"] == len(rows) and body["drifted_count"] == sum(r["drifted"] for r in rows.values())


def test_different_columns_are_reported_and_methods_and_thresholds_apply(versions, scientist):
    reference, _, other = versions
    body = {
        "reference_version": reference.pk,
        "current_version": other.pk,
        "methods": {"numeric": "psi", "purpose": "jensenshannon"},
        "thresholds": {"psi": 0.5},
    }
    response = token_client(scientist).post(URL, body, format="json")
    assert response.status_code == 200, response.json()
    rows = {row["feature"]: row for row in response.json()["features"]}
    assert rows["region"]["status"] == "missing in current" and rows["brand_new"]["status"] == "new in current"
    assert rows["age"]["method"] == "psi" and rows["age"]["threshold"] == 0.5
    assert rows["purpose"]["method"] == "jensenshannon"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"reference_version": 999_999}, "reference_version"),
        ({"current_version": "x"}, "current_version"),
        ({"methods": {"numeric": "chisquare"}}, "methods"),
        ({"methods": {"no_such_column": "ks"}}, "methods"),
        ({"methods": {"region": "ks"}}, "methods"),
        ({"thresholds": {"ks": 5}}, "thresholds"),
        ({"thresholds": {"made_up": 0.1}}, "thresholds"),
        ({"share": 0}, "share"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(versions, scientist, change, field):
    reference, shifted, _ = versions
    body = {"reference_version": reference.pk, "current_version": shifted.pk} | change
    response = token_client(scientist).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()


def test_versions_without_a_common_column_are_a_400(versions, scientist, django_capture_on_commit_callbacks):
    dataset = experiment_services.create_dataset(name="other", actor=scientist)
    with django_capture_on_commit_callbacks(execute=True):
        unrelated, _ = experiment_services.upload_version(
            dataset, upload(content=b"colour,size\nred,1\nblue,2\nred,3\n"), actor=scientist
        )
    response = token_client(scientist).post(
        URL, {"reference_version": versions[0].pk, "current_version": unrelated.pk}, format="json"
    )
    assert response.status_code == 400 and "no column in common" in str(response.json())


def test_people_without_a_role_are_refused(versions, nobody):
    response = token_client(nobody).post(
        URL, {"reference_version": versions[0].pk, "current_version": versions[1].pk}, format="json"
    )
    assert response.status_code == 403
