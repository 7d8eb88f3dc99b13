import itertools

import numpy as np

from experiments.downsample import min_max


def test_short_histories_are_untouched():
    steps, values = np.arange(10), np.arange(10.0)
    out_steps, out_values = min_max(steps, values, 100)
    assert out_steps.tolist() == steps.tolist() and out_values.tolist() == values.tolist()


def test_long_history_keeps_first_last_and_every_spike():
    rng = np.random.default_rng(0)
    steps = np.arange(100_000)
    values = rng.normal(0, 1, 100_000)
    values[12_345], values[87_654] = 50.0, -50.0
    out_steps, out_values = min_max(steps, values, 1000)
    assert len(out_steps) <= 1000
    assert out_steps[0] == 0 and out_steps[-1] == 99_999
    assert 12_345 in out_steps and 87_654 in out_steps
    assert np.all(np.diff(out_steps) > 0)
    assert out_values.max() == 50.0 and out_values.min() == -50.0
    assert np.array_equal(values[out_steps], out_values)


def _reference(steps, values, max_points):
    """The plain loop the vectorised version replaced: first min and first max of every bucket."""
    n = len(steps)
    if n <= max_points or max_points < 4:
        return steps, values
    edges = np.linspace(1, n - 1, (max_points - 2) // 2 + 1).astype(int)
    keep = {0, n - 1}
    for start, stop in itertools.pairwise(edges):
        if stop > start:
            keep |= {start + int(np.argmin(values[start:stop])), start + int(np.argmax(values[start:stop]))}
    index = np.array(sorted(keep))
    return steps[index], values[index]


def test_matches_the_plain_loop_including_ties():
    rng = np.random.default_rng(7)
    for n, max_points in [(10_000, 1000), (100_000, 1000), (1001, 1000), (5000, 7), (12_345, 999), (2000, 1990)]:
        steps, values = np.arange(n) * 3, rng.normal(size=n).round(1)  # rounding makes ties
        got, want = min_max(steps, values, max_points), _reference(steps, values, max_points)
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
