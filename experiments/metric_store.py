"""Bulk writes of metric points, the ingest hot path: COPY on PostgreSQL, executemany elsewhere.

`Model.objects.bulk_create` builds a model instance per point and costs ~40 µs each, which caps
ingest near 10,000 points/s; plain tuples through the driver do several times better.

Each batch also upserts the run's `LatestMetric` rows (one per key in the batch), so lists sort
and filter by a metric without reading histories. The upsert keeps a row only if the new point
is at a higher step, or the same step with a timestamp at least as late: batches arriving out
of order cannot move a metric backwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from experiments.models import LatestMetric, Metric

COLUMNS = ("run_id", "key", "value", "step", "timestamp")


def insert_points(run_id: int, points: Sequence[tuple[str, float, int, datetime]]) -> None:
    """Insert (key, value, step, timestamp) points of one run inside the caller's transaction."""
    if not points:
        return
    table = connection.ops.quote_name(Metric._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            # Binary format: no text formatting here, no parsing on the server.
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "varchar", "float8", "int8", "timestamptz"])
                for key, value, step, stamp in points:
                    copy.write_row((run_id, key, value, step, stamp))
        else:
            placeholders = ", ".join(["%s"] * len(COLUMNS))
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",
                [
                    (run_id, key, value, step, connection.ops.adapt_datetimefield_value(stamp))
                    for key, value, step, stamp in points
                ],
            )
        _upsert_latest(cursor, run_id, latest_points(points))


def latest_points(points: Sequence[tuple[str, float, int, datetime]]) -> dict[str, tuple[float, int, datetime]]:
    """Per key, the point with the highest (step, timestamp); a later point wins a tie, as in the history."""
    latest: dict[str, tuple[float, int, datetime]] = {}
    for key, value, step, stamp in points:
        seen = latest.get(key)
        if seen is None or (step, stamp) >= (seen[1], seen[2]):
            latest[key] = (value, step, stamp)
    return latest


def _upsert_latest(cursor, run_id: int, latest: dict[str, tuple[float, int, datetime]]) -> None:
    q = connection.ops.quote_name
    table = q(LatestMetric._meta.db_table)
    # Same statement on PostgreSQL and SQLite (>= 3.24): the WHERE keeps the newer of the two points.
    cursor.executemany(
        f"INSERT INTO {table} ({', '.join(q(c) for c in COLUMNS)}) VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT ({q('run_id')}, {q('key')}) DO UPDATE SET "
        f"{q('value')} = excluded.{q('value')}, {q('step')} = excluded.{q('step')}, "
        f"{q('timestamp')} = excluded.{q('timestamp')} "
        f"WHERE {table}.{q('step')} < excluded.{q('step')} OR "
        f"({table}.{q('step')} = excluded.{q('step')} AND {table}.{q('timestamp')} <= excluded.{q('timestamp')})",
        [
            (run_id, key, value, step, connection.ops.adapt_datetimefield_value(stamp))
            for key, (value, step, stamp) in latest.items()
        ],
    )
