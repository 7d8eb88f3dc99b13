"""Reads of the MLflow surface that are hot paths."""

from __future__ import annotations

from django.db import connection

from experiments.models import Metric


def history_page(run_id: int, key: str, offset: int, limit: int) -> list[tuple[float | None, int, int]]:
    """(value, epoch ms, step) of one metric's points in MLflow's order (time, step, value), one page.

    A NaN point's value is None (NULL), sorted after the numbers of its time and step on both databases.

    Epoch milliseconds are computed by the database: turning 10,000 datetimes into Python objects and back
    cost more than the query itself.
    """
    q = connection.ops.quote_name
    table, stamp = q(Metric._meta.db_table), q("timestamp")
    if connection.vendor == "postgresql":
        epoch_ms = f"FLOOR(EXTRACT(EPOCH FROM {stamp}) * 1000)::bigint"
    else:  # SQLite keeps 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC
        epoch_ms = f"CAST(strftime('%%s', {stamp}) AS INTEGER) * 1000 + CAST(substr({stamp}, 21, 3) AS INTEGER)"
    sql = (
        f"SELECT {q('value')}, {epoch_ms}, {q('step')} FROM {table} "
        f"WHERE {q('run_id')} = %s AND {q('key')} = %s "
        f"ORDER BY {stamp}, {q('step')}, {q('value')} NULLS LAST, {q('id')} LIMIT %s OFFSET %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [run_id, key, limit, offset])
        return cursor.fetchall()
