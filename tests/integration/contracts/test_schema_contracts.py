"""evolve / freeze / discard_value against an added column, a removed column and a changed type,
read back from Iceberg (schema, rows, snapshot id), for Arrow data (Parquet files: the load
job's check) and for Python objects (a REST API: dlt's normalizer and variant columns)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from floe_core.plugins.ingestion import IngestionConfig, IngestionResult
from pyiceberg.table import Table
from pyiceberg.types import LongType, StringType
from structlog.testing import capture_logs

from floe_ingestion_dlt import DltIngestionPlugin
from tests.helpers import embedded_plugin, read_table
from tests.services.http_api import FakeApiServer

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

FIRST = [{"id": 1, "name": "a", "n": 1}, {"id": 2, "name": "b", "n": 2}]
SECOND = {
    "added": [{"id": 3, "name": "c", "n": 3, "extra": "x"}],
    "removed": [{"id": 3, "n": 3}],
    "changed_type": [{"id": 3, "name": "c", "n": "three"}],
}
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


class Source(Protocol):
    def publish(self, rows: list[dict[str, Any]]) -> None: ...

    def config(self, table: str, contract: str) -> IngestionConfig: ...


class ParquetFiles:
    """One Parquet file per batch, read as new files only (Arrow types as written)."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.count = folder, 0
        folder.mkdir(parents=True)

    def publish(self, rows: list[dict[str, Any]]) -> None:
        self.count += 1
        path = self.folder / f"part-{self.count}.parquet"
        pq.write_table(pa.Table.from_pylist(rows), path)
        stamp = (T0 + dt.timedelta(minutes=self.count)).timestamp()
        os.utime(path, (stamp, stamp))

    def config(self, table: str, contract: str) -> IngestionConfig:
        return IngestionConfig(
            source_type="filesystem",
            source_config={
                "bucket_url": str(self.folder),
                "file_glob": "*.parquet",
                "incremental_files": True,
            },
            destination_table=table,
            schema_contract=contract,
        )


class JsonApi:
    """A REST endpoint returning the records published so far (cursor sent as a parameter)."""

    def __init__(self, api: FakeApiServer) -> None:
        self.api, self.records = api, []  # type: list[dict[str, Any]]
        self.dataset = f"d{uuid.uuid4().hex[:6]}"

    def publish(self, rows: list[dict[str, Any]]) -> None:
        stamped = [
            {**r, "updated_at": (T0 + dt.timedelta(minutes=r["id"])).isoformat()} for r in rows
        ]
        self.records += stamped
        self.api.set_records(self.dataset, self.records)

    def config(self, table: str, contract: str) -> IngestionConfig:
        return IngestionConfig(
            source_type="rest_api",
            source_config={
                "base_url": self.api.base_url,
                "path": f"offset/{self.dataset}",
                "paginator": {"type": "offset", "limit": 50, "total_path": "total"},
                "data_selector": "items",
                "cursor_field": "updated_at",
                "cursor_param": "updated_since",
            },
            destination_table=table,
            schema_contract=contract,
        )


@pytest.fixture(params=["parquet_files", "rest_api"])
def source(request: pytest.FixtureRequest, tmp_path: Path) -> Source:
    if request.param == "parquet_files":
        return ParquetFiles(tmp_path / "in")
    return JsonApi(request.getfixturevalue("api_server"))


def _run(plugin: DltIngestionPlugin, config: IngestionConfig) -> IngestionResult:
    return plugin.run(plugin.create_pipeline(config))


def _user_columns(table: Table) -> dict[str, Any]:
    return {
        f.name: f.field_type
        for f in table.schema().fields
        if not f.name.startswith("_dlt") and f.name != "updated_at"
    }


def _rows(table: Table) -> list[dict[str, Any]]:
    names = list(_user_columns(table))
    rows = table.scan(selected_fields=tuple(names)).to_arrow().to_pylist()
    return sorted(rows, key=lambda r: r["id"])


def _first_run(tmp_path: Path, source: Source, contract: str) -> tuple[DltIngestionPlugin, str]:
    table = f"bronze.c_{uuid.uuid4().hex[:6]}"
    plugin = embedded_plugin(tmp_path)
    source.publish(FIRST)
    first = _run(plugin, source.config(table, contract))
    assert first.success, first.errors
    return plugin, table


BASE = {"id": LongType(), "name": StringType(), "n": LongType()}


@pytest.mark.parametrize("case", list(SECOND))
def test_evolve(tmp_path: Path, source: Source, case: str) -> None:
    plugin, table = _first_run(tmp_path, source, "evolve")
    source.publish(SECOND[case])
    with capture_logs() as logs:
        result = _run(plugin, source.config(table, "evolve"))
    assert result.success, result.errors
    assert result.rows_loaded == 1
    after = read_table(plugin, table)
    rows = _rows(after)
    if case == "added":
        assert _user_columns(after) == {**BASE, "extra": StringType()}
        assert [r["extra"] for r in rows] == [None, None, "x"]
        evolved = [e for e in logs if e["event"] == "schema evolved"]
        assert evolved and evolved[0]["new_columns"] == {"extra": "string"}
        assert evolved[0]["log_level"] == "info"
    elif case == "removed":  # never dropped from the table; NULL for the new row
        assert _user_columns(after) == BASE
        assert rows[-1] == {"id": 3, "name": None, "n": 3}
    else:  # the column keeps its type; the new type's values go to dlt's variant column
        assert _user_columns(after) == {**BASE, "n__v_text": StringType()}
        assert [(r["n"], r["n__v_text"]) for r in rows] == [(1, None), (2, None), (None, "three")]


