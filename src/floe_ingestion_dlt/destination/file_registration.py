"""Append fast path: register dlt's normalized Parquet files instead of rewriting them.

dlt's extract/normalize already writes each table's rows as Parquet. Reading those files back
into Arrow and letting PyIceberg encode them again doubles the write work of an append. dlt's
Parquet writers write them as the Iceberg spec asks (:mod:`.data_files`: a field id on every
column, microsecond timestamps, integer-stored decimals). When the files have exactly the
types the table stores and the field ids the table gives their columns, this module copies
them byte for byte into the table's data location and adds them to the load's transaction as
data files (statistics from the Parquet footers, as PyIceberg's own writer collects them). The
commit is still the job's single ``append`` snapshot with its ``floe.*`` summary properties.

Anything else (partitioned tables, a type the contract would cast, a column the contract drops
or renames, ids that differ from the table's, files without ids or with millisecond
timestamps, files whose schemas differ) falls back to the read-and-rewrite path, where
PyIceberg's writer writes spec-exact files.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.destination.data_files import FIELD_ID_KEY

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pyiceberg.manifest import DataFile
    from pyiceberg.schema import Schema
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.typedef import Record

__all__ = [
    "ParquetFiles",
    "data_file_from_footer",
    "ensure_name_mapping",
    "field_ids_match",
    "inspect_parquet_files",
    "local_path",
]

_COPY_CHUNK = 8 << 20


@dataclass(frozen=True)
class ParquetFiles:
    """The Parquet files of one table of a load package, known by their footers only.

    ``file_schema`` is what the files store; ``schema`` what the table is created with and
    the schema contract sees (by default the file schema with every field nullable).
    """

    paths: tuple[str, ...]
    file_schema: pa.Schema
    num_rows: int
    schema: pa.Schema

    def with_schema(self, schema: pa.Schema) -> ParquetFiles:
        """The same files, presented to the table as ``schema`` (e.g. Iceberg-compatible types)."""
        return replace(self, schema=schema)

    def read(self) -> pa.Table:
        """All rows as one Arrow table, as the files store them (the fallback path)."""
        import pyarrow.dataset as ds

        return ds.dataset(list(self.paths)).to_table()

    def fits(self, txn: Transaction, staged_schema: pa.Schema) -> bool:
        """True when the files can be added to ``txn``'s table as they are.

        ``staged_schema`` is the schema the write path would hand to PyIceberg (after the
        schema contract and casts to the table's types); it must equal the files' schema, and
        every column of the files (nested ones too) must carry the field id the table gives it.
        """
        from floe_ingestion_dlt.compat.pyiceberg import check_arrow_schema_compatible

        metadata = txn.table_metadata
        if not metadata.spec().is_unpartitioned():
            return False
        if _plain(staged_schema) != _plain(self.file_schema):
            return False
        if not field_ids_match(metadata.schema(), self.file_schema):
            return False
        try:
            check_arrow_schema_compatible(
                metadata.schema(), self.file_schema, format_version=metadata.format_version
            )
        except ValueError:
            return False
        return True

    def register(self, txn: Transaction, snapshot_properties: dict[str, str]) -> list[str]:
        """Copy the files into the table's data location and stage them as one append.

        A table on the local filesystem gets a hard link instead of a copy when the file
        system allows it (same device): the bytes are the same and immutable either way
        (dlt never rewrites a finished package file, Iceberg never rewrites a data file), and
        deleting either name leaves the other intact. Returns the table paths of the files.
        """
        from pyiceberg.table.locations import load_location_provider

        from floe_ingestion_dlt.compat.pyiceberg import transaction_io

        metadata = txn.table_metadata
        locations = load_location_provider(metadata.location, metadata.properties)
        io = transaction_io(txn)
        added: list[str] = []
        prefix = uuid.uuid4().hex
        try:
            for index, path in enumerate(self.paths):
                target = locations.new_data_location(f"{prefix}-{index:05d}.parquet")
                added.append(target)  # before the copy: a copy cut short is removed too
                if not _hard_link(path, target):
                    with open(path, "rb") as source, io.new_output(target).create() as sink:
                        shutil.copyfileobj(source, sink, _COPY_CHUNK)
            # staged only once every file is in place (the producer stages on leaving its block)
            snapshot = txn.update_snapshot(snapshot_properties=snapshot_properties)
            with snapshot.fast_append() as append:
                for path, target in zip(self.paths, added, strict=True):
                    append.append_data_file(_data_file(metadata, path, target))
        except BaseException:
            for target in added:  # a full disk must not leave orphan files in the table
                with contextlib.suppress(Exception):
                    io.delete(target)
            raise
        return added


def _data_file(metadata: TableMetadata, local: str, target: str) -> DataFile:
    """The manifest entry of ``local`` registered as ``target``, as PyIceberg's writer makes it."""
    import os

    import pyarrow.parquet as pq
    from pyiceberg.typedef import Record

    return data_file_from_footer(
        metadata,
        pq.read_metadata(local),
        schema=metadata.schema(),
        file_path=target,
        file_size=os.path.getsize(local),
        partition=Record(),
        spec_id=metadata.default_spec_id,
        sort_order_id=None,
    )


def data_file_from_footer(
    metadata: TableMetadata,
    footer: Any,
    *,
    schema: Schema,
    file_path: str,
    file_size: int,
    partition: Record,
    spec_id: int,
    sort_order_id: int | None,
) -> DataFile:
    """The manifest entry of a Parquet data file whose metrics come from its ``footer``
    (``pq.FileMetaData``), computed as PyIceberg's own writer computes them: ``schema`` is the
    schema the file's column names follow (PyIceberg writes sanitized names)."""
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=footer,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=file_path,
        file_format=FileFormat.PARQUET,
        partition=partition,
        file_size_in_bytes=file_size,
        sort_order_id=sort_order_id,
        spec_id=spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )


def _id_paths(
    fields: Iterable[pa.Field], prefix: tuple[str, ...] = ()
) -> dict[tuple[str, ...], int]:
    """Field path -> Parquet field id (-1 when absent), nested fields included.

    List elements and map keys/values are named by their role, not by Arrow's child names.
    """
    import pyarrow as pa

    found: dict[tuple[str, ...], int] = {}
    for fld in fields:
        path = (*prefix, fld.name)
        raw = (fld.metadata or {}).get(FIELD_ID_KEY)
        found[path] = int(raw) if raw is not None else -1
        t = fld.type
        if pa.types.is_struct(t):
            found.update(_id_paths([t.field(i) for i in range(t.num_fields)], path))
        elif pa.types.is_map(t):
            found.update(_id_paths([t.key_field.with_name("key")], path))
            found.update(_id_paths([t.item_field.with_name("value")], path))
        elif pa.types.is_list(t) or pa.types.is_large_list(t):
            found.update(_id_paths([t.value_field.with_name("element")], path))
    return found


def field_ids_match(table_schema: Schema, file_schema: pa.Schema) -> bool:
    """True when every column of ``file_schema`` (nested too) has the table's field id."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    expected = _id_paths(schema_to_pyarrow(table_schema, include_field_ids=True))
    for path, field_id in _id_paths(file_schema).items():
        if field_id < 0 or expected.get(path) != field_id:
            return False
    return True


def ensure_name_mapping(txn: Transaction) -> None:
    """Give the table ``schema.name-mapping.default`` when it has none.

    Our files carry field ids; the mapping serves files other writers add without them.
    PyIceberg's schema updates keep an existing mapping in step with the schema, so this is
    called after the load's schema change is staged.
    """
    from pyiceberg.table import TableProperties

    if txn.table_metadata.name_mapping() is None:
        mapping = txn.table_metadata.schema().name_mapping.model_dump_json()
        txn.set_properties({TableProperties.DEFAULT_NAME_MAPPING: mapping})


def local_path(location: str) -> str | None:
    """The local file path of a ``file://`` (or scheme-less absolute) location, else None."""
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(location)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return unquote(parts.path)
    if not parts.scheme and location.startswith("/"):
        return location
    return None


def _hard_link(source: str, target: str) -> bool:
    """Link ``source`` as the local ``target``; False (nothing created) when that cannot be."""
    import os

    path = local_path(target)
    if path is None:
        return False
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.link(source, path)
    except OSError:  # another device, no hard links on this file system, not permitted
        return False
    return True


def _plain(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    """Names and Parquet-level types only.

    Nullability, metadata and the string/binary offset width (``large_string`` is what
    PyIceberg reads Iceberg ``string`` as) do not change what a Parquet file stores.
    """
    import pyarrow as pa

    wide = {pa.large_string(): pa.string(), pa.large_binary(): pa.binary()}
    return [(f.name, wide.get(f.type, f.type)) for f in schema]


def inspect_parquet_files(paths: list[str]) -> ParquetFiles | None:
    """Footers of ``paths`` when they are spec-exact Parquet files sharing one schema, else None.

    Spec-exact (what :mod:`.data_files` makes dlt write): a field id on every column, no
    dictionary-typed columns (Iceberg has none), timestamps and times in microseconds,
    decimals of precision <= 18 stored as INT32/INT64. Files of other writers (no ids,
    millisecond timestamps) go through PyIceberg's writer instead.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not paths or not all(p.endswith(".parquet") for p in paths):
        return None
    schema: pa.Schema | None = None
    rows = 0
    for path in paths:
        try:
            metadata = pq.read_metadata(path)
        except (OSError, ValueError):
            return None
        file_schema = metadata.schema.to_arrow_schema()
        if schema is None:
            schema = file_schema
            if not _spec_exact(schema) or not _decimals_as_integers(metadata):
                return None
        elif _plain(file_schema) != _plain(schema) or _id_paths(file_schema) != _id_paths(schema):
            return None
        rows += metadata.num_rows
    assert schema is not None
    nullable = pa.schema([f.with_nullable(True) for f in schema])
    return ParquetFiles(paths=tuple(paths), file_schema=schema, num_rows=rows, schema=nullable)


def _spec_exact(schema: pa.Schema) -> bool:
    """Every column has a field id and an Iceberg-exact Arrow type (see :mod:`.data_files`)."""
    from floe_ingestion_dlt.destination.data_files import iceberg_arrow_schema

    if any(field_id < 0 for field_id in _id_paths(schema).values()):
        return False
    return bool(iceberg_arrow_schema(schema).remove_metadata() == schema.remove_metadata())


def _decimals_as_integers(metadata: pq.FileMetaData) -> bool:
    """Decimals of precision <= 9 / <= 18 are stored as INT32 / INT64, as the spec says."""
    parquet_schema = metadata.schema
    for index in range(len(parquet_schema)):
        column = parquet_schema.column(index)
        logical = column.logical_type
        if logical.type != "DECIMAL":
            continue
        precision = column.precision
        wanted = "INT32" if precision <= 9 else "INT64" if precision <= 18 else None
        if wanted is not None and column.physical_type != wanted:
            return False
    return True
