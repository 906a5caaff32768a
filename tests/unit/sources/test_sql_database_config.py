"""``sql_database`` source_config: parsing, secrets, driver packages, dlt extension points."""

from __future__ import annotations

import importlib.util
import inspect
import secrets
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from floe_ingestion_dlt.errors import ErrorCategory, PipelineConfigurationError, ValidationError
from floe_ingestion_dlt.pipeline import check_packages
from floe_ingestion_dlt.scrub import scrub_text
from floe_ingestion_dlt.sources import get_builder
from floe_ingestion_dlt.sources.sql_connectorx import (
    connectorx_loader_class,
    decimal_caster,
    select_decimals_as_text,
)
from floe_ingestion_dlt.sources.sql_database import (
    SqlDatabaseSourceBuilder,
    SqlDatabaseSourceConfig,
    _engine_kwargs,
)


def parse(source_config: dict[str, Any]) -> SqlDatabaseSourceConfig:
    config = SqlDatabaseSourceBuilder().parse(source_config)
    assert isinstance(config, SqlDatabaseSourceConfig)
    return config


def pg_url(password: str, host: str = "db.example.com") -> str:
    return f"postgresql+psycopg2://app:{password}@{host}:5432/shop"


def test_registry_points_at_this_builder() -> None:
    assert isinstance(get_builder("sql_database"), SqlDatabaseSourceBuilder)


def test_url_string_defaults() -> None:
    password = secrets.token_hex(8)
    config = parse({"credentials": pg_url(password), "table": "orders"})
    assert isinstance(config.credentials.url, SecretStr)
    assert config.backend == "pyarrow"
    assert config.reflection_level == "full"
    assert config.db_schema is None
    assert config.credentials.sqlalchemy_url.host == "db.example.com"
    assert config.credentials.describe() == "postgresql://app@db.example.com:5432/shop"
    assert password not in repr(config)
    assert password not in str(config.model_dump())


def test_password_is_registered_for_scrubbing_on_parse() -> None:
    password = "pw-" + secrets.token_hex(8)
    parse({"credentials": pg_url(password), "table": "orders"})
    assert password not in scrub_text(f"driver said: bad password {password} for app")


def test_credentials_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    password = secrets.token_hex(8)
    monkeypatch.setenv("FLOE_TEST_DB_URL", pg_url(password))
    config = parse({"credentials": {"from_env": "FLOE_TEST_DB_URL"}, "table": "orders"})
    assert config.credentials.sqlalchemy_url.password == password
    assert password not in scrub_text(f"x {password} y")


def test_credentials_dict_form_with_password_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    password = secrets.token_hex(8)
    monkeypatch.setenv("FLOE_TEST_DB_PASSWORD", password)
    config = parse(
        {
            "credentials": {
                "drivername": "postgresql+psycopg2",
                "username": "app",
                "password": {"from_env": "FLOE_TEST_DB_PASSWORD"},
                "host": "db",
                "port": 5433,
                "database": "shop",
                "query": {"sslmode": "prefer"},
            },
            "table": "orders",
            "schema": "sales",
        }
    )
    url = config.credentials.sqlalchemy_url
    assert (url.username, url.password, url.host, url.port, url.database) == (
        "app",
        password,
        "db",
        5433,
        "shop",
    )
    assert url.query == {"sslmode": "prefer"}
    assert config.db_schema == "sales"
    assert password not in scrub_text(password)


def test_missing_environment_variable_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOE_TEST_NOT_SET", raising=False)
    with pytest.raises(ValidationError) as info:
        parse({"credentials": {"from_env": "FLOE_TEST_NOT_SET"}, "table": "orders"})
    assert info.value.field is not None and info.value.field.startswith("source_config.credentials")
    assert "FLOE_TEST_NOT_SET" in str(info.value)


def test_invalid_url_names_the_field_without_echoing_it() -> None:
    password = secrets.token_hex(8)
    with pytest.raises(ValidationError) as info:
        parse({"credentials": f"not a url {password}", "table": "orders"})
    assert info.value.field == "source_config.credentials"
    assert info.value.category is ErrorCategory.CONFIGURATION
    assert password not in str(info.value)


def test_unknown_dialect() -> None:
    with pytest.raises(ValidationError, match="SQL dialect 'nosuchdb'"):
        parse({"credentials": "nosuchdb://u:p@h/d", "table": "orders"})


