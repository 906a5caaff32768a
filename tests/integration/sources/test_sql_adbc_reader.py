"""The default ``pyarrow`` backend reads PostgreSQL through ADBC and writes what dlt's reader wrote.

Every table is loaded twice into Iceberg: with the default backend (ADBC) and with dlt's own
pyarrow table loader (SQLAlchemy + psycopg2 row tuples, forced by making ADBC unavailable),
then both are read back through PyIceberg and compared: schema and every value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from floe_core.plugins.ingestion import IngestionConfig
from structlog.testing import capture_logs

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError
from floe_ingestion_dlt.sources import sql_adbc
from tests.helpers import embedded_plugin, read_table
from tests.integration.sources.sql_fixtures import sql_config
from tests.services.postgres import PostgresServer, free_port

pytestmark = pytest.mark.integration

ROWS = 5_000
CHUNK = 700
"""Not a divisor of ROWS nor of ADBC's batches: re-chunking is exercised."""

COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("bigint PRIMARY KEY", "g"),
    "big_n": ("bigint", "g::bigint * 1000000007 * (1 - 2 * (g % 2))"),
    "int_n": ("integer NOT NULL", "g * 37 - 2000000"),
    "small_n": ("smallint", "(g % 30000 - 15000)::smallint"),
    "real_n": (
        "real",
        "CASE g % 97 WHEN 1 THEN 'NaN'::real WHEN 2 THEN '-Infinity' ELSE g / 3.0 END",
    ),
    "double_n": ("double precision", "CASE g % 89 WHEN 1 THEN 'Infinity' ELSE g / 7.0 END"),
    "fixed_n": ("numeric(12, 3)", "round(g * 1.337 - 5000, 3)"),
    "free_n": ("numeric", "round(g / 7.0, 9)"),
    "label": ("text", "'label-' || g || ' ünïcødé ✓ 100%'"),
    "code": ("varchar(16)", "substr(md5(g::text), 1, 16)"),
    "flag": ("boolean", "g % 2 = 0"),
    "day": ("date", "date '1969-07-20' + (g % 30000)"),
    "clock": ("time", "time '00:00:00' + g * interval '1.000001 second'"),
    "local_ts": ("timestamp", "timestamp '1999-12-31 23:00:00' + g * interval '1.000001 second'"),
    "zoned_ts": ("timestamptz", "timestamptz '1965-06-01 08:00:00.123456-07' + g * interval '1 h'"),
    "uid": ("uuid", "md5(g::text)::uuid"),
    "blob": ("bytea", "decode(md5(g::text), 'hex')"),
}
"""name -> (SQL type, value for row ``g``); every nullable column is NULL every 10th row."""

NESTED: dict[str, tuple[str, str]] = {
    "doc": (
        "jsonb",
        "jsonb_build_object('g', g, 'text', 'ü \"' || g, 'tags', jsonb_build_array('a', g % 3, "
        "null), 'nested', jsonb_build_object('half', g / 2.0, 'big', 12345678901234567))",
    ),
    "raw": (
        "json",
        'CASE WHEN g % 7 = 0 THEN \'{"z": [1, 2.50, "x"]}\'::json '
        'ELSE \'{"b": 1,  "a": [true], "b": 2}\'::json END',
    ),
    "ints": ("int[]", "CASE WHEN g % 3 = 0 THEN '{}'::int[] ELSE ARRAY[g, NULL, -g] END"),
    "grid": ("bigint[][]", "ARRAY[[g, 1], [2, g]]"),
    "words": ("text[]", "ARRAY['a\"b', 'c,d', 'ü {x}', NULL]"),
    "flags": ("boolean[]", "ARRAY[g % 2 = 0, NULL]"),
}
"""JSON and arrays: read by ADBC as JSON text, decoded and converted by dlt value by value.

Objects only: dlt's own reader fails on chunks mixing JSON scalars and objects."""

ODD: dict[str, tuple[str, str]] = {
    "addr": ("inet", "('10.0.0.0'::inet + g)"),
}
"""A type ADBC cannot hand over as dlt's reader does: the table keeps dlt's reader."""


def create_table(server: PostgresServer, database: str, name: str, columns: dict[str, Any]) -> None:
    ddl = ", ".join(f"{column} {kind}" for column, (kind, _) in columns.items())
    server.execute(f"CREATE TABLE {name} ({ddl})", database=database)
    values = ", ".join(
        value
        if "NOT NULL" in kind or column == "id"
        else f"CASE WHEN g % 10 = 0 THEN NULL ELSE {value} END"
        for column, (kind, value) in columns.items()
    )
    server.execute(
        f"INSERT INTO {name} SELECT {values} FROM generate_series(1, {ROWS}) AS g",
        database=database,
    )


