"""Schema additions of the deployments endpoints: "<METHOD> <path> <what>" -> why."""

from .kernel import SORT  # noqa: F401  (the usual reason for a list's new parameter)

ADDITIONS: dict[str, str] = {}
