"""sql_database -> Iceberg against a real PostgreSQL, read back through PyIceberg."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

from floe_ingestion_dlt import DltIngestionPlugin
from tests.helpers import embedded_plugin, read_table, snapshot_count, user_rows
from tests.integration.sources.sql_fixtures import (
    TYPED_COLUMNS,
    TYPED_TABLE,
    column_digest,
    create_typed_table,
    source_columns,
    sql_config,
    table_columns,
)
from tests.services.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

ROWS = 100_000


@pytest.fixture(scope="module")
def typed_db(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """(database name, SQLAlchemy URL) of a database holding the 100,000-row typed table."""
    name = f"types_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    create_typed_table(postgres_server, name, ROWS)
    try:
        yield name, url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path)


def assert_columns_equal(
    server: PostgresServer, database: str, table: pa.Table, where: str = "TRUE"
) -> None:
    columns = list(TYPED_COLUMNS)
    expected = source_columns(server, database, columns, where)
    loaded = table_columns(table, columns)
    assert len(loaded["id"]) == len(expected["id"])
    for name in columns:
        assert column_digest(loaded[name], name) == column_digest(expected[name], name), name


def test_100k_rows_of_every_common_type_round_trip(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, typed_db: tuple[str, str]
) -> None:
    database, url = typed_db
    pipeline = plugin.create_pipeline(sql_config(url, TYPED_TABLE, "bronze.everything"))
    result = plugin.run(pipeline)
    assert result.success, result.errors
    assert result.rows_loaded == ROWS

    table = read_table(plugin, "bronze.everything")
    assert snapshot_count(table) == 1
    types = {f.name: f.field_type for f in table.schema().fields}
    assert types["id"] == LongType()
    assert types["small_n"] == LongType()
    assert types["int_n"] == LongType()
    assert types["price"] == DecimalType(12, 2)
    assert types["ratio"] == DecimalType(38, 18)
    assert types["real_n"] in (DoubleType(), FloatType())
    assert types["double_n"] == DoubleType()
    assert types["flag"] == BooleanType()
    assert types["label"] == StringType()
    assert types["code"] == StringType()
    assert types["day"] == DateType()
    assert types["local_ts"] == TimestampType()
    assert types["zoned_ts"] == TimestamptzType()
    assert types["doc"] == StringType()
    assert types["uid"] == StringType()
    assert types["blob"] == BinaryType()
    assert types["clock"] == TimeType()

    data = table.scan().to_arrow()
    assert data.num_rows == ROWS
    assert data.schema.field("zoned_ts").type.tz in ("UTC", "+00:00")
    assert data.schema.field("local_ts").type.tz is None
    # row count, a checksum and the NULL count of every column equal the source's
    assert_columns_equal(postgres_server, database, data)
    nulls = postgres_server.execute(
        f"SELECT count(*) - count(price), count(*) - count(zoned_ts) FROM {TYPED_TABLE}",
        database=database,
    )
    assert nulls == [(data["price"].null_count, data["zoned_ts"].null_count)]


@pytest.mark.parametrize("backend", ["sqlalchemy", "connectorx"])
def test_other_backends_load_the_same_values(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    typed_db: tuple[str, str],
    backend: str,
) -> None:
    database, url = typed_db
    where = "id <= 3000"
    config = sql_config(
        url, TYPED_TABLE, f"bronze.everything_{backend}", backend=backend, where=where
    )
    result = plugin.run(plugin.create_pipeline(config))
    assert result.success, result.errors
    assert result.rows_loaded == 3000
    table = read_table(plugin, f"bronze.everything_{backend}")
    types = {f.name: f.field_type for f in table.schema().fields}
    assert types["price"] == DecimalType(12, 2)
    assert types["ratio"] == DecimalType(38, 18)
    assert types["local_ts"] == TimestampType()
    assert types["zoned_ts"] == TimestamptzType()
    assert_columns_equal(postgres_server, database, table.scan().to_arrow(), where)


@pytest.mark.parametrize("backend", ["pyarrow", "connectorx"])
def test_columns_and_where_filter_select_what_the_database_selects(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    typed_db: tuple[str, str],
    backend: str,
) -> None:
    database, url = typed_db
    where = "label LIKE 'label-1%' AND id % 2 = 0"
    config = sql_config(
        url,
        TYPED_TABLE,
        f"bronze.filtered_{backend}",
        backend=backend,
        columns=["id", "price", "label"],
        where=where,
        chunk_size=1000,
    )
    result = plugin.run(plugin.create_pipeline(config))
    assert result.success, result.errors
    expected = postgres_server.execute(
        f"SELECT id, price, label FROM {TYPED_TABLE} WHERE {where} ORDER BY id", database=database
    )
    assert expected is not None and len(expected) > 1000
    table = read_table(plugin, f"bronze.filtered_{backend}").scan().to_arrow()
    assert sorted(c for c in table.column_names if not c.startswith("_dlt")) == [
        "id",
        "label",
        "price",
    ]
    rows = user_rows(table)
    assert [(r["id"], r["price"], r["label"]) for r in rows] == expected
    assert result.rows_loaded == len(expected)


def test_incremental_cursor_is_pushed_into_the_query(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer
) -> None:
    database = f"incr_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(database)
    try:
        postgres_server.execute(
            "CREATE TABLE events (id int PRIMARY KEY, updated_at timestamptz NOT NULL, v text)",
            database=database,
        )
        postgres_server.execute(
            "INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval "
            "'1 hour', 'first' FROM generate_series(1, 500) g",
            database=database,
        )
        postgres_server.execute(f"ALTER DATABASE {database} SET log_statement = 'all'")
        config = sql_config(url, "events", "bronze.events", cursor_field="updated_at")

        first = plugin.run(plugin.create_pipeline(config))
        assert first.success, first.errors
        assert first.rows_loaded == 500

        postgres_server.execute(
            "INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval "
            "'1 hour', 'second' FROM generate_series(501, 620) g",
            database=database,
        )
        second = plugin.run(plugin.create_pipeline(config))
        assert second.success, second.errors
        # the cursor's start is inclusive: the last row of run 1 is read again and deduplicated
        assert second.rows_loaded == 120

        table = read_table(plugin, "bronze.events").scan().to_arrow()
        ids = sorted(table["id"].to_pylist())
        assert ids == list(range(1, 621))
        log = postgres_server.log_tail(400)
        # the second SELECT filters on the database side from the last cursor value on
        assert re.search(r"WHERE events\.updated_at >= '2024-01-21[T ]20:00:00\+00:00'", log)
    finally:
        postgres_server.drop_database(database)


def test_sqlite_file_is_the_embedded_case(plugin: DltIngestionPlugin, tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price NUMERIC)")
        conn.executemany(
            "INSERT INTO items VALUES (?, ?, ?)", [(i, f"item-{i}", i * 0.5) for i in range(1, 51)]
        )
    config = sql_config(f"sqlite:///{path}", "items", "bronze.items", write_mode="replace")
    for _ in range(2):  # replace: the second run leaves exactly the source rows
        result = plugin.run(plugin.create_pipeline(config))
        assert result.success, result.errors
        assert result.rows_loaded == 50
    table = read_table(plugin, "bronze.items")
    rows = user_rows(table.scan().to_arrow())
    assert [(r["id"], r["name"]) for r in rows] == [(i, f"item-{i}") for i in range(1, 51)]
    assert snapshot_count(table) == 2


def test_no_secret_reaches_the_pipeline_folder_or_the_logs(
    tmp_path: Path,
    postgres_server: PostgresServer,
    typed_db: tuple[str, str],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    _, url = typed_db
    plugin = embedded_plugin(tmp_path)
    config = sql_config(url, TYPED_TABLE, "bronze.secretless", where="id <= 10")
    result = plugin.run(plugin.create_pipeline(config))
    assert result.success, result.errors
    secret = postgres_server.password.encode()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    assert [p for p in written if secret in p.read_bytes()] == []
    out = capsys.readouterr()
    assert postgres_server.password not in caplog.text + out.out + out.err + repr(result)
