"""PostgreSQL values a backend cannot carry: NaN and ±Infinity are kept by the pyarrow backend
and refused (typed error, nothing committed) by the sqlalchemy backend, never stored as NULL."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin, RetryConfig
from tests.helpers import embedded_plugin, fresh_catalog, read_table
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration


@pytest.fixture
def special_floats(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"floats_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    postgres_server.execute(
        "CREATE TABLE t (id int PRIMARY KEY, d double precision, r real)", database=name
    )
    postgres_server.execute(
        "INSERT INTO t VALUES (1, 'NaN', 'NaN'), (2, 'Infinity', 'Infinity'), "
        "(3, '-Infinity', '-Infinity'), (4, 1.5, 2.5)",
        database=name,
    )
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))


def config(url: str, backend: str) -> IngestionConfig:
    return IngestionConfig(
        source_type="sql_database",
        source_config={"credentials": url, "table": "t", "backend": backend},
        destination_table="bronze.t",
    )


def test_pyarrow_backend_keeps_nan_and_infinity(
    plugin: DltIngestionPlugin, special_floats: str
) -> None:
    result = plugin.run(plugin.create_pipeline(config(special_floats, "pyarrow")))
    assert result.success, result.errors
    rows = sorted(
        read_table(plugin, "bronze.t").scan().to_arrow().to_pylist(), key=lambda r: r["id"]
    )
    assert math.isnan(rows[0]["d"]) and math.isnan(rows[0]["r"])
    assert rows[1]["d"] == math.inf and rows[2]["d"] == -math.inf


def test_sqlalchemy_backend_refuses_instead_of_storing_null(
    plugin: DltIngestionPlugin, special_floats: str
) -> None:
    result = plugin.run(plugin.create_pipeline(config(special_floats, "sqlalchemy")))
    assert not result.success
    first = result.errors[0]
    assert first.startswith("[PERMANENT] SourceConnectionError:"), first
    assert "column 'd'" in first and "use backend: pyarrow" in first
    assert not fresh_catalog(plugin).table_exists("bronze.t")


@pytest.fixture
def oversized_decimal(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"decimals_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    postgres_server.execute("CREATE TABLE t (id int PRIMARY KEY, amount numeric)", database=name)
    postgres_server.execute(
        "INSERT INTO t VALUES (1, 1.5), (2, 123456789012345678901234567890123456789012.5)",
        database=name,
    )
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.mark.parametrize("backend", ["sqlalchemy", "pyarrow"])
def test_decimal_that_does_not_fit_names_table_and_column(
    plugin: DltIngestionPlugin, oversized_decimal: str, backend: str
) -> None:
    result = plugin.run(plugin.create_pipeline(config(oversized_decimal, backend)))
    assert not result.success
    first = result.errors[0]
    assert first.startswith("[PERMANENT] "), first
    assert "table 't'" in first and "column 'amount'" in first, first
    assert "_RemoteTraceback" not in first, first
    assert not fresh_catalog(plugin).table_exists("bronze.t")


@pytest.fixture
def too_wide_decimal(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"wide_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(name)
    postgres_server.execute(
        "CREATE TABLE t (id int PRIMARY KEY, wide numeric(50, 0))", database=name
    )
    postgres_server.execute(
        "INSERT INTO t VALUES (1, 123456789012345678901234567890123456789012345)", database=name
    )
    try:
        yield url
    finally:
        postgres_server.drop_database(name)


def test_a_normalize_worker_failure_shows_its_cause(
    plugin: DltIngestionPlugin, too_wide_decimal: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """dlt normalizes in worker processes: their failure arrives as the worker's exception
    with a ``_RemoteTraceback`` (a traceback text starting ``\"\"\"``) as its cause. The result
    and the phase log name the worker's error and its message, PERMANENT (the data)."""
    result = plugin.run(plugin.create_pipeline(config(too_wide_decimal, "sqlalchemy")))

    assert not result.success
    first = result.errors[0]
    assert first.startswith("[PERMANENT] SourceConnectionError: normalize step:"), first
    assert "Column 'wide'" in first and "decimal256(50, 0)" in first, first
    logged = capfd.readouterr()
    assert "normalize failed" in logged.out + logged.err
    assert '_RemoteTraceback: """' not in logged.out + logged.err
    assert not fresh_catalog(plugin).table_exists("bronze.t")
