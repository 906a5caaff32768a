"""The key columns of the files a merge looks into, read only where a batch key can be.

A file the manifests cannot rule out (:mod:`.merge_files`) may still hold the batch's keys in
a few of its row groups only: a 1,000,000-row file of a first load, updated at its most recent
ids, has them in its last row group. Each row group's Parquet statistics (min/max of the key
columns) are checked against the batch's sorted keys, and the key columns are read from the
row groups that can hold one; the others are known to hold none without being read.

Applies to a Parquet file without delete files whose key columns are top-level columns of the
file carrying the table's field ids (any other file is read whole through PyIceberg, which
applies deletes and schema evolution). Statistics prune only integer key columns, and string
key columns of files written by Arrow (``parquet-cpp-arrow``), whose string statistics are
exact: other writers may truncate them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from floe_ingestion_dlt.destination import merge_files
from floe_ingestion_dlt.destination.merge_batch import all_false
from floe_ingestion_dlt.destination.merge_files import ColumnRange, KeyRanges

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from pyiceberg.io import FileIO
    from pyiceberg.schema import Schema
    from pyiceberg.table import FileScanTask
    from pyiceberg.table.metadata import TableMetadata

__all__ = ["FileKeys", "read_file_keys"]

_FIELD_ID = b"PARQUET:field_id"
_EXACT_STRING_STATISTICS = "parquet-cpp-arrow"


@dataclass(frozen=True)
class FileKeys:
    """A data file's key columns as consecutive stretches of rows: ``(rows, keys)`` where the
    stretch may hold a batch key, ``(rows, None)`` where its statistics rule every key out."""

    pieces: tuple[tuple[int, pa.Table | None], ...]

    @property
    def rows_read(self) -> int:
        return sum(keys.num_rows for _, keys in self.pieces if keys is not None)

    def mask(self, matches: Callable[[pa.Table], pa.BooleanArray]) -> pa.BooleanArray:
        """The file's rows holding a batch key: ``matches`` on the stretches read, false on
        the others (in file order)."""
        if len(self.pieces) == 1 and self.pieces[0][1] is not None:
            return matches(self.pieces[0][1])
        parts = [all_false(rows) if keys is None else matches(keys) for rows, keys in self.pieces]
        return pa.concat_arrays(parts) if parts else all_false(0)


def read_file_keys(
    metadata: TableMetadata,
    io: FileIO,
    tasks: list[FileScanTask],
    key_columns: list[str],
    ranges: KeyRanges | None,
) -> list[FileKeys]:
    """Per task (in order), its key columns where a batch key can be; files in parallel."""
    return merge_files.on_own_threads(
        lambda task: _read_one(metadata, io, task, key_columns, ranges), tasks, "floe-merge-keys"
    )


def _read_one(
    metadata: TableMetadata,
    io: FileIO,
    task: FileScanTask,
    key_columns: list[str],
    ranges: KeyRanges | None,
) -> FileKeys:
    schema = metadata.schema().select(*key_columns)
    if ranges is not None:
        by_row_group = _by_row_group(io, task, schema, ranges)
        if by_row_group is not None:
            return by_row_group
    keys = merge_files.read_data_file(metadata, io, task, schema)
    return FileKeys(((keys.num_rows, keys),))


def _by_row_group(
    io: FileIO, task: FileScanTask, schema: Schema, ranges: KeyRanges
) -> FileKeys | None:
    """The file's keys read row group by row group, or ``None`` when that does not apply."""
    import pyarrow.parquet as pq
    from pyiceberg.io.pyarrow import schema_to_pyarrow
    from pyiceberg.manifest import FileFormat

    if task.delete_files or task.file.file_format != FileFormat.PARQUET:
        return None
    offsets = task.file.split_offsets  # one per row group (PyIceberg's and our manifests)
    if offsets is not None and len(offsets) < 2:
        return None  # one row group: nothing to prune inside the file, no need to open it
    with io.new_input(task.file.file_path).open(seekable=True) as stream:
        parquet = pq.ParquetFile(stream)
        names = _file_column_names(parquet.schema_arrow, schema)
        if names is None or parquet.metadata.num_row_groups < 2:
            return None
        candidates = _candidate_row_groups(parquet, names, ranges)
        if len(candidates) == parquet.metadata.num_row_groups:
            return None  # every row group is read: the whole-file read is as good
        target = schema_to_pyarrow(schema, include_field_ids=False)
        file_names = [names[field.field_id] for field in schema.fields]
        keys = target.empty_table()
        if candidates:
            read = parquet.read_row_groups(candidates, columns=file_names)
            # in the table's names, order and types (as PyIceberg would read them)
            keys = read.select(file_names).rename_columns(target.names).cast(target)
    pieces: list[tuple[int, pa.Table | None]] = []
    offset = 0
    chosen = set(candidates)
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        if index in chosen:
            pieces.append((rows, keys.slice(offset, rows)))
            offset += rows
        else:
            pieces.append((rows, None))
    return FileKeys(tuple(pieces))


def _file_column_names(file_schema: pa.Schema, schema: Schema) -> dict[int, str] | None:
    """Field id -> the file's top-level column of each key field, or ``None`` when one is
    missing (a file older than the column: PyIceberg reads it as NULLs)."""
    by_id: dict[int, str] = {}
    for file_field in file_schema:
        raw = (file_field.metadata or {}).get(_FIELD_ID)
        if raw is not None:
            by_id[int(raw)] = file_field.name
    names = {}
    for field in schema.fields:
        if field.field_id not in by_id:
            return None
        names[field.field_id] = by_id[field.field_id]
    return names


def _candidate_row_groups(
    parquet: pq.ParquetFile, names: dict[int, str], ranges: KeyRanges
) -> list[int]:
    """Row groups whose statistics let some key set's every key column hold a batch value."""
    metadata = parquet.metadata
    exact_strings = str(metadata.created_by or "").startswith(_EXACT_STRING_STATISTICS)
    positions = {metadata.schema.column(i).path: i for i in range(metadata.num_columns)}
    columns = {field_id: positions.get(name) for field_id, name in names.items()}
    candidates = []
    for index in range(metadata.num_row_groups):
        row_group = metadata.row_group(index)
        if any(
            all(
                _may_hold(row_group, columns.get(column.field_id), column, exact_strings)
                for column in key_set
            )
            for key_set in ranges.ranges
        ):
            candidates.append(index)
    return candidates


def _may_hold(
    row_group: Any, position: int | None, column: ColumnRange, exact_strings: bool
) -> bool:
    """Whether the row group's statistics of ``column`` let it hold a batch value."""
    if position is None:
        return True
    bounds = _bounds(row_group.column(position).statistics, exact_strings)
    return bounds is None or column.overlaps_range(*bounds)


def _bounds(statistics: Any, exact_strings: bool) -> tuple[Any, Any] | None:
    """``(min, max)`` of a column chunk when they can prune (see the module doc)."""
    if statistics is None or not statistics.has_min_max:
        return None
    low, high = statistics.min, statistics.max
    if isinstance(low, bool) or isinstance(high, bool):
        return None
    if isinstance(low, int) and isinstance(high, int):
        return low, high
    if exact_strings and isinstance(low, str) and isinstance(high, str):
        return low, high
    return None
