"""Each engine reads an Iceberg table, as of one snapshot, the way its users would.

- PyIceberg: ``Table.scan(snapshot_id=...)``.
- DuckDB: the ``iceberg`` extension from PyPI (``duckdb-extension-iceberg``) loaded from the
  package's file, offline, after the ``avro`` extension (``duckdb-extension-avro``) it needs;
  ``iceberg_scan(<metadata.json>, snapshot_from_id => ...)``.
- Daft: ``daft.read_iceberg(table, snapshot_id=...)``.
- iceberg-rust: ``pyiceberg-core``'s DataFusion table provider in a ``datafusion``
  ``SessionContext``. It reads a table's current snapshot; time travel is reading the
  table's metadata file of that snapshot (every commit wrote one, listed in the metadata log).
- Polars: ``polars.scan_iceberg(table, snapshot_id=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.table import Table

Reader = Callable[[Table, int], pa.Table]


def _local(location: str) -> str:
    return location.removeprefix("file://")


def read_pyiceberg(table: Table, snapshot_id: int) -> pa.Table:
    return table.scan(snapshot_id=snapshot_id).to_arrow()


def _extension_file(package: str, name: str) -> str:
    import importlib

    module = importlib.import_module(package)
    found = sorted(Path(module.__file__).parent.glob(f"extensions/*/{name}.duckdb_extension"))
    assert found, f"{package} has no {name}.duckdb_extension"
    return str(found[-1])


def read_duckdb(table: Table, snapshot_id: int) -> pa.Table:
    import duckdb

    connection = duckdb.connect(
        config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    )
    try:
        connection.execute(f"LOAD '{_extension_file('duckdb_extension_avro', 'avro')}'")
        connection.execute(f"LOAD '{_extension_file('duckdb_extension_iceberg', 'iceberg')}'")
        connection.execute("SET TimeZone = 'UTC'")
        relation = connection.sql(
            f"SELECT * FROM iceberg_scan('{_local(table.metadata_location)}', "
            f"snapshot_from_id => {int(snapshot_id)})"
        )
        return relation.fetch_arrow_table()
    finally:
        connection.close()


def read_daft(table: Table, snapshot_id: int) -> pa.Table:
    import daft

    return daft.read_iceberg(table, snapshot_id=snapshot_id).to_arrow()


def metadata_file_of(table: Table, snapshot_id: int) -> str:
    """The table's metadata file whose current snapshot is ``snapshot_id``."""
    candidates = [table.metadata_location, *(e.metadata_file for e in table.metadata.metadata_log)]
    for location in candidates:
        document: dict[str, Any] = json.loads(Path(_local(location)).read_text())
        if document.get("current-snapshot-id") == snapshot_id:
            return location
    raise AssertionError(f"no metadata file of {table.name()} has snapshot {snapshot_id}")


def read_iceberg_rust(table: Table, snapshot_id: int) -> pa.Table:
    from datafusion import SessionContext
    from pyiceberg_core.datafusion import IcebergDataFusionTable

    provider = IcebergDataFusionTable(
        identifier=list(table.name()),
        metadata_location=metadata_file_of(table, snapshot_id),
        file_io_properties=table.io.properties,
    )
    context = SessionContext()
    context.register_table("t", provider)
    return context.table("t").to_arrow_table()


def read_polars(table: Table, snapshot_id: int) -> pa.Table:
    import polars as pl

    return pl.scan_iceberg(table, snapshot_id=snapshot_id).collect().to_arrow()


ENGINES: dict[str, Reader] = {
    "pyiceberg": read_pyiceberg,
    "duckdb": read_duckdb,
    "daft": read_daft,
    "iceberg_rust": read_iceberg_rust,
    "polars": read_polars,
}
