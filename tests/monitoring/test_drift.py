"""monitoring.drift: each statistic against scipy's own functions on the same data, and the edge cases."""

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from scipy.spatial import distance

from monitoring import drift

RNG = np.random.default_rng(42)
REF = RNG.normal(10.0, 2.0, 3_000)
CUR = RNG.normal(10.8, 2.4, 2_000)
REF_CATS = RNG.choice(["a", "b", "c", "d"], 3_000, p=[0.4, 0.3, 0.2, 0.1])
CUR_CATS = RNG.choice(["a", "b", "c", "d", "e"], 2_000, p=[0.3, 0.3, 0.2, 0.1, 0.1])  # "e" never seen


def methods_of(result):
    return {name: values["statistic"] for name, values in result.statistics.items()}


def quantile_bin_shares(ref, cur, bins=10):
    """Independently of the module: pandas' right-closed cut at the reference's deciles."""
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    edges = [-np.inf, *inner, np.inf]
    share = [pd.cut(pd.Series(x), edges, right=True).value_counts(sort=False).to_numpy() / len(x) for x in (ref, cur)]
    return share[0], share[1]


def floor(shares):
    shares = np.maximum(shares, 1e-4)
    return shares / shares.sum()


# --- numeric ------------------------------------------------------------------------------------------


def test_numeric_statistics_match_scipy():
    result = drift.feature_drift(REF, CUR, name="x", methods=drift.NUMERIC_METHODS)
    got = methods_of(result)
    ks = stats.ks_2samp(REF, CUR)
    assert got["ks"] == pytest.approx(ks.statistic, abs=1e-9)
    assert result.statistics["ks"]["p_value"] == pytest.approx(ks.pvalue, abs=1e-9)
    assert got["wasserstein"] == pytest.approx(stats.wasserstein_distance(REF, CUR) / np.std(REF), abs=1e-9)
    ref_share, cur_share = quantile_bin_shares(REF, CUR)
    assert got["jensenshannon"] == pytest.approx(distance.jensenshannon(ref_share, cur_share), abs=1e-9)
    r, c = floor(ref_share), floor(cur_share)
    assert got["psi"] == pytest.approx(special.rel_entr(c, r).sum() + special.rel_entr(r, c).sum(), abs=1e-9)


def test_default_method_depends_on_the_smaller_sample():
    small = drift.feature_drift(REF[:800], CUR)
    assert small.method == "ks" and small.threshold == 0.05
    assert small.drifted == (stats.ks_2samp(REF[:800], CUR).pvalue < 0.05)
    big = drift.feature_drift(REF, CUR)
    assert big.method == "wasserstein" and big.threshold == 0.1
    assert big.drifted == (stats.wasserstein_distance(REF, CUR) / np.std(REF) >= 0.1)
    assert drift.feature_drift(REF, CUR[:500]).method == "ks"  # a short window: a test, not a noisy distance
    assert drift.feature_drift(REF_CATS, CUR_CATS[:500]).method == "chisquare"
    same = drift.feature_drift(REF[:1500], REF[1500:])
    assert not same.drifted


def test_the_same_distribution_is_not_drifted_and_a_shift_is():
    shifted = drift.feature_drift(REF, REF[:2000] + 3.0, method="psi")
    assert shifted.drifted and shifted.statistic > 1
    assert not drift.feature_drift(REF[:1500], REF[1500:], method="psi").drifted


# --- categorical ------------------------------------------------------------------------------------


def test_categorical_statistics_match_scipy_with_an_unseen_category():
    result = drift.feature_drift(REF_CATS, CUR_CATS, name="c", methods=drift.CATEGORICAL_METHODS)
    assert result.kind == "categorical"
    categories = sorted(set(REF_CATS) | set(CUR_CATS))
    ref_counts = np.array([Counter(REF_CATS)[k] for k in categories], dtype=float)
    cur_counts = np.array([Counter(CUR_CATS)[k] for k in categories], dtype=float)
    test = stats.chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False)
    got = result.statistics
    assert got["chisquare"]["statistic"] == pytest.approx(test.statistic, abs=1e-9)
    assert got["chisquare"]["p_value"] == pytest.approx(test.pvalue, abs=1e-9)
    r, c = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    assert got["jensenshannon"]["statistic"] == pytest.approx(distance.jensenshannon(r, c), abs=1e-9)
    fr, fc = floor(r), floor(c)
    assert got["psi"]["statistic"] == pytest.approx(special.rel_entr(fc, fr).sum() + special.rel_entr(fr, fc).sum())
    assert result.method == "jensenshannon" and result.drifted  # a tenth of the rows in a new category


def test_a_few_unseen_values_in_a_big_sample_barely_count():
    current = np.concatenate([REF_CATS[:1999], ["brand-new"]])
    result = drift.feature_drift(REF_CATS, current, method="psi")
    assert result.statistic is not None and result.statistic < 0.05 and not result.drifted


def test_chi_square_is_two_sample_so_same_distributions_rarely_drift():
    rng = np.random.default_rng(7)
    shares = [0.4, 0.3, 0.15, 0.1, 0.05]
    flagged = 0
    for _ in range(100):
        reference = rng.choice(list("abcde"), 1_000, p=shares)
        current = rng.choice(list("abcde"), 10_000, p=shares)
        flagged += drift.feature_drift(reference, current, method="chisquare").drifted
    assert flagged <= 12  # about 5 expected at p < 0.05; the one-sample test flags about 90


def test_one_category_on_both_sides_is_no_drift():
    result = drift.feature_drift(["a"] * 50, ["a"] * 70, method="chisquare")
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


