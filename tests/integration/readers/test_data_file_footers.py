"""Every data file of every write path, inspected in its Parquet footer.

What the Iceberg spec asks of a writer, checked on each file any snapshot of each table
references: a field id on every column, nested ones included, equal to the table's id for
that column; timestamps (with and without zone) and times as INT64 microseconds; decimals
stored as INT32 up to precision 9, INT64 up to 18, fixed-length bytes beyond; zstd pages.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import ListType, MapType, NestedField, StructType

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog
from tests.helpers import fresh_catalog
from tests.integration.readers.write_paths import (
    BUILDERS,
    NESTED,
    NestedTables,
    Writer,
    WrittenTable,
)

pytestmark = pytest.mark.integration


def _table_ids(schema: Schema) -> dict[tuple[str, ...], int]:
    """Column path -> Iceberg field id (list elements "element", map keys "key"/"value")."""
    ids: dict[tuple[str, ...], int] = {}

    def visit(field: NestedField, path: tuple[str, ...]) -> None:
        ids[path] = field.field_id
        t = field.field_type
        if isinstance(t, StructType):
            for child in t.fields:
                visit(child, (*path, child.name))
        elif isinstance(t, ListType):
            visit(t.element_field, (*path, "element"))
        elif isinstance(t, MapType):
            visit(t.key_field, (*path, "key"))
            visit(t.value_field, (*path, "value"))

    for field in schema.fields:
        visit(field, (field.name,))
    return ids


def _file_ids(schema: pa.Schema) -> dict[tuple[str, ...], int | None]:
    """Column path -> Parquet field id of a file (None when the column has none)."""
    ids: dict[tuple[str, ...], int | None] = {}

    def visit(field: pa.Field, path: tuple[str, ...]) -> None:
        raw = (field.metadata or {}).get(b"PARQUET:field_id")
        ids[path] = int(raw) if raw is not None else None
        t = field.type
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                visit(t.field(i), (*path, t.field(i).name))
        elif pa.types.is_map(t):
            visit(t.key_field, (*path, "key"))
            visit(t.item_field, (*path, "value"))
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            visit(t.value_field, (*path, "element"))

    for field in schema:
        visit(field, (field.name,))
    return ids


def data_files(table: Table) -> set[str]:
    """Every data file any snapshot of ``table`` references."""
    return {
        task.file.file_path
        for snapshot in table.metadata.snapshots
        for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
    }


def footer_problems(table: Table, location: str) -> list[str]:
    """What in the file at ``location`` is not as the spec says (empty: nothing)."""
    with table.io.new_input(location).open() as stream:  # local or S3 alike
        content = io.BytesIO(stream.read())
    metadata = pq.read_metadata(content)
    problems = []
    expected = _table_ids(table.schema())
    for column_path, field_id in _file_ids(metadata.schema.to_arrow_schema()).items():
        if field_id is None:
            problems.append(f"{'.'.join(column_path)}: no field id")
        elif expected.get(column_path) != field_id:
            problems.append(
                f"{'.'.join(column_path)}: field id {field_id}, table says "
                f"{expected.get(column_path)}"
            )
    parquet_schema = metadata.schema
    for index in range(len(parquet_schema)):
        column = parquet_schema.column(index)
        logical: dict[str, Any] = json.loads(column.logical_type.to_json() or "{}")
        kind = logical.get("Type")
        if kind in ("Timestamp", "Time"):
            if logical.get("timeUnit") != "microseconds" or column.physical_type != "INT64":
                problems.append(f"{column.path}: {kind} {logical} as {column.physical_type}")
        elif kind == "Decimal":
            precision = column.precision
            wanted = (
                "INT32"
                if precision <= 9
                else "INT64"
                if precision <= 18
                else "FIXED_LEN_BYTE_ARRAY"
            )
            if column.physical_type != wanted:
                problems.append(f"{column.path}: decimal({precision}) as {column.physical_type}")
        elif column.physical_type == "INT96":
            problems.append(f"{column.path}: INT96 timestamps")
    for group in range(metadata.num_row_groups):
        for index in range(metadata.num_columns):
            codec = metadata.row_group(group).column(index).compression
            if codec != "ZSTD":
                problems.append(f"row group {group} column {index}: codec {codec}")
    return problems


@pytest.mark.parametrize("path", list(BUILDERS))
def test_every_data_file_is_spec_exact(
    written: tuple[Writer, dict[str, WrittenTable]], path: str
) -> None:
    writer, tables = written
    table = fresh_catalog(writer.plugin).load_table(tables[path].identifier)
    files = data_files(table)
    assert files
    problems = {f: footer_problems(table, f) for f in files}
    assert {f: p for f, p in problems.items() if p} == {}


@pytest.mark.parametrize("disposition", NESTED)
def test_every_data_file_of_nested_tables_is_spec_exact(
    nested: tuple[Path, dict[str, NestedTables]], disposition: str
) -> None:
    root, groups = nested
    catalog = load_catalog(CatalogConfig.embedded(root / "lake"))
    for identifier in groups[disposition].identifiers:
        table = catalog.load_table(identifier)
        files = data_files(table)
        assert files, identifier
        problems = {f: footer_problems(table, f) for f in files}
        assert {f: p for f, p in problems.items() if p} == {}, identifier
        assert _mapping_ids(table) == _table_ids(table.schema()), identifier


def test_the_fast_path_registered_dlt_files_and_the_rewrite_path_was_taken(
    written: tuple[Writer, dict[str, WrittenTable]],
) -> None:
    """The matrix covers both: registered dlt files and files written by PyIceberg."""
    writer, tables = written
    catalog = fresh_catalog(writer.plugin)
    fast = data_files(catalog.load_table(tables["append_fast_path"].identifier))
    rewritten = data_files(catalog.load_table(tables["append_rewrite"].identifier))
    assert not any(Path(f).name.startswith("00000-") for f in fast)
    assert any(Path(f).name.startswith("00000-") for f in rewritten)


def _mapping_ids(table: Table) -> dict[tuple[str, ...], int]:
    from pyiceberg.table.name_mapping import parse_mapping_from_json

    raw = table.properties.get("schema.name-mapping.default")
    assert raw, f"{table.name()} has no name mapping"
    ids: dict[tuple[str, ...], int] = {}

    def visit(fields: Any, prefix: tuple[str, ...]) -> None:
        for field in fields:
            for name in field.names:
                ids[(*prefix, name)] = field.field_id
                visit(field.fields, (*prefix, name))

    visit(parse_mapping_from_json(raw), ())
    return ids


@pytest.mark.parametrize("path", list(BUILDERS))
def test_the_name_mapping_names_every_column_with_its_id(
    written: tuple[Writer, dict[str, WrittenTable]], path: str
) -> None:
    """For files other writers add without ids: the mapping follows schema evolution."""
    writer, tables = written
    table = fresh_catalog(writer.plugin).load_table(tables[path].identifier)
    assert _mapping_ids(table) == _table_ids(table.schema())


def _chunk_offsets_are_valid(metadata: pq.FileMetaData, size: int) -> list[str]:
    """Every column chunk lies inside the file, after the magic, chunks of a row group in
    a row and row groups one after the other."""
    problems, end = [], 4
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            start = chunk.dictionary_page_offset or chunk.data_page_offset
            if chunk.has_dictionary_page and not start < chunk.data_page_offset:
                problems.append(f"row group {group} column {index}: dictionary after data")
            if start != end or start + chunk.total_compressed_size > size - 8:
                problems.append(f"row group {group} column {index}: chunk at {start}, not {end}")
            end = start + chunk.total_compressed_size
    return problems


def test_a_merged_one_file_keeps_ids_units_and_valid_offsets(
    written: tuple[Writer, dict[str, WrittenTable]],
) -> None:
    """The file a merge assembled from copied row groups: its footer points at the copied
    bytes exactly, and pyarrow (whole and per row group), DuckDB and Polars read it alike."""
    import duckdb
    import polars as pl

    writer, tables = written
    table = fresh_catalog(writer.plugin).load_table(tables["merge_one_file"].identifier)
    entries = _entries(table)
    assembled = [f for f in entries if f.endswith("-rg.parquet")]
    assert len(assembled) == 2  # one per merge
    for location in assembled:
        local = location.removeprefix("file://")
        metadata = pq.read_metadata(local)
        assert metadata.num_row_groups >= 3
        assert footer_problems(table, location) == []
        assert _chunk_offsets_are_valid(metadata, Path(local).stat().st_size) == []
        whole = pq.read_table(local)
        groups = pq.ParquetFile(local)
        pieces = [groups.read_row_group(i) for i in range(metadata.num_row_groups)]
        assert pa.concat_tables(pieces).equals(whole)
        assert whole.schema.field("at").type == pa.timestamp("us", tz="UTC")
        by_duckdb = duckdb.sql(f"SELECT * FROM read_parquet('{local}')").fetch_arrow_table()
        by_polars = pl.read_parquet(local).to_arrow()
        for other in (by_duckdb, by_polars):
            assert other.num_rows == whole.num_rows
            columns = ["id", "name"]
            assert other.select(columns).to_pylist() == whole.select(columns).to_pylist()
        assert entries[location].record_count == whole.num_rows


def _entries(table: Table) -> dict[str, Any]:
    """Path -> manifest entry (``DataFile``) of every data file of any snapshot."""
    return {
        task.file.file_path: task.file
        for snapshot in table.metadata.snapshots
        for task in table.scan(snapshot_id=snapshot.snapshot_id).plan_files()
        if not task.delete_files
    }
