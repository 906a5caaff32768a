"""Table layout declared in configuration: partition spec, sort order, file size, properties.

A source declares the layout of its Iceberg table next to its other options (``source_config``
or the YAML source)::

    partition_by: [day(created_at), bucket(16, customer_id), region]
    sort_order: [customer_id, created_at desc nulls first]
    target_file_size_mb: 128
    table_properties: {write.parquet.compression-level: "3"}

Partition fields use Iceberg's transforms: a bare column (``identity``), ``year(col)``,
``month(col)``, ``day(col)``, ``hour(col)``, ``bucket(N, col)`` and ``truncate(W, col)``
(Iceberg's own spelling ``bucket[N](col)`` is accepted too). Sort fields are a column or a
transform of one, optionally followed by ``asc``/``desc`` and ``nulls first``/``nulls last``.

The layout is applied when the table is created and, when the configuration changes later,
evolved on the load's own transaction (a new partition spec, a new default sort order, the
changed properties): the change and the load's rows commit together. A key left out
(``None``) leaves the table's current setting alone; an empty list makes the table
unpartitioned / unsorted from then on. Existing files keep the spec they were written with
(Iceberg's partition evolution), new files follow the new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.schema import Schema
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.transforms import Transform

__all__ = [
    "TARGET_FILE_SIZE_PROPERTY",
    "PartitionField",
    "SortField",
    "TableLayout",
    "apply_layout",
    "sort_rows",
]

TARGET_FILE_SIZE_PROPERTY = "write.target-file-size-bytes"

_TEMPORAL = ("year", "month", "day", "hour")
_FUNCTION = re.compile(r"^\s*(\w+)\s*(?:\[\s*(\d+)\s*\])?\s*\((.*)\)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SORT = re.compile(
    r"^(?P<term>.+?)(?:\s+(?P<dir>asc|desc))?(?:\s+nulls\s+(?P<nulls>first|last))?\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PartitionField:
    """One partition field: a transform of a source column."""

    column: str
    transform: str
    """``identity``, ``year``, ``month``, ``day``, ``hour``, ``bucket[N]`` or ``truncate[W]``."""

    @classmethod
    def parse(cls, text: str) -> PartitionField:
        """Parse ``col``, ``day(col)``, ``bucket(16, col)`` or ``bucket[16](col)``.

        Raises:
            ValueError: naming the expression and the accepted forms.
        """
        text = str(text).strip()
        if _NAME.match(text):
            return cls(column=text, transform="identity")
        match = _FUNCTION.match(text)
        if match is None:
            raise ValueError(_bad_transform(text))
        name, bracket, inner = match.group(1).lower(), match.group(2), match.group(3)
        args = [a.strip() for a in inner.split(",")]
        if name in ("identity", *_TEMPORAL) and bracket is None and len(args) == 1:
            column = args[0]
            transform = name
        elif name in ("bucket", "truncate"):
            if bracket is not None and len(args) == 1:
                width, column = bracket, args[0]
            elif bracket is None and len(args) == 2:
                width, column = args
            else:
                raise ValueError(_bad_transform(text))
            if not width.isdigit() or int(width) < 1:
                raise ValueError(f"{text!r}: {name} needs a positive whole number, got {width!r}")
            transform = f"{name}[{int(width)}]"
        else:
            raise ValueError(_bad_transform(text))
        if not _NAME.match(column):
            raise ValueError(f"{text!r}: {column!r} is not a column name")
        return cls(column=column, transform=transform)

    def iceberg_transform(self) -> Transform[Any, Any]:
        """The PyIceberg transform object."""
        from pyiceberg.transforms import parse_transform

        return parse_transform(self.transform)

    @property
    def field_name(self) -> str:
        """The partition field's name, as Spark and PyIceberg name it (``created_at_day``)."""
        if self.transform == "identity":
            return self.column
        base = self.transform.split("[")[0]
        width = self.transform[len(base) + 1 : -1] if "[" in self.transform else ""
        return f"{self.column}_{base}" + (f"_{width}" if width else "")


def _bad_transform(text: str) -> str:
    return (
        f"{text!r} is not a partition field: use a column name, year(col), month(col), "
        "day(col), hour(col), bucket(N, col) or truncate(W, col)"
    )


