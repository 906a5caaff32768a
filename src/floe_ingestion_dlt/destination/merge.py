"""Merge write strategy: one load's rows merged by key into an Iceberg table as ONE snapshot.

Copy-on-write on a single PyIceberg transaction:

1. the batch is reduced to one row per primary key (the **last** row of the batch wins, or
   the row the ``dedup_sort`` column hint prefers) and split into live rows and rows flagged by
   the ``hard_delete`` column (``True`` for a boolean column, any non-NULL value otherwise);
2. the data files that can hold a batch key are found from the manifests' column bounds
   (:mod:`.merge_files`); only those are read, key columns first, and only files that really
   hold a key are read whole;
3. each such file is replaced by a file with its unmatched rows (its untouched row groups
   copied verbatim where the file allows it, :mod:`.row_group_merge`), the batch's rows are
   added,
   and all of it is committed by one ``overwrite`` snapshot (``append`` when nothing is
   removed) carrying the load's snapshot properties. A failure before the commit leaves the
   table at its previous snapshot.

Strategies (dlt's names and meaning):

- ``upsert`` (default): existing rows with a batch key are replaced by the batch's row; rows
  flagged deleted remove the key's row and are not inserted (dlt's SQL upsert would insert
  a flagged row whose key is new; here it never is);
- ``insert-only``: rows whose key already exists are ignored, flagged rows are ignored;
- ``delete-insert``: every existing row whose primary key (or ``merge_key``, when set) appears
  anywhere in the batch is deleted, then the batch, deduplicated by primary key and without
  flagged rows, is inserted.

Nested tables (lists inside rows, split out by dlt) merge on dlt's row and root keys: the
nested rows of every root in the batch are replaced, including roots whose lists are now empty
or missing, and hard-deleted roots lose theirs (the batch's roots come from the root table's
files of the load, see :mod:`.nested_merge` and ``MergePlan._for_nested_table``).

The hard-delete column stays a column of the table (as in dlt): live rows keep its value.
Rewritten and new files are written ordered by the primary key so that files stay clustered
by key and later merges prune well. Every snapshot also records ``floe.merge.*`` figures:
files planned, read and rewritten, rows removed; ``floe.rows-loaded`` is the number of batch
rows written (inserted or updated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common import logger

from floe_ingestion_dlt.destination.merge_batch import (
    KeySet,
    MergePlan,
    all_false,
    deduplicate,
    hard_deleted_mask,
)
from floe_ingestion_dlt.destination.merge_files import plan_candidate_files, read_data_files
from floe_ingestion_dlt.destination.merge_keys import read_file_keys
from floe_ingestion_dlt.destination.nested_merge import BATCH_ROOTS_HINT, BatchRoots
from floe_ingestion_dlt.destination.snapshots import ROWS_LOADED
from floe_ingestion_dlt.vocabulary import MergeStrategy

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import FileScanTask, Transaction
    from pyiceberg.table.metadata import TableMetadata

__all__ = ["MERGE_PROPERTY_PREFIX", "MergeChanges", "NewRowsWrite", "merge_rows"]

MERGE_PROPERTY_PREFIX = "floe.merge."


@dataclass(frozen=True)
class _Target:
    """The table a merge writes to: its transaction, staged metadata (read once) and FileIO."""

    txn: Transaction
    metadata: TableMetadata
    io: FileIO
    name: str

    @classmethod
    def of(cls, txn: Transaction, name: str) -> _Target:
        from floe_ingestion_dlt.compat.pyiceberg import transaction_io

        return cls(txn=txn, metadata=txn.table_metadata, io=transaction_io(txn), name=name)


@dataclass
class MergeChanges:
    """What one merge removes and adds, before anything is written."""

    removed_files: list[DataFile] = field(default_factory=list)
    kept_rows: list[pa.Table] = field(default_factory=list)
    kept_files: list[DataFile] = field(default_factory=list)
    """Files already written with the kept rows of removed files (row groups copied)."""
    new_rows: pa.Table | None = None
    new_files: NewRowsWrite | None = None
    """The new rows, already being written (strategies whose new rows do not depend on the
    table); ``None``: they are written with the kept rows at commit."""
    files_planned: int = 0
    files_read: int = 0
    rows_removed: int = 0

    def properties(self, strategy: MergeStrategy) -> dict[str, str]:
        """Snapshot summary figures of this merge."""
        written = self.new_rows.num_rows if self.new_rows is not None else 0
        return {
            ROWS_LOADED: str(written),
            f"{MERGE_PROPERTY_PREFIX}strategy": strategy.value,
            f"{MERGE_PROPERTY_PREFIX}files-planned": str(self.files_planned),
            f"{MERGE_PROPERTY_PREFIX}files-read": str(self.files_read),
            f"{MERGE_PROPERTY_PREFIX}files-rewritten": str(len(self.removed_files)),
            f"{MERGE_PROPERTY_PREFIX}files-row-groups-copied": str(len(self.kept_files)),
            f"{MERGE_PROPERTY_PREFIX}rows-removed": str(self.rows_removed),
        }


def _in_key_range(key_set: KeySet, table: pa.Table) -> pa.BooleanArray | None:
    """Rows whose first key column lies within the batch's ``[min, max]`` of that column, or
    ``None`` when its type has no order worth probing (floats, binary, nested)."""
    name = key_set.columns[0]
    column = table.column(name)
    kind = column.type
    if not (pa.types.is_integer(kind) or pa.types.is_temporal(kind) or pa.types.is_string(kind)):
        return None
    try:
        bounds = pc.min_max(key_set.values(name).cast(kind))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    low, high = bounds["min"], bounds["max"]
    in_range = pc.and_(pc.greater_equal(column, low), pc.less_equal(column, high))
    return pc.fill_null(in_range, False).combine_chunks()


def _contains(key_set: KeySet, table: pa.Table) -> pa.BooleanArray:
    """``key_set.contains(table)``, probing only the rows within the batch's key range: a
    merge of recent keys into a large file then hashes a fraction of the file's keys."""
    in_range = _in_key_range(key_set, table) if len(key_set) and table.num_rows else None
    if in_range is None:
        return key_set.contains(table)
    candidates = _count(in_range)
    if candidates * 2 > table.num_rows:
        return key_set.contains(table)
    if candidates == 0:
        return all_false(table.num_rows)
    found = key_set.contains(table.filter(in_range))
    return pc.replace_with_mask(all_false(table.num_rows), in_range, found)


