"""A real run (CSV files -> embedded Iceberg catalog) seen through spans, metrics and log events.

Every figure the telemetry reports is compared with what a separate PyIceberg client reads
back from the table.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig
from opentelemetry.trace import StatusCode

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.logging import configure_logging
from floe_ingestion_dlt.metrics import BYTES_WRITTEN, ROWS_LOADED, RUN_DURATION, RUNS
from tests.helpers import embedded_plugin, read_table
from tests.observability_sdk import OtelSdk, children

pytestmark = pytest.mark.integration

RUN_ATTRIBUTES = (
    "ingestion.source_type",
    "ingestion.destination_table",
    "ingestion.pipeline_name",
    "ingestion.write_mode",
    "ingestion.schema_contract",
    "ingestion.rows_loaded",
    "ingestion.bytes_written",
    "ingestion.duration_seconds",
)


@pytest.fixture
def log_buffer() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    yield buffer


def events(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def write_csv(folder: Path, name: str, header: str, rows: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("\n".join([header, *rows]) + "\n")


def unique_table() -> str:
    return f"bronze.obs_{uuid.uuid4().hex[:8]}"


def csv_config(folder: Path, table: str, schema_contract: str = "evolve") -> IngestionConfig:
    return IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(folder), "file_glob": "*.csv"},
        destination_table=table,
        schema_contract=schema_contract,
    )


def data_file_bytes(plugin: DltIngestionPlugin, table: str, snapshot_id: int) -> int:
    """Bytes of the data files the snapshot added, from the table's own metadata."""
    files = read_table(plugin, table).inspect.entries(snapshot_id=snapshot_id).to_pylist()
    return sum(
        e["data_file"]["file_size_in_bytes"]
        for e in files
        if e["snapshot_id"] == snapshot_id and e["status"] == 1
    )