def test_booleans_with_nulls_and_their_text_are_the_same_categories():
    reference = pd.Series([True, False] * 100)  # a bool column
    current = pd.Series([True, None, "False", "True", False, None] * 50, dtype=object)  # bools, nulls, text
    result = drift.feature_drift(reference, current, methods=drift.CATEGORICAL_METHODS)
    assert result.status == "ok" and result.current_rows == 200 and result.statistic == 0.0
    assert no_nans(result.as_dict())


def test_nearly_identical_shares_give_a_js_distance_of_zero_not_none():
    shares = np.array([0.1, 0.2, 0.3, 0.4])
    assert drift.js_distance(shares, shares.copy()) == 0.0


def test_booleans_are_categorical():
    result = drift.feature_drift(pd.Series([True, False] * 50), pd.Series([True] * 90 + [False] * 10))
    assert result.kind == "categorical" and result.method == "chisquare" and result.drifted


# --- edge cases -------------------------------------------------------------------------------------


def no_nans(value) -> bool:
    json.dumps(value, allow_nan=False)  # raises on NaN or infinity
    return True


def test_an_empty_window_is_not_enough_data_and_has_no_numbers():
    result = drift.feature_drift(REF, np.array([], dtype=float), name="x")
    assert result.status == "not enough data" and result.statistic is None and not result.drifted
    assert result.current_null_share is None and no_nans(result.as_dict())


def test_an_all_null_feature_is_not_enough_data():
    result = drift.feature_drift(REF, pd.Series([None] * 50, dtype=float), name="x")
    assert result.status == "not enough data" and result.current_null_share == 1.0
    assert no_nans(result.as_dict())


def test_nulls_are_left_out_and_their_share_reported():
    current = pd.Series([*CUR[:900], *[np.nan] * 100])
    result = drift.feature_drift(REF, current, method="ks")
    assert result.current_rows == 900 and result.current_null_share == pytest.approx(0.1)
    assert result.statistic == pytest.approx(stats.ks_2samp(REF, CUR[:900]).statistic, abs=1e-9)


def test_a_constant_feature_gives_finite_numbers():
    same = drift.feature_drift(np.full(100, 5.0), np.full(80, 5.0), methods=drift.NUMERIC_METHODS)
    assert same.statistics["ks"] == {"statistic": 0.0, "p_value": 1.0}
    assert same.statistics["wasserstein"]["statistic"] == 0.0 and same.statistics["psi"]["statistic"] == 0.0
    moved = drift.feature_drift(np.full(100, 5.0), np.full(80, 6.0), methods=drift.NUMERIC_METHODS)
    assert moved.statistics["wasserstein"]["statistic"] == pytest.approx(1.0 / drift.STD_FLOOR)
    assert moved.drifted and no_nans(moved.as_dict())


def test_very_small_samples():
    one = drift.feature_drift([1.0], [2.0, 3.0])
    assert one.status == "not enough data" and one.statistic is None
    three = drift.feature_drift([1.0, 2.0, 3.0], [1.5, 2.5, 3.5], methods=drift.NUMERIC_METHODS)
    assert three.status == "ok" and three.method == "ks" and no_nans(three.as_dict())


def test_columns_only_one_side_has_are_reported_not_compared():
    reference = pd.DataFrame({"x": REF[:500], "gone": REF[:500]})
    current = pd.DataFrame({"x": REF[500:1000], "extra": CUR_CATS[:500]})
    report = drift.compare(reference, current)
    statuses = {f.feature: f.status for f in report.features}
    assert statuses == {"x": "ok", "gone": "missing in current", "extra": "new in current"}
    assert report.compared == 1 and no_nans(report.as_dict())


def test_a_bad_method_is_a_value_error():
    with pytest.raises(ValueError, match="chisquare is not a method for numeric"):
        drift.feature_drift(REF, CUR, method="chisquare")


# --- the dataset -------------------------------------------------------------------------------------


def test_the_dataset_drifts_when_the_share_of_drifted_columns_reaches_the_threshold():
    n = 2_000
    reference = pd.DataFrame(
        {"a": REF[:n], "b": REF[1000 : 1000 + n], "c": REF_CATS[:n], "d": REF_CATS[1000 : 1000 + n]}
    )
    current = pd.DataFrame({"a": CUR[:n] + 2, "b": REF[:n], "c": CUR_CATS[:n], "d": REF_CATS[:n]})
    report = drift.compare(reference, current)
    assert {f.feature for f in report.features if f.drifted} == {"a", "c"}
    assert report.share == 0.5 and report.drifted
    assert not drift.compare(reference, current, share=0.6).drifted
    strict = drift.compare(reference, current, thresholds={"wasserstein": 0.01, "jensenshannon": 0.01})
    assert strict.drifted_count >= 2
    every = drift.compare(reference, current, all_methods=True, methods={"numeric": "psi"})
    assert set(every.features[0].statistics) == set(drift.NUMERIC_METHODS) and every.features[0].method == "psi"
    assert set(every.features[2].statistics) == set(drift.CATEGORICAL_METHODS)


def test_prediction_drift_is_the_same_computation_on_the_predictions():
    reference_scores, current_scores = RNG.beta(2, 5, 4_000), RNG.beta(3, 4, 4_000)
    result = drift.feature_drift(reference_scores, current_scores, name="prediction")
    expected = stats.wasserstein_distance(reference_scores, current_scores) / np.std(reference_scores)
    assert result.statistic == pytest.approx(expected, abs=1e-9) and result.drifted
