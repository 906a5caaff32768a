"""Spec-exact Parquet from dlt's own writers: Iceberg field ids and types when first written.

On the append fast path dlt's normalized Parquet files become the table's data files as they
are (:mod:`.file_registration`). The Iceberg spec asks a writer for more than dlt writes by
itself: a Parquet field id on every column (nested ones too), timestamps and times as INT64
microseconds, decimals as INT32/INT64 up to precision 9/18. Rewriting every file afterwards
would double the write work of an append, so dlt's two Parquet writers are given those
properties at the moment they write (dlt picks writer classes from ``WRITER_SPECS``; the two
Parquet entries are replaced, ``compat.dlt.use_writer_class``, by subclasses that change
nothing unless the destination's capabilities carry :class:`IcebergParquetFormat`, i.e. only
for this plugin's destination).

Types, by Arrow type of the data (:func:`iceberg_arrow_type`):

- ``timestamp[s]`` / ``timestamp[ms]`` -> ``timestamp[us]`` (exact, values unchanged);
- ``timestamp[ns]`` -> ``timestamp[us]``: Iceberg v1/v2 tables store microseconds, so the
  sub-microsecond digits are truncated (PyIceberg's ``downcast-ns-timestamp-to-us-on-write``
  does the same); a value that loses digits is counted and logged at WARNING, never silently;
- ``time32``/``time64[ns]`` -> ``time64[us]``; ``date64`` -> ``date32``; dictionary columns ->
  their values; ``float16`` -> ``float32``; ``uint8/16`` -> ``int32``, ``uint32`` -> ``int64``.

Field ids are the ids Iceberg assigns to a new table with this schema (PyIceberg's
``assign_fresh_schema_ids``: top-level columns 1..n in order, then nested fields). The load job
checks every file's ids against the table's real ids before registering it and rewrites the
rows through PyIceberg otherwise (an existing table with other ids, a variant column), so a
wrong guess costs time, never correctness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dlt.common.configuration import configspec
from dlt.common.data_writers import writers as dlt_writers
from dlt.common.destination.configuration import ParquetFormatConfiguration

from floe_ingestion_dlt.compat.dlt import (
    ArrowToParquetWriterHooks,
    ParquetDataWriterHooks,
    use_writer_class,
)
from floe_ingestion_dlt.destination.rewrite_files import DICTIONARY_PAGE_BYTES, ROW_GROUP_ROWS
from floe_ingestion_dlt.logging import get_logger

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

__all__ = [
    "FIELD_ID_KEY",
    "IcebergArrowParquetWriter",
    "IcebergObjectParquetWriter",
    "IcebergParquetFormat",
    "iceberg_arrow_schema",
    "iceberg_arrow_type",
    "install_iceberg_parquet_writers",
    "to_iceberg_arrow",
    "with_field_ids",
    "without_field_ids",
]

FIELD_ID_KEY = b"PARQUET:field_id"
"""Arrow field metadata key pyarrow writes as the Parquet field id."""

_log = get_logger(__name__)


@configspec
class IcebergParquetFormat(ParquetFormatConfiguration):
    """dlt's Parquet settings for files that become Iceberg data files (zstd, as PyIceberg;
    row groups a later merge can copy verbatim, see :mod:`.rewrite_files`)."""

    compression: str | None = "zstd"  # type: ignore[assignment]
    row_group_size: int | None = ROW_GROUP_ROWS


def iceberg_arrow_type(arrow_type: pa.DataType) -> pa.DataType:
    """The Arrow type a value of ``arrow_type`` is written as in an Iceberg data file."""
    import pyarrow as pa

    t = arrow_type
    if pa.types.is_dictionary(t):
        return iceberg_arrow_type(t.value_type)
    if pa.types.is_timestamp(t):
        return t if t.unit == "us" else pa.timestamp("us", t.tz)
    if pa.types.is_time(t):
        return t if t == pa.time64("us") else pa.time64("us")
    if pa.types.is_date64(t):
        return pa.date32()
    if pa.types.is_float16(t):
        return pa.float32()
    if pa.types.is_uint8(t) or pa.types.is_uint16(t):
        return pa.int32()
    if pa.types.is_uint32(t):
        return pa.int64()
    if pa.types.is_struct(t):
        return pa.struct([_iceberg_field(t.field(i)) for i in range(t.num_fields)])
    if pa.types.is_map(t):
        return pa.map_(_iceberg_field(t.key_field), _iceberg_field(t.item_field))
    if pa.types.is_large_list(t):
        return pa.large_list(_iceberg_field(t.value_field))
    if pa.types.is_fixed_size_list(t) or pa.types.is_list(t) or pa.types.is_list_view(t):
        return pa.list_(_iceberg_field(t.value_field))
    return t


def _iceberg_field(fld: pa.Field) -> pa.Field:
    return fld.with_type(iceberg_arrow_type(fld.type))


def iceberg_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with every type as an Iceberg data file stores it (metadata kept)."""
    import pyarrow as pa

    return pa.schema([_iceberg_field(f) for f in schema], metadata=schema.metadata)


