"""Every state change of the experiments app. Views, the API, tasks and the demo call these.

Split by subject: `datasets` (uploads, profiling, cleaning) and `tracking` (experiments, runs,
params, metrics, artifacts). Import from here: `from experiments import services`.
"""

from experiments.services.datasets import *  # noqa: F403
from experiments.services.tracking import *  # noqa: F403
from experiments.services.training import *  # noqa: F403