@pytest.mark.parametrize(
    ("url", "drivername"),
    [
        ("postgres://u:p@h/d", "postgresql+psycopg2"),
        ("postgresql://u:p@h/d", "postgresql+psycopg2"),
        ("postgresql+psycopg://u:p@h/d", "postgresql+psycopg"),
        ("mysql://u:p@h/d", "mysql+pymysql"),
        ("mariadb://u:p@h/d", "mariadb+pymysql"),
        ("postgresql+psycopg2://u:p@h/d", "postgresql+psycopg2"),
    ],
)
def test_dialects_without_driver_get_the_extras_driver(url: str, drivername: str) -> None:
    assert parse({"credentials": url, "table": "t"}).credentials.sqlalchemy_url.drivername == (
        drivername
    )


@pytest.mark.parametrize(
    ("source_config", "field"),
    [
        ({"credentials": "sqlite://", "table": ""}, "source_config.table"),
        ({"credentials": "sqlite://"}, "source_config.table"),
        ({"table": "t"}, "source_config.credentials"),
        ({"credentials": "sqlite://", "table": "t", "backend": "polars"}, "source_config.backend"),
        ({"credentials": "sqlite://", "table": "t", "chunk_size": 0}, "source_config.chunk_size"),
        ({"credentials": "sqlite://", "table": "t", "columns": []}, "source_config.columns"),
        ({"credentials": "sqlite://", "table": "t", "tabel": "x"}, "source_config.tabel"),
        (
            {"credentials": "sqlite://", "table": "t", "reflection_level": "max"},
            "source_config.reflection_level",
        ),
        (
            {"credentials": {"drivername": "sqlite", "url": "sqlite://"}, "table": "t"},
            "source_config.credentials",
        ),
    ],
)
def test_bad_config_names_the_field(source_config: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse(source_config)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_backend_error_lists_allowed_values() -> None:
    with pytest.raises(ValidationError) as info:
        parse({"credentials": "sqlite://", "table": "t", "backend": "polars"})
    for backend in ("pyarrow", "sqlalchemy", "connectorx", "pandas"):
        assert backend in str(info.value)


@pytest.mark.parametrize(
    ("url", "backend", "expected"),
    [
        ("postgresql://u:p@h/d", "pyarrow", ("psycopg2", "floe-ingestion-dlt[postgres]")),
        ("postgresql+psycopg2://u:p@h/d", "pyarrow", ("psycopg2", "floe-ingestion-dlt[postgres]")),
        ("mysql://u:p@h/d", "pyarrow", ("pymysql", "floe-ingestion-dlt[mysql]")),
        ("mysql+pymysql://u:p@h/d", "pyarrow", ("pymysql", "floe-ingestion-dlt[mysql]")),
        ("sqlite:///x.db", "connectorx", ("connectorx", "floe-ingestion-dlt[connectorx]")),
        ("sqlite:///x.db", "pandas", ("pandas", "floe-ingestion-dlt[pandas]")),
        ("sqlite:///x.db", "pyarrow", ("pyarrow", "floe-ingestion-dlt")),
    ],
)
def test_modules_follow_url_scheme_and_backend(
    url: str, backend: str, expected: tuple[str, str]
) -> None:
    builder = SqlDatabaseSourceBuilder()
    modules = builder.modules_for(parse({"credentials": url, "table": "t", "backend": backend}))
    assert expected in modules
    assert ("sqlalchemy", "floe-ingestion-dlt") in modules


def test_sqlite_needs_no_driver_package() -> None:
    builder = SqlDatabaseSourceBuilder()
    modules = builder.modules_for(parse({"credentials": "sqlite:///x.db", "table": "t"}))
    assert {m for m, _ in modules} == {"dlt", "sqlalchemy", "pyarrow"}


def test_missing_driver_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "pymysql" else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    builder = SqlDatabaseSourceBuilder()
    config = parse({"credentials": "mysql://u:p@h/d", "table": "t"})
    assert builder.missing_packages(config) == [("pymysql", "floe-ingestion-dlt[mysql]")]
    with pytest.raises(PipelineConfigurationError, match=r"floe-ingestion-dlt\[mysql\]"):
        check_packages(builder, config, "sql_database")


def test_driver_timeout_is_bounded() -> None:
    config = parse({"credentials": "postgresql://u:p@h/d", "table": "t", "connect_timeout": 2.5})
    read_only = "-c default_transaction_read_only=on"
    assert _engine_kwargs(config, config.connect_timeout) == {
        "connect_args": {"connect_timeout": 3, "options": read_only}
    }
    custom = parse(
        {
            "credentials": "postgresql://u:p@h/d",
            "table": "t",
            "engine_kwargs": {"connect_args": {"connect_timeout": 1}, "pool_size": 2},
        }
    )
    assert _engine_kwargs(custom, 10) == {
        "connect_args": {"connect_timeout": 1, "options": read_only},
        "pool_size": 2,
    }


def test_incremental_is_pushed_down_by_the_builder() -> None:
    assert SqlDatabaseSourceBuilder.handles_incremental is True


# ---------------------------------------------------------------- dlt internals we extend


def test_connectorx_loader_compiles_literal_percent_signs_once() -> None:
    """Our ConnectorX loader keeps ``%`` as written; dlt's own compile doubles it."""
    from dlt.sources.sql_database.helpers import ConnectorXTableLoader

    engine = sa.create_engine("postgresql+psycopg2://u:p@h/d")
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer), sa.Column("name", sa.Text))
    query = sa.select(table).where(sa.text("id % 2 = 0 AND name LIKE 'a%'"))
    loader_class = connectorx_loader_class()
    assert issubclass(loader_class, ConnectorXTableLoader)
    ours = loader_class(engine, "connectorx", table, {}).compile_query(query)
    dlts = ConnectorXTableLoader(engine, "connectorx", table, {}).compile_query(query)
    assert "id % 2 = 0 AND name LIKE 'a%'" in ours
    assert "%%" in dlts, "dlt no longer doubles %: the override may be dropped"
    # dlt hands the compiled string to connectorx from this method
    source = inspect.getsource(ConnectorXTableLoader._load_rows_connectorx)
    assert "self.compile_query(query)" in source


