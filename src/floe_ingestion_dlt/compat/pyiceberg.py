"""Every use of a private PyIceberg name or hook, written against PyIceberg 0.12.

PyIceberg 0.12 has no public API for a few things the write path needs: the ``FileIO`` of a
transaction, Arrow rows written as data files for a snapshot producer of our own, the data
files a failed commit leaves behind, a hook into its commit retry, and a ``replace``
snapshot. Each function below says which upstream name or behaviour it relies on; each has
a canary in ``tests/unit/compat/test_pyiceberg_compat.py`` that drives real PyIceberg
objects and fails, naming the upstream change, when a PyIceberg release changes it.

Import this module lazily (inside functions), as the callers import PyIceberg itself:
``startup()`` must not load PyIceberg (``tests/unit/test_startup_imports.py``).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pyiceberg.io import pyarrow as _pyiceberg_arrow
from pyiceberg.table.snapshots import Operation, Summary
from pyiceberg.table.update import snapshot as _snapshot_update

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile, ManifestEntry, ManifestFile
    from pyiceberg.schema import Schema
    from pyiceberg.table import Transaction
    from pyiceberg.table.metadata import TableMetadata

__all__ = [
    "ReplaceFiles",
    "arrow_to_schema_without_ids",
    "check_arrow_schema_compatible",
    "check_before_commit_retry",
    "dataframe_to_data_files",
    "manifest_entries_cached",
    "transaction_io",
    "uncommitted_data_files",
]


def transaction_io(txn: Transaction) -> FileIO:
    """The ``FileIO`` of the table ``txn`` writes to.

    Relies on ``Transaction._table`` (PyIceberg 0.12): a transaction exposes its staged
    metadata (``table_metadata``) but not its table or FileIO; ``Table.io`` is public.
    """
    io: FileIO = txn._table.io
    return io


def dataframe_to_data_files(
    table_metadata: TableMetadata,
    df: pa.Table,
    io: FileIO,
    write_uuid: uuid.UUID,
    counter: itertools.count[int] | None = None,
) -> Iterable[DataFile]:
    """``df`` written as data files of the table (not yet part of any snapshot).

    Relies on ``pyiceberg.io.pyarrow._dataframe_to_data_files(table_metadata, df, io,
    write_uuid, counter)`` (PyIceberg 0.12): Parquet files with the table's field ids, cut at
    ``write.target-file-size-bytes``, split by the table's partition spec, returned as
    ``DataFile`` entries with their column metrics. The public ``write_file`` does the same
    for tasks already split by partition; the split (``_determine_partitions``) is private,
    so the public route saves nothing and covers unpartitioned tables only. ``Transaction.
    append``/``overwrite`` write the same way but stage snapshots of their own (``overwrite``
    two), which a single ``overwrite``/``replace`` snapshot cannot use.
    """
    return _pyiceberg_arrow._dataframe_to_data_files(
        table_metadata=table_metadata, df=df, io=io, write_uuid=write_uuid, counter=counter
    )


def check_arrow_schema_compatible(
    table_schema: Schema, arrow_schema: pa.Schema, *, format_version: int
) -> None:
    """Raise ``ValueError`` unless ``arrow_schema`` can be written to ``table_schema`` as is.

    Relies on ``pyiceberg.io.pyarrow._check_pyarrow_schema_compatible(requested_schema,
    provided_schema, format_version=)`` (PyIceberg 0.12), the check ``add_files`` runs on
    each file: every table column found in the file (by field id, else by name) has the
    table's type or one it promotes from, and is not optional in the file where the table
    requires it. Columns the table lacks and optional columns the file lacks pass. The
    append fast path needs the nullability and nested-type part of it (its own test
    compares names and top-level types). ``add_files`` runs it only while staging, after
    the files are copied; deciding beforehand needs the check itself.
    """
    _pyiceberg_arrow._check_pyarrow_schema_compatible(
        table_schema,
        arrow_schema,
        format_version=format_version,  # type: ignore[arg-type]
    )


def arrow_to_schema_without_ids(
    arrow_schema: pa.Schema, *, downcast_ns_timestamp_to_us: bool = False
) -> Schema:
    """``arrow_schema`` as an Iceberg schema whose field ids are all -1 (none assigned yet).

    Relies on ``pyiceberg.io.pyarrow._pyarrow_to_schema_without_ids`` (PyIceberg 0.12), the
    conversion ``Catalog.create_table`` applies to an Arrow schema (visitor
    ``_ConvertToIcebergWithoutIDs``): the public ``pyarrow_to_schema`` needs field ids or a
    name mapping. A type Iceberg cannot store (``timestamp[ns]`` without
    ``downcast_ns_timestamp_to_us``, ``time32``, ``duration``) raises PyIceberg's
    ``UnsupportedPyArrowTypeException``, an ``Exception`` that is not a ``TypeError``.
    """
    schema: Schema = _pyiceberg_arrow._pyarrow_to_schema_without_ids(
        arrow_schema, downcast_ns_timestamp_to_us=downcast_ns_timestamp_to_us
    )
    return schema


def uncommitted_data_files(txn: Transaction) -> list[DataFile]:
    """The data files staged on ``txn`` by its snapshot producers (written, maybe uncommitted).

    After a commit that did not land these are the files nothing references: PyIceberg
    removes the manifests of a failed commit, not the data files. Relies on
    ``Transaction._snapshot_producers`` (cleared by a successful commit) and
    ``_SnapshotProducer._added_data_files`` (PyIceberg 0.12); there is no public list.
    """
    return [
        data_file
        for producer in txn._snapshot_producers
        for data_file in producer._added_data_files
    ]


def check_before_commit_retry(txn: Transaction, check: Callable[[TableMetadata], None]) -> None:
    """Call ``check(head)`` each time PyIceberg rebuilds ``txn``'s snapshots after a conflict.

    ``head`` is the table's metadata as the catalog has it after the conflict (without
    ``txn``'s staged changes). An exception from ``check`` ends the commit: raise a
    ``ValidationException`` (PyIceberg then removes the manifests written for it) to refuse
    rebasing onto the other writer's snapshot.

    Relies on PyIceberg 0.12's commit retry: on ``CommitFailedException``,
    ``Transaction.commit_transaction`` refreshes ``Transaction._table`` and calls
    ``Transaction._rebuild_snapshot_updates()`` before retrying; ``check`` runs first,
    wrapped around that instance attribute. There is no public hook; the public way out is
    ``commit.retry.num-retries=0`` and a retry of the whole load, which re-reads and
    re-stages every row per conflict.
    """
    rebuild = txn._rebuild_snapshot_updates

    def checked_rebuild() -> None:
        check(txn._table.metadata)
        rebuild()

    txn._rebuild_snapshot_updates = checked_rebuild  # type: ignore[method-assign]


class ReplaceFiles(_snapshot_update._OverwriteFiles):
    """A snapshot producer that deletes and adds data files as one ``replace`` snapshot.

    Same rows, new files (a compaction). Build it with :meth:`on`. PyIceberg 0.12 has no
    public rewrite action. Relies on ``pyiceberg.table.update.snapshot._OverwriteFiles``
    (PyIceberg 0.12), its constructor ``(operation, transaction, io, snapshot_properties=)``
    and three of its hooks:

    - ``_summary(snapshot_properties)``: totals are computed as for an overwrite (PyIceberg's
      ``update_snapshot_summaries`` refuses ``replace``); the operation is set afterwards;
    - ``_process_manifests(manifests)``: the data manifests are merged by
      ``_ManifestMergeManager(target_size_bytes, min_count_to_merge, merge_enabled,
      snapshot_producer)`` as ``merge_append`` merges them;
    - ``_validate_concurrency()``: rows added meanwhile do not conflict with a rewrite of the
      same rows. That every rewritten file is still live is checked when the deletes are
      staged (``_validate_required_deletes`` raises ``ValidationException``). PyIceberg calls
      this hook only from its commit retry, which compaction disables.
    """

    @classmethod
    def on(cls, txn: Transaction, snapshot_properties: dict[str, str]) -> ReplaceFiles:
        """A producer staging on ``txn`` (use it as a context manager, like PyIceberg's)."""
        return cls(
            operation=Operation.OVERWRITE,
            transaction=txn,
            io=transaction_io(txn),
            snapshot_properties=snapshot_properties,
        )

    def _validate_concurrency(self) -> None:
        """Rows added meanwhile do not conflict with a rewrite of the same rows (see class)."""

    def _summary(self, snapshot_properties: dict[str, str] | None = None) -> Summary:
        summary = super()._summary(snapshot_properties or {})
        return Summary(Operation.REPLACE, **summary.additional_properties)

    def _process_manifests(self, manifests: list[ManifestFile]) -> list[ManifestFile]:
        from pyiceberg.manifest import ManifestContent
        from pyiceberg.table import TableProperties
        from pyiceberg.utils.properties import property_as_bool, property_as_int

        properties = self._transaction.table_metadata.properties
        manager = _snapshot_update._ManifestMergeManager(
            target_size_bytes=property_as_int(  # type: ignore[arg-type]
                properties,
                TableProperties.MANIFEST_TARGET_SIZE_BYTES,
                TableProperties.MANIFEST_TARGET_SIZE_BYTES_DEFAULT,
            ),
            min_count_to_merge=2,
            merge_enabled=property_as_bool(
                properties,
                TableProperties.MANIFEST_MERGE_ENABLED,
                True,
            ),
            snapshot_producer=self,
        )
        data = [m for m in manifests if m.content == ManifestContent.DATA]
        deletes = [m for m in manifests if m.content != ManifestContent.DATA]
        return manager.merge_manifests(data) + deletes


# manifest_entries_cached ------------------------------------------------------------------

_MANIFESTS_KEPT = 4096
"""At most this many manifests' entries are kept (merges that keep overlapping in a busy
process would otherwise never let the cache go)."""
_entries_lock = threading.Lock()
_entries: dict[tuple[Any, ...], list[ManifestEntry]] | None = None
_entries_users = 0
_fetch_uncached: Callable[..., list[ManifestEntry]] | None = None


def _fetch_manifest_entry(
    manifest: ManifestFile, io: FileIO, discard_deleted: bool = True
) -> list[ManifestEntry]:
    assert _fetch_uncached is not None
    cache = _entries
    if cache is None:
        return _fetch_uncached(manifest, io, discard_deleted)
    # a manifest file never changes once written; what an entry inherits comes from these
    key = (
        manifest.manifest_path,
        manifest.sequence_number,
        manifest.min_sequence_number,
        manifest.added_snapshot_id,
        discard_deleted,
    )
    entries = cache.get(key)
    if entries is None:
        if len(cache) >= _MANIFESTS_KEPT:
            cache.clear()
        entries = cache.setdefault(key, _fetch_uncached(manifest, io, discard_deleted))
    return list(entries)  # callers may change their list, not the entries


@contextmanager
def manifest_entries_cached() -> Iterator[None]:
    """Within the block, each manifest's entries are read once (every thread, PyIceberg's
    pool included), then dropped when the last block still open ends.

    A merge reads the entries of every manifest of the table three times: its own scan
    planning, then PyIceberg's overwrite producer (``_OverwriteFiles._existing_manifests``,
    then ``_deleted_entries``). Relies on ``ManifestFile.fetch_manifest_entry(io,
    discard_deleted)`` being the one reader those paths call (PyIceberg 0.12), wrapped here
    once for the process (outside a block it calls through).
    """
    global _entries, _entries_users, _fetch_uncached
    from pyiceberg.manifest import ManifestFile

    with _entries_lock:
        if _fetch_uncached is None:
            _fetch_uncached = ManifestFile.fetch_manifest_entry
            ManifestFile.fetch_manifest_entry = _fetch_manifest_entry  # type: ignore[method-assign,assignment]
        _entries_users += 1
        if _entries is None:
            _entries = {}
    try:
        yield
    finally:
        with _entries_lock:
            _entries_users -= 1
            if _entries_users == 0:
                _entries = None
