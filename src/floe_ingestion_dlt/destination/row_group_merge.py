"""Rewriting a data file a merge touches by copying its untouched row groups verbatim.

A merge replaces every file holding one of its keys by a file of the rows it keeps. When the
keys touch a few row groups of a large file (the common case: updates of recent ids in a file
of a first big load), decoding and encoding every other row group costs most of the merge.
Here the new file is assembled from the old file's bytes: untouched row groups are copied as
they are (column chunks, statistics, encodings), and only the touched ones are decoded,
filtered and encoded again (:mod:`.parquet_footer`). The result is an ordinary Parquet file
with the old file's schema (field ids, timestamp units): copy-on-write, no delete files.

Used only where the copied bytes are exactly what the table's current schema asks a file to
hold (the new file keeps the old one's row order, partition and sort order id), otherwise the
caller rewrites the file whole (:func:`rewrite_keeping_row_groups` returns ``None``): a Parquet
file of the table's current partition spec without delete files, whose columns are exactly
the table's current columns (ids, names, types; microsecond timestamps), of at least two row
groups of which at least one is untouched, with contiguous, unencrypted column chunks, and
whose touched row groups encode back to the same Parquet schema.
"""

from __future__ import annotations

import contextlib
import posixpath
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from floe_ingestion_dlt.destination.parquet_footer import (
    FMD_ROW_GROUPS,
    FMD_SCHEMA,
    AssembledFile,
    ParquetFileBuilder,
    ThriftStruct,
    read_footer,
    row_group_span,
)

if TYPE_CHECKING:
    import pyarrow.parquet as pq
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.schema import Schema
    from pyiceberg.table import FileScanTask
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.types import IcebergType

__all__ = ["rewrite_keeping_row_groups"]


def _shape(field_type: IcebergType) -> Any:
    """A field type with its nested field ids and names, ignoring required/optional."""
    from pyiceberg.types import ListType, MapType, StructType

    if isinstance(field_type, StructType):
        return tuple((f.field_id, f.name, _shape(f.field_type)) for f in field_type.fields)
    if isinstance(field_type, ListType):
        return ("list", field_type.element_id, _shape(field_type.element_type))
    if isinstance(field_type, MapType):
        key, value = field_type.key_field, field_type.value_field
        return (
            "map",
            key.field_id,
            _shape(key.field_type),
            value.field_id,
            _shape(value.field_type),
        )
    return field_type


def _only_microsecond_timestamps(arrow_type: pa.DataType) -> bool:
    if pa.types.is_timestamp(arrow_type) or pa.types.is_time(arrow_type):
        return bool(arrow_type.unit == "us")
    return all(
        _only_microsecond_timestamps(arrow_type.field(i).type) for i in range(arrow_type.num_fields)
    )


def _same_columns(file_schema: pa.Schema, table_schema: Schema) -> bool:
    """Whether the file's columns are exactly the table's (ids, names, types, µs units)."""
    from pyiceberg.io.pyarrow import pyarrow_to_schema
    from pyiceberg.schema import sanitize_column_names

    if not all(_only_microsecond_timestamps(f.type) for f in file_schema):
        return False
    try:
        from_file = pyarrow_to_schema(file_schema)
    except Exception:  # no field ids, or a type Iceberg has no name for
        return False
    expected = sanitize_column_names(table_schema)
    return bool(_shape(from_file.as_struct()) == _shape(expected.as_struct()))


def _writer_options(properties: dict[str, str]) -> dict[str, Any]:
    """pyarrow writer options from the table's Parquet properties (as PyIceberg's writer)."""
    from pyiceberg.table import TableProperties

    from floe_ingestion_dlt.destination.rewrite_files import DICTIONARY_PAGE_BYTES

    codec = properties.get(
        TableProperties.PARQUET_COMPRESSION, TableProperties.PARQUET_COMPRESSION_DEFAULT
    )
    level = properties.get(TableProperties.PARQUET_COMPRESSION_LEVEL)
    return {
        "compression": "none" if codec == "uncompressed" else codec,
        "compression_level": int(level) if level else None,
        "data_page_size": int(
            properties.get(
                TableProperties.PARQUET_PAGE_SIZE_BYTES,
                TableProperties.PARQUET_PAGE_SIZE_BYTES_DEFAULT,
            )
        ),
        "dictionary_pagesize_limit": int(
            properties.get(TableProperties.PARQUET_DICT_SIZE_BYTES, DICTIONARY_PAGE_BYTES)
        ),
        "store_decimal_as_integer": True,
    }


def _encode_kept_rows(
    parquet: pq.ParquetFile, pieces: list[tuple[int, pa.BooleanArray]], options: dict[str, Any]
) -> tuple[bytes, ThriftStruct]:
    """The kept rows of each touched row group as one row group each, in one Parquet file."""
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, parquet.schema_arrow, **options) as writer:
        for index, keep in pieces:
            rows = parquet.read_row_group(index).filter(keep)
            writer.write_table(rows, row_group_size=max(1, rows.num_rows))
    data = sink.getvalue().to_pybytes()
    return data, read_footer(data)


def _touched_row_groups(
    parquet: pq.ParquetFile, keep: pa.BooleanArray
) -> list[tuple[int, pa.BooleanArray]]:
    """``(row group, its slice of keep)`` for each row group losing at least one row."""
    touched = []
    offset = 0
    for index in range(parquet.metadata.num_row_groups):
        rows = parquet.metadata.row_group(index).num_rows
        piece = keep.slice(offset, rows)
        offset += rows
        if rows and not pc.all(piece).as_py():
            touched.append((index, piece))
    return touched