@pytest.mark.parametrize("case", list(SECOND))
def test_freeze(tmp_path: Path, source: Source, case: str) -> None:
    plugin, table = _first_run(tmp_path, source, "freeze")
    before = read_table(plugin, table)
    source.publish(SECOND[case])
    with capture_logs() as logs:
        result = _run(plugin, source.config(table, "freeze"))
    after = read_table(plugin, table)
    assert _user_columns(after) == BASE
    if case == "removed":  # data that fits a frozen schema loads, the column is NULL
        assert result.success, result.errors
        assert _rows(after)[-1] == {"id": 3, "name": None, "n": 3}
        return
    column = "extra" if case == "added" else "n"
    assert not result.success
    assert result.rows_loaded == 0
    assert result.errors[0].startswith("[PERMANENT] SchemaContractViolation: ")
    assert ("new column extra" if case == "added" else "column n ") in result.errors[0]
    assert after.metadata.current_snapshot_id == before.metadata.current_snapshot_id
    assert _rows(after) == _rows(before)
    rejected = [e for e in logs if e["event"] == "schema change rejected"]
    assert rejected and all(e["log_level"] == "error" for e in rejected)
    named = {e.get("column") for e in rejected} | {
        c for e in rejected for c in e.get("columns", [])
    }
    assert column in named


@pytest.mark.parametrize("case", list(SECOND))
def test_discard_value(tmp_path: Path, source: Source, case: str) -> None:
    plugin, table = _first_run(tmp_path, source, "discard_value")
    source.publish(SECOND[case])
    result = _run(plugin, source.config(table, "discard_value"))
    assert result.success, result.errors
    assert result.rows_loaded == 1
    after = read_table(plugin, table)
    assert _user_columns(after) == BASE  # the table schema never changes
    expected = {
        "added": {"id": 3, "name": "c", "n": 3},
        "removed": {"id": 3, "name": None, "n": 3},
        "changed_type": {"id": 3, "name": "c", "n": None},
    }[case]
    assert _rows(after)[-1] == expected


def test_freeze_on_a_new_pod_then_evolve_loads_the_refused_rows(
    tmp_path: Path, source: Source
) -> None:
    """dlt's schema comes back from the destination on a new pod and still refuses the new
    column; nothing is committed or left pending, so switching to evolve loads those rows."""
    plugin, table = _first_run(tmp_path, source, "freeze")
    snapshot = read_table(plugin, table).metadata.current_snapshot_id
    source.publish(SECOND["added"])
    shutil.rmtree(tmp_path / "pipelines")
    new_pod = embedded_plugin(tmp_path)
    refused = _run(new_pod, source.config(table, "freeze"))
    assert not refused.success
    assert refused.errors[0].startswith("[PERMANENT] SchemaContractViolation: ")
    assert read_table(new_pod, table).metadata.current_snapshot_id == snapshot

    again = _run(new_pod, source.config(table, "freeze"))  # the same refusal, nothing stuck
    assert not again.success and "SchemaContractViolation" in again.errors[0]

    evolved = _run(new_pod, source.config(table, "evolve"))
    assert evolved.success, evolved.errors
    assert evolved.rows_loaded == 1
    assert [r["id"] for r in _rows(read_table(new_pod, table))] == [1, 2, 3]


def test_rows_refused_at_the_iceberg_commit_are_loaded_once_after_the_fix(tmp_path: Path) -> None:
    """dlt advances its local cursor at extract; when the load job then refuses the package
    (here: another writer dropped a column that dlt still knows, so only the Iceberg-side check
    sees the change), the cursor must not skip those rows: the next run starts from the cursor
    committed with the table and loads them, once."""
    source = ParquetFiles(tmp_path / "in")
    plugin, table = _first_run(tmp_path, source, "freeze")
    with read_table(plugin, table).update_schema() as update:
        update.delete_column("name")
    snapshot = read_table(plugin, table).metadata.current_snapshot_id
    source.publish([{"id": 3, "name": "c", "n": 3}, {"id": 4, "name": "d", "n": 4}])

    refused = _run(plugin, source.config(table, "freeze"))
    assert not refused.success
    assert refused.errors[0].startswith("[PERMANENT] SchemaContractViolation: ")
    assert "new column name" in refused.errors[0]
    assert read_table(plugin, table).metadata.current_snapshot_id == snapshot

    fixed = _run(plugin, source.config(table, "evolve"))  # same pod, same pipelines folder
    assert fixed.success, fixed.errors
    assert fixed.rows_loaded == 2
    rows = _rows(read_table(plugin, table))
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert [(r["name"], r["n"]) for r in rows[2:]] == [("c", 3), ("d", 4)]
