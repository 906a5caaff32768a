"""Append and replace through the SeaweedFS Iceberg REST catalog + S3, read back separately.

The catalog's warehouse is a *table bucket*: it refuses foreign objects and client-chosen
locations, so these tests also prove that tables sit where the catalog puts them and that dlt's
bookkeeping lives in the ordinary bucket named by ``dlt_state_url``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig
from pyiceberg.table import Table

from floe_ingestion_dlt import DltIngestionPlugin
from tests.helpers import files_config, user_rows
from tests.integration.rest_catalog.conftest import PluginFactory, unique
from tests.services.seaweedfs import SeaweedFS

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

ROWS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]


def write_csv(folder: Path, name: str, rows: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    lines = ["id,name", *(f"{r['id']},{r['name']}" for r in rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_back(seaweedfs: SeaweedFS, identifier: str) -> Table:
    """The table through a new PyIceberg REST client (its own session and OAuth2 token)."""
    return seaweedfs.pyiceberg_catalog(name="reader").load_table(identifier)


def run_ok(plugin: DltIngestionPlugin, pipeline: Any) -> Any:
    result = plugin.run(pipeline)
    assert result.success, result.errors
    return result


def assert_result_matches_snapshot(result: Any, table: Table) -> None:
    """rows_loaded / bytes_written are the figures of the run's one new snapshot."""
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert result.rows_loaded == int(summary["added-records"])
    assert result.bytes_written == int(summary["added-files-size"])
    assert result.bytes_written > 0


def test_append_twice_doubles_the_rows_one_snapshot_per_run(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, state_url: str, tmp_path: Path
) -> None:
    ns = unique("bronze")
    write_csv(tmp_path / "in", "a.csv", ROWS)
    plugin = make_plugin()
    pipeline = plugin.create_pipeline(files_config(tmp_path / "in", "*.csv", f"{ns}.items"))

    first = run_ok(plugin, pipeline)
    table = read_back(seaweedfs, f"{ns}.items")
    assert first.rows_loaded == 3
    assert len(table.metadata.snapshots) == 1
    assert_result_matches_snapshot(first, table)
    # the catalog chose the location: inside its table bucket, not under dlt_state_url
    assert table.location() == f"{seaweedfs.warehouse}/{ns}/items"

    second = run_ok(plugin, pipeline)
    table = read_back(seaweedfs, f"{ns}.items")
    assert second.rows_loaded == 3
    assert len(table.metadata.snapshots) == 2
    assert [s.summary.operation.value for s in table.metadata.snapshots] == ["append", "append"]
    assert_result_matches_snapshot(second, table)
    assert user_rows(table.scan().to_arrow()) == sorted(ROWS * 2, key=lambda r: r["id"])
    # every data file lives inside the table's location (a table bucket refuses anything else)
    data_files = [task.file.file_path for task in table.scan().plan_files()]
    assert len(data_files) >= 2
    assert all(path.startswith(f"{table.location()}/") for path in data_files), data_files

    # dlt's bookkeeping went to the ordinary bucket, under the dataset (= namespace) folder
    stored = seaweedfs.s3fs_filesystem().find(state_url.removeprefix("s3://"))
    kinds = {Path(p).parent.name for p in stored}
    assert {"_dlt_loads", "_dlt_pipeline_state", "_dlt_version"} <= kinds
    assert all(f"/{ns}/" in p for p in stored)
    # no secret in what dlt keeps on the pod's disk (state, trace, schemas)
    pod_files = [p for p in (tmp_path / "pod-1").rglob("*") if p.is_file()]
    assert pod_files
    for path in pod_files:
        content = path.read_bytes()
        assert seaweedfs.secret_key.encode() not in content, path


def test_replace_twice_keeps_one_copy_one_snapshot_per_run(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    ns = unique("bronze")
    write_csv(tmp_path / "in", "a.csv", ROWS)
    plugin = make_plugin()
    config = files_config(tmp_path / "in", "*.csv", f"{ns}.items", write_mode="replace")
    pipeline = plugin.create_pipeline(config)

    first = run_ok(plugin, pipeline)
    table = read_back(seaweedfs, f"{ns}.items")
    assert len(table.metadata.snapshots) == 1
    assert_result_matches_snapshot(first, table)

    second = run_ok(plugin, pipeline)
    table = read_back(seaweedfs, f"{ns}.items")
    assert second.rows_loaded == 3
    assert len(table.metadata.snapshots) == 2
    assert table.metadata.snapshots[-1].summary.operation.value == "overwrite"  # type: ignore[union-attr]
    assert_result_matches_snapshot(second, table)
    assert user_rows(table.scan().to_arrow()) == ROWS


def test_files_on_s3_load_through_the_rest_catalog(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, state_bucket: str, tmp_path: Path
) -> None:
    """The filesystem source reads CSV and Parquet from the ordinary bucket with credentials."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs = seaweedfs.s3fs_filesystem()
    prefix = f"{state_bucket}/{unique('input')}"
    write_csv(tmp_path, "a.csv", ROWS)
    fs.put(str(tmp_path / "a.csv"), f"{prefix}/csv/a.csv")
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "a.parquet")
    fs.put(str(tmp_path / "a.parquet"), f"{prefix}/parquet/part-0.parquet")
    credentials = {
        "aws_access_key_id": seaweedfs.access_key,
        "aws_secret_access_key": seaweedfs.secret_key,
        "endpoint_url": seaweedfs.s3_endpoint,
        "region_name": seaweedfs.region,
    }
    ns = unique("bronze")
    plugin = make_plugin()
    for kind, glob in (("csv", "*.csv"), ("parquet", "*.parquet")):
        config = IngestionConfig(
            source_type="filesystem",
            source_config={
                "bucket_url": f"s3://{prefix}/{kind}",
                "file_glob": glob,
                "credentials": credentials,
            },
            destination_table=f"{ns}.{kind}_items",
        )
        result = run_ok(plugin, plugin.create_pipeline(config))
        assert result.rows_loaded == 3
        table = read_back(seaweedfs, f"{ns}.{kind}_items")
        assert user_rows(table.scan().to_arrow()) == ROWS
        assert_result_matches_snapshot(result, table)
