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


def normalise(stored: Any) -> dict[str, float]:
    """A stored config with the defaults filled in (`schemas.GuardrailSettings` checked it when it was set)."""
    stored = stored if isinstance(stored, dict) else {}
    return {key: stored.get(key, default) for key, default in DEFAULTS.items()}


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
