"""Merge write strategy (being built under the merge issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Transaction


def merge_rows(
    txn: Transaction, data: pa.Table, props: dict[str, str], hints: dict[str, Any]
) -> None:
    """Upsert ``data`` into the table by its primary key, as one snapshot."""
    raise NotImplementedError("merge is not implemented yet")