@dataclass(frozen=True)
class _CopyPlan:
    """What a row-group copy of one file writes: every row group of the old file, in order,
    copied as it is, re-encoded with its kept rows (``kept``) or left out (all rows gone)."""

    parquet: pq.ParquetFile
    row_groups: list[ThriftStruct]
    kept: list[tuple[int, pa.BooleanArray]]
    removed: set[int]


def _copy_plan(
    data: bytes, footer: ThriftStruct, metadata: TableMetadata, keep: pa.BooleanArray
) -> _CopyPlan | None:
    """The copy of the file's kept rows, or ``None`` when it does not apply (module doc)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(pa.BufferReader(data))
    row_groups = footer.get(FMD_ROW_GROUPS).items
    if len(row_groups) < 2 or parquet.metadata.num_rows != len(keep):
        return None
    if not _same_columns(parquet.schema_arrow, metadata.schema()):
        return None
    touched = _touched_row_groups(parquet, keep)
    if len(touched) == len(row_groups) or any(row_group_span(rg) is None for rg in row_groups):
        return None
    kept = [(index, piece) for index, piece in touched if pc.any(piece).as_py()]
    return _CopyPlan(parquet, row_groups, kept, {index for index, _ in touched})


class _EncodingChanged(Exception):
    """The touched row groups encode to another Parquet schema: the copy does not apply."""


def _write_copy(
    data: bytes, footer: ThriftStruct, plan: _CopyPlan, options: dict[str, Any], out: Any
) -> AssembledFile:
    """Write the file of ``plan`` to ``out``: the row groups before the first touched one are
    written while the touched ones are encoded again on a thread of their own (pyarrow
    encodes without the GIL).

    Raises:
        _EncodingChanged: see the class (``out`` then holds a partial file).
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="floe-merge-encode") as pool:
        encoding = (
            pool.submit(_encode_kept_rows, plan.parquet, plan.kept, options) if plan.kept else None
        )
        replacements: dict[int, tuple[bytes, ThriftStruct]] | None = None
        builder = ParquetFileBuilder(sink=out)
        for index, row_group in enumerate(plan.row_groups):
            if index not in plan.removed:
                builder.copy_row_group(data, row_group)
                continue
            if replacements is None:
                encoded = encoding.result() if encoding is not None else None
                replacements = _replacements(encoded, footer, plan)
            if index in replacements:
                builder.copy_row_group(*replacements[index])
        return builder.assemble(footer)


def _replacements(
    encoded: tuple[bytes, ThriftStruct] | None, footer: ThriftStruct, plan: _CopyPlan
) -> dict[int, tuple[bytes, ThriftStruct]]:
    """Touched row group -> ``(bytes, row group)`` of its kept rows encoded again (none when
    every touched row group lost all its rows)."""
    if encoded is None:
        return {}
    data, encoded_footer = encoded
    if encoded_footer.get(FMD_SCHEMA) != footer.get(FMD_SCHEMA):
        raise _EncodingChanged
    new_groups = encoded_footer.get(FMD_ROW_GROUPS).items
    return {
        index: (data, row_group)
        for (index, _), row_group in zip(plan.kept, new_groups, strict=True)
    }


def _data_file(
    metadata: TableMetadata, original: DataFile, path: str, content: AssembledFile
) -> DataFile:
    """The manifest entry of the assembled file, its metrics read from its own footer."""
    import pyarrow.parquet as pq
    from pyiceberg.schema import sanitize_column_names

    from floe_ingestion_dlt.destination.file_registration import data_file_from_footer

    return data_file_from_footer(
        metadata,
        pq.read_metadata(pa.BufferReader(content.footer_file())),
        schema=sanitize_column_names(metadata.schema()),  # the names PyIceberg wrote
        file_path=path,
        file_size=content.size,
        partition=original.partition,
        spec_id=original.spec_id,
        sort_order_id=original.sort_order_id,
    )


def rewrite_keeping_row_groups(
    metadata: TableMetadata, io: FileIO, task: FileScanTask, keep: pa.BooleanArray
) -> DataFile | None:
    """Write the rows of ``task``'s file where ``keep`` is true as a new data file, copying
    untouched row groups verbatim; ``None`` when that does not apply (see the module doc)
    and the caller must rewrite the file whole. The new file sits beside the old one."""
    from pyiceberg.manifest import FileFormat

    original = task.file
    if task.delete_files or original.file_format != FileFormat.PARQUET:
        return None
    if original.spec_id != metadata.default_spec_id:
        return None
    with io.new_input(original.file_path).open() as stream:
        data = stream.read()
    try:
        footer = read_footer(data)
    except ValueError:
        return None
    plan = _copy_plan(data, footer, metadata, keep)
    if plan is None:
        return None
    path = posixpath.join(posixpath.dirname(original.file_path), f"{uuid.uuid4()}-rg.parquet")
    try:
        with io.new_output(path).create(overwrite=False) as out:
            content = _write_copy(data, footer, plan, _writer_options(metadata.properties), out)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # nothing references the partial file
            io.delete(path)
        if isinstance(exc, _EncodingChanged):
            return None
        raise
    return _data_file(metadata, original, path, content)