@pytest.fixture(scope="module")
def parity_db(postgres_server: PostgresServer) -> Iterator[str]:
    """A database with ``flat`` (scalar types), ``nested`` (+ JSON, arrays), ``odd`` (+ inet)."""
    name = f"adbc_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    create_table(postgres_server, name, "flat", COLUMNS)
    create_table(postgres_server, name, "nested", {**COLUMNS, **NESTED})
    create_table(postgres_server, name, "odd", {**COLUMNS, **ODD})
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path)


def run_logged(plugin: DltIngestionPlugin, config: IngestionConfig) -> list[dict[str, Any]]:
    """Run ``config``; the ``sql reader chosen`` events it logged."""
    with capture_logs() as logs:
        result = plugin.run(plugin.create_pipeline(config))
    assert result.success, result.errors
    return [entry for entry in logs if entry["event"] == sql_adbc.READER_EVENT]


def user_data(plugin: DltIngestionPlugin, identifier: str) -> pa.Table:
    table = read_table(plugin, identifier).scan().to_arrow()
    keep = [name for name in table.column_names if not name.startswith("_dlt")]
    return table.select(keep).sort_by("id")


def iceberg_fields(plugin: DltIngestionPlugin, identifier: str) -> list[tuple[str, str, bool]]:
    return [
        (f.name, str(f.field_type), f.required)
        for f in read_table(plugin, identifier).schema().fields
        if not f.name.startswith("_dlt")
    ]


@pytest.mark.parametrize(
    ("table", "reader"), [("flat", "adbc"), ("nested", "adbc"), ("odd", "sqlalchemy")]
)
def test_default_backend_writes_what_dlts_pyarrow_reader_wrote(
    plugin: DltIngestionPlugin,
    parity_db: str,
    monkeypatch: pytest.MonkeyPatch,
    table: str,
    reader: str,
) -> None:
    events = run_logged(plugin, sql_config(parity_db, table, f"bronze.{table}", chunk_size=CHUNK))
    assert [(e["reader"], e["table"]) for e in events] == [(reader, table)], events
    if reader == "sqlalchemy":
        assert "'addr'" in events[0]["reason"]

    with monkeypatch.context() as patch:
        patch.setattr(sql_adbc, "adbc_available", lambda: False)
        old = run_logged(
            plugin, sql_config(parity_db, table, f"bronze.{table}_old", chunk_size=CHUNK)
        )
    assert old == []  # dlt's own loader, which logs no choice

    assert iceberg_fields(plugin, f"bronze.{table}") == iceberg_fields(
        plugin, f"bronze.{table}_old"
    )
    new_data = user_data(plugin, f"bronze.{table}")
    old_data = user_data(plugin, f"bronze.{table}_old")
    assert new_data.num_rows == ROWS
    assert new_data.schema == old_data.schema
    for name in new_data.column_names:
        # repr: exact for floats, and NaN equals NaN
        assert [repr(v) for v in new_data[name].to_pylist()] == [
            repr(v) for v in old_data[name].to_pylist()
        ], name
    assert new_data["real_n"].null_count == ROWS // 10
    assert str(old_data["fixed_n"].type) == "decimal128(12, 3)"


def test_incremental_where_columns_and_chunks_over_two_runs(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer
) -> None:
    database = f"adbc_incr_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(database)
    insert = (
        "INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + (g / 3) * interval "
        "'1 hour', CASE WHEN g % 4 = 0 THEN 'draft' ELSE 'open' END, g * 1.25, 'x' "
        "FROM generate_series({}, {}) g"
    )
    try:
        postgres_server.execute(
            "CREATE TABLE events (id int PRIMARY KEY, updated_at timestamptz NOT NULL, "
            "status text, amount numeric(10, 2), ignored text)",
            database=database,
        )
        postgres_server.execute(insert.format(1, 400), database=database)
        config = sql_config(
            url,
            "events",
            "bronze.events",
            cursor_field="updated_at",
            where="status <> 'draft' AND status LIKE 'o%'",
            columns=["id", "updated_at", "status", "amount"],
            chunk_size=7,
        )
        first = run_logged(plugin, config)
        postgres_server.execute(insert.format(401, 650), database=database)
        # a late row behind the cursor stays behind it
        postgres_server.execute(
            "INSERT INTO events VALUES (9999, '2023-01-01 00:00:00+00', 'open', 1, 'x')",
            database=database,
        )
        second = run_logged(plugin, config)
        assert [e["reader"] for e in first + second] == ["adbc", "adbc"]

        expected = postgres_server.execute(
            "SELECT id, updated_at, status, amount FROM events "
            "WHERE status <> 'draft' AND id <> 9999 ORDER BY id",
            database=database,
        )
        data = user_data(plugin, "bronze.events")
        assert data.column_names == ["id", "updated_at", "status", "amount"]
        assert [tuple(row.values()) for row in data.to_pylist()] == expected
    finally:
        postgres_server.drop_database(database)


