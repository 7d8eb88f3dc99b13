"""The guardrail's decision on crafted request lists."""

import pytest
from django.core.exceptions import ValidationError

from deployments import guardrail, schemas
from mlops_site.schemas import validate

CONFIG = guardrail.normalise({"max_error_rate": 0.1, "max_p95_ms": 100, "min_requests": 20})


def test_too_few_requests_give_no_verdict():
    verdict = guardrail.evaluate([999.0] * 19, [True] * 19, CONFIG)
    assert not verdict.tripped and verdict.requests == 19


def test_error_rate_over_the_limit_trips():
    failed = [True] * 3 + [False] * 17  # 15 %
    verdict = guardrail.evaluate([10.0] * 20, failed, CONFIG)
    assert (
        verdict.tripped and verdict.error_rate == pytest.approx(0.15) and "error rate 15.0% > 10.0%" in verdict.reason
    )


def test_error_rate_at_the_limit_passes_and_p95_is_of_successful_requests():
    failed = [True] * 2 + [False] * 18  # exactly 10 %
    latencies = [5000.0, 5000.0] + [float(v) for v in range(1, 19)]  # the slow ones are the failures
    verdict = guardrail.evaluate(latencies, failed, CONFIG)
    assert not verdict.tripped and verdict.p95_ms == pytest.approx(17.15)


def test_p95_over_the_limit_trips():
    latencies = [10.0] * 18 + [500.0, 500.0]
    verdict = guardrail.evaluate(latencies, [False] * 20, CONFIG)
    import numpy as np

    assert verdict.p95_ms == pytest.approx(float(np.percentile(latencies, 95)))
    assert verdict.tripped == (verdict.p95_ms > 100)


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"max_error_rate": 1.5}, "guardrail.max_error_rate"),
        ({"max_p95_ms": "fast"}, "guardrail.max_p95_ms"),
        ({"min_requests": True}, "guardrail.min_requests"),
        ({"bake": 3}, "guardrail"),
        ([], "guardrail"),
    ],
)
def test_bad_settings_name_the_field(raw, key):
    with pytest.raises(ValidationError) as caught:
        validate(schemas.GuardrailSettings, {"guardrail": raw})
    assert key in caught.value.message_dict
