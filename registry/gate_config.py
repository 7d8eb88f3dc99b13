"""A registered model's gate configuration: its choices and defaults. Pure, no Django.

`registry.schemas.GateConfig` checks a configuration and fills these defaults in (`normalise_gates`).

Stored on `RegisteredModel.gates` in the normalised shape `normalise_gates` returns, so the gates task and the
pages read one shape:

    {
      "thresholds": [{"metric": "f1", "op": ">=", "value": 0.8}],
      "champion": {"metric": null, "tolerance": 0.01},   # null: f1 for classifiers, rmse for regressors
      "fairness": {"column": "sex", "max_gap": 0.1},     # or null: no fairness gate
      "approvals": {"staging": 1, "production": 1},
      "evaluation": {"dataset_version": 12, "target": "defaulted"},  # or null: each version's own holdout
    }

With an evaluation set, the champion, threshold and fairness gates score the candidate and the production
version on that dataset version's rows, wherever either was trained; without one, a version trained here is
scored on its own holdout, and one trained elsewhere (whose holdout rows are unknown) waits for an evaluation set.
"""

from __future__ import annotations

from typing import Any

from experiments import metrics
from registry.gates import OPERATORS  # noqa: F401  (the schema's choices)

METRICS = (*metrics.GATE_METRICS[metrics.CLASSIFICATION], *metrics.GATE_METRICS[metrics.REGRESSION])  # champion
# Thresholds read the version's recorded metrics, so every metric training records can be used.
THRESHOLD_METRICS = metrics.THRESHOLD_METRICS
DEFAULT_TOLERANCE = 0.01
MAX_APPROVALS = 5
STAGES = ("staging", "production")


def default() -> dict[str, Any]:
    return {
        "thresholds": [],
        "champion": {"metric": None, "tolerance": DEFAULT_TOLERANCE},
        "fairness": None,
        "approvals": {stage: 1 for stage in STAGES},
        "evaluation": None,
    }


def champion_metric(config: dict[str, Any], task: str) -> str:
    return config["champion"]["metric"] or metrics.PRIMARY.get(task, metrics.PRIMARY[metrics.REGRESSION])