# ------------------------------------------------------------------------------- failures


def loader_for(
    server: PostgresServer, url: str, password: str, port: int
) -> tuple[Any, list[Exception]]:
    """An ADBC loader over table ``flat`` of ``url`` connecting with ``password`` to ``port``."""
    engine = sa.create_engine(url)
    table = sa.Table("flat", sa.MetaData(), autoload_with=engine)
    from dlt.sources.sql_database.schema_types import table_to_columns

    target = sa.engine.make_url(url).set(password=password, port=port)
    uri = sql_adbc.libpq_uri(target, connect_timeout=2)
    assert uri is not None
    seen: list[Exception] = []

    def connect_error(exc: Exception) -> Exception:
        from floe_ingestion_dlt.sources.sql_database import (
            SqlDatabaseSourceConfig,
            _connection_error,
        )

        seen.append(exc)
        config = SqlDatabaseSourceConfig.model_validate(
            {"credentials": target.render_as_string(hide_password=False), "table": "flat"}
        )
        return _connection_error(exc, config)

    loader_class = sql_adbc.adbc_loader_class(uri, password, connect_error, "postgresql://t")
    loader = loader_class(engine, "pyarrow", table, table_to_columns(table), chunk_size=100)
    return loader, seen


def test_wrong_password_is_permanent_and_never_shown(
    postgres_server: PostgresServer,
    parity_db: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    wrong = "wr0ng:p@ss/" + uuid.uuid4().hex
    loader, seen = loader_for(postgres_server, parity_db, wrong, postgres_server.port)
    with pytest.raises(SourceConnectionError) as info:
        list(loader.load_rows())
    error = info.value
    assert error.category is ErrorCategory.PERMANENT
    assert "password authentication failed" in str(error)
    assert error.__cause__ is None and error.__suppress_context__
    out = capsys.readouterr()
    for text in (str(error), repr(error), str(seen), caplog.text, out.out, out.err):
        assert wrong not in text
        assert wrong.replace(":", "%3A").replace("@", "%40").replace("/", "%2F") not in text


def test_dead_port_is_transient(postgres_server: PostgresServer, parity_db: str) -> None:
    port = free_port()
    loader, _ = loader_for(postgres_server, parity_db, postgres_server.password, port)
    with pytest.raises(SourceConnectionError) as info:
        list(loader.load_rows())
    assert info.value.category is ErrorCategory.TRANSIENT
    assert "refused" in str(info.value).lower()
    assert postgres_server.password not in str(info.value)


def test_password_changed_after_create_is_a_permanent_result(
    tmp_path: Path,
    postgres_server: PostgresServer,
    parity_db: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    role, first, second = f"r_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, uuid.uuid4().hex
    database = sa.engine.make_url(parity_db).database
    postgres_server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{first}'")
    postgres_server.execute(f"GRANT SELECT ON flat TO {role}", database=database)
    try:
        plugin = embedded_plugin(tmp_path)
        url = (
            f"postgresql://{role}:{first}@{postgres_server.host}:{postgres_server.port}/{database}"
        )
        pipeline = plugin.create_pipeline(sql_config(url, "flat", "bronze.revoked"))
        postgres_server.execute(f"ALTER ROLE {role} PASSWORD '{second}'")
        outcome = plugin.run_with_outcome(pipeline)
    finally:
        postgres_server.execute(f"DROP OWNED BY {role}", database=database)
        postgres_server.execute(f"DROP ROLE {role}")
    assert not outcome.success
    assert outcome.category is ErrorCategory.PERMANENT
    assert outcome.attempts == 1
    assert "refused the login" in " ".join(outcome.errors)
    out = capsys.readouterr()
    for text in (" ".join(outcome.errors), caplog.text, out.out, out.err):
        assert first not in text
