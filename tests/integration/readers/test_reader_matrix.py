"""Reader matrix: every engine reads the tables of every write path, value for value.

Each (engine, write path) pair reads every snapshot of the table (the current one and, by the
engine's own time travel, each earlier one) and must return exactly the rows loaded up to
that snapshot, computed from the source rows (see ``write_paths``). Columns compared are those
of the snapshot's rows; an engine that returns the current schema's newer columns for an older
snapshot is not wrong by that. No engine is skipped for any path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog
from tests.helpers import fresh_catalog
from tests.integration.readers.engines import ENGINES
from tests.integration.readers.write_paths import (
    BUILDERS,
    NESTED,
    NestedTables,
    Row,
    Writer,
    WrittenTable,
    resolve_nested_rows,
)

pytestmark = pytest.mark.integration


def snapshots_in_commit_order(table: Table) -> list[int]:
    return [
        s.snapshot_id for s in sorted(table.metadata.snapshots, key=lambda s: s.sequence_number)
    ]


def _rows(data: pa.Table, columns: list[str], key: tuple[str, ...]) -> list[Row]:
    missing = [c for c in columns if c not in data.column_names]
    assert not missing, f"columns {missing} not returned (got {data.column_names})"
    rows = data.select(columns).to_pylist()
    return sorted(rows, key=lambda r: tuple(r[k] for k in key))


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("path", list(BUILDERS))
def test_every_snapshot_reads_back_as_loaded(
    written: tuple[Writer, dict[str, WrittenTable]], path: str, engine: str
) -> None:
    writer, tables = written
    spec = tables[path]
    table = fresh_catalog(writer.plugin).load_table(spec.identifier)
    snapshots = snapshots_in_commit_order(table)
    assert len(snapshots) == len(spec.expected), "one snapshot per load"
    for number, (snapshot_id, expected) in enumerate(zip(snapshots, spec.expected, strict=True)):
        columns = list(expected[0])
        actual = _rows(ENGINES[engine](table, snapshot_id), columns, spec.key)
        wanted = sorted(expected, key=lambda r: tuple(r[k] for k in spec.key))
        assert actual == wanted, f"{engine} read {path} at snapshot {number + 1} differently"


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("disposition", NESTED)
def test_nested_tables_read_back_as_loaded_at_every_level(
    nested: tuple[Path, dict[str, NestedTables]], disposition: str, engine: str
) -> None:
    root, groups = nested
    spec = groups[disposition]
    catalog = load_catalog(CatalogConfig.embedded(root / "lake"))
    tables = [catalog.load_table(identifier) for identifier in spec.identifiers]
    history = [snapshots_in_commit_order(t) for t in tables]
    assert [len(h) for h in history] == [len(spec.expected)] * 3, "one snapshot per load"
    for load, expected in enumerate(spec.expected):
        read: list[list[dict[str, Any]]] = [
            ENGINES[engine](t, h[load]).to_pylist() for t, h in zip(tables, history, strict=True)
        ]
        actual = resolve_nested_rows(*read)
        assert actual == expected, (
            f"{engine} read {disposition} tables of load {load + 1} differently"
        )
