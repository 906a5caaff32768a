"""Snapshot expiry that never loses the plugin's incremental state.

The plugin keeps each pipeline's state (cursor included) in the summary of the snapshot that
committed its rows (``floe.dlt-state``), and a new run restores it by walking the current
snapshot's ancestors back to the newest such summary (``snapshots.newest_state_in_snapshots``).
Expiry therefore keeps, besides the newest ``retain_last`` ancestors and every branch or tag
head, the whole ancestor chain from the current snapshot back to the newest state-bearing
snapshot of every pipeline found in it: the state stays reachable exactly as the restore
walks it. A compaction snapshot carries the newest state forward (see ``compaction``), so
after a compaction everything older may go, even for a pipeline whose state never changes
(it sits in that pipeline's first snapshot only, which would otherwise pin the whole chain).

After the catalog commit the files only expired snapshots referenced (manifest lists,
manifests, data files no retained snapshot has live) are deleted, as Iceberg's own
``expireSnapshots`` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.destination.snapshots import PIPELINE_NAME, STATE
from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.maintenance.files import snapshot_files

if TYPE_CHECKING:
    from pyiceberg.table import Table

__all__ = ["ExpiryResult", "expire_snapshots", "protected_snapshot_ids"]

_log = get_logger(__name__)


@dataclass
class ExpiryResult:
    """What an expiry did (or, with ``dry_run``, would do)."""

    snapshots_before: int = 0
    expired: list[int] = field(default_factory=list)
    kept_for_state: list[int] = field(default_factory=list)
    files_deleted: int = 0
    attempts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "snapshots_before": self.snapshots_before,
            "snapshots_expired": len(self.expired),
            "snapshots_kept_for_state": len(self.kept_for_state),
            "files_deleted": self.files_deleted,
        }


def protected_snapshot_ids(table: Table, retain_last: int) -> tuple[set[int], set[int]]:
    """``(protected, kept_for_state)``: snapshot ids expiry must keep.

    Protected: branch and tag heads, the newest ``retain_last`` ancestors of the current
    snapshot, and the ancestors down to each pipeline's newest state (``kept_for_state``).
    """
    from pyiceberg.table.snapshots import ancestors_of

    metadata = table.metadata
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    ancestors = list(ancestors_of(metadata.current_snapshot(), metadata))
    protected |= {s.snapshot_id for s in ancestors[:retain_last]}
    newest_state_at: dict[str, int] = {}
    for depth, snapshot in enumerate(ancestors):
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        name = summary.get(PIPELINE_NAME)
        if name and STATE in summary and name not in newest_state_at:
            newest_state_at[name] = depth
    cut = max(newest_state_at.values(), default=-1)
    kept_for_state = {s.snapshot_id for s in ancestors[: cut + 1]} - protected
    return protected | kept_for_state, kept_for_state


def expire_snapshots(
    table: Table,
    *,
    older_than_seconds: float,
    retain_last: int = 1,
    dry_run: bool = False,
    attempts: int = 5,
) -> ExpiryResult:
    """Expire snapshots older than ``older_than_seconds`` (see the module doc)."""
    from pyiceberg.exceptions import CommitFailedException

    result = ExpiryResult()
    current = table
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        metadata = current.metadata
        result.snapshots_before = len(metadata.snapshots)
        protected, kept_for_state = protected_snapshot_ids(current, retain_last)
        cutoff_ms = (time.time() - older_than_seconds) * 1000
        expire = [
            s.snapshot_id
            for s in metadata.snapshots
            if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
        ]
        result.expired = expire
        result.kept_for_state = sorted(
            s
            for s in kept_for_state
            if (snap := metadata.snapshot_by_id(s)) and snap.timestamp_ms < cutoff_ms
        )
        if dry_run or not expire:
            return result
        try:
            current.maintenance.expire_snapshots().by_ids(expire).commit()
        except CommitFailedException:
            current = current.refresh()
            continue
        result.files_deleted = _delete_unreferenced(current, metadata, set(expire))
        return result
    return result


def _delete_unreferenced(table: Table, before: Any, expired: set[int]) -> int:
    """Delete the files only the ``expired`` snapshots of metadata ``before`` referenced."""
    from floe_ingestion_dlt.maintenance.files import normalize

    fresh = table.refresh()
    retained_snapshots = fresh.metadata.snapshots
    gone = [s for s in before.snapshots if s.snapshot_id in expired]
    if not gone:
        return 0
    kept = snapshot_files(fresh, retained_snapshots)
    old = snapshot_files(fresh, gone)
    keep: set[str] = set()
    for files in kept.values():
        keep |= {files.manifest_list, *files.manifests, *files.live_files}
    drop: set[str] = set()
    for files in old.values():
        drop |= {files.manifest_list, *files.manifests, *files.all_entries}
    location = {normalize(s.manifest_list): s.manifest_list for s in gone}
    deleted = 0
    for path in sorted(drop - keep):
        try:
            table.io.delete(location.get(path, _with_scheme(path, table.location())))
            deleted += 1
        except FileNotFoundError:
            continue
        except Exception as exc:  # best effort: orphan removal finds it later
            _log.warning("could not delete an expired file", path=path, error=str(exc))
    return deleted


def _with_scheme(path: str, table_location: str) -> str:
    from urllib.parse import urlsplit

    scheme = urlsplit(table_location).scheme
    if scheme in ("", "file"):
        return path
    return f"{scheme}://{path}"