@dataclass(frozen=True)
class SortField:
    """One sort field: a column (or a transform of one), its direction and NULL placement."""

    term: PartitionField
    descending: bool = False
    nulls_first: bool | None = None
    """``None``: Iceberg's default (first when ascending, last when descending)."""

    @classmethod
    def parse(cls, text: str) -> SortField:
        """Parse ``col``, ``col desc``, ``day(ts) asc nulls last`` ...

        Raises:
            ValueError: naming the expression.
        """
        match = _SORT.match(str(text).strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not a sort field: use 'column [asc|desc] [nulls first|last]'"
            )
        term = PartitionField.parse(match.group("term"))
        nulls = match.group("nulls")
        return cls(
            term=term,
            descending=(match.group("dir") or "asc").lower() == "desc",
            nulls_first=None if nulls is None else nulls.lower() == "first",
        )

    @property
    def effective_nulls_first(self) -> bool:
        """Iceberg's default: NULLs first when ascending, last when descending."""
        return (not self.descending) if self.nulls_first is None else self.nulls_first


class TableLayout(BaseModel):
    """How the table's data files are laid out; every field optional (see the module doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition_by: list[str] | None = None
    sort_order: list[str] | None = None
    target_file_size_mb: float | None = Field(default=None, gt=0, le=16384)
    """Target size of a data file in MiB (Iceberg ``write.target-file-size-bytes``)."""
    table_properties: dict[str, str] | None = None

    @field_validator("partition_by", "sort_order", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("partition_by")
    @classmethod
    def _valid_partitions(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            fields = [PartitionField.parse(v) for v in value]
            seen: set[str] = set()
            for f in fields:
                if f.field_name in seen:
                    raise ValueError(f"partition field {f.field_name!r} is given twice")
                seen.add(f.field_name)
        return value

    @field_validator("sort_order")
    @classmethod
    def _valid_sort(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for v in value:
                SortField.parse(v)
        return value

    @field_validator("table_properties", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                str(k): (str(v).lower() if isinstance(v, bool) else str(v))
                for k, v in value.items()
            }
        return value

    @property
    def partition_fields(self) -> list[PartitionField] | None:
        """The parsed partition fields (``None``: not declared)."""
        if self.partition_by is None:
            return None
        return [PartitionField.parse(v) for v in self.partition_by]

    @property
    def sort_fields(self) -> list[SortField] | None:
        """The parsed sort fields (``None``: not declared)."""
        if self.sort_order is None:
            return None
        return [SortField.parse(v) for v in self.sort_order]

    @property
    def is_empty(self) -> bool:
        """True when nothing is declared."""
        return all(
            v is None
            for v in (
                self.partition_by,
                self.sort_order,
                self.target_file_size_mb,
                self.table_properties,
            )
        )

    def properties(self) -> dict[str, str]:
        """The table properties this layout sets (file size included)."""
        props = dict(self.table_properties or {})
        if self.target_file_size_mb is not None:
            props[TARGET_FILE_SIZE_PROPERTY] = str(int(self.target_file_size_mb * 1024 * 1024))
        return props

    def check_columns(self, column_names: list[str], table_name: str = "") -> None:
        """Refuse partition or sort columns the table's data does not have.

        Raises:
            floe_ingestion_dlt.errors.ValidationError: naming the field and the column.
        """
        from floe_ingestion_dlt.errors import ValidationError

        known = set(column_names)
        for key, fields in (
            ("partition_by", self.partition_fields or []),
            ("sort_order", [s.term for s in self.sort_fields or []]),
        ):
            for f in fields:
                if f.column not in known:
                    raise ValidationError(
                        f"source_config.{key}: column {f.column!r} is not a column of "
                        f"{table_name or 'the table'} (columns: {sorted(known)})",
                        field=f"source_config.{key}",
                        destination_table=table_name or None,
                    )


def _field_id(schema: Schema, column: str) -> int:
    return int(schema.find_field(column).field_id)


def _spec_differs(metadata: TableMetadata, fields: list[PartitionField]) -> bool:
    schema = metadata.schema()
    current = [(f.source_id, str(f.transform)) for f in metadata.spec().fields]
    wanted = [(_field_id(schema, f.column), str(f.iceberg_transform())) for f in fields]
    return current != wanted


def _sort_differs(metadata: TableMetadata, fields: list[SortField]) -> bool:
    from pyiceberg.table.sorting import NullOrder, SortDirection

    schema = metadata.schema()
    current = [
        (f.source_id, str(f.transform), f.direction, f.null_order)
        for f in metadata.sort_order().fields
    ]
    wanted = [
        (
            _field_id(schema, f.term.column),
            str(f.term.iceberg_transform()),
            SortDirection.DESC if f.descending else SortDirection.ASC,
            NullOrder.NULLS_FIRST if f.effective_nulls_first else NullOrder.NULLS_LAST,
        )
        for f in fields
    ]
    return current != wanted


def apply_layout(txn: Transaction, layout: TableLayout | None) -> list[str]:
    """Stage on ``txn`` whatever of ``layout`` the table does not have yet.

    Called after the schema contract (partition and sort columns may be new columns of this
    load) and before the rows are written, so the load's files already follow the new spec.
    Returns what changed (``partition_spec``, ``sort_order``, ``properties``), for the log.
    """
    if layout is None or layout.is_empty:
        return []
    from pyiceberg.table.sorting import NullOrder

    metadata = txn.table_metadata
    changed: list[str] = []
    fields = layout.partition_fields
    if fields is not None and _spec_differs(metadata, fields):
        with txn.update_spec() as update:
            # a field of the same name and another transform is removed first; Iceberg
            # keeps the old field (void in v1) so old files stay readable
            for old in metadata.spec().fields:
                update.remove_field(old.name)
            for f in fields:
                update.add_field(f.column, f.iceberg_transform(), f.field_name)
        changed.append("partition_spec")
    sort_fields = layout.sort_fields
    if sort_fields is not None and _sort_differs(txn.table_metadata, sort_fields):
        with txn.update_sort_order() as sort_update:
            for s in sort_fields:
                nulls = NullOrder.NULLS_FIRST if s.effective_nulls_first else NullOrder.NULLS_LAST
                add = sort_update.desc if s.descending else sort_update.asc
                add(s.term.column, s.term.iceberg_transform(), nulls)
        changed.append("sort_order")
    props = layout.properties()
    current = txn.table_metadata.properties
    if any(current.get(k) != v for k, v in props.items()):
        txn.set_properties(props)
        changed.append("properties")
    return changed


def _sort_key(rows: pa.Table, field: SortField) -> pa.Array | None:
    """The values rows are ordered by for one sort field; ``None`` when it cannot order them.

    Identity, temporal and truncate transforms preserve the order of their source column, so
    the column itself orders the rows the same way (ties broken by later fields). A bucket has
    no order of its own: its hash is computed with PyIceberg's transform.
    """
    import pyarrow.compute as pc

    column = rows.column(field.term.column)
    if not field.term.transform.startswith("bucket"):
        return column
    try:
        result: pa.Array = field.term.iceberg_transform().pyarrow_transform(column.type)(column)
    except Exception:  # no pyiceberg-core, or a type the transform does not take
        return None
    return pc.cast(result, "int64") if result is not None else None


def sort_rows(rows: pa.Table, metadata: TableMetadata) -> pa.Table:
    """``rows`` in the table's default sort order (unchanged for an unsorted table)."""
    order = metadata.sort_order()
    if order.is_unsorted or rows.num_rows < 2:
        return rows
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyiceberg.table.sorting import NullOrder, SortDirection

    schema = metadata.schema()
    keys: dict[str, pa.Array] = {}
    sort_keys: list[tuple[str, str]] = []
    for index, f in enumerate(order.fields):
        name = schema.find_column_name(f.source_id)
        if name is None or name not in rows.column_names:
            continue
        field = SortField(
            term=PartitionField(column=name, transform=str(f.transform)),
            descending=f.direction == SortDirection.DESC,
            nulls_first=f.null_order == NullOrder.NULLS_FIRST,
        )
        values = _sort_key(rows, field)
        if values is None:
            continue
        key = f"__floe_sort_{index}"
        if values.null_count:
            # NULL placement per field: a validity flag sorted before the values
            keys[f"{key}_valid"] = pc.is_valid(values)
            flag_order = "ascending" if field.effective_nulls_first else "descending"
            sort_keys.append((f"{key}_valid", flag_order))
        keys[key] = values
        sort_keys.append((key, "descending" if field.descending else "ascending"))
    if not sort_keys:
        return rows
    indices = pc.sort_indices(pa.table(keys), sort_keys=sort_keys)
    return rows.take(indices)
