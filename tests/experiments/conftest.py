"""The datasets and the credit data are built by tests/builders.py; re-exported for older imports."""

from tests.builders import MESSY_CSV, upload  # noqa: F401
