"""Applying a schema contract to an Iceberg table inside the load's transaction.

The load job compares the data of a load with the table's *current* schema, on the same
PyIceberg transaction that commits the rows, so the decision and the data land together (or
not at all). dlt checks the same contract earlier against its own schema (see
:func:`contract_violation_from`); this is the check that knows the Iceberg table itself.

What each contract does with a difference between the data and the table:

============================  ==========================  =================  ==================
difference                    ``evolve``                  ``freeze``         ``discard_value``
============================  ==========================  =================  ==================
new column                    added to the table          violation          values dropped
type Iceberg can widen        widened (int->long,         violation          cast if lossless,
(int->long, float->double,    float->double, decimal                         else values dropped
decimal precision)            precision)
any other type change         variant column              violation          cast if lossless,
                              ``<col>__v_<type>``                            else values dropped
column missing from the data  kept, NULL for these rows   same               same
============================  ==========================  =================  ==================

Variant columns follow dlt's own convention for rows of Python objects (dlt's normalizer writes
a value of another type to ``<col>__v_<dlt type>``, e.g. ``amount__v_text``), so a changed type
lands the same way whatever the source: the original column keeps its type and gets NULL for
those rows, the values go to the variant column. A violation raises
:class:`~floe_ingestion_dlt.errors.SchemaContractViolation` (PERMANENT) before anything is
staged; it is logged at ERROR with the offending columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.errors import SchemaContractViolation, exception_chain
from floe_ingestion_dlt.logging import get_logger

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.schema import Schema
    from pyiceberg.table import Transaction

__all__ = [
    "SchemaChange",
    "apply_schema_contract",
    "contract_mode",
    "contract_violation_from",
    "prepare_arrow_data",
    "variant_column_name",
]

_log = get_logger(__name__)


@dataclass
class SchemaChange:
    """What the data would change in the table's schema (types as Iceberg names them)."""

    new_columns: dict[str, str] = field(default_factory=dict)
    """Columns the table does not have: name -> type."""
    widened_types: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Columns whose table type Iceberg can promote to the data's: name -> (table, data)."""
    incompatible_types: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Columns whose data type the table's type cannot hold: name -> (table, data)."""

    def __bool__(self) -> bool:
        return bool(self.new_columns or self.widened_types or self.incompatible_types)

    @property
    def changed_types(self) -> dict[str, tuple[str, str]]:
        """Every type change, widening or not."""
        return {**self.widened_types, **self.incompatible_types}

    @property
    def columns(self) -> list[str]:
        """The names of every column the change concerns."""
        return [*self.new_columns, *self.changed_types]

    def describe(self) -> str:
        """``new column extra (string), column n type long -> string``."""
        parts = [f"new column {n} ({t})" for n, t in self.new_columns.items()]
        parts += [f"column {n} type {a} -> {b}" for n, (a, b) in self.changed_types.items()]
        return ", ".join(parts)


def contract_mode(table_hints: dict[str, Any]) -> str:
    """The effective column contract of a dlt table schema: evolve, freeze or discard_value.

    Example:
        >>> contract_mode({"schema_contract": {"columns": "freeze", "data_type": "freeze"}})
        'freeze'
    """
    contract = table_hints.get("schema_contract")
    if isinstance(contract, str):
        return contract
    if isinstance(contract, dict):
        columns = contract.get("columns", "evolve")
        data_type = contract.get("data_type", "evolve")
        if "freeze" in (columns, data_type):
            return "freeze"
        if "discard_value" in (columns, data_type):
            return "discard_value"
    return "evolve"


def prepare_arrow_data(data: pa.Table) -> pa.Table:
    """Make dlt's Arrow data fit Iceberg: compatible types, every column nullable.

    Parquet field ids read from dlt's files are dropped: PyIceberg's writer takes the table's.
    """
    import pyarrow as pa
    from dlt.common.libs.pyiceberg import ensure_iceberg_compatible_arrow_data

    from floe_ingestion_dlt.destination.data_files import without_field_ids

    data = ensure_iceberg_compatible_arrow_data(data)
    schema = pa.schema(
        [f.with_nullable(True) for f in without_field_ids(data.schema)],
        metadata=data.schema.metadata,
    )
    return data.cast(schema) if schema != data.schema else data