def test_successful_run_span_tree_attributes_metrics_and_events(
    tmp_path: Path, otel: OtelSdk, log_buffer: io.StringIO
) -> None:
    table = unique_table()
    write_csv(tmp_path / "src", "a.csv", "id,name", [f"{i},n{i}" for i in range(37)])
    plugin = embedded_plugin(tmp_path)
    pipeline = plugin.create_pipeline(csv_config(tmp_path / "src", table))
    result = plugin.run(pipeline)
    assert result.success, result.errors
    assert plugin.get_destination_config(plugin.catalog.model_dump(by_alias=True, mode="json"))
    assert plugin.health_check(5.0).state.value == "healthy"
    plugin.shutdown()

    # -- what a reader of the table sees
    iceberg = read_table(plugin, table)
    snapshot = iceberg.current_snapshot()
    assert snapshot is not None
    rows_in_table = iceberg.scan().to_arrow().num_rows
    assert rows_in_table == 37
    load_id = snapshot.summary.additional_properties["floe.load-id"]
    bytes_in_table = data_file_bytes(plugin, table, snapshot.snapshot_id)
    assert bytes_in_table > 0

    # -- lifecycle spans
    for name in ("startup", "shutdown", "health_check", "get_destination_config"):
        assert otel.one(f"floe.ingestion.{name}").status.status_code is StatusCode.UNSET
    created = otel.one("floe.ingestion.create_pipeline")
    assert created.attributes["ingestion.source_type"] == "filesystem"
    assert created.attributes["ingestion.destination_table"] == table
    pipeline_name = created.attributes["ingestion.pipeline_name"]
    assert pipeline_name == pipeline.pipeline_name

    # -- the run and its children
    spans = otel.finished()
    run = otel.one("floe.ingestion.run")
    assert run.parent is None
    assert run.status.status_code is StatusCode.UNSET
    for key in RUN_ATTRIBUTES:
        assert key in run.attributes, key
    attrs = run.attributes
    assert attrs["ingestion.source_type"] == "filesystem"
    assert attrs["ingestion.destination_table"] == table
    assert attrs["ingestion.pipeline_name"] == pipeline_name
    assert attrs["ingestion.write_mode"] == "append"
    assert attrs["ingestion.schema_contract"] == "evolve"
    assert attrs["ingestion.rows_loaded"] == rows_in_table
    assert attrs["ingestion.bytes_written"] == bytes_in_table
    assert attrs["ingestion.duration_seconds"] == pytest.approx(result.duration_seconds)
    assert attrs["iceberg.snapshot_id"] == snapshot.snapshot_id
    assert attrs["dlt.load_id"] == load_id

    phases = children(spans, run)
    assert [s.name for s in phases] == [
        "floe.ingestion.extract",
        "floe.ingestion.normalize",
        "floe.ingestion.load",
    ]
    extract, normalize, load = phases
    assert extract.attributes["ingestion.rows_extracted"] == rows_in_table
    assert normalize.attributes["ingestion.rows_normalized"] == rows_in_table
    for phase in phases:
        assert phase.status.status_code is StatusCode.UNSET
        assert phase.attributes["dlt.load_id"] == load_id
        assert phase.context.trace_id == run.context.trace_id

    # the commit ran in dlt's load worker thread and still hangs under the load phase
    [commit] = children(spans, load)
    assert commit.name == "floe.ingestion.iceberg.commit"
    assert commit.attributes["iceberg.snapshot_id"] == snapshot.snapshot_id
    assert commit.attributes["dlt.load_id"] == load_id
    assert commit.attributes["ingestion.rows_loaded"] == rows_in_table
    assert commit.attributes["ingestion.bytes_written"] == bytes_in_table
    assert commit.attributes["ingestion.destination_table"] == table
    assert commit.attributes["ingestion.source_type"] == "filesystem"

    # -- metrics
    labels = {"ingestion.source_type": "filesystem", "ingestion.destination_table": table}
    assert otel.total(ROWS_LOADED, **labels) == rows_in_table
    assert otel.total(BYTES_WRITTEN, **labels) == bytes_in_table
    assert otel.total(RUNS, **labels, **{"ingestion.outcome": "success"}) == 1
    assert otel.points(RUNS, **labels, **{"ingestion.outcome": "failure"}) == []
    [duration] = otel.points(RUN_DURATION, **labels)
    assert duration.count == 1
    assert duration.sum == pytest.approx(result.duration_seconds)

    # -- log events: one per phase, with the run's identity, status, counts and durations
    logged = [e for e in events(log_buffer) if e.get("pipeline_name") == pipeline_name]
    names = [e["event"] for e in logged]
    for name in (
        "run started",
        "extract finished",
        "normalize finished",
        "iceberg commit",
        "load finished",
        "run finished",
    ):
        assert names.count(name) == 1, (name, names)
    by_name = {e["event"]: e for e in logged}
    for name in ("extract finished", "normalize finished", "load finished", "iceberg commit"):
        event = by_name[name]
        assert event["status"] == "success"
        assert event["source_type"] == "filesystem"
        assert event["destination_table"] == table
        assert event["load_id"] == load_id
        assert event["duration_seconds"] >= 0
    assert by_name["extract finished"]["rows_extracted"] == rows_in_table
    assert by_name["normalize finished"]["rows_normalized"] == rows_in_table
    assert by_name["iceberg commit"]["rows_loaded"] == rows_in_table
    assert by_name["iceberg commit"]["snapshot_id"] == snapshot.snapshot_id
    finished = by_name["run finished"]
    assert finished["status"] == "success"
    assert finished["rows_loaded"] == rows_in_table
    assert finished["bytes_written"] == bytes_in_table


def test_schema_evolution_is_logged_at_info(
    tmp_path: Path, otel: OtelSdk, log_buffer: io.StringIO
) -> None:
    table = unique_table()
    plugin = embedded_plugin(tmp_path)
    write_csv(tmp_path / "src", "a.csv", "id,name", ["1,a", "2,b"])
    assert plugin.run(plugin.create_pipeline(csv_config(tmp_path / "src", table))).success
    (tmp_path / "src" / "a.csv").unlink()
    write_csv(tmp_path / "src", "b.csv", "id,name,country", ["3,c,NL"])
    result = plugin.run(plugin.create_pipeline(csv_config(tmp_path / "src", table)))
    assert result.success, result.errors

    iceberg = read_table(plugin, table)
    assert "country" in iceberg.schema().column_names
    load_id = iceberg.current_snapshot().summary.additional_properties["floe.load-id"]
    [evolved] = [e for e in events(log_buffer) if e["event"] == "schema evolved"]
    assert evolved["level"] == "info"
    assert evolved["schema_contract"] == "evolve"
    assert evolved["destination_table"] == table
    assert set(evolved["new_columns"]) == {"country"}
    # the commit's log context reaches the schema module inside dlt's worker thread
    assert evolved["load_id"] == load_id
    assert (
        evolved["pipeline_name"]
        == otel.finished("floe.ingestion.run")[-1].attributes["ingestion.pipeline_name"]
    )
    assert evolved["source_type"] == "filesystem"


