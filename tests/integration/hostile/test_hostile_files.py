"""Malformed source files: each is a typed error naming the file (nothing committed), or, for
an empty file, no rows and a successful run. Options that validate accepted must also run:
validate refuses what the run would refuse (parity)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from floe_ingestion_dlt import DltIngestionPlugin, RetryConfig
from floe_ingestion_dlt.errors import ErrorCategory, ValidationError
from tests.helpers import embedded_plugin, files_config, fresh_catalog
from tests.observability_sdk import OtelSdk

pytestmark = pytest.mark.integration

BOUND_SECONDS = 30.0


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))


def latin1_csv(folder: Path) -> str:
    (folder / "a.csv").write_bytes(b"id,name\n1,caf\xe9\n2,na\xefve\n")
    return "a.csv"


def truncated_parquet(folder: Path) -> str:
    pq.write_table(pa.table({"id": list(range(1000))}), folder / "good.parquet")
    data = (folder / "good.parquet").read_bytes()
    (folder / "bad.parquet").write_bytes(data[: len(data) // 2])
    return "bad.parquet"


def bad_jsonl_line(folder: Path) -> str:
    (folder / "a.jsonl").write_text('{"id": 1}\n{"id": 2,\n{"id": 3}\n')
    return "a.jsonl"


def ragged_csv(folder: Path) -> str:
    (folder / "a.csv").write_text("id,name\n1,a\n2,b,c\n")
    return "a.csv"


CASES: dict[str, tuple[Callable[[Path], str], str, str]] = {
    # name: (writer returning the bad file's name, glob, message part)
    "latin1_csv": (latin1_csv, "*.csv", "csv.encoding"),
    "truncated_parquet_among_good": (truncated_parquet, "*.parquet", "cannot be read as parquet"),
    "bad_jsonl_line": (bad_jsonl_line, "*.jsonl", "cannot be read as jsonl"),
    "ragged_csv_row": (ragged_csv, "*.csv", "cannot be read as csv"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_file_is_named_and_nothing_is_committed(
    plugin: DltIngestionPlugin, tmp_path: Path, case: str
) -> None:
    write, glob, says = CASES[case]
    folder = tmp_path / "files"
    folder.mkdir()
    bad = write(folder)

    started = time.perf_counter()
    result = plugin.run(plugin.create_pipeline(files_config(folder, glob)))
    elapsed = time.perf_counter() - started

    assert not result.success
    first = result.errors[0]
    assert first.startswith("[PERMANENT] SourceConnectionError:"), first
    assert bad in first, first
    assert says in first, first
    assert elapsed < BOUND_SECONDS
    assert not fresh_catalog(plugin).table_exists("bronze.items")


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_empty_files_are_skipped(plugin: DltIngestionPlugin, tmp_path: Path, suffix: str) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / f"empty.{suffix}").write_bytes(b"")
    full = "id\n1\n2\n" if suffix == "csv" else '{"id": 1}\n{"id": 2}\n'
    (folder / f"full.{suffix}").write_text(full)

    result = plugin.run(plugin.create_pipeline(files_config(folder, f"*.{suffix}")))

    assert result.success, result.errors
    assert result.rows_loaded == 2


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_utf8_bom_is_not_part_of_the_first_column(
    plugin: DltIngestionPlugin, tmp_path: Path, suffix: str
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    body = "id,name\n1,a\n" if suffix == "csv" else '{"id": 1, "name": "a"}\n'
    (folder / f"bom.{suffix}").write_bytes(b"\xef\xbb\xbf" + body.encode())

    result = plugin.run(plugin.create_pipeline(files_config(folder, f"*.{suffix}")))

    assert result.success, result.errors
    names = fresh_catalog(plugin).load_table("bronze.items").schema().column_names
    assert "id" in names and not any(name.startswith("\ufeff") for name in names)


@pytest.mark.parametrize(
    ("csv", "field"),
    [
        ({"delimiter": "§"}, "source_config.csv.delimiter"),
        ({"column_types": {"id": "int65"}}, "source_config.csv.column_types"),
    ],
)
def test_validate_refuses_what_the_run_cannot_read(
    plugin: DltIngestionPlugin, tmp_path: Path, csv: dict[str, object], field: str
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    with pytest.raises(ValidationError) as caught:
        plugin.create_pipeline(files_config(folder, "*.csv", csv=csv))
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == field


def test_run_span_error_type_is_the_contract_type(
    plugin: DltIngestionPlugin, tmp_path: Path, otel: OtelSdk
) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    truncated_parquet(folder)

    result = plugin.run(plugin.create_pipeline(files_config(folder, "bad.parquet")))

    assert not result.success
    run = otel.one("floe.ingestion.run")
    assert run.attributes["error.type"] == "SourceConnectionError"
    assert run.attributes["error.category"] == "PERMANENT"
    assert "bad.parquet" in str(run.attributes["error.message"])


def test_locked_catalog_is_a_transient_destination_write_error(
    plugin: DltIngestionPlugin, tmp_path: Path, otel: OtelSdk
) -> None:
    import sqlite3

    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.csv").write_text("id\n1\n2\n")
    pipeline = plugin.create_pipeline(files_config(folder, "*.csv"))
    catalog_db = tmp_path / "lake" / "catalog.db"
    fresh_catalog(plugin).list_namespaces()  # the catalog file exists
    lock = sqlite3.connect(catalog_db, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        result = plugin.run(pipeline)
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert not result.success
    assert result.errors[0].startswith("[TRANSIENT] DestinationWriteError:"), result.errors
    assert "database is locked" in result.errors[0]
    assert otel.one("floe.ingestion.run").attributes["error.type"] == "DestinationWriteError"
    assert not fresh_catalog(plugin).table_exists("bronze.items")
