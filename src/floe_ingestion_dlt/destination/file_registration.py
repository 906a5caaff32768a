"""Append fast path: register dlt's normalized Parquet files instead of rewriting them.

dlt's extract/normalize already writes each table's rows as Parquet. Reading those files back
into Arrow and letting PyIceberg encode them again doubles the write work of an append. When
the files already have exactly the types the table stores, this module copies them byte for
byte into the table's data location and adds them to the load's transaction as data files
(PyIceberg ``add_files``: statistics from the Parquet footers, column ids through the table's
name mapping). The commit is still the job's single ``append`` snapshot with its ``floe.*``
summary properties.

Anything else (partitioned tables, a type the contract would cast, dictionary columns, a column
the contract drops, files whose schemas differ) falls back to the read-and-rewrite path.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Transaction

__all__ = ["ParquetFiles", "inspect_parquet_files", "local_path"]

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
        schema contract and casts to the table's types); it must equal the files' schema.
        """
        from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible

        metadata = txn.table_metadata
        if not metadata.spec().is_unpartitioned():
            return False
        if _plain(staged_schema) != _plain(self.file_schema):
            return False
        try:
            _check_pyarrow_schema_compatible(
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

        metadata = txn.table_metadata
        locations = load_location_provider(metadata.location, metadata.properties)
        io = txn._table.io
        added: list[str] = []
        prefix = uuid.uuid4().hex
        try:
            for index, path in enumerate(self.paths):
                target = locations.new_data_location(f"{prefix}-{index:05d}.parquet")
                added.append(target)  # before the copy: a copy cut short is removed too
                if not _hard_link(path, target):
                    with open(path, "rb") as source, io.new_output(target).create() as sink:
                        shutil.copyfileobj(source, sink, _COPY_CHUNK)
            txn.add_files(
                added, snapshot_properties=snapshot_properties, check_duplicate_files=False
            )
        except BaseException:
            for target in added:  # a full disk must not leave orphan files in the table
                with contextlib.suppress(Exception):
                    io.delete(target)
            raise
        return added


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
    """Footers of ``paths`` when they are plain Parquet files sharing one schema, else None.

    Plain means: no field ids (dlt never writes them; PyIceberg refuses files that carry
    them), no dictionary-typed columns (Iceberg has none), no nested types and no decimals
    (written as fixed-length bytes, where Iceberg wants int32/int64 for small precisions).
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
        elif _plain(file_schema) != _plain(schema):
            return None
        rows += metadata.num_rows
    assert schema is not None
    if not _flat_without_ids(schema):
        return None
    nullable = pa.schema([f.with_nullable(True) for f in schema])
    return ParquetFiles(paths=tuple(paths), file_schema=schema, num_rows=rows, schema=nullable)


def _flat_without_ids(schema: pa.Schema) -> bool:
    import pyarrow as pa

    for fld in schema:
        if pa.types.is_nested(fld.type) or pa.types.is_dictionary(fld.type):
            return False
        if pa.types.is_decimal(fld.type):
            # Iceberg stores decimal(P <= 18) as int32/int64; pyarrow writes fixed-length bytes
            return False
        if fld.metadata and b"PARQUET:field_id" in fld.metadata:
            return False
    return True