def _matches(key_sets: list[KeySet], table: pa.Table) -> pa.BooleanArray:
    mask = all_false(table.num_rows)
    for key_set in key_sets:
        mask = pc.or_(mask, _contains(key_set, table))
    return mask


def _count(mask: pa.BooleanArray | pa.ChunkedArray) -> int:
    chunks = mask.chunks if isinstance(mask, pa.ChunkedArray) else [mask]
    return sum(int(chunk.true_count) for chunk in chunks)


def _remove_matching(target: _Target, key_sets: list[KeySet]) -> MergeChanges:
    """Stage the removal of every current row that carries a key of ``key_sets``."""
    metadata, io = target.metadata, target.io
    candidates = plan_candidate_files(metadata, io, key_sets, target.name)
    changes = MergeChanges(files_planned=candidates.planned, files_read=len(candidates.tasks))
    if not candidates.tasks:
        return changes
    schema = metadata.schema()
    key_columns = list(dict.fromkeys(c for k in key_sets for c in k.columns))
    file_keys = read_file_keys(metadata, io, candidates.tasks, key_columns, candidates.ranges)
    # the key columns and the whole file read back in the same row order: the mask computed
    # on the keys selects the rows of the full file
    hits = []
    for task, keys in zip(candidates.tasks, file_keys, strict=True):
        mask = keys.mask(lambda rows: _matches(key_sets, rows))
        removed = _count(mask)
        if removed:
            hits.append((task, mask, removed))
    for task, _, removed in hits:
        changes.rows_removed += removed
        changes.removed_files.append(task.file)
    copied = _copy_untouched_row_groups(target, hits)
    changes.kept_files = [data_file for data_file in copied if data_file is not None]
    whole = [hit for hit, data_file in zip(hits, copied, strict=True) if data_file is None]
    full = read_data_files(metadata, io, [task for task, _, _ in whole], schema)
    for (_, mask, _), rows in zip(whole, full, strict=True):
        changes.kept_rows.append(rows.filter(pc.invert(mask)))
    return changes