def _lossy_ns_columns(data: pa.Table) -> list[str]:
    """Top-level nanosecond timestamp/time columns with sub-microsecond digits."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lossy = []
    for fld, column in zip(data.schema, data.columns, strict=True):
        t = fld.type
        if (pa.types.is_timestamp(t) or pa.types.is_time64(t)) and t.unit == "ns":
            raw = column.cast(pa.int64())
            whole = pc.multiply(pc.divide(raw, 1000), 1000)
            if pc.any(pc.not_equal(raw, whole)).as_py():
                lossy.append(fld.name)
    return lossy


def to_iceberg_arrow(data: pa.Table, table_name: str = "") -> pa.Table:
    """``data`` cast to :func:`iceberg_arrow_schema` (nanoseconds truncated to microseconds)."""
    target = iceberg_arrow_schema(data.schema)
    if target.remove_metadata() == data.schema.remove_metadata():
        return data
    lossy = _lossy_ns_columns(data)
    if lossy:
        _log.warning(
            "nanosecond values truncated to microseconds",
            destination_table=table_name or None,
            columns=lossy,
            reason="Iceberg v2 tables store timestamps and times in microseconds",
        )
    # safe=False only lets the ns -> us casts truncate; every other cast here is a widening
    return data.cast(target, safe=not _has_ns(data.schema))


def _has_ns(schema: pa.Schema) -> bool:
    import pyarrow as pa

    def walk(t: pa.DataType) -> bool:
        if (pa.types.is_timestamp(t) or pa.types.is_time64(t)) and t.unit == "ns":
            return True
        return any(walk(t.field(i).type) for i in range(t.num_fields))

    return any(walk(f.type) for f in schema)


def with_field_ids(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the Parquet field ids Iceberg gives a new table of this schema.

    Returns ``schema`` unchanged when PyIceberg cannot map a type (the load job then rewrites).
    """
    import pyarrow as pa
    from pyiceberg.schema import assign_fresh_schema_ids

    from floe_ingestion_dlt.compat.pyiceberg import arrow_to_schema_without_ids

    try:
        iceberg = assign_fresh_schema_ids(
            arrow_to_schema_without_ids(schema, downcast_ns_timestamp_to_us=True)
        )
    except (TypeError, ValueError, NotImplementedError):
        return schema
    fields = [_field_with_ids(fld, iceberg.find_field(fld.name)) for fld in schema]
    return pa.schema(fields, metadata=schema.metadata)


def without_field_ids(schema: pa.Schema) -> pa.Schema:
    """``schema`` without Parquet field ids at any level.

    Rows read back from dlt's files for PyIceberg's writer must not carry them: PyIceberg
    would take them for the table's ids, and they are only a guess of those (see module doc).
    """
    import pyarrow as pa

    def strip(fld: pa.Field) -> pa.Field:
        t = fld.type
        if pa.types.is_struct(t):
            t = pa.struct([strip(t.field(i)) for i in range(t.num_fields)])
        elif pa.types.is_map(t):
            t = pa.map_(strip(t.key_field), strip(t.item_field))
        elif pa.types.is_large_list(t):
            t = pa.large_list(strip(t.value_field))
        elif pa.types.is_list(t):
            t = pa.list_(strip(t.value_field))
        metadata = {k: v for k, v in (fld.metadata or {}).items() if k != FIELD_ID_KEY}
        return pa.field(fld.name, t, nullable=fld.nullable, metadata=metadata or None)

    return pa.schema([strip(f) for f in schema], metadata=schema.metadata)


