"""A PostgreSQL table with every common column type, and a faithful per-column comparison.

Values are compared through a canonical text per value (exact decimals, float32 bits for
``real``, instants in UTC for ``timestamptz``, parsed JSON ...) hashed into one checksum per
column, so a difference names the column it is in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import struct
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
from floe_core.plugins.ingestion import IngestionConfig

from tests.services.postgres import PostgresServer

TYPED_TABLE = "everything"

TYPED_COLUMNS: dict[str, str] = {
    "id": "bigint PRIMARY KEY",
    "small_n": "smallint",
    "int_n": "integer",
    "big_n": "bigint",
    "price": "numeric(12, 2)",
    "ratio": "numeric(38, 18)",
    "real_n": "real",
    "double_n": "double precision",
    "flag": "boolean",
    "label": "text",
    "code": "varchar(16)",
    "day": "date",
    "local_ts": "timestamp",
    "zoned_ts": "timestamptz",
    "doc": "jsonb",
    "uid": "uuid",
    "blob": "bytea",
    "clock": "time",
}

_VALUES: dict[str, str] = {
    "id": "g",
    "small_n": "CASE WHEN g % 7 = 0 THEN NULL ELSE (g % 30000 - 15000)::smallint END",
    "int_n": "CASE WHEN g % 11 = 0 THEN NULL ELSE g * 37 - 2000000 END",
    "big_n": "CASE WHEN g % 13 = 0 THEN NULL ELSE g::bigint * 1000000007 * (1 - 2 * (g % 2)) END",
    "price": "CASE WHEN g % 5 = 0 THEN NULL ELSE round(g * 1.37 - 50000, 2) END",
    "ratio": "CASE WHEN g % 17 = 0 THEN NULL ELSE (g::numeric / 7)::numeric(38, 18) END",
    "real_n": "CASE WHEN g % 19 = 0 THEN NULL ELSE (g / 3.0)::real END",
    "double_n": "CASE WHEN g % 23 = 0 THEN NULL ELSE g / 7.0::double precision END",
    "flag": "CASE WHEN g % 3 = 0 THEN NULL ELSE g % 2 = 0 END",
    "label": "CASE WHEN g % 29 = 0 THEN NULL ELSE 'label-' || g || ' ünïcødé ✓' END",
    "code": "CASE WHEN g % 31 = 0 THEN NULL ELSE substr(md5(g::text), 1, 16) END",
    "day": "CASE WHEN g % 37 = 0 THEN NULL ELSE date '1969-07-20' + (g % 30000) END",
    "local_ts": (
        "CASE WHEN g % 41 = 0 THEN NULL "
        "ELSE timestamp '1999-12-31 23:00:00' + g * interval '1.000001 second' END"
    ),
    "zoned_ts": (
        "CASE WHEN g % 43 = 0 THEN NULL "
        "WHEN g % 2 = 0 THEN timestamptz '2024-03-30 12:00:00+01' + g * interval '37 seconds' "
        "ELSE timestamptz '1965-06-01 08:00:00.123456-07' + g * interval '1 minute' END"
    ),
    "doc": (
        "CASE WHEN g % 47 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'tags', "
        "jsonb_build_array('a', g % 3), 'nested', jsonb_build_object('half', g / 2.0)) END"
    ),
    "uid": "CASE WHEN g % 53 = 0 THEN NULL ELSE md5(g::text)::uuid END",
    "blob": "CASE WHEN g % 59 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END",
    "clock": "CASE WHEN g % 61 = 0 THEN NULL ELSE time '00:00:00' + g * interval '1.5 second' END",
}


def create_typed_table(server: PostgresServer, database: str, rows: int) -> None:
    """``everything``: ``rows`` rows, every column with NULLs at its own rhythm."""
    columns = ", ".join(f"{name} {kind}" for name, kind in TYPED_COLUMNS.items())
    server.execute(f"CREATE TABLE {TYPED_TABLE} ({columns})", database=database)
    values = ", ".join(_VALUES[name] for name in TYPED_COLUMNS)
    server.execute(
        f"INSERT INTO {TYPED_TABLE} SELECT {values} FROM generate_series(1, {rows}) AS g",
        database=database,
    )


def canonical(value: Any, column: str) -> str:
    """One value as comparable text, whichever side (psycopg2 or Iceberg) it came from."""
    if value is None:
        return "NULL"
    if column == "real_n":
        return struct.pack("<f", value).hex()  # a float4 compared as float4
    if column == "doc":
        parsed = json.loads(value) if isinstance(value, str) else value
        return json.dumps(parsed, sort_keys=True)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return "tz:" + value.astimezone(dt.UTC).isoformat()
        return "naive:" + value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, memoryview | bytes | bytearray):
        return bytes(value).hex()
    return repr(value)


def column_digest(values: Iterable[Any], column: str) -> tuple[str, int]:
    """(checksum, NULL count) of a column's values in row order."""
    digest = hashlib.sha256()
    nulls = 0
    for value in values:
        nulls += value is None
        digest.update(canonical(value, column).encode())
        digest.update(b"\x00")
    return digest.hexdigest(), nulls


def source_columns(
    server: PostgresServer, database: str, columns: Sequence[str], where: str = "TRUE"
) -> dict[str, list[Any]]:
    """The source rows ordered by ``id``, column by column."""
    rows = server.execute(
        f"SELECT {', '.join(columns)} FROM {TYPED_TABLE} WHERE {where} ORDER BY id",
        database=database,
    )
    assert rows is not None
    return {name: [row[i] for row in rows] for i, name in enumerate(columns)}


def table_columns(table: pa.Table, columns: Sequence[str]) -> dict[str, list[Any]]:
    """An Arrow table read back from Iceberg, ordered by ``id``, column by column."""
    ordered = table.sort_by("id")
    return {name: ordered.column(name).to_pylist() for name in columns}


def sql_config(url: str, table: str, destination: str, **extra: Any) -> IngestionConfig:
    """A ``sql_database`` config; ``write_mode`` (default append) among ``extra``, the rest
    goes into ``source_config``."""
    write_mode = extra.pop("write_mode", "append")
    return IngestionConfig(
        source_type="sql_database",
        source_config={"credentials": url, "table": table, **extra},
        destination_table=destination,
        write_mode=write_mode,
    )