def _copy_untouched_row_groups(
    target: _Target, hits: list[tuple[FileScanTask, pa.BooleanArray, int]]
) -> list[DataFile | None]:
    """Per hit file, its kept rows written with its untouched row groups copied verbatim, or
    ``None`` where that does not apply (:mod:`.row_group_merge`); files on threads of our own.
    All or nothing: on an error the files already written are deleted."""
    from concurrent.futures import ThreadPoolExecutor

    from floe_ingestion_dlt.destination.row_group_merge import rewrite_keeping_row_groups

    def rewrite(hit: tuple[FileScanTask, pa.BooleanArray, int]) -> DataFile | None:
        task, mask, _ = hit
        return rewrite_keeping_row_groups(target.metadata, target.io, task, pc.invert(mask))

    if len(hits) <= 1:
        return [rewrite(hit) for hit in hits]
    workers = min(len(hits), max(2, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="floe-merge-copy") as pool:
        futures = [pool.submit(rewrite, hit) for hit in hits]
    results: list[DataFile | None] = []
    error: BaseException | None = None
    for future in futures:
        try:
            results.append(future.result())
        except BaseException as exc:
            error = error or exc
    if error is not None:
        _delete_quietly(target.io, [f.file_path for f in results if f is not None])
        raise error
    return results


def _delete_quietly(io: FileIO, paths: list[str]) -> None:
    """Delete files nothing references (written for a commit that did not happen)."""
    for path in paths:
        try:
            io.delete(path)
        except Exception as cleanup_exc:  # best effort; the table itself is untouched
            logger.warning(f"Could not remove uncommitted data file {path}: {cleanup_exc}")


class NewRowsWrite:
    """A batch's new rows written on a thread of their own while the merge reads and rewrites
    the table's files: pyarrow encodes without the GIL, so on two cores a merge costs about
    the longer of the two instead of their sum."""

    def __init__(self, target: _Target, rows: pa.Table, sort_key: tuple[str, ...]) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.rows = rows
        self._io = target.io
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="floe-merge-new-rows")
        self._files = pool.submit(_write_new_rows, target.metadata, target.io, rows, sort_key)
        pool.shutdown(wait=False)

    def files(self) -> list[DataFile]:
        """The written files (waits for them; raises what the write raised)."""
        return self._files.result()

    def discard(self) -> None:
        """Delete the written files: the merge they were written for does not commit."""
        try:
            files = self._files.result()
        except BaseException:  # the write failed: write_parts already removed its files
            return
        _delete_quietly(self._io, [data_file.file_path for data_file in files])


def _write_new_rows(
    metadata: TableMetadata, io: FileIO, rows: pa.Table, sort_key: tuple[str, ...]
) -> list[DataFile]:
    import uuid

    from floe_ingestion_dlt.destination.rewrite_files import write_parts

    part = _new_part(metadata, rows, sort_key)
    # file names need a uuid of their own: the snapshot's is not known yet
    return write_parts(metadata, io, [part] if part is not None else [], uuid.uuid4())


def _remove_matching_while_writing(
    target: _Target, key_sets: list[KeySet], new_rows: pa.Table, plan: MergePlan
) -> MergeChanges:
    """:func:`_remove_matching` while ``new_rows`` are written (see :class:`NewRowsWrite`)."""
    writing = NewRowsWrite(target, new_rows, plan.primary_key or plan.merge_key)
    try:
        changes = _remove_matching(target, key_sets)
    except BaseException:
        writing.discard()
        raise
    changes.new_rows, changes.new_files = new_rows, writing
    return changes


def _live(rows: pa.Table, plan: MergePlan) -> pa.Table:
    deleted = hard_deleted_mask(rows, plan.hard_delete_column)
    return rows.filter(pc.invert(deleted)) if _count(deleted) else rows


def _upsert(target: _Target, data: pa.Table, plan: MergePlan) -> MergeChanges:
    winners = deduplicate(data, plan.primary_key, plan.dedup_sort)
    key_sets = [KeySet.of(winners, plan.primary_key, distinct=True)]
    return _remove_matching_while_writing(target, key_sets, _live(winners, plan), plan)


