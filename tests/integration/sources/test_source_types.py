"""filesystem, sql_database and rest_api through the same create_pipeline / run calls."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin
from tests.helpers import embedded_plugin, read_table, snapshot_count, user_rows
from tests.services.http_api import FakeApiServer
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

Publish = Callable[[list[dict[str, Any]]], dict[str, Any]]
"""Makes the source serve these records; returns the ``source_config`` reading them."""


def records(start: int, count: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"n{i}", "qty": i * 3} for i in range(start, start + count)]


@pytest.fixture
def publish_files(tmp_path: Path) -> Publish:
    folder = tmp_path / "files"

    def publish(rows: list[dict[str, Any]]) -> dict[str, Any]:
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.parquet"):
            old.unlink()
        pq.write_table(pa.Table.from_pylist(rows), folder / "part.parquet")
        return {"bucket_url": str(folder), "file_glob": "*.parquet"}

    return publish


@pytest.fixture
def publish_table(postgres_server: PostgresServer) -> Iterator[Publish]:
    database = f"kinds_{uuid.uuid4().hex[:8]}"
    url = postgres_server.create_database(database)
    postgres_server.execute(
        "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty bigint)", database=database
    )

    def publish(rows: list[dict[str, Any]]) -> dict[str, Any]:
        postgres_server.execute("TRUNCATE items", database=database)
        for row in rows:
            postgres_server.execute(
                "INSERT INTO items VALUES (%s, %s, %s)",
                (row["id"], row["name"], row["qty"]),
                database=database,
            )
        return {"credentials": url, "table": "items"}

    try:
        yield publish
    finally:
        postgres_server.drop_database(database)


@pytest.fixture
def publish_api(api_server: FakeApiServer) -> Publish:
    def publish(rows: list[dict[str, Any]]) -> dict[str, Any]:
        api_server.set_records("items", rows)
        return {
            "base_url": api_server.base_url,
            "path": "cursor/items",
            "params": {"limit": 7},
            "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
            "data_selector": "results",
        }

    return publish


PUBLISHERS = {
    "filesystem": "publish_files",
    "sql_database": "publish_table",
    "rest_api": "publish_api",
}


@pytest.fixture(params=sorted(PUBLISHERS))
def source(request: pytest.FixtureRequest) -> tuple[str, Publish]:
    return request.param, request.getfixturevalue(PUBLISHERS[request.param])


def ingestion(source_type: str, source_config: dict[str, Any], mode: str) -> IngestionConfig:
    return IngestionConfig(
        source_type=source_type,
        source_config=source_config,
        destination_table=f"bronze.{source_type}_{mode}",
        write_mode=mode,
    )


def loaded(plugin: DltIngestionPlugin, identifier: str) -> list[tuple[Any, ...]]:
    rows = user_rows(read_table(plugin, identifier).scan().to_arrow())
    return sorted((r["id"], r["name"], r["qty"]) for r in rows)


def as_tuples(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["id"], r["name"], r["qty"]) for r in rows)


def test_append_keeps_every_run(tmp_path: Path, source: tuple[str, Publish]) -> None:
    source_type, publish = source
    plugin = embedded_plugin(tmp_path)
    first, second = records(1, 20), records(101, 5)
    for batch in (first, second):
        result = plugin.run(
            plugin.create_pipeline(ingestion(source_type, publish(batch), "append"))
        )
        assert result.success, result.errors
        assert result.rows_loaded == len(batch)
    identifier = f"bronze.{source_type}_append"
    assert loaded(plugin, identifier) == as_tuples(first + second)
    assert snapshot_count(read_table(plugin, identifier)) == 2


def test_replace_keeps_the_last_run(tmp_path: Path, source: tuple[str, Publish]) -> None:
    source_type, publish = source
    plugin = embedded_plugin(tmp_path)
    first, second = records(1, 20), records(101, 5)
    for batch in (first, second):
        config = ingestion(source_type, publish(batch), "replace")
        result = plugin.run(plugin.create_pipeline(config))
        assert result.success, result.errors
        assert result.rows_loaded == len(batch)
    identifier = f"bronze.{source_type}_replace"
    assert loaded(plugin, identifier) == as_tuples(second)
    assert snapshot_count(read_table(plugin, identifier)) == 2
