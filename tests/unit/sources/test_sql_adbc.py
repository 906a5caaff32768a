"""The ADBC reader of the ``pyarrow`` backend: libpq URI, type plan, re-chunking, casts, masking.

The type plan is checked against dlt's own pyarrow conversion (``row_tuples_to_arrow``) so a
change in dlt's mapping fails here.
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import psycopg2.extensions  # type: ignore[import-untyped]
import pyarrow as pa
import pytest
import sqlalchemy as sa
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.common.libs.pyarrow import convert_array_to_arrow
from dlt.sources.sql_database import sql_table
from dlt.sources.sql_database.arrow_helpers import row_tuples_to_arrow
from dlt.sources.sql_database.helpers import BaseTableLoader, TableLoader
from dlt.sources.sql_database.schema_types import table_to_columns
from pydantic import SecretStr
from sqlalchemy.dialects import postgresql

from floe_ingestion_dlt.sources import sql_adbc
from floe_ingestion_dlt.sources.sql_adbc import (
    AdbcReadPlan,
    AdbcTableLoader,
    adbc_loader_class,
    cast_to_plan,
    libpq_uri,
    masked_driver_error,
    plan_adbc_read,
    rechunk,
)
from floe_ingestion_dlt.sources.sql_connectorx import compile_literal_sql, decimal_caster
from floe_ingestion_dlt.sources.sql_database import SqlDatabaseSourceConfig, _adbc_loader

PASSWORD = "p@ss:w/rd %?#&=+ü"


def pg_url(**query: str) -> sa.engine.URL:
    return sa.engine.URL.create(
        "postgresql+psycopg2",
        username="app user",
        password=PASSWORD,
        host="db.example.com",
        port=5433,
        database="shop/eu",
        query=query,
    )


# ------------------------------------------------------------------------------ libpq URI


def test_uri_carries_every_part_libpq_needs() -> None:
    uri = libpq_uri(pg_url(sslmode="require", application_name="floe"), connect_timeout=2.5)
    assert isinstance(uri, SecretStr)
    assert PASSWORD not in repr(uri) and PASSWORD not in str(uri)
    text = uri.get_secret_value()
    assert text.startswith("postgresql://")  # no +psycopg2
    parsed = psycopg2.extensions.parse_dsn(text)  # libpq's own URI parser
    assert parsed == {
        "user": "app user",
        "password": PASSWORD,
        "host": "db.example.com",
        "port": "5433",
        "dbname": "shop/eu",
        "sslmode": "require",
        "application_name": "floe",
        "connect_timeout": "3",
    }


def test_uri_keeps_an_explicit_connect_timeout_and_adds_connect_args() -> None:
    uri = libpq_uri(
        pg_url(connect_timeout="30"), 5, {"options": "-c statement_timeout=5000", "keepalives": 1}
    )
    assert uri is not None
    parsed = psycopg2.extensions.parse_dsn(uri.get_secret_value())
    assert parsed["connect_timeout"] == "30"
    assert parsed["options"] == "-c statement_timeout=5000"
    assert parsed["keepalives"] == "1"


def test_uri_without_password_ipv6_host() -> None:
    url = sa.engine.URL.create("postgresql+psycopg2", username="app", host="::1", database="db")
    uri = libpq_uri(url, 10)
    assert uri is not None
    assert uri.get_secret_value() == "postgresql://app@[::1]/db?connect_timeout=10"
    assert psycopg2.extensions.parse_dsn(uri.get_secret_value())["host"] == "::1"


@pytest.mark.parametrize("connect_args", [{"cursor_factory": object()}, {"sslcontext": [1]}])
def test_psycopg2_only_connect_args_keep_the_sqlalchemy_reader(connect_args: Any) -> None:
    assert libpq_uri(pg_url(), 10, connect_args) is None


def config(**source: Any) -> SqlDatabaseSourceConfig:
    return SqlDatabaseSourceConfig.model_validate({"table": "orders", **source})


def test_adbc_applies_to_pyarrow_on_postgresql_only(monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_url().render_as_string(hide_password=False)
    loader = _adbc_loader(config(credentials=url))
    assert loader is not None and issubclass(loader, TableLoader)
    assert _adbc_loader(config(credentials=url.replace("+psycopg2", ""))) is not None
    for backend in ("sqlalchemy", "connectorx", "pandas"):
        assert _adbc_loader(config(credentials=url, backend=backend)) is None
    assert _adbc_loader(config(credentials="sqlite:///shop.db")) is None
    factory = {"connect_args": {"cursor_factory": object()}}
    assert _adbc_loader(config(credentials=url, engine_kwargs=factory)) is None
    monkeypatch.setattr(sql_adbc, "adbc_available", lambda: False)
    assert _adbc_loader(config(credentials=url)) is None


def test_adbc_is_installed_with_the_dev_dependencies() -> None:
    assert sql_adbc.adbc_available()


# ------------------------------------------------------------------------------ type plan

TYPES: dict[str, Any] = {
    "big_n": sa.BigInteger(),
    "int_n": sa.Integer(),
    "small_n": sa.SmallInteger(),
    "real_n": postgresql.REAL(),
    "double_n": postgresql.DOUBLE_PRECISION(),
    "fixed_n": sa.Numeric(12, 3),
    "free_n": sa.Numeric(),
    "label": sa.Text(),
    "code": sa.String(16),
    "letters": sa.CHAR(3),
    "flag": sa.Boolean(),
    "day": sa.Date(),
    "clock": sa.Time(),
    "local_ts": sa.DateTime(),
    "zoned_ts": sa.DateTime(timezone=True),
    "uid": postgresql.UUID(as_uuid=False),
    "mood": postgresql.ENUM("sad", "ok", name="mood"),
    "blob": postgresql.BYTEA(),
}

ROW: tuple[Any, ...] = (
    -(2**62),
    7,
    -3,
    1.1,
    2.5,
    Decimal("123456789.123"),
    Decimal("1.000000001"),
    "text ✓",
    "varchar",
    "ab ",
    True,
    dt.date(1969, 7, 20),
    dt.time(12, 34, 56, 789),
    dt.datetime(2020, 1, 1, 1, 2, 3, 456789),
    dt.datetime(2020, 1, 1, 1, 2, 3, 456789, tzinfo=dt.UTC),
    str(uuid.UUID(int=5)),
    "ok",
    b"\x00\x01",
)


def table_of(types: dict[str, Any], not_null: tuple[str, ...] = ()) -> sa.Table:
    columns = [sa.Column(name, kind, nullable=name not in not_null) for name, kind in types.items()]
    return sa.Table("t", sa.MetaData(), sa.Column("id", sa.BigInteger, primary_key=True), *columns)


def plan_for(table: sa.Table, level: str = "full") -> AdbcReadPlan | str:
    hints = table_to_columns(table, level)  # type: ignore[arg-type]
    caps = DestinationCapabilitiesContext.generic_capabilities()
    return plan_adbc_read(table.select(), hints, caps, "UTC")


def test_plan_is_the_schema_dlts_pyarrow_backend_builds() -> None:
    table = table_of(TYPES, not_null=("int_n",))
    plan = plan_for(table)
    assert isinstance(plan, AdbcReadPlan)
    hints = table_to_columns(table, "full")
    # dlt's own conversion of the values psycopg2 returns, with the same hints
    dlt_table = row_tuples_to_arrow([(1, *ROW), (2, *([None] * len(ROW)))], hints, "UTC")
    assert plan.schema == dlt_table.schema
    assert plan.schema.field("int_n").nullable is False
    assert plan.schema.field("fixed_n").type == pa.decimal128(12, 3)
    assert plan.schema.field("zoned_ts").type == pa.timestamp("us", tz="UTC")
    assert plan.schema.field("local_ts").type == pa.timestamp("us")
    assert plan.text_columns == {"real_n", "uid", "mood"}


def test_plan_selects_text_where_adbc_would_differ() -> None:
    plan = plan_for(table_of(TYPES))
    assert isinstance(plan, AdbcReadPlan)
    engine = sa.create_engine("postgresql+psycopg2://app@localhost/db")
    sql = compile_literal_sql(engine, plan.query.where(sa.text("label LIKE 'a%'")))
    assert "CAST(t.real_n AS TEXT) AS real_n" in sql
    assert "CAST(t.uid AS TEXT) AS uid" in sql
    assert "CAST(t.mood AS TEXT) AS mood" in sql
    assert "CAST(t.label" not in sql and "CAST(t.fixed_n" not in sql
    assert "LIKE 'a%'" in sql


def test_precision_reflection_gives_dlts_narrower_ints() -> None:
    plan = plan_for(table_of({"small_n": sa.SmallInteger()}), "full_with_precision")
    assert isinstance(plan, AdbcReadPlan)
    assert plan.schema.field("small_n").type == pa.int32()


def test_json_and_plain_arrays_are_read_as_json_text() -> None:
    table = table_of(
        {
            "doc": postgresql.JSONB(),
            "raw": postgresql.JSON(),
            "ints": postgresql.ARRAY(sa.BigInteger()),
            "words": postgresql.ARRAY(sa.Text()),
            "flags": postgresql.ARRAY(sa.Boolean()),
        }
    )
    plan = plan_for(table)
    assert isinstance(plan, AdbcReadPlan)
    assert plan.json_columns == {"doc", "raw", "ints", "words", "flags"}
    assert plan.schema.field("doc").type == pa.string()
    engine = sa.create_engine("postgresql+psycopg2://app@localhost/db")
    sql = compile_literal_sql(engine, plan.query)
    assert "CAST(array_to_json(t.ints) AS TEXT) AS ints" in sql
    assert "t.doc," in sql and "t.raw," in sql
    json_text = ['{"b": 1, "a": [1, 2.5, null]}', None, '{"x": "ü \\"q"}']
    received = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            **{name: pa.array(json_text, pa.string()) for name in ("doc", "raw")},
            "ints": pa.array(["[1, null, -3]", None, "[]"]),
            "words": pa.array(['["a", null]', None, "[]"]),
            "flags": pa.array(["[true, null]", None, "[]"]),
        }
    )
    cast = cast_to_plan(received, plan, lambda t: t)
    # dlt's reader with the values psycopg2 returns for the same rows
    python_rows = [
        (
            1,
            {"b": 1, "a": [1, 2.5, None]},
            {"b": 1, "a": [1, 2.5, None]},
            [1, None, -3],
            ["a", None],
            [True, None],
        ),
        (2, None, None, None, None, None),
        (3, {"x": 'ü "q'}, {"x": 'ü "q'}, [], [], []),
    ]
    expected = row_tuples_to_arrow(python_rows, table_to_columns(table, "full"), "UTC")
    assert cast.equals(expected)


def test_an_engine_json_deserializer_keeps_dlts_reader() -> None:
    table = table_of({"doc": postgresql.JSONB()})
    caps = DestinationCapabilitiesContext.generic_capabilities()
    plan = plan_adbc_read(table.select(), table_to_columns(table), caps, "UTC", json_loads=False)
    assert isinstance(plan, str) and "json_deserializer" in plan


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (postgresql.ARRAY(sa.Numeric()), "is an array of"),
        (postgresql.ARRAY(postgresql.ENUM("a", name="e")), "is an array of"),
        (postgresql.ARRAY(sa.Float()), "is an array of"),
        (postgresql.INTERVAL(), "no reflected type"),
        (sa.Time(timezone=True), "time with time zone"),
        (postgresql.INET(), "no reflected type"),
    ],
)
def test_types_adbc_cannot_match_keep_dlts_reader(kind: Any, reason: str) -> None:
    plan = plan_for(table_of({"label": sa.Text(), "odd": kind}))
    assert isinstance(plan, str)
    assert "'odd'" in plan and reason in plan


def test_minimal_reflection_keeps_dlts_reader() -> None:
    plan = plan_for(table_of({"label": sa.Text()}), "minimal")
    assert plan == "column 'id' has no reflected type"


def test_mismatching_result_schema_is_detected() -> None:
    plan = plan_for(table_of({"label": sa.Text(), "fixed_n": sa.Numeric(12, 3)}))
    assert isinstance(plan, AdbcReadPlan)
    numeric = pa.opaque(pa.string(), "numeric", "PostgreSQL")
    good = pa.schema([("id", pa.int64()), ("label", pa.string()), ("fixed_n", numeric)])
    assert plan.mismatch(good) is None
    assert "'label'" in str(plan.mismatch(good.set(1, pa.field("label", pa.binary()))))
    assert "result columns" in str(plan.mismatch(good.remove(2)))


# ------------------------------------------------------------------ re-chunking and casts


def batches(*sizes: int) -> list[pa.RecordBatch]:
    out, start = [], 0
    for size in sizes:
        out.append(pa.record_batch({"id": pa.array(range(start, start + size), pa.int64())}))
        start += size
    return out


def test_rechunk_cuts_exact_chunks_in_order() -> None:
    tables = list(rechunk(iter(batches(3, 0, 5, 9, 1)), 4))
    assert [t.num_rows for t in tables] == [4, 4, 4, 4, 2]
    assert [v for t in tables for v in t["id"].to_pylist()] == list(range(18))
    assert list(rechunk(iter(batches(0)), 4)) == []


def test_rechunk_streams_without_reading_ahead() -> None:
    consumed: list[int] = []

    def stream() -> Any:
        for batch in batches(2, 2, 2, 2):
            consumed.append(batch.num_rows)
            yield batch

    first = next(rechunk(stream(), 4))
    assert first.num_rows == 4 and len(consumed) == 2


def decimal_plan() -> AdbcReadPlan:
    plan = plan_for(table_of({"fixed_n": sa.Numeric(12, 3), "real_n": postgresql.REAL()}))
    assert isinstance(plan, AdbcReadPlan)
    return plan


def adbc_table(decimals: list[str | None], reals: list[str | None]) -> pa.Table:
    numeric = pa.opaque(pa.string(), "numeric", "PostgreSQL")
    return pa.table(
        {
            "id": pa.array(range(len(decimals)), pa.int64()),
            "fixed_n": pa.ExtensionArray.from_storage(numeric, pa.array(decimals, pa.string())),
            "real_n": pa.array(reals, pa.string()),
        }
    )


def test_cast_gives_exact_decimals_and_parsed_floats() -> None:
    plan = decimal_plan()
    hints = {"fixed_n": {"data_type": "decimal", "precision": 12, "scale": 3}}
    cast = cast_to_plan(adbc_table(["1.5", None], ["1.1", "NaN"]), plan, decimal_caster(hints))
    assert cast.schema == plan.schema
    assert cast["fixed_n"].to_pylist() == [Decimal("1.500"), None]
    assert cast["real_n"][0].as_py() == 1.1  # not 1.100000023841858


def test_cast_refuses_to_lose_a_digit() -> None:
    with pytest.raises(pa.ArrowInvalid):
        cast_to_plan(adbc_table(["1.2345"], ["1"]), decimal_plan(), lambda table: table)


def test_a_chunk_of_only_nulls_in_an_inferred_column_is_null_typed_like_dlts() -> None:
    cast = cast_to_plan(adbc_table(["1", "2"], [None, None]), decimal_plan(), lambda t: t)
    assert cast.schema.field("real_n").type == pa.null()
    hints = table_to_columns(table_of({"real_n": postgresql.REAL()}), "full")
    dlt_table = row_tuples_to_arrow([(1, None), (2, None)], hints, "UTC")
    assert dlt_table.schema.field("real_n").type == pa.null()


# ---------------------------------------------------------------------- errors and masking


def test_driver_error_text_loses_uri_and_password_in_every_spelling() -> None:
    uri = libpq_uri(pg_url(), 10)
    assert uri is not None
    raw = Exception(
        f"connect to {uri.get_secret_value()} failed; pw={PASSWORD}; "
        f"encoded={quote(PASSWORD, safe='')}; path={quote(PASSWORD)}"
    )
    text = str(masked_driver_error(raw, uri, PASSWORD))
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text
    assert quote(PASSWORD) not in text and "***" in text


# --------------------------------------------------------------- dlt internals we build on


def test_each_loader_class_reads_its_own_endpoint() -> None:
    first = adbc_loader_class(SecretStr("postgresql://a"), "pa", lambda e: e, "pg-a")
    second = adbc_loader_class(SecretStr("postgresql://b"), None, lambda e: e, "pg-b")
    assert first is not second
    assert issubclass(first, AdbcTableLoader) and issubclass(second, AdbcTableLoader)
    assert (first.endpoint.target, first.endpoint.password) == ("pg-a", "pa")
    assert (second.endpoint.target, second.endpoint.password) == ("pg-b", None)
    assert not hasattr(AdbcTableLoader, "endpoint")  # the shared base stays unbound


def test_dlt_table_loader_interface_is_what_the_adbc_loader_uses() -> None:
    loader_class = adbc_loader_class(SecretStr("postgresql://x"), None, lambda e: e, "pg")
    assert issubclass(loader_class, TableLoader)
    init = list(inspect.signature(BaseTableLoader.__init__).parameters)
    assert init[:5] == ["self", "engine", "backend", "table", "columns"]
    assert list(inspect.signature(convert_array_to_arrow).parameters) == [
        "column_data",
        "caps",
        "column_schema",
        "tz",
        "safe_arrow_conversion",
        "arrow_type",
    ]
    assert list(inspect.signature(TableLoader._load_rows).parameters) == [
        "self",
        "query",
        "backend_kwargs",
    ]
    assert callable(BaseTableLoader.make_query)
    assert "table_loader_class" in inspect.signature(sql_table).parameters
