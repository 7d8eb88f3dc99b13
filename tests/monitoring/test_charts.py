"""The drift charts draw what the reports hold: the heatmap's colour is log10(score ÷ threshold)."""

import math
from datetime import UTC, datetime, timedelta

from monitoring import charts

TIMES = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(3)]


def test_the_heatmap_colours_each_cell_by_its_ratio_and_leaves_missing_ones_blank():
    series = {"income": [0.5, 2.0, 100.0], "region": [None, 0.01, 1.0]}
    heatmap = charts.drift_heatmap(TIMES, series).data[0]
    assert list(heatmap.y) == ["income", "region"]
    assert list(heatmap.z[0]) == [math.log10(v) for v in series["income"]]
    assert heatmap.z[1][0] is None and heatmap.z[1][2] == 0.0  # at the threshold: the white middle
    assert heatmap.zmid == 0


def test_drift_over_time_draws_the_threshold_at_one_across_the_reports():
    figure = charts.drift_over_time(TIMES, {"income": [0.5, 2.0, 100.0]})
    threshold = next(trace for trace in figure.data if trace.name == "threshold (1)")
    assert list(threshold.y) == [1, 1] and list(threshold.x) == [TIMES[0], TIMES[-1]]
    assert figure.layout.yaxis.type == "log"
