"""Three runs over a growing source, per source type: each row lands once, and the second and
third runs report only their new rows, also when the pipelines folder is gone between runs (a
new pod: the cursor comes back from the destination)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from floe_core.plugins.ingestion import IngestionConfig, IngestionResult

from floe_ingestion_dlt import DltIngestionPlugin
from tests.helpers import embedded_plugin, read_table
from tests.services.http_api import FakeApiServer, make_records
from tests.services.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

GROWTH = (30, 20, 10)
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Feed(Protocol):
    """A source that grows between runs."""

    def grow(self, first_id: int, count: int) -> None: ...

    def config(self, table: str) -> IngestionConfig: ...

    def started(self) -> None:
        """The pipeline was created (reachability probes are done); the run starts."""

    def after_run(self, run: int, highest_id: int) -> None:
        """Check what the source saw during run ``run`` (1-based)."""


class FileFeed:
    """JSONL files, one new file per run; new files (modification date) or a row cursor."""

    def __init__(self, folder: Path, by: str) -> None:
        self.folder, self.by, self.files = folder, by, 0
        folder.mkdir(parents=True)

    def grow(self, first_id: int, count: int) -> None:
        self.files += 1
        path = self.folder / f"part-{self.files:03d}.jsonl"
        rows = [
            {"id": i, "name": f"n-{i}", "amount": i * 0.5}
            for i in range(first_id, first_id + count)
        ]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        stamp = (T0 + dt.timedelta(minutes=self.files)).timestamp()
        os.utime(path, (stamp, stamp))

    def config(self, table: str) -> IngestionConfig:
        extra: dict[str, Any] = (
            {"incremental_files": True} if self.by == "files" else {"cursor_field": "id"}
        )
        return IngestionConfig(
            source_type="filesystem",
            source_config={"bucket_url": str(self.folder), "file_glob": "*.jsonl", **extra},
            destination_table=table,
        )

    def started(self) -> None:
        pass

    def after_run(self, run: int, highest_id: int) -> None:
        pass


class SqlFeed:
    """A PostgreSQL table; the cursor becomes a WHERE clause of the SELECT."""

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.database = f"incr_{uuid.uuid4().hex[:8]}"
        self.url = server.create_database(self.database)
        server.execute(
            "CREATE TABLE orders (id int PRIMARY KEY, name text, amount float8, "
            "updated_at timestamptz NOT NULL)",
            database=self.database,
        )
        server.execute(f"ALTER DATABASE {self.database} SET log_statement = 'all'")

    def started(self) -> None:
        pass

    def grow(self, first_id: int, count: int) -> None:
        self.server.execute(
            "INSERT INTO orders SELECT g, 'n-' || g, g * 0.5, "
            "timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute' "
            "FROM generate_series(%s, %s) g",
            (first_id, first_id + count - 1),
            database=self.database,
        )

    def config(self, table: str) -> IngestionConfig:
        return IngestionConfig(
            source_type="sql_database",
            source_config={
                "credentials": self.url,
                "table": "orders",
                "cursor_field": "updated_at",
            },
            destination_table=table,
        )

    def after_run(self, run: int, highest_id: int) -> None:
        if run == 1:
            return
        since = (T0 + dt.timedelta(minutes=highest_id)).strftime("%Y-%m-%d[T ]%H:%M:%S")
        assert re.search(
            rf"WHERE orders\.updated_at >= '{since}\+00:00'", self.server.log_tail(600)
        )

    def close(self) -> None:
        self.server.drop_database(self.database)


class ApiFeed:
    """A paginated REST endpoint; the cursor goes to the API as ``updated_since``."""

    def __init__(self, api: FakeApiServer) -> None:
        self.api, self.records = api, []  # type: list[dict[str, Any]]

    def grow(self, first_id: int, count: int) -> None:
        self.records += make_records(count, start_id=first_id)
        self.api.set_records("orders", self.records)

    def started(self) -> None:
        self.api.clear_log()

    def config(self, table: str) -> IngestionConfig:
        return IngestionConfig(
            source_type="rest_api",
            source_config={
                "base_url": self.api.base_url,
                "path": "offset/orders",
                "paginator": {"type": "offset", "limit": 7, "total_path": "total"},
                "data_selector": "items",
                "cursor_field": "updated_at",
                "cursor_param": "updated_since",
            },
            destination_table=table,
        )

    def after_run(self, run: int, highest_id: int) -> None:
        sent = {r.query.get("updated_since") for r in self.api.requests if "orders" in r.path}
        if run == 1:
            assert sent == {None}
        else:  # every page of runs 2 and 3 asks only for rows after the committed cursor
            assert sent == {(T0 + dt.timedelta(minutes=highest_id)).isoformat()}


SOURCES = ["files_new_files", "files_row_cursor", "sql_database", "rest_api"]


@pytest.fixture
def feed(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Feed]:
    kind = request.param
    if kind.startswith("files"):
        yield FileFeed(tmp_path / "in", "files" if kind == "files_new_files" else "rows")
    elif kind == "sql_database":
        sql = SqlFeed(request.getfixturevalue("postgres_server"))
        yield sql
        sql.close()
    else:
        yield ApiFeed(request.getfixturevalue("api_server"))


def _ids(plugin: DltIngestionPlugin, table: str) -> list[int]:
    return sorted(
        read_table(plugin, table).scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()
    )


@pytest.mark.parametrize("feed", SOURCES, indirect=True)
@pytest.mark.parametrize("new_pod", [False, True], ids=["same_pod", "new_pod"])
def test_three_runs_each_row_once_and_only_new_rows_reported(
    feed: Feed, new_pod: bool, tmp_path: Path
) -> None:
    table = f"bronze.orders_{uuid.uuid4().hex[:6]}"
    config = feed.config(table)
    results: list[IngestionResult] = []
    next_id = 1
    for run, count in enumerate(GROWTH, start=1):
        feed.grow(next_id, count)
        next_id += count
        if new_pod:
            shutil.rmtree(tmp_path / "pipelines", ignore_errors=True)
        plugin = embedded_plugin(tmp_path)
        pipeline = plugin.create_pipeline(config)
        feed.started()
        result = plugin.run(pipeline)
        assert result.success, result.errors
        results.append(result)
        assert _ids(plugin, table) == list(range(1, next_id)), f"run {run}"
        feed.after_run(run, next_id - 1 - count)
    assert [r.rows_loaded for r in results] == list(GROWTH)


@pytest.mark.parametrize("feed", ["rest_api"], indirect=True)
def test_a_run_without_new_rows_commits_nothing(feed: Feed, tmp_path: Path) -> None:
    table = f"bronze.orders_{uuid.uuid4().hex[:6]}"
    feed.grow(1, 12)
    plugin = embedded_plugin(tmp_path)
    assert plugin.run(plugin.create_pipeline(feed.config(table))).success
    snapshots = len(read_table(plugin, table).metadata.snapshots)
    shutil.rmtree(tmp_path / "pipelines")
    again = embedded_plugin(tmp_path)
    result = again.run(again.create_pipeline(feed.config(table)))
    assert result.success and result.rows_loaded == 0
    assert len(read_table(again, table).metadata.snapshots) == snapshots


def test_initial_and_end_value_bound_the_rows(tmp_path: Path) -> None:
    files = FileFeed(tmp_path / "in", "rows")
    files.grow(1, 30)
    config = files.config("bronze.bounded")
    config = IngestionConfig(
        source_type=config.source_type,
        source_config={**config.source_config, "initial_value": 5, "end_value": 20},
        destination_table=config.destination_table,
    )
    plugin = embedded_plugin(tmp_path)
    result = plugin.run(plugin.create_pipeline(config))
    assert result.success, result.errors
    assert _ids(plugin, "bronze.bounded") == list(range(5, 20))  # end_value is exclusive
    assert result.rows_loaded == 15


def test_two_sources_in_one_namespace_keep_their_own_cursors(tmp_path: Path) -> None:
    """State is per pipeline (per destination table): restoring one never moves the other."""
    feeds = {
        "bronze.left": FileFeed(tmp_path / "l", "rows"),
        "bronze.right": FileFeed(tmp_path / "r", "rows"),
    }
    feeds["bronze.left"].grow(1, 10)
    feeds["bronze.right"].grow(1, 3)
    loaded: dict[str, list[int]] = {table: [] for table in feeds}
    for growth in ({"bronze.left": 5}, {"bronze.right": 7}, {}):
        for table, feed in feeds.items():
            shutil.rmtree(tmp_path / "pipelines", ignore_errors=True)  # every run on a new pod
            plugin = embedded_plugin(tmp_path)
            result = plugin.run(plugin.create_pipeline(feed.config(table)))
            assert result.success, result.errors
            loaded[table].append(result.rows_loaded)
        for table, count in growth.items():
            feeds[table].grow(max(_ids(embedded_plugin(tmp_path), table)) + 1, count)
    assert loaded == {"bronze.left": [10, 5, 0], "bronze.right": [3, 0, 7]}
    plugin = embedded_plugin(tmp_path)
    assert _ids(plugin, "bronze.left") == list(range(1, 16))
    assert _ids(plugin, "bronze.right") == list(range(1, 11))
