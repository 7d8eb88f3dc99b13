"""The canary guardrail's decision, pure: settings and a canary's recent requests in, a verdict out.

The canary is taken out of traffic when, over the baking window since it started (at least `min_requests`
requests seen), its error rate or its p95 latency exceeds the limit. Fewer requests than that: no verdict
yet, because a couple of slow first requests (a cold cache) must not kill a healthy canary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

DEFAULTS = {"max_error_rate": 0.05, "max_p95_ms": 250.0, "baking_minutes": 30, "min_requests": 20}


class GuardrailConfigError(ValueError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def normalise(raw: Any) -> dict[str, float]:
    """Defaults filled in; every value checked (a share, milliseconds, minutes, a count)."""
    if raw in (None, ""):
        raw = {}
    if not isinstance(raw, dict):
        raise GuardrailConfigError(
            {"guardrail": "An object of max_error_rate, max_p95_ms, baking_minutes, min_requests."}
        )
    errors = {}
    if unknown := sorted(set(raw) - set(DEFAULTS)):
        errors["guardrail"] = f"Unknown keys: {', '.join(unknown)}."
    config = dict(DEFAULTS)
    limits = {
        "max_error_rate": (0, 1),
        "max_p95_ms": (1, 600_000),
        "baking_minutes": (1, 10_080),
        "min_requests": (1, 1_000_000),
    }
    for key, (low, high) in limits.items():
        if key not in raw:
            continue
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            errors[f"guardrail.{key}"] = f"A number from {low} to {high}."
        else:
            config[key] = value
    if errors:
        raise GuardrailConfigError(errors)
    return config


@dataclass(frozen=True)
class Verdict:
    tripped: bool
    reason: str
    requests: int
    error_rate: float | None
    p95_ms: float | None


def evaluate(latencies_ms: Sequence[float], failed: Sequence[bool], config: dict) -> Verdict:
    """`latencies_ms` and `failed` of the canary's requests in the baking window."""
    n = len(failed)
    if n < config["min_requests"]:
        return Verdict(False, f"Waiting for {config['min_requests']} canary requests ({n} so far).", n, None, None)
    errors = np.asarray(failed, dtype=bool)
    error_rate = float(errors.mean())
    ok = np.asarray(latencies_ms, dtype=float)[~errors]
    p95 = float(np.percentile(ok, 95)) if len(ok) else None
    problems = []
    if error_rate > config["max_error_rate"]:
        problems.append(f"error rate {error_rate:.1%} > {config['max_error_rate']:.1%}")
    if p95 is not None and p95 > config["max_p95_ms"]:
        problems.append(f"p95 latency {p95:.0f} ms > {config['max_p95_ms']:.0f} ms")
    if problems:
        return Verdict(True, f"Over {n} canary requests: {' and '.join(problems)}.", n, error_rate, p95)
    return Verdict(False, f"Healthy over {n} canary requests.", n, error_rate, p95)