def _insert_only(target: _Target, data: pa.Table, plan: MergePlan) -> MergeChanges:
    live = _live(deduplicate(data, plan.primary_key, plan.dedup_sort), plan)
    batch_keys = KeySet.of(live, plan.primary_key, distinct=True)
    candidates = plan_candidate_files(target.metadata, target.io, [batch_keys], target.name)
    changes = MergeChanges(files_planned=candidates.planned, files_read=len(candidates.tasks))
    schema = target.metadata.schema().select(*plan.primary_key)
    found = [
        keys.filter(batch_keys.contains(keys))
        for keys in read_data_files(target.metadata, target.io, candidates.tasks, schema)
    ]
    found = [keys for keys in found if keys.num_rows]
    if found:
        existing = KeySet.of(
            pa.concat_tables(found, promote_options="permissive"), plan.primary_key
        )
        live = live.filter(pc.invert(existing.contains(live)))
    changes.new_rows = live
    return changes


def _delete_insert(target: _Target, data: pa.Table, plan: MergePlan) -> MergeChanges:
    key_sets = [KeySet.of(data, cols) for cols in (plan.primary_key, plan.merge_key) if cols]
    new_rows = _live(deduplicate(data, plan.primary_key, plan.dedup_sort), plan)
    return _remove_matching_while_writing(target, key_sets, new_rows, plan)


def _replace_nested(
    target: _Target, data: pa.Table, plan: MergePlan, roots: BatchRoots
) -> MergeChanges:
    """Every nested row of the batch's roots goes; the batch's rows of live roots come in."""
    root_key = plan.merge_key[0]
    root_keys = KeySet(columns=(root_key,), keys=pa.table({root_key: roots.all}))
    live = data
    if len(roots.deleted) and root_key in data.column_names:
        column = data.column(root_key)
        gone = pc.is_in(column, value_set=roots.deleted.cast(column.type), skip_nulls=True)
        live = data.filter(pc.invert(pc.fill_null(gone, False)))
    key_sets = [KeySet.of(data, plan.primary_key), root_keys]
    new_rows = deduplicate(live, plan.primary_key, None)
    return _remove_matching_while_writing(target, key_sets, new_rows, plan)


_STRATEGIES = {
    MergeStrategy.UPSERT: _upsert,
    MergeStrategy.INSERT_ONLY: _insert_only,
    MergeStrategy.DELETE_INSERT: _delete_insert,
}


