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
