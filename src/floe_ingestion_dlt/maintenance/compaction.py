"""Compaction: small data files rewritten into target-size files as ONE ``replace`` snapshot.

Files are grouped by partition (spec and partition value). A group with at least
``min_files`` files smaller than 3/4 of the table's target file size
(``write.target-file-size-bytes``) is read, put in the table's sort order and written again
with the table's current spec; the old files are removed and the new ones added by a single
snapshot of operation ``replace`` (Iceberg's meaning: same data, new files), whose manifests
are merged as PyIceberg's merge manager does for appends.

Concurrent writers: the rewrite is planned on snapshot S and committed with the catalog's
optimistic check. When another commit landed meanwhile, the table is reloaded and, if every
file the compaction rewrote is still live, the same rewrite is staged again on the new
snapshot (the other commit's files are kept as they are). If any of them was removed (a
concurrent merge or replace rewrote it), the compaction gives way: its new files are deleted
and nothing is committed. A committed row is therefore never lost nor duplicated.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.logging import get_logger

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table

__all__ = ["COMPACTION_ATTEMPTS", "CompactionResult", "compact_table"]

_log = get_logger(__name__)

COMPACTION_ATTEMPTS = 8
SMALL_FILE_RATIO = 0.75
"""A file smaller than this share of the target size is a compaction candidate."""
COMPACTION_PROPERTY = "floe.maintenance"


@dataclass
class CompactionResult:
    """What a compaction did (or, with ``dry_run``, would do)."""

    files_before: int = 0
    files_rewritten: int = 0
    files_written: int = 0
    rows_rewritten: int = 0
    bytes_rewritten: int = 0
    groups: int = 0
    attempts: int = 0
    snapshot_id: int | None = None
    gave_way: bool = False
    skipped_reason: str | None = None
    written_paths: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "files_before": self.files_before,
            "files_rewritten": self.files_rewritten,
            "files_written": self.files_written,
            "rows_rewritten": self.rows_rewritten,
            "bytes_rewritten": self.bytes_rewritten,
            "partitions": self.groups,
            "attempts": self.attempts,
            "snapshot_id": self.snapshot_id,
            "gave_way": self.gave_way,
            "skipped": self.skipped_reason,
        }


def _target_size(table: Table, override: int | None) -> int:
    from pyiceberg.table import TableProperties

    if override:
        return override
    return int(
        table.metadata.properties.get(
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
            TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
        )
    )


def _plan_groups(table: Table, target: int, min_files: int) -> tuple[list[list[DataFile]], int]:
    """Groups of small files of one partition each, and the number of live data files."""
    groups: dict[tuple[int, Any], list[DataFile]] = defaultdict(list)
    total = 0
    for task in table.scan().plan_files():
        total += 1
        if task.delete_files:
            continue  # files with deletes are not ours to rewrite here
        data_file = task.file
        if data_file.file_size_in_bytes < target * SMALL_FILE_RATIO:
            values = data_file.partition  # a Record: the partition values
            partition = tuple(values[i] for i in range(len(values)))
            groups[(data_file.spec_id, partition)].append(data_file)
    chosen = [files for files in groups.values() if len(files) >= min_files]
    return chosen, total


def _read_files(table: Table, files: list[DataFile]) -> pa.Table:
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan
    from pyiceberg.table import FileScanTask

    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    return scan.to_table([FileScanTask(f) for f in files])


def _write_files(table: Table, rows: pa.Table) -> list[DataFile]:
    import uuid

    from floe_ingestion_dlt.compat.pyiceberg import dataframe_to_data_files
    from floe_ingestion_dlt.destination.rewrite_files import with_write_defaults
    from floe_ingestion_dlt.layout import sort_rows

    rows = sort_rows(rows, table.metadata)
    metadata = with_write_defaults(table.metadata)  # row groups a later merge can copy
    return list(
        dataframe_to_data_files(
            table_metadata=metadata, df=rows, io=table.io, write_uuid=uuid.uuid4()
        )
    )


def _carried_state(table: Table) -> dict[str, str]:
    """The newest pipeline state among the current snapshot's ancestors, to carry forward.

    The compaction snapshot becomes the newest one; carrying the state (``floe.dlt-state`` and
    its pipeline name) keeps it one step from the top, so expiry can drop everything older
    even for a pipeline whose state never changes (and so sits in its first snapshot only).
    """
    from pyiceberg.table.snapshots import ancestors_of

    from floe_ingestion_dlt.destination.snapshots import PIPELINE_NAME, STATE

    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        if STATE in summary and summary.get(PIPELINE_NAME):
            return {PIPELINE_NAME: summary[PIPELINE_NAME], STATE: summary[STATE]}
    return {}


def _without_internal_retry(table: Table) -> Table:
    """``table`` whose transactions do not retry on a conflict inside PyIceberg.

    PyIceberg rebuilds a conflicting snapshot on the new head with the same summary; the
    carried state must be read from the snapshot the compaction really lands on, so a conflict
    comes back to :func:`compact_table`, which plans the commit again. The property is only
    read locally (it is not part of the commit's updates).
    """
    from pyiceberg.table import Table as IcebergTable
    from pyiceberg.table import TableProperties

    props = {**table.metadata.properties, TableProperties.COMMIT_NUM_RETRIES: "0"}
    return IcebergTable(
        table.name(),
        table.metadata.model_copy(update={"properties": props}),
        table.metadata_location,
        table.io,
        table.catalog,
        table.config,
    )


def _live_files(table: Table) -> dict[str, DataFile]:
    return {task.file.file_path: task.file for task in table.scan().plan_files()}


def _delete_quietly(table: Table, paths: list[str]) -> None:
    for path in paths:
        try:
            table.io.delete(path)
        except Exception as exc:  # best effort: orphan removal finds it later
            _log.warning(
                "could not delete an uncommitted compaction file", path=path, error=str(exc)
            )


def compact_table(
    table: Table,
    *,
    target_file_size_bytes: int | None = None,
    min_files: int = 2,
    dry_run: bool = False,
    attempts: int = COMPACTION_ATTEMPTS,
) -> CompactionResult:
    """Rewrite the small files of ``table`` (see the module doc); returns what was done.

    ``table`` is refreshed from its catalog on conflicts.
    """
    result = CompactionResult()
    if table.current_snapshot() is None:
        result.skipped_reason = "the table has no data"
        return result
    groups = _plan(table, _target_size(table, target_file_size_bytes), min_files, result)
    if not groups or dry_run:
        return result
    written: list[DataFile] = []
    for group in groups:
        written.extend(_write_files(table, _read_files(table, group)))
    result.files_written = len(written)
    result.written_paths = [f.file_path for f in written]
    inputs = [f.file_path for group in groups for f in group]
    _commit_with_retry(table, inputs, written, result, attempts)
    return result


def _plan(table: Table, target: int, min_files: int, result: CompactionResult) -> list[Any]:
    """The groups of files to rewrite; the plan's figures recorded in ``result``."""
    groups, result.files_before = _plan_groups(table, target, min_files)
    result.groups = len(groups)
    inputs = [f for group in groups for f in group]
    result.files_rewritten = len(inputs)
    result.rows_rewritten = sum(f.record_count for f in inputs)
    result.bytes_rewritten = sum(f.file_size_in_bytes for f in inputs)
    if not inputs:
        result.skipped_reason = f"no partition has {min_files} or more small files"
    return groups


def _commit_with_retry(
    table: Table,
    input_paths: list[str],
    written: list[DataFile],
    result: CompactionResult,
    attempts: int,
) -> None:
    """Commit the rewrite as one ``replace`` snapshot, staged again on conflicts while every
    input file is still live; otherwise give way (the written files deleted)."""
    from pyiceberg.exceptions import (
        CommitFailedException,
        CommitStateUnknownException,
        ValidationException,
    )

    from floe_ingestion_dlt.compat.pyiceberg import ReplaceFiles

    props = {
        COMPACTION_PROPERTY: "compaction",
        "floe.compaction.files-rewritten": str(len(input_paths)),
        "floe.compaction.files-written": str(len(written)),
    }
    current = table
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        live = _live_files(current)
        if any(path not in live for path in input_paths):
            # a concurrent merge/replace rewrote some of these rows: give way
            _log.info("compaction gave way to a concurrent rewrite", table=str(table.name()))
            break
        try:
            txn = _without_internal_retry(current).transaction()
            with ReplaceFiles.on(txn, {**props, **_carried_state(current)}) as producer:
                for path in input_paths:
                    producer.delete_data_file(live[path])
                for data_file in written:
                    producer.append_data_file(data_file)
            committed = txn.commit_transaction()
        except ValidationException:
            current = current.refresh()
            continue  # the live-file check above decides: give way or stage again
        except CommitFailedException:
            time.sleep(min(1.0, 0.02 * 2**attempt))
            current = current.refresh()
            continue
        except CommitStateUnknownException:
            current = current.refresh()
            snapshot = current.current_snapshot()
            if snapshot is not None and set(result.written_paths) <= set(_live_files(current)):
                result.snapshot_id = snapshot.snapshot_id
                return
            continue
        snapshot = committed.current_snapshot()
        result.snapshot_id = snapshot.snapshot_id if snapshot else None
        return
    result.gave_way = True
    _delete_quietly(current, result.written_paths)