def variant_column_name(column: str, data_type: pa.DataType) -> str:
    """dlt's name for values of ``column`` that arrive with another type.

    Example:
        >>> import pyarrow as pa
        >>> variant_column_name("amount", pa.string())
        'amount__v_text'
    """
    from dlt.common.libs.pyarrow import get_column_type_from_py_arrow

    try:
        dlt_type = str(get_column_type_from_py_arrow(data_type)["data_type"])
    except Exception:  # a type dlt has no name for: Iceberg's name, made an identifier
        dlt_type = re.sub(r"[^a-z0-9]+", "_", str(data_type).lower()).strip("_")
    return f"{column}__v_{dlt_type}"


def _table_arrow_type(table_schema: Schema, name: str) -> pa.DataType:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(table_schema.select(name), include_field_ids=False).field(name).type


def _diff(table_schema: Schema, data: pa.Table) -> SchemaChange:
    from pyiceberg.exceptions import ResolveError
    from pyiceberg.schema import promote

    from floe_ingestion_dlt.compat.pyiceberg import arrow_to_schema_without_ids

    change = SchemaChange()
    current = {f.name: f for f in table_schema.fields}
    incoming = arrow_to_schema_without_ids(data.schema)
    for fld in incoming.fields:
        existing = current.get(fld.name)
        if existing is None:
            change.new_columns[fld.name] = str(fld.field_type)
            continue
        if existing.field_type == fld.field_type:
            continue
        target = _table_arrow_type(table_schema, fld.name)
        if _castable(data.schema.field(fld.name).type, target):
            continue  # narrower data: cast to the table's type
        types = (str(existing.field_type), str(fld.field_type))
        if not (existing.field_type.is_primitive and fld.field_type.is_primitive):
            # nested types: union_by_name adds nested fields, or refuses the change
            change.widened_types[fld.name] = types
            continue
        try:
            promote(existing.field_type, fld.field_type)
        except ResolveError:
            change.incompatible_types[fld.name] = types
        else:
            change.widened_types[fld.name] = types
    return change


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
    """True when every value of ``source`` fits ``target`` (a lossless, type-level cast)."""
    import pyarrow as pa

    if source == target:
        return True
    widening = {
        (pa.int8(), pa.int32()),
        (pa.int16(), pa.int32()),
        (pa.int8(), pa.int64()),
        (pa.int16(), pa.int64()),
        (pa.int32(), pa.int64()),
        (pa.float32(), pa.float64()),
    }
    if (source, target) in widening:
        return True
    if pa.types.is_string(source) or pa.types.is_large_string(source):
        return bool(pa.types.is_string(target) or pa.types.is_large_string(target))
    if pa.types.is_binary(source) or pa.types.is_large_binary(source):
        return bool(pa.types.is_binary(target) or pa.types.is_large_binary(target))
    if pa.types.is_decimal(source) and pa.types.is_decimal(target):
        return bool(
            source.scale == target.scale
            and source.precision - source.scale <= target.precision - target.scale
        )
    return False


def _reject(change: SchemaChange, table_name: str) -> SchemaContractViolation:
    _log.error(
        "schema change rejected",
        schema_contract="freeze",
        rejected_by="iceberg",
        destination_table=table_name,
        change=change.describe(),
        columns=change.columns,
        new_columns=change.new_columns,
        changed_types={k: list(v) for k, v in change.changed_types.items()},
    )
    return SchemaContractViolation(
        f"schema of {table_name} is frozen; the data has {change.describe()}",
        destination_table=table_name,
    )


def _discard(
    table_schema: Schema, data: pa.Table, change: SchemaChange, table_name: str
) -> pa.Table:
    """Drop the values the table cannot take as it is (a value that casts losslessly to the
    column's type is kept, cast); the table schema stays as it is."""
    import pyarrow as pa

    from floe_ingestion_dlt.destination.lossless_cast import cast_losslessly

    data = data.drop_columns(list(change.new_columns))
    nulled: list[str] = []
    for name in change.changed_types:
        target = _table_arrow_type(table_schema, name)
        index = data.schema.get_field_index(name)
        column, dropped = cast_losslessly(data.column(index), target)
        if dropped:
            nulled.append(name)
        data = data.set_column(index, pa.field(name, target, nullable=True), column)
    if data.num_rows and (change.new_columns or nulled):
        _log.warning(
            "schema change discarded",
            schema_contract="discard_value",
            destination_table=table_name,
            dropped_columns=list(change.new_columns),
            nulled_columns=nulled,
            change=change.describe(),
        )
    return data


