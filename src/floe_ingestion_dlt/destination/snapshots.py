"""What the plugin records in Iceberg snapshot summaries, and how it reads it back.

Each commit carries the dlt load id, the pipeline name, the rows it committed and the
pipeline state of the load package. That makes commits idempotent (a resumed load whose
commit already landed is skipped) and lets a new pod restore the cursor that matches the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dlt.common.destination.client import StateInfo
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table
    from pyiceberg.table.snapshots import Snapshot

__all__ = [
    "LOAD_ID",
    "PACKAGE_FILES",
    "PIPELINE_NAME",
    "ROWS_LOADED",
    "STATE",
    "CommittedLoad",
    "committed_loads",
    "find_committed_load",
    "load_existing_tables",
    "newest_state_in_snapshots",
    "newest_state_in_tables",
    "package_fingerprint",
    "snapshot_properties",
]

LOAD_ID = "floe.load-id"
PIPELINE_NAME = "floe.pipeline-name"
ROWS_LOADED = "floe.rows-loaded"
WRITE_MODE = "floe.write-mode"
STATE = "floe.dlt-state"
PACKAGE_FILES = "floe.package-files"
"""Fingerprint of the package's file names: two writers can never mistake each other's load."""


@dataclass(frozen=True)
class CommittedLoad:
    """One snapshot committed by the plugin."""

    snapshot_id: int
    load_id: str
    pipeline_name: str
    rows_loaded: int
    bytes_written: int
    operation: str


def snapshot_properties(
    *,
    load_id: str,
    pipeline_name: str | None,
    rows: int,
    write_mode: str,
    state_doc: dict[str, Any] | None,
    package_files: str | None = None,
) -> dict[str, str]:
    """Summary properties for the snapshot committing ``load_id``."""
    props = {LOAD_ID: load_id, ROWS_LOADED: str(rows), WRITE_MODE: write_mode}
    if package_files:
        props[PACKAGE_FILES] = package_files
    if pipeline_name:
        props[PIPELINE_NAME] = pipeline_name
    if state_doc:
        props[STATE] = json.dumps(state_doc, default=str, separators=(",", ":"))
    return props


def _iter_snapshots_newest_first(table: Table) -> Iterator[Snapshot]:
    """Snapshots of the current branch, from the current one back through its parents."""
    by_id = {s.snapshot_id: s for s in table.metadata.snapshots}
    current = table.metadata.current_snapshot_id
    while current is not None and current in by_id:
        snapshot = by_id[current]
        yield snapshot
        current = snapshot.parent_snapshot_id


def _summary(snapshot: Snapshot) -> dict[str, str]:
    return dict(snapshot.summary.additional_properties) if snapshot.summary else {}


def package_fingerprint(file_paths: Iterable[str]) -> str:
    """A short digest of a package's file names (unique per package, stable on resume)."""
    import hashlib
    import os

    names = "\n".join(sorted(os.path.basename(p) for p in file_paths))
    return hashlib.sha256(names.encode()).hexdigest()[:24]


def find_committed_load(
    table: Table, load_id: str, lookback: int = 200, package_files: str | None = None
) -> int | None:
    """The id of the snapshot of the current branch that committed ``load_id``, if any.

    With ``package_files``, a snapshot of the same load id from another writer's package (a
    different fingerprint) does not count; snapshots without a fingerprint still match.
    """
    for depth, snapshot in enumerate(_iter_snapshots_newest_first(table)):
        if depth >= lookback:
            break
        summary = _summary(snapshot)
        if summary.get(LOAD_ID) != load_id:
            continue
        recorded = summary.get(PACKAGE_FILES)
        if package_files is None or recorded is None or recorded == package_files:
            return snapshot.snapshot_id
    return None


def committed_loads(table: Table, load_ids: Iterable[str]) -> list[CommittedLoad]:
    """The snapshots of ``table`` that committed any of ``load_ids``, oldest first."""
    wanted = set(load_ids)
    found: list[CommittedLoad] = []
    if not wanted:
        return found
    for snapshot in _iter_snapshots_newest_first(table):
        summary = _summary(snapshot)
        load_id = summary.get(LOAD_ID)
        if load_id not in wanted:
            continue
        rows = summary.get(ROWS_LOADED) or summary.get("added-records") or "0"
        found.append(
            CommittedLoad(
                snapshot_id=snapshot.snapshot_id,
                load_id=str(load_id),
                pipeline_name=summary.get(PIPELINE_NAME, ""),
                rows_loaded=int(rows),
                bytes_written=int(summary.get("added-files-size") or 0),
                operation=str(snapshot.summary.operation.value if snapshot.summary else ""),
            )
        )
    return list(reversed(found))


def newest_state_in_snapshots(
    catalog: Catalog, namespace: str, tables: Iterable[str], pipeline_name: str
) -> StateInfo | None:
    """The newest pipeline state recorded by ``pipeline_name`` in the tables' snapshots."""
    return newest_state_in_tables(load_existing_tables(catalog, namespace, tables), pipeline_name)


def load_existing_tables(catalog: Catalog, namespace: str, tables: Iterable[str]) -> list[Table]:
    """The tables of ``tables`` that exist in ``namespace``, in that order."""
    from pyiceberg.exceptions import NoSuchTableError

    found = []
    for table_name in tables:
        try:
            found.append(catalog.load_table((namespace, table_name)))
        except NoSuchTableError:
            continue
    return found


def newest_state_in_tables(tables: Iterable[Table], pipeline_name: str) -> StateInfo | None:
    """The newest pipeline state recorded by ``pipeline_name`` in the current lineage of
    ``tables`` (snapshots of other branches or before a rollback do not count)."""
    from dlt.common.destination.client import StateInfo
    from dlt.common.time import ensure_pendulum_datetime

    newest: dict[str, Any] | None = None
    for table in tables:
        for snapshot in _iter_snapshots_newest_first(table):
            summary = _summary(snapshot)
            if summary.get(PIPELINE_NAME) != pipeline_name or STATE not in summary:
                continue
            doc = json.loads(summary[STATE])
            if newest is None or str(doc.get("_dlt_load_id", "")) > str(
                newest.get("_dlt_load_id", "")
            ):
                newest = doc
            break
    if newest is None:
        return None
    return StateInfo(
        version=int(newest["version"]),
        engine_version=int(newest["engine_version"]),
        pipeline_name=str(newest["pipeline_name"]),
        state=str(newest["state"]),
        created_at=ensure_pendulum_datetime(newest["created_at"]),
        version_hash=newest.get("version_hash"),
        _dlt_load_id=newest.get("_dlt_load_id"),
    )