def _field_with_ids(fld: pa.Field, nested: Any) -> pa.Field:
    """``fld`` and its children carrying the ids of the Iceberg field ``nested``."""
    import pyarrow as pa
    from pyiceberg.types import ListType, MapType, StructType

    t = fld.type
    iceberg_type = nested.field_type
    if pa.types.is_struct(t) and isinstance(iceberg_type, StructType):
        t = pa.struct(
            [
                _field_with_ids(t.field(i), iceberg_type.field_by_name(t.field(i).name))
                for i in range(t.num_fields)
            ]
        )
    elif pa.types.is_map(t) and isinstance(iceberg_type, MapType):
        t = pa.map_(
            _field_with_ids(t.key_field, iceberg_type.key_field),
            _field_with_ids(t.item_field, iceberg_type.value_field),
        )
    elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and isinstance(iceberg_type, ListType):
        element = _field_with_ids(t.value_field, iceberg_type.element_field)
        t = pa.large_list(element) if pa.types.is_large_list(t) else pa.list_(element)
    metadata = dict(fld.metadata or {})
    metadata[FIELD_ID_KEY] = str(nested.field_id).encode()
    return pa.field(fld.name, t, nullable=fld.nullable, metadata=metadata)


def _is_iceberg_format(parquet_format: Any) -> bool:
    return isinstance(parquet_format, IcebergParquetFormat)


def _iceberg_parquet_writer(writer: ParquetDataWriterHooks, schema: pa.Schema) -> pq.ParquetWriter:
    """dlt's ``ParquetWriter`` for ``schema``, with field ids and integer-stored decimals."""
    import pyarrow.parquet as pq

    fmt = writer.parquet_format
    kwargs: dict[str, Any] = {
        "flavor": fmt.flavor,
        "version": fmt.version,
        "compression": fmt.compression,
        "data_page_size": fmt.data_page_size,
        "use_compliant_nested_type": fmt.use_compliant_nested_type,
        "write_page_index": fmt.write_page_index,
        "store_decimal_as_integer": True,
        "dictionary_pagesize_limit": DICTIONARY_PAGE_BYTES,
    }
    if getattr(fmt, "use_content_defined_chunking", None):
        kwargs["use_content_defined_chunking"] = fmt.use_content_defined_chunking
    return pq.ParquetWriter(writer.output_file, with_field_ids(schema), **kwargs)


class IcebergArrowParquetWriter(ArrowToParquetWriterHooks):
    """dlt's Arrow -> Parquet writer; for the Iceberg destination, spec-exact files."""

    def write_data(self, items: Sequence[Any]) -> None:
        if _is_iceberg_format(self.parquet_format) and items:
            import pyarrow as pa

            items = [
                to_iceberg_arrow(item if isinstance(item, pa.Table) else pa.table(item))
                for item in items
            ]
        super().write_data(items)

    def create_parquet_writer(self, schema: pa.Schema) -> pq.ParquetWriter:
        if not _is_iceberg_format(self.parquet_format):
            return self.dlt_parquet_writer(schema)
        return _iceberg_parquet_writer(self, schema)


class IcebergObjectParquetWriter(ParquetDataWriterHooks):
    """dlt's rows -> Parquet writer; for the Iceberg destination, spec-exact files."""

    def write_header(self, columns_schema: Any) -> None:
        if not _is_iceberg_format(self.parquet_format):
            super().write_header(columns_schema)
            return
        from dlt.common.libs.pyarrow import columns_to_arrow

        # as dlt's write_header, with rows converted straight into the Iceberg types
        # (write_data builds each table with ``self.schema``)
        schema = columns_to_arrow(
            columns_schema, self.destination_capabilities, self.timestamp_timezone
        )
        self.schema = iceberg_arrow_schema(schema)
        self.nested_indices = [
            name for name, column in columns_schema.items() if column["data_type"] == "json"
        ]
        self.writer = self.create_parquet_writer(self.schema)

    def create_parquet_writer(self, schema: pa.Schema) -> pq.ParquetWriter:
        if not _is_iceberg_format(self.parquet_format):
            return self.dlt_parquet_writer(schema)
        return _iceberg_parquet_writer(self, schema)


def install_iceberg_parquet_writers() -> None:
    """Make dlt use the two writers above for Parquet (idempotent; inert for other destinations).

    dlt resolves writer classes through ``WRITER_SPECS`` (extract's and normalize's item
    storages); both subclasses behave exactly like dlt's unless the capabilities of the
    destination carry :class:`IcebergParquetFormat`.
    """
    use_writer_class(dlt_writers.ArrowToParquetWriter, IcebergArrowParquetWriter)
    use_writer_class(dlt_writers.ParquetDataWriter, IcebergObjectParquetWriter)


# Installed on import as well: a normalize worker started by ``spawn`` imports this module when
# it unpickles the destination's capabilities (they hold an IcebergParquetFormat), before it
# looks up a writer class.
install_iceberg_parquet_writers()