def test_sql_table_accepts_the_arguments_the_builder_passes() -> None:
    from dlt.sources.sql_database import sql_table

    parameters = inspect.signature(sql_table).parameters
    for name in (
        "credentials",
        "table",
        "schema",
        "backend",
        "chunk_size",
        "reflection_level",
        "engine_kwargs",
        "included_columns",
        "query_adapter_callback",
        "incremental",
        "backend_kwargs",
        "table_loader_class",
    ):
        assert name in parameters, name


def test_connectorx_reads_decimals_as_text_and_casts_them_back_exactly() -> None:
    import pyarrow as pa

    table = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.Integer),
        sa.Column("price", sa.Numeric(12, 2)),
        sa.Column("ratio", sa.Numeric(38, 18)),
        sa.Column("score", sa.Float),
    )
    query = select_decimals_as_text(sa.select(table).where(table.c.id > 1))
    sql = str(query.compile(sa.create_engine("postgresql+psycopg2://u:p@h/d")))
    assert "CAST(t.price AS TEXT) AS price" in sql
    assert "CAST(t.ratio AS TEXT) AS ratio" in sql
    assert "t.score" in sql and "CAST(t.score" not in sql
    assert "WHERE t.id >" in sql

    cast = decimal_caster(
        {
            "price": {"data_type": "decimal", "precision": 12, "scale": 2},
            "ratio": {"data_type": "decimal", "precision": 38, "scale": 18},
            "id": {"data_type": "bigint"},
        }
    )
    out = cast(pa.table({"id": [1], "price": ["-1.50"], "ratio": ["0.142857142857142857"]}))
    assert out.schema.field("price").type == pa.decimal128(12, 2)
    assert out.schema.field("ratio").type == pa.decimal128(38, 18)
    assert str(out["ratio"][0].as_py()) == "0.142857142857142857"
    with pytest.raises(pa.ArrowInvalid):  # never rounds silently
        cast(pa.table({"price": ["1.505"]}))


@pytest.mark.parametrize(
    ("source_config", "missing", "extra"),
    [
        ({"credentials": "mysql://u:p@db/shop", "table": "t"}, "pymysql", "[mysql]"),
        ({"credentials": "postgresql://u:p@db/shop", "table": "t"}, "psycopg2", "[postgres]"),
        (
            {"credentials": "sqlite:///x.db", "table": "t", "backend": "pandas"},
            "pandas",
            "[pandas]",
        ),
    ],
)
def test_startup_names_the_pip_extra_of_a_missing_source_package(
    monkeypatch: pytest.MonkeyPatch, source_config: dict[str, Any], missing: str, extra: str
) -> None:
    from floe_ingestion_dlt import DltIngestionConfig, DltIngestionPlugin

    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == missing else real_find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            sources=[
                {
                    "name": "orders",
                    "source_type": "sql_database",
                    "source_config": source_config,
                    "destination_table": "bronze.orders",
                }
            ]
        )
    )
    with pytest.raises(ImportError) as info:
        plugin.startup()
    assert missing in str(info.value)
    assert f"floe-ingestion-dlt{extra}" in str(info.value)
