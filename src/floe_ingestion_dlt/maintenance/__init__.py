"""Table maintenance: compaction, snapshot expiry, orphan file removal.

The same steps run from ``floe-ingest maintain``, from
:meth:`~floe_ingestion_dlt.DltIngestionPlugin.maintain` and after each successful load of a
source that declares a ``maintenance:`` policy. Steps run in the order compaction, expiry,
orphan removal: the files compaction replaces become unreferenced once the snapshots that
read them expire, and orphan removal then finds nothing a retained snapshot needs.

Example:
    >>> policy = MaintenancePolicy(compact=True, expire_older_than="7d", retain_last=20)
    >>> report = maintain_table(catalog, "bronze.orders", policy)  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.maintenance.compaction import CompactionResult, compact_table
from floe_ingestion_dlt.maintenance.expiry import ExpiryResult, expire_snapshots
from floe_ingestion_dlt.maintenance.orphans import OrphanResult, remove_orphan_files
from floe_ingestion_dlt.maintenance.policy import MaintenancePolicy, parse_duration

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = [
    "CompactionResult",
    "ExpiryResult",
    "MaintenancePolicy",
    "MaintenanceReport",
    "OrphanResult",
    "compact_table",
    "expire_snapshots",
    "maintain_table",
    "parse_duration",
    "remove_orphan_files",
]


@dataclass
class MaintenanceReport:
    """What one maintenance run did to one table."""

    table: str
    dry_run: bool
    compaction: CompactionResult | None = None
    expiry: ExpiryResult | None = None
    orphans: OrphanResult | None = None
    table_stats: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "table": self.table,
            "dry_run": self.dry_run,
            "compaction": self.compaction.as_dict() if self.compaction else None,
            "expiry": self.expiry.as_dict() if self.expiry else None,
            "orphans": self.orphans.as_dict() if self.orphans else None,
            "table_after": self.table_stats,
        }


def _stats(table: Any) -> dict[str, int]:
    snapshot = table.current_snapshot()
    summary = snapshot.summary.additional_properties if snapshot and snapshot.summary else {}
    manifests = len(snapshot.manifests(table.io)) if snapshot else 0
    return {
        "snapshots": len(table.metadata.snapshots),
        "data_files": int(summary.get("total-data-files", 0)),
        "manifests": manifests,
        "rows": int(summary.get("total-records", 0)),
    }


def _existing_table(catalog: Catalog, identifier: str | tuple[str, str], name: str) -> Any:
    """The table, or a typed error naming it when the catalog has no such table."""
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    from floe_ingestion_dlt.errors import ValidationError

    try:
        return catalog.load_table(identifier)
    except (NoSuchTableError, NoSuchNamespaceError):
        raise ValidationError(
            f"table: {name!r} does not exist in the catalog; nothing to maintain",
            field="table",
            destination_table=name,
        ) from None


def maintain_table(
    catalog: Catalog,
    identifier: str | tuple[str, str],
    policy: MaintenancePolicy,
    *,
    dry_run: bool = False,
    target_file_size_bytes: int | None = None,
    allow_short_grace: bool = False,
) -> MaintenanceReport:
    """Run the steps ``policy`` asks for on one table, in order (see the module doc).

    Raises:
        ValidationError: the table does not exist (``field="table"``, CONFIGURATION: the
            command line's exit code 2).
        ValueError: an orphan grace period under an hour (see ``remove_orphan_files``).
    """
    name = identifier if isinstance(identifier, str) else ".".join(identifier)
    table = _existing_table(catalog, identifier, name)
    report = MaintenanceReport(table=name, dry_run=dry_run)
    if policy.compact:
        report.compaction = compact_table(
            table,
            target_file_size_bytes=target_file_size_bytes,
            min_files=policy.compact_min_files,
            dry_run=dry_run,
        )
        table = table.refresh()
    older_than = policy.expire_older_than_seconds
    if older_than is not None:
        report.expiry = expire_snapshots(
            table, older_than_seconds=older_than, retain_last=policy.retain_last, dry_run=dry_run
        )
        table = table.refresh()
    grace = policy.orphan_grace_seconds
    if grace is not None:
        report.orphans = remove_orphan_files(
            table, older_than_seconds=grace, dry_run=dry_run, allow_short_grace=allow_short_grace
        )
        table = table.refresh()
    report.table_stats = _stats(table)
    return report
