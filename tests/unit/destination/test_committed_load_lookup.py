"""A load counts as committed only when its load id and its package fingerprint match."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.table import Table

from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.snapshots import (
    PACKAGE_FILES,
    find_committed_load,
    package_fingerprint,
    snapshot_properties,
)


@pytest.fixture
def table(tmp_path: Path) -> Table:
    catalog = load_catalog(CatalogConfig.embedded(tmp_path))
    catalog.create_namespace("ns")
    return catalog.create_table("ns.t", schema=pa.schema([("id", pa.int64())]))


def _commit(table: Table, load_id: str, files: str | None) -> int:
    props = snapshot_properties(
        load_id=load_id,
        pipeline_name="p",
        rows=1,
        write_mode="append",
        state_doc=None,
        package_files=files,
    )
    table.append(pa.table({"id": [1]}), snapshot_properties=props)
    table.refresh()
    assert table.current_snapshot() is not None
    return table.current_snapshot().snapshot_id  # type: ignore[union-attr]


def test_fingerprint_is_stable_and_order_free() -> None:
    a = package_fingerprint(["/x/1/t.abc.0.parquet", "/x/1/t.def.0.parquet"])
    assert a == package_fingerprint(["/y/t.def.0.parquet", "/z/t.abc.0.parquet"])
    assert a != package_fingerprint(["/x/1/t.abc.0.parquet"])


def test_same_load_id_from_another_package_is_not_this_load(table: Table) -> None:
    mine = package_fingerprint(["t.mine.parquet"])
    _commit(table, "1700000000.1", package_fingerprint(["t.other.parquet"]))
    assert find_committed_load(table, "1700000000.1", package_files=mine) is None
    snapshot = _commit(table, "1700000000.1", mine)
    assert find_committed_load(table, "1700000000.1", package_files=mine) == snapshot
    assert table.current_snapshot().summary[PACKAGE_FILES] == mine  # type: ignore[union-attr,index]


def test_snapshots_without_fingerprint_still_match(table: Table) -> None:
    snapshot = _commit(table, "1700000000.2", None)
    fingerprint = package_fingerprint(["t.a.parquet"])
    assert find_committed_load(table, "1700000000.2", package_files=fingerprint) == snapshot
    assert find_committed_load(table, "1700000000.3", package_files=fingerprint) is None
