"""Deterministic benchmark data: the same rows on every run, generated with Arrow compute only.

Ten columns of the kinds a typical operational table has: integers, floats, text and
timestamps. Values are arithmetic functions of the row number (no random generator), so two
runs (and the baseline and the plugin within a run) load exactly the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["COLUMNS", "orders_records", "orders_table"]

COLUMNS = (
    "id",
    "customer_id",
    "quantity",
    "price",
    "discount",
    "weight",
    "status",
    "note",
    "created_at",
    "updated_at",
)
"""The ten columns of the ``orders`` benchmark table."""

_STATUSES = ("new", "paid", "shipped", "returned")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_EPOCH_US = int(_EPOCH.timestamp() * 1_000_000)


def orders_table(rows: int, start_id: int = 1) -> pa.Table:
    """``rows`` rows of the ``orders`` table, ids ``start_id .. start_id + rows - 1``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(range(start_id, start_id + rows), type=pa.int64())

    def remainder(multiplier: int, modulus: int) -> pa.Array:
        product = pc.multiply(ids, multiplier)
        return pc.subtract(product, pc.multiply(pc.divide(product, modulus), modulus))

    statuses = pa.array(_STATUSES)
    created = pc.add(pc.multiply(remainder(7_919, 31_536_000), 1_000_000), _EPOCH_US)
    updated = pc.add(created, pc.multiply(remainder(104_729, 86_400), 1_000_000))
    return pa.table(
        {
            "id": ids,
            "customer_id": remainder(2_654_435_761, 100_000),
            "quantity": remainder(48_271, 1_000).cast(pa.int32()),
            "price": pc.divide(remainder(16_807, 1_000_000).cast(pa.float64()), 100.0),
            "discount": pc.divide(remainder(69_621, 1_000).cast(pa.float64()), 1_000.0),
            "weight": pc.divide(remainder(40_692, 100_000).cast(pa.float64()), 1_000.0),
            "status": statuses.take(remainder(1, 4)),
            "note": pc.binary_join_element_wise("order note ", ids.cast(pa.string()), ""),
            "created_at": created.cast(pa.timestamp("us", tz="UTC")),
            "updated_at": updated.cast(pa.timestamp("us", tz="UTC")),
        }
    )


def orders_records(rows: int, start_id: int = 1) -> list[dict[str, Any]]:
    """The same rows as JSON-ready dicts (timestamps as ISO 8601 strings) for the REST server."""
    import pyarrow.compute as pc

    table = orders_table(rows, start_id)
    for name in ("created_at", "updated_at"):
        iso = pc.strftime(table[name], format="%Y-%m-%dT%H:%M:%S+00:00")
        table = table.set_column(table.schema.get_field_index(name), name, iso)
    return table.to_pylist()