def test_failed_run_marks_run_load_and_commit_spans_and_counts_the_failure(
    tmp_path: Path, otel: OtelSdk, log_buffer: io.StringIO
) -> None:
    """A frozen schema refuses a column the Iceberg table lost to another writer."""
    table = unique_table()
    plugin = embedded_plugin(tmp_path)
    write_csv(tmp_path / "src", "a.csv", "id,name,extra", ["1,a,x", "2,b,y"])
    assert plugin.run(plugin.create_pipeline(csv_config(tmp_path / "src", table))).success
    other_writer = read_table(plugin, table)
    with other_writer.update_schema() as update:
        update.delete_column("extra")
    snapshots_before = len(read_table(plugin, table).metadata.snapshots)
    (tmp_path / "src" / "a.csv").unlink()
    write_csv(tmp_path / "src", "b.csv", "id,name,extra", ["3,c,z"])
    otel.spans.clear()

    pipeline = plugin.create_pipeline(csv_config(tmp_path / "src", table, "freeze"))
    result = plugin.run(pipeline)

    assert not result.success
    assert result.rows_loaded == 0
    assert any("SchemaContractViolation" in e and "extra" in e for e in result.errors)
    assert len(read_table(plugin, table).metadata.snapshots) == snapshots_before

    spans = otel.finished()
    run = otel.one("floe.ingestion.run")
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["error.type"] == "SchemaContractViolation"
    assert run.attributes["error.category"] == "PERMANENT"
    assert "extra" in run.attributes["error.message"]
    assert run.attributes["ingestion.rows_loaded"] == 0
    assert run.attributes["ingestion.schema_contract"] == "freeze"
    failed_loads = [
        s
        for s in children(spans, run)
        if s.name == "floe.ingestion.load" and s.status.status_code is StatusCode.ERROR
    ]
    assert failed_loads, [s.name for s in children(spans, run)]
    assert failed_loads[0].attributes["error.category"] == "PERMANENT"
    commits = [c for c in children(spans, failed_loads[0]) if c.name.endswith("iceberg.commit")]
    assert commits
    assert commits[0].status.status_code is StatusCode.ERROR
    assert commits[0].attributes["error.type"] == "SchemaContractViolation"
    assert "iceberg.snapshot_id" not in commits[0].attributes

    labels = {"ingestion.source_type": "filesystem", "ingestion.destination_table": table}
    [failure] = otel.points(RUNS, **labels, **{"ingestion.outcome": "failure"})
    assert failure.value == 1
    assert failure.attributes["error.category"] == "PERMANENT"
    assert otel.total(RUNS, **labels, **{"ingestion.outcome": "success"}) == 1  # the first run
    assert otel.total(ROWS_LOADED, **labels) == 2  # only the first run's rows

    logged = events(log_buffer)
    [rejected] = [e for e in logged if e["event"] == "schema change rejected"]
    assert rejected["level"] == "error"
    assert rejected["schema_contract"] == "freeze"
    assert rejected["destination_table"] == table
    assert "extra" in rejected["new_columns"]
    failed = [e for e in logged if e["event"] == "run finished" and e["status"] == "failed"]
    assert len(failed) == 1
    commit_failed = [e for e in logged if e["event"] == "iceberg commit failed"]
    assert commit_failed
    assert commit_failed[0]["category"] == "PERMANENT"


def test_dlt_freeze_violation_is_logged_at_error(
    tmp_path: Path, otel: OtelSdk, log_buffer: io.StringIO
) -> None:
    """dlt itself refuses a new column under freeze, before anything is loaded."""
    table = unique_table()
    plugin = embedded_plugin(tmp_path)
    write_csv(tmp_path / "src", "a.csv", "id,name", ["1,a"])
    assert plugin.run(plugin.create_pipeline(csv_config(tmp_path / "src", table))).success
    (tmp_path / "src" / "a.csv").unlink()
    write_csv(tmp_path / "src", "b.csv", "id,name,extra", ["2,b,x"])
    otel.spans.clear()
    result = plugin.run(plugin.create_pipeline(csv_config(tmp_path / "src", table, "freeze")))
    assert not result.success

    extract = otel.one("floe.ingestion.extract")
    assert extract.status.status_code is StatusCode.ERROR
    assert extract.attributes["error.type"] == "DataValidationError"
    assert extract.attributes["error.category"] == "PERMANENT"
    assert otel.one("floe.ingestion.run").attributes["error.category"] == "PERMANENT"
    [rejected] = [e for e in events(log_buffer) if e["event"] == "schema change rejected"]
    assert rejected["level"] == "error"
    assert rejected["column"] == "extra"
    assert rejected["schema_contract"] == "freeze"
    assert rejected["rejected_by"] == "dlt"