def _evolve(txn: Transaction, data: pa.Table, change: SchemaChange, table_name: str) -> pa.Table:
    """Stage new columns, widenings and variant columns on ``txn``; rename variant data."""
    import pyarrow as pa
    from pyiceberg.exceptions import ResolveError
    from pyiceberg.exceptions import ValidationError as IcebergValidationError

    table_schema = txn.table_metadata.schema()
    table_columns = {f.name: f for f in table_schema.fields}
    variants: dict[str, str] = {}
    added = dict(change.new_columns)
    for name in change.incompatible_types:
        source = data.schema.field(name).type
        variant = variant_column_name(name, source)
        if variant in data.column_names:
            raise SchemaContractViolation(
                f"{table_name}: column {name} changed type but the data already has its "
                f"variant column {variant}",
                destination_table=table_name,
            )
        existing = table_columns.get(variant)
        if existing is not None and not _castable(source, _table_arrow_type(table_schema, variant)):
            raise SchemaContractViolation(
                f"{table_name}: column {name} changed type to {change.incompatible_types[name][1]}"
                f" and its variant column {variant} holds {existing.field_type}",
                destination_table=table_name,
            )
        if existing is None:
            added[variant] = change.incompatible_types[name][1]
        variants[name] = variant
    if variants:
        data = data.rename_columns([variants.get(n, n) for n in data.column_names])
    staged = [n for n in data.column_names if n in added or n in change.widened_types]
    if staged:
        try:
            with txn.update_schema() as update:
                update.union_by_name(pa.schema([data.schema.field(n) for n in staged]))
        except (IcebergValidationError, ResolveError, ValueError) as exc:
            raise SchemaContractViolation(
                f"{table_name}: Iceberg cannot apply {change.describe()}: {exc}",
                destination_table=table_name,
            ) from exc
        _log.info(
            "schema evolved",
            schema_contract="evolve",
            destination_table=table_name,
            change=change.describe(),
            new_columns=added,
            changed_types={k: list(v) for k, v in change.widened_types.items()},
            variant_columns=variants,
        )
    if variants and data.num_rows:
        _log.warning(
            "column type changed; values written to variant columns",
            schema_contract="evolve",
            destination_table=table_name,
            variant_columns=variants,
            changed_types={k: list(change.incompatible_types[k]) for k in variants},
        )
    return data


def apply_schema_contract(txn: Transaction, data: pa.Table, mode: str, table_name: str) -> pa.Table:
    """Stage the schema change ``mode`` allows on ``txn`` and return the data to write.

    Idempotent on one transaction: a second call with the same data stages nothing more.

    Raises:
        SchemaContractViolation: under ``freeze`` when the data changes the schema; under
            ``evolve`` when Iceberg cannot apply the change.
    """
    change = _diff(txn.table_metadata.schema(), data)
    if change:
        if mode == "freeze":
            raise _reject(change, table_name)
        if mode == "discard_value":
            data = _discard(txn.table_metadata.schema(), data, change, table_name)
        else:
            data = _evolve(txn, data, change, table_name)
    return _cast_to_table(txn, data)


def _cast_to_table(txn: Transaction, data: pa.Table) -> pa.Table:
    """Cast columns to the table's (possibly wider) types so PyIceberg accepts them."""
    import pyarrow as pa
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    target = schema_to_pyarrow(txn.table_metadata.schema(), include_field_ids=False)
    fields = []
    for fld in data.schema:
        idx = target.get_field_index(fld.name)
        wanted = target.field(idx).type if idx >= 0 else fld.type
        fields.append(pa.field(fld.name, wanted if _castable(fld.type, wanted) else fld.type))
    schema = pa.schema(fields)
    return data.cast(schema) if schema != data.schema else data