def _aligned(target: pa.Schema, part: pa.Table) -> pa.Table:
    """``part`` in the table's current schema (columns it lacks as NULL)."""
    columns = [
        part.column(f.name).cast(f.type)
        if f.name in part.column_names
        else pa.nulls(part.num_rows, f.type)
        for f in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


def _target_schema(metadata: TableMetadata) -> pa.Schema:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return schema_to_pyarrow(metadata.schema(), include_field_ids=False)


def _new_part(
    metadata: TableMetadata, new_rows: pa.Table, sort_key: tuple[str, ...]
) -> pa.Table | None:
    """The new rows in the table's columns, sorted by the table's sort order or else by key
    (files stay clustered by key: later merges prune well); ``None`` when there are none."""
    from floe_ingestion_dlt.layout import sort_rows

    if not new_rows.num_rows:
        return None
    part = _aligned(_target_schema(metadata), new_rows)
    if not metadata.sort_order().is_unsorted:
        return sort_rows(part, metadata)
    if sort_key and part.num_rows > 1 and not _sorted_by(part, sort_key):
        return part.sort_by([(c, "ascending") for c in sort_key])
    return part


def _sorted_by(part: pa.Table, sort_key: tuple[str, ...]) -> bool:
    """Whether ``part`` is already in ascending order of its first key column with no ties
    (a batch from an ordered source: sorting it again would cost more than this check)."""
    column = part.column(sort_key[0])
    if column.null_count or not (
        pa.types.is_integer(column.type)
        or pa.types.is_temporal(column.type)
        or pa.types.is_string(column.type)
    ):
        return False
    values = column.combine_chunks()
    return bool(pc.all(pc.greater(values.slice(1), values.slice(0, len(values) - 1))).as_py())


def _parts_to_write(
    metadata: TableMetadata, kept: list[pa.Table], new_rows: pa.Table, sort_key: tuple[str, ...]
) -> list[pa.Table]:
    """What to write, one part per rewritten file plus the new rows, each in order.

    A table with a declared sort order gets every part sorted by it. Otherwise the kept rows
    of a file keep their order (they were written ordered by key: sorting them again would
    cost as much as the rewrite) and only the new rows are sorted (:func:`_new_part`).
    """
    from floe_ingestion_dlt.layout import sort_rows

    target = _target_schema(metadata)
    parts = [_aligned(target, part) for part in kept if part.num_rows]
    if not metadata.sort_order().is_unsorted:
        parts = [sort_rows(part, metadata) for part in parts]
    new_part = _new_part(metadata, new_rows, sort_key)
    return parts + ([new_part] if new_part is not None else [])


def _commit_changes(
    target: _Target, changes: MergeChanges, parts: list[pa.Table], props: dict[str, str]
) -> None:
    """Stage exactly one snapshot: remove the rewritten files, add the new ones."""
    from floe_ingestion_dlt.destination.rewrite_files import write_parts

    update = target.txn.update_snapshot(snapshot_properties=props)
    producer = update.overwrite() if changes.removed_files else update.fast_append()
    written: list[str] = []
    try:
        with producer as snapshot:
            for data_file in changes.removed_files:
                snapshot.delete_data_file(data_file)
            for data_file in changes.kept_files:
                snapshot.append_data_file(data_file)
            for data_file in changes.new_files.files() if changes.new_files else []:
                snapshot.append_data_file(data_file)
            for data_file in write_parts(target.metadata, target.io, parts, snapshot.commit_uuid):
                written.append(data_file.file_path)
                snapshot.append_data_file(data_file)
    except BaseException:
        _delete_quietly(target.io, written)  # nothing references them: no orphans left
        raise


def merge_rows(
    txn: Transaction, data: pa.Table, props: dict[str, str], hints: dict[str, Any]
) -> None:
    """Merge ``data`` into the table by key on ``txn``, staged as one snapshot.

    Args:
        txn: transaction on the table, its schema already evolved for ``data``.
        data: the load's rows, prepared for Iceberg.
        props: snapshot summary properties of the load (extended with merge figures).
        hints: the dlt table schema: key/hard-delete/dedup column hints, ``x-merge-strategy``.

    Raises:
        ValidationError: missing or unknown key configuration, key column absent from the data.
        DestinationWriteError: NULL primary key values, a table PyIceberg cannot merge into.
    """
    from floe_ingestion_dlt.compat.pyiceberg import manifest_entries_cached

    plan = MergePlan.from_hints(hints)
    plan.check_batch(data)
    # planning and PyIceberg's overwrite producer read the same manifests: once is enough
    with manifest_entries_cached():
        _merge_planned(txn, data, props, plan, hints)


def _merge_planned(
    txn: Transaction, data: pa.Table, props: dict[str, str], plan: MergePlan, hints: dict[str, Any]
) -> None:
    target = _Target.of(txn, plan.table_name)
    roots = hints.get(BATCH_ROOTS_HINT)
    if isinstance(roots, BatchRoots) and plan.merge_key and hints.get("parent"):
        changes = _replace_nested(target, data, plan, roots)
    else:
        changes = _STRATEGIES[plan.strategy](target, data, plan)
    new_rows = changes.new_rows if changes.new_rows is not None else data.slice(0, 0)
    sort_key = plan.primary_key or plan.merge_key
    unwritten = new_rows if changes.new_files is None else new_rows.slice(0, 0)
    try:
        parts = _parts_to_write(target.metadata, changes.kept_rows, unwritten, sort_key)
        merged_props = {**props, **changes.properties(plan.strategy)}
        _commit_changes(target, changes, parts, merged_props)
    except BaseException:
        _delete_quietly(target.io, [f.file_path for f in changes.kept_files])
        if changes.new_files is not None:
            changes.new_files.discard()
        raise
    logger.info(
        f"Merged {data.num_rows} rows into {plan.table_name} ({plan.strategy}): "
        f"{new_rows.num_rows} written, {changes.rows_removed} existing rows replaced or deleted, "
        f"{changes.files_read} of {changes.files_planned} planned files read, "
        f"{len(changes.removed_files)} rewritten"
    )
