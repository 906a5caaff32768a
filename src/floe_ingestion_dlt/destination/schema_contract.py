"""Applying a schema contract to an Iceberg table inside the load's transaction.

``evolve`` adds new columns (and widens types Iceberg allows), ``freeze`` refuses any new column
or changed type before anything is written, ``discard_value`` drops the values of unknown
columns. Columns missing from the data are never dropped from the table: their values are NULL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.errors import SchemaContractViolation
from floe_ingestion_dlt.logging import get_logger

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Transaction

__all__ = ["SchemaChange", "apply_schema_contract", "contract_mode", "prepare_arrow_data"]

_log = get_logger(__name__)


@dataclass
class SchemaChange:
    """What the data would change in the table's schema."""

    new_columns: dict[str, str] = field(default_factory=dict)
    changed_types: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.new_columns or self.changed_types)

    def describe(self) -> str:
        parts = [f"new column {n} ({t})" for n, t in self.new_columns.items()]
        parts += [f"column {n} type {a} -> {b}" for n, (a, b) in self.changed_types.items()]
        return ", ".join(parts)


def contract_mode(table_hints: dict[str, Any]) -> str:
    """The effective column contract of a dlt table schema: evolve, freeze or discard_value."""
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
    """Make dlt's Arrow data fit Iceberg: compatible types, every column nullable."""
    import pyarrow as pa
    from dlt.common.libs.pyiceberg import ensure_iceberg_compatible_arrow_data

    data = ensure_iceberg_compatible_arrow_data(data)
    schema = pa.schema([f.with_nullable(True) for f in data.schema], metadata=data.schema.metadata)
    return data.cast(schema) if schema != data.schema else data


def _diff(txn: Transaction, data: pa.Table) -> SchemaChange:
    from pyiceberg.io.pyarrow import _pyarrow_to_schema_without_ids, schema_to_pyarrow

    change = SchemaChange()
    table_schema = txn.table_metadata.schema()
    current = {f.name: f for f in table_schema.fields}
    incoming = _pyarrow_to_schema_without_ids(data.schema)
    for fld in incoming.fields:
        existing = current.get(fld.name)
        if existing is None:
            change.new_columns[fld.name] = str(fld.field_type)
        elif str(existing.field_type) != str(fld.field_type):
            # a type Iceberg can widen to is not a change the data needs: cast instead
            target = schema_to_pyarrow(table_schema.select(fld.name)).field(fld.name).type
            if not _castable(data.schema.field(fld.name).type, target):
                change.changed_types[fld.name] = (str(existing.field_type), str(fld.field_type))
    return change


def _castable(source: pa.DataType, target: pa.DataType) -> bool:
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
    return (
        (source, target) in widening
        or (pa.types.is_large_string(source) and pa.types.is_string(target))
        or (pa.types.is_string(source) and pa.types.is_large_string(target))
    )


def apply_schema_contract(txn: Transaction, data: pa.Table, mode: str, table_name: str) -> pa.Table:
    """Stage the schema change ``mode`` allows and return the data to write.

    Raises:
        SchemaContractViolation: under ``freeze`` when the data changes the schema.
    """
    change = _diff(txn, data)
    if change:
        if mode == "freeze":
            _log.error(
                "schema change rejected",
                schema_contract="freeze",
                rejected_by="iceberg",
                destination_table=table_name,
                change=change.describe(),
                new_columns=change.new_columns,
                changed_types={k: list(v) for k, v in change.changed_types.items()},
            )
            raise SchemaContractViolation(
                f"schema of {table_name} is frozen; the data has {change.describe()}",
                destination_table=table_name,
            )
        if mode == "discard_value":
            keep = [n for n in data.column_names if n not in change.new_columns]
            data = data.select(keep)
            if change.changed_types:
                raise SchemaContractViolation(
                    f"{table_name}: incompatible types under discard_value: {change.describe()}",
                    destination_table=table_name,
                )
        else:
            _log.info(
                "schema evolved",
                schema_contract="evolve",
                destination_table=table_name,
                change=change.describe(),
                new_columns=change.new_columns,
                changed_types={k: list(v) for k, v in change.changed_types.items()},
            )
            with txn.update_schema() as update:
                update.union_by_name(data.schema)
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