_INCOMING_TYPE = re.compile(r"Incoming column: \{[^}]*'data_type': '([a-z_]+)'")
_EXISTING_TYPE = re.compile(r"Existing column: \{[^}]*'data_type': '([a-z_]+)'")
_VARIANT = re.compile(r"^(?P<column>.+)__v_(?P<type>[a-z]+)$")
_REFUSAL = re.compile(
    r"In Table: `(?P<table>[^`]+)` (?:Column: `(?P<column>[^`]+)`)? ?\. Contract on "
    r"`(?P<entity>\w+)` with `contract_mode=(?P<mode>\w+)` is violated"
)


@dataclass(frozen=True)
class _Refusal:
    """What dlt refused: from its ``DataValidationError`` or, across a worker process, its text."""

    table: str
    column: str | None
    entity: str
    mode: str
    existing_type: str | None
    incoming_type: str | None


def _refusal_in(exc: BaseException) -> tuple[_Refusal, bool] | None:
    """The refusal in ``exc``'s chain and whether dlt's exception object itself was there.

    dlt's normalize workers run in other processes: their ``DataValidationError`` reaches the
    pipeline only as the text of ``NormalizeJobFailed`` (and of a ``_RemoteTraceback``).
    """
    from dlt.common.schema.exceptions import DataValidationError

    chain = exception_chain(exc)
    for candidate in chain:
        if isinstance(candidate, DataValidationError):
            existing = ((candidate.table_schema or {}).get("columns") or {}).get(
                candidate.column_name or ""
            ) or {}
            incoming = _INCOMING_TYPE.search(str(candidate))
            refusal = _Refusal(
                table=str(candidate.table_name),
                column=candidate.column_name or None,
                entity=str(candidate.schema_entity),
                mode=str(candidate.contract_mode),
                existing_type=existing.get("data_type"),
                incoming_type=incoming.group(1) if incoming else None,
            )
            return refusal, True
    for candidate in chain:
        text = str(candidate)
        found = _REFUSAL.search(text)
        if found is None:
            continue
        existing_match = _EXISTING_TYPE.search(text)
        incoming_match = _INCOMING_TYPE.search(text)
        refusal = _Refusal(
            table=found["table"],
            column=found["column"],
            entity=found["entity"],
            mode=found["mode"],
            existing_type=existing_match.group(1) if existing_match else None,
            incoming_type=incoming_match.group(1) if incoming_match else None,
        )
        return refusal, False
    return None


def contract_violation_from(
    exc: BaseException, destination_table: str | None = None
) -> SchemaContractViolation | None:
    """dlt's own contract refusal (``DataValidationError``) in ``exc``'s chain, as ours.

    dlt checks ``freeze`` at extract (Arrow) or normalize (Python objects) against its schema
    (restored from the destination on a new pod). The message names the table, the column and
    what changed, never the offending values (dlt's message may quote key values). A refusal
    that crossed a process boundary (normalize workers) is logged here at ERROR; one raised in
    this process is logged by the phase that failed (:mod:`floe_ingestion_dlt.observability`).
    """
    found = _refusal_in(exc)
    if found is None:
        return None
    refusal, in_process = found
    table = destination_table or refusal.table
    column, incoming = refusal.column, refusal.incoming_type
    variant = _VARIANT.match(column or "")
    if refusal.entity == "data_type" and variant:  # dlt refused the variant column it needed
        column, incoming = variant["column"], incoming or variant["type"]
    if refusal.entity == "columns" and column:
        what = f"new column {column}"
    elif refusal.entity == "data_type" and column:
        what = (
            f"column {column} type {refusal.existing_type} -> {incoming or '?'}"
            if refusal.existing_type
            else f"column {column} changed type to {incoming or '?'}"
        )
    elif refusal.entity == "tables":
        what = f"new table {refusal.table}"
    else:
        what = f"a change of {refusal.entity}" + (f" in column {column}" if column else "")
    if not in_process:
        _log.error(
            "schema change rejected",
            schema_contract=refusal.mode,
            contract_entity=refusal.entity,
            destination_table=table,
            table=refusal.table,
            column=column,
            columns=[column] if column else [],
            rejected_by="dlt",
        )
    state = "frozen" if refusal.mode == "freeze" else f"under {refusal.mode}"
    return SchemaContractViolation(
        f"schema of {table} is {state}; the data has {what}",
        destination_table=destination_table,
    )
