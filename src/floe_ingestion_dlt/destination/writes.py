"""Write strategies: how one load's Arrow data becomes exactly one Iceberg snapshot.

Each strategy stages its changes on a PyIceberg ``Transaction``; the caller commits it once.
A strategy therefore never leaves a half-applied change: either the commit lands whole or the
table stays at its previous snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.vocabulary import WriteMode

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.table import Transaction

__all__ = [
    "WRITE_STRATEGIES",
    "WriteStrategy",
    "append_rows",
    "refuse_empty_replace",
    "replace_rows",
    "write_strategy",
]

WriteStrategy = Callable[["Transaction", "pa.Table", dict[str, str], dict[str, Any]], None]
"""``(transaction, data, snapshot_properties, table_hints) -> None``."""


def append_rows(
    txn: Transaction, data: pa.Table, props: dict[str, str], hints: dict[str, Any]
) -> None:
    """Add ``data`` as new data files (in the table's sort order): one ``append`` snapshot."""
    from floe_ingestion_dlt.layout import sort_rows

    txn.append(sort_rows(data, txn.table_metadata), snapshot_properties=props)


def replace_rows(
    txn: Transaction, data: pa.Table, props: dict[str, str], hints: dict[str, Any]
) -> None:
    """Swap every current data file for ``data``: one ``overwrite`` snapshot.

    PyIceberg's ``Transaction.overwrite`` stages a delete snapshot and an append snapshot; a
    single producer that deletes and adds files keeps the history at one snapshot per load.
    """
    from pyiceberg.table import DataScan

    from floe_ingestion_dlt.compat.pyiceberg import dataframe_to_data_files, transaction_io
    from floe_ingestion_dlt.destination.rewrite_files import with_write_defaults
    from floe_ingestion_dlt.layout import sort_rows

    data = sort_rows(data, txn.table_metadata)
    io = transaction_io(txn)
    current = txn.table_metadata.current_snapshot()
    existing = []
    if current is not None:
        scan = DataScan(table_metadata=txn.table_metadata, io=io, snapshot_id=current.snapshot_id)
        existing = [task.file for task in scan.plan_files()]
    with txn.update_snapshot(snapshot_properties=props).overwrite() as overwrite:
        for data_file in existing:
            overwrite.delete_data_file(data_file)
        if data.num_rows:
            for data_file in dataframe_to_data_files(
                table_metadata=with_write_defaults(txn.table_metadata),
                df=data,
                io=io,
                write_uuid=overwrite.commit_uuid,
            ):
                overwrite.append_data_file(data_file)


def refuse_empty_replace(txn: Transaction, data: pa.Table, table: str, *, allowed: bool) -> None:
    """Refuse a 0-row replace of a table that holds rows unless it is asked for explicitly.

    A source that read nothing (an unmounted folder, a wrong prefix, an API that answered with
    an empty page) would otherwise empty the table with a successful result.

    Raises:
        EmptyReplaceRefused: PERMANENT; nothing is committed.
    """
    from floe_ingestion_dlt.errors import EmptyReplaceRefused

    if data.num_rows or allowed:
        return
    current = txn.table_metadata.current_snapshot()
    summary = current.summary if current is not None else None
    rows_now = int(summary.get("total-records") or 0) if summary is not None else 0
    if rows_now:
        raise EmptyReplaceRefused(
            f"replace of {table} with 0 rows refused: the source produced no rows and the table "
            f"holds {rows_now}; nothing committed. If the table should be emptied, set "
            "source_config.allow_empty_replace: true",
            destination_table=table,
        )


def _merge_rows(
    txn: Transaction, data: pa.Table, props: dict[str, str], hints: dict[str, Any]
) -> None:
    from floe_ingestion_dlt.destination.merge import merge_rows

    merge_rows(txn, data, props, hints)


WRITE_STRATEGIES: dict[WriteMode, WriteStrategy] = {
    WriteMode.APPEND: append_rows,
    WriteMode.REPLACE: replace_rows,
    WriteMode.MERGE: _merge_rows,
}


def write_strategy(write_disposition: WriteMode | str) -> WriteStrategy:
    """The strategy for a write mode (dlt's write disposition, as the table hints give it).

    Raises:
        ValueError: for a disposition the destination does not support.
    """
    try:
        return WRITE_STRATEGIES[WriteMode(write_disposition)]
    except ValueError:
        raise ValueError(
            f"write disposition {write_disposition!r} is not supported; "
            f"use one of {sorted(mode.value for mode in WRITE_STRATEGIES)}"
        ) from None
