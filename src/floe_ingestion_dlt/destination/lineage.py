"""Incremental state belongs to the table it describes: which table, and which snapshot of it.

When a run restores the pipeline state from the destination, the state handed to dlt is
stamped with the table it came from: its UUID and its current snapshot id (``floe_lineage``).
dlt carries that stamp through extract into the load package's pipeline state, so the load
job knows, at commit time, which table state the package's rows were extracted against.

The commit is then an optimistic check on the commit's own transaction: if another writer of
the same pipeline committed a state to the table since that snapshot (two pods running the
same incremental pipeline, each with its own ``pipelines_dir``), or the table is no longer the
one the state came from (dropped, recreated, rolled back), the package's rows were extracted
from a stale cursor and committing them would duplicate or lose rows. The commit is refused
with :class:`~floe_ingestion_dlt.errors.StaleStateError`; the runner aborts the package and
retries the run from the new state (a clear conflict error once retries are exhausted).

The check runs on the table metadata the transaction commits against: before staging, and
again inside PyIceberg's own commit retry (which would otherwise rebase the append onto the
other writer's snapshot without asking us).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pyiceberg.exceptions import ValidationException

from floe_ingestion_dlt.destination.snapshots import LOAD_ID, PIPELINE_NAME, STATE

if TYPE_CHECKING:
    from dlt.common.destination.client import StateInfo
    from pyiceberg.table import Table, Transaction
    from pyiceberg.table.metadata import TableMetadata

__all__ = [
    "LINEAGE_KEY",
    "StaleStateInCommit",
    "guard_transaction",
    "lineage_of_state_doc",
    "stale_state_reason",
    "with_lineage",
]

LINEAGE_KEY = "floe_lineage"
"""Top-level key of the pipeline state: ``{"table_uuid": str, "snapshot_id": int | None}``."""


class StaleStateInCommit(ValidationException):
    """Raised inside PyIceberg's commit retry: its files are cleaned, nothing is committed."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def with_lineage(info: StateInfo, table: Table | None) -> StateInfo:
    """``info`` whose state carries the lineage of ``table`` (unchanged without a table).

    The state's version hash is recomputed so that a run which changes nothing else still
    extracts no state (and commits none).
    """
    if table is None:
        return info
    from dlt.common.destination.client import StateInfo
    from dlt.common.versioned_state import compress_state, decompress_state
    from dlt.pipeline.state_sync import generate_pipeline_state_version_hash

    state: dict[str, Any] = decompress_state(info.state)
    current = table.metadata.current_snapshot_id
    state[LINEAGE_KEY] = {"table_uuid": str(table.metadata.table_uuid), "snapshot_id": current}
    state["_version_hash"] = generate_pipeline_state_version_hash(state)  # type: ignore[arg-type]
    return StateInfo(
        version=info.version,
        engine_version=info.engine_version,
        pipeline_name=info.pipeline_name,
        state=compress_state(state),  # type: ignore[arg-type]
        created_at=info.created_at,
        version_hash=state["_version_hash"],
        _dlt_load_id=info._dlt_load_id,
    )


def lineage_of_state_doc(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The lineage stamped into the state of a package's pipeline state doc, if any."""
    from dlt.common.versioned_state import decompress_state

    try:
        state = decompress_state(str(doc["state"]))
    except Exception:  # not a state dlt wrote: no lineage to check against
        return None
    lineage = state.get(LINEAGE_KEY)
    return dict(lineage) if isinstance(lineage, dict) else None


def stale_state_reason(
    metadata: TableMetadata | None,
    *,
    pipeline_name: str,
    load_id: str,
    lineage: dict[str, Any] | None,
    version: int = 0,
) -> str | None:
    """Why committing ``load_id`` onto ``metadata`` would use a stale state, or None.

    ``lineage`` is what the package was extracted against. None means the state was not read
    from this table: nothing was there to restore (a first run, racing other first runs) or
    the local state was used as it was (a pipeline driven by hand, one run after the other).
    Then a state of the pipeline in the table counts as newer when its version is at least
    the package's ``version`` (writers that started together reach the same version; a local
    state that continued from a commit is ahead of it). ``metadata`` None means the table
    does not exist now.
    """
    if metadata is None:
        if lineage is not None:
            return "the table the state came from no longer exists"
        return None
    if lineage is not None and lineage.get("table_uuid") != str(metadata.table_uuid):
        return (
            f"the table was replaced (UUID {lineage.get('table_uuid')} -> "
            f"{metadata.table_uuid}) since the state was read"
        )
    base = lineage.get("snapshot_id") if lineage is not None else None
    by_id = {s.snapshot_id: s for s in metadata.snapshots}
    current = metadata.current_snapshot_id
    while current is not None and current in by_id:
        if base is not None and current == base:
            return None
        snapshot = by_id[current]
        summary = dict(snapshot.summary.additional_properties) if snapshot.summary else {}
        other = summary.get(LOAD_ID)
        ours = summary.get(PIPELINE_NAME) == pipeline_name and STATE in summary
        if ours and other != load_id and (lineage is not None or _version(summary) >= version):
            return (
                f"another writer of pipeline {pipeline_name} committed load {other} "
                f"(snapshot {snapshot.snapshot_id}) after this run read the state"
            )
        current = snapshot.parent_snapshot_id
    if base is not None:
        return f"snapshot {base} the state was read at is no longer in the table's history"
    return None


def _version(summary: dict[str, str]) -> int:
    import json

    try:
        return int(json.loads(summary[STATE]).get("version") or 0)
    except (ValueError, TypeError, AttributeError):
        return 0


def guard_transaction(
    txn: Transaction,
    *,
    pipeline_name: str,
    load_id: str,
    lineage: dict[str, Any] | None,
    version: int = 0,
) -> None:
    """Check the state before ``txn`` stages anything and again before each PyIceberg rebase.

    Raises:
        StaleStateInCommit: when :func:`stale_state_reason` finds a reason.
    """
    from floe_ingestion_dlt.compat.pyiceberg import check_before_commit_retry

    def check(metadata: TableMetadata) -> None:
        reason = stale_state_reason(
            metadata,
            pipeline_name=pipeline_name,
            load_id=load_id,
            lineage=lineage,
            version=version,
        )
        if reason is not None:
            raise StaleStateInCommit(reason)

    check(txn.table_metadata)
    check_before_commit_retry(txn, check)  # PyIceberg's own retry after a conflict
