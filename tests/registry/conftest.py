"""The registry builds on trained runs: reuse the experiments' credit dataset fixture."""

from tests.experiments.conftest import credit  # noqa: F401
