"""The prediction log's writer: served rows and the request's stat, in one transaction, before the answer.

This runs once per predict request, and the ORM's insert compilation and model instances cost more than the
inserts themselves, so PostgreSQL gets hand-written SQL: up to `CTE_ROWS` rows in a single statement (a
data-modifying CTE: one round trip, atomic on its own), larger batches by COPY in a transaction. Other
databases (SQLite) get `bulk_create`. Rows are tuples in `PREDICTION_COLUMNS` order, JSON values as Python
objects; the stat is a dict of `STAT_COLUMNS`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import orjson
from django.db import connection, transaction

from deployments.models import Prediction, RequestStat

PREDICTION_COLUMNS = (
    "id",
    "deployment_id",
    "version_id",
    "role",
    "request_id",
    "entity_key",
    "inputs",
    "prediction",
    "probabilities",
    "latency_ms",
    "created_at",
    "unseen",
)
STAT_COLUMNS = ("deployment_id", "version_id", "role", "rows", "status_code", "latency_ms", "created_at")
JSON_COLUMNS = frozenset({"inputs", "prediction", "probabilities", "unseen"})
CTE_ROWS = 100


def write(predictions: Sequence[tuple], stat: dict[str, Any]) -> None:
    """Store the rows and the stat together, or neither."""
    if connection.vendor == "postgresql":
        if len(predictions) <= CTE_ROWS:
            _write_one_statement(predictions, stat)
        else:
            with transaction.atomic():
                _copy(predictions)
                RequestStat.objects.create(**stat)
        return
    with transaction.atomic():
        Prediction.objects.bulk_create(
            Prediction(**dict(zip(PREDICTION_COLUMNS, row, strict=True))) for row in predictions
        )
        RequestStat.objects.create(**stat)


@functools.cache
def _columns(model, names: tuple[str, ...]) -> str:
    return ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in names)


def _json_positions() -> list[int]:
    return [i for i, name in enumerate(PREDICTION_COLUMNS) if name in JSON_COLUMNS]


def _dumped(row: tuple, positions: list[int]) -> list:
    """The row with its JSON values as text; orjson, as json.dumps was a quarter of a 1,000-row batch's time."""
    values = list(row)
    for i in positions:
        if values[i] is not None:
            values[i] = orjson.dumps(values[i]).decode()
    return values


def _write_one_statement(predictions: Sequence[tuple], stat: dict[str, Any]) -> None:
    stat_sql = (
        f"INSERT INTO {RequestStat._meta.db_table} ({_columns(RequestStat, STAT_COLUMNS)}) "
        f"VALUES ({', '.join(['%s'] * len(STAT_COLUMNS))})"
    )
    params: list = []
    if predictions:
        positions = _json_positions()
        one = "(" + ", ".join(["%s"] * len(PREDICTION_COLUMNS)) + ")"
        sql = (
            f"WITH logged AS (INSERT INTO {Prediction._meta.db_table} ({_columns(Prediction, PREDICTION_COLUMNS)}) "
            f"VALUES {', '.join([one] * len(predictions))}) {stat_sql}"
        )
        for row in predictions:
            params += _dumped(row, positions)
    else:
        sql = stat_sql
    params += [stat[name] for name in STAT_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _copy(predictions: Sequence[tuple]) -> None:
    positions = _json_positions()
    sql = f"COPY {Prediction._meta.db_table} ({_columns(Prediction, PREDICTION_COLUMNS)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in predictions:
            copy.write_row(_dumped(row, positions))
