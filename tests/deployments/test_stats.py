"""Predictions per time bucket, as the monitor page charts them: class shares, or percentiles."""

from datetime import UTC, datetime, timedelta

import numpy as np

from deployments import stats

START = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_class_shares_per_bucket_with_gaps_for_empty_buckets():
    times = [START + timedelta(minutes=m) for m in (5, 10, 20, 130, 150)]
    values = [1, 0, 1, 0, 0]
    out = stats.prediction_series(times, values, classifier=True, start=START, end=START + 3 * HOUR, width=HOUR)
    assert out["count"] == [3, 0, 2] and out["width_minutes"] == 60
    assert out["shares"]["1"] == [2 / 3, None, 0.0]
    assert out["shares"]["0"] == [1 / 3, None, 1.0]


def test_many_classes_keep_the_most_common_and_fold_the_rest_into_other():
    rng = np.random.default_rng(0)
    values = [f"c{int(v)}" for v in rng.integers(0, 40, 500)]
    times = [START + timedelta(minutes=int(m)) for m in rng.integers(0, 120, 500)]
    out = stats.prediction_series(times, values, classifier=True, start=START, end=START + 2 * HOUR, width=HOUR)
    assert len(out["shares"]) == stats.MAX_CLASSES + 1 and "other" in out["shares"]
    for bucket in range(2):
        total = sum(shares[bucket] for shares in out["shares"].values())
        assert abs(total - 1) < 1e-12  # every prediction counted once


def test_regressor_buckets_hold_the_median_and_the_10th_and_90th_percentiles():
    rng = np.random.default_rng(1)
    values = rng.normal(100, 15, 300)
    times = [START + timedelta(minutes=int(m)) for m in rng.integers(0, 60, 300)]
    out = stats.prediction_series(times, list(values), classifier=False, start=START, end=START + 2 * HOUR, width=HOUR)
    assert out["median"][0] == np.percentile(values, 50) and out["median"][1] is None
    assert out["p10"][0] == np.percentile(values, 10) and out["p90"][0] == np.percentile(values, 90)
