"""Orphan file removal: files under the table that no snapshot and no metadata refers to.

Only ``<table location>/data/`` and ``<table location>/metadata/`` are looked at. A file is
removed when nothing in the table's current metadata refers to it (any snapshot's manifest
list, manifests, data and delete files; the metadata log; statistics files) **and** it is
older than the grace period. The grace period is what protects a load in flight: its data
files exist before its commit references them, so they are young; a load killed mid-way
leaves files that become removable once they are older than the grace.

The files are listed first and the table's metadata read afterwards, so a commit landing in
between is seen and its files are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.maintenance.files import list_files, normalize, snapshot_files
from floe_ingestion_dlt.maintenance.policy import MIN_ORPHAN_GRACE_SECONDS

if TYPE_CHECKING:
    from pyiceberg.table import Table

__all__ = ["OrphanResult", "referenced_files", "remove_orphan_files"]

_log = get_logger(__name__)


@dataclass
class OrphanResult:
    """What an orphan removal did (or, with ``dry_run``, would do)."""

    files_listed: int = 0
    orphans: list[str] = field(default_factory=list)
    too_young: int = 0
    deleted: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "files_listed": self.files_listed,
            "orphans": len(self.orphans),
            "kept_within_grace": self.too_young,
            "deleted": self.deleted,
        }


def referenced_files(table: Table) -> set[str]:
    """Every file the table's metadata refers to (normalized paths)."""
    metadata = table.metadata
    referenced: set[str] = set()
    for files in snapshot_files(table, metadata.snapshots).values():
        referenced |= {files.manifest_list, *files.manifests, *files.all_entries}
    if table.metadata_location:
        referenced.add(normalize(table.metadata_location))
    referenced |= {normalize(entry.metadata_file) for entry in metadata.metadata_log}
    referenced |= {normalize(s.statistics_path) for s in metadata.statistics}
    referenced |= {normalize(s.statistics_path) for s in metadata.partition_statistics}
    return referenced


def remove_orphan_files(
    table: Table,
    *,
    older_than_seconds: float,
    dry_run: bool = False,
    allow_short_grace: bool = False,
) -> OrphanResult:
    """Delete unreferenced files older than ``older_than_seconds`` (see the module doc).

    Raises:
        ValueError: a grace period under an hour, unless ``allow_short_grace``: a shorter one
            could remove the files of a load that is still running.
    """
    if older_than_seconds < MIN_ORPHAN_GRACE_SECONDS and not allow_short_grace:
        raise ValueError(
            f"older_than: {older_than_seconds:.0f}s is too short a grace period; orphan removal "
            f"keeps files younger than {MIN_ORPHAN_GRACE_SECONDS:.0f}s so that loads in flight "
            "keep theirs"
        )
    result = OrphanResult()
    location = table.location().rstrip("/")
    stored = [
        *list_files(table, f"{location}/data/"),
        *list_files(table, f"{location}/metadata/"),
    ]
    result.files_listed = len(stored)
    fresh = table.refresh()  # after listing: a commit in between is seen
    referenced = referenced_files(fresh)
    cutoff = time.time() - older_than_seconds
    for stored_file in stored:
        if normalize(stored_file.location) in referenced:
            continue
        if stored_file.modified >= cutoff:
            result.too_young += 1
            continue
        result.orphans.append(stored_file.location)
    if dry_run:
        return result
    for path in result.orphans:
        try:
            fresh.io.delete(path)
            result.deleted += 1
        except FileNotFoundError:
            continue
        except Exception as exc:
            _log.warning("could not delete an orphan file", path=path, error=str(exc))
    return result
