"""The Iceberg load job: all of one table's files of a load package, committed as one snapshot.

dlt hands every file of a table in a load package to a single follow-up job. This job reads
them as Arrow, applies the schema contract and the write strategy on one PyIceberg transaction
and commits once, stamping the snapshot with the load id and the package's pipeline state.
A load id already present in the table's history is not committed again (resumed packages).
"""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from dlt.common import logger
from dlt.common.destination.exceptions import (
    DestinationTerminalException,
    DestinationTransientException,
)
from dlt.destinations.impl.filesystem.filesystem import TableFormatLoadFilesystemJob

from floe_ingestion_dlt.destination.commit_span import iceberg_commit_span
from floe_ingestion_dlt.destination.file_registration import (
    ParquetFiles,
    ensure_name_mapping,
    inspect_parquet_files,
)
from floe_ingestion_dlt.destination.lineage import StaleStateInCommit
from floe_ingestion_dlt.destination.nested_merge import (
    BATCH_ROOTS_HINT,
    BatchRoots,
    batch_roots,
    root_table_of,
    split_files,
)
from floe_ingestion_dlt.destination.schema_contract import (
    apply_schema_contract,
    contract_mode,
    prepare_arrow_data,
)
from floe_ingestion_dlt.destination.snapshots import (
    find_committed_load,
    package_fingerprint,
    snapshot_properties,
)
from floe_ingestion_dlt.destination.writes import refuse_empty_replace, write_strategy
from floe_ingestion_dlt.errors import (
    DestinationWriteError,
    ErrorCategory,
    IngestionError,
    StaleStateError,
    categorize_error,
)
from floe_ingestion_dlt.layout import TableLayout, apply_layout
from floe_ingestion_dlt.retry_budget import budget_for
from floe_ingestion_dlt.vocabulary import WriteMode

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table, Transaction

__all__ = ["COMMIT_ATTEMPTS", "IcebergLoadTerminalError", "IcebergSnapshotLoadJob"]

COMMIT_ATTEMPTS = 8
"""Commit attempts against concurrent writers before the job reports a transient failure."""


class IcebergLoadTerminalError(DestinationTerminalException):
    """Wraps an :class:`IngestionError` that retrying the job cannot fix."""

    def __init__(self, error: IngestionError) -> None:
        self.error = error
        super().__init__(str(error))


def _job_error(exc: Exception, table: str) -> Exception:
    """TRANSIENT errors stay retryable for dlt; anything else fails the job at once."""
    category = categorize_error(exc)
    if category is ErrorCategory.TRANSIENT:
        return DestinationTransientException(f"commit to {table} failed: {exc}")
    return IcebergLoadTerminalError(
        DestinationWriteError(
            f"commit to {table} failed: {type(exc).__name__}: {exc}", category=category
        )
    )


def _pipeline_state_doc() -> dict[str, Any] | None:
    from dlt.common.storages.load_package import load_package_state

    try:
        doc = load_package_state()["state"].get("pipeline_state")
    except Exception:  # no package context (job run outside dlt's loader)
        return None
    return dict(doc) if doc else None


class IcebergSnapshotLoadJob(TableFormatLoadFilesystemJob):
    """Reference follow-up job of the ``iceberg`` destination."""

    def run(self) -> None:
        """Commit the table's data once, retrying conflicts with concurrent writers.

        Each retry reloads the table (its new metadata) and first checks whether this load id
        already landed: an ambiguous commit (``CommitStateUnknownException``, e.g. a timeout
        after the catalog applied it) is therefore never committed twice. Other errors leave
        the job by category: TRANSIENT ones as ``DestinationTransientException`` (dlt retries
        the job, then the runner retries the run), all others as terminal.
        """
        from pyiceberg.exceptions import (
            CommitFailedException,
            CommitStateUnknownException,
            TableAlreadyExistsError,
            ValidationException,
        )

        data = self._read_data()
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                self._commit(data)
                return
            except IngestionError as exc:
                raise IcebergLoadTerminalError(exc) from exc
            except (
                CommitFailedException,
                CommitStateUnknownException,
                TableAlreadyExistsError,
                # a concurrent commit conflicts with this one (e.g. a compaction replaced
                # files a merge rewrites): plan again on the new snapshot
                ValidationException,
            ) as exc:
                if attempt == COMMIT_ATTEMPTS:
                    raise DestinationTransientException(
                        f"commit to {self._table_id_str} kept conflicting with concurrent "
                        f"writers ({COMMIT_ATTEMPTS} attempts): {exc}"
                    ) from exc
                delay = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
                if not self._wait_allowed(delay):  # the run's retry deadline comes first
                    raise DestinationTransientException(
                        f"commit to {self._table_id_str} conflicted with concurrent writers "
                        f"and the run's retry time is spent: {exc}"
                    ) from exc
                logger.info(
                    f"Commit conflict on {self._table_id_str} (attempt {attempt}, "
                    f"{type(exc).__name__}), retrying in {delay:.2f}s"
                )
                time.sleep(delay)
            except Exception as exc:
                raise _job_error(exc, self._table_id_str) from exc

    def _wait_allowed(self, delay: float) -> bool:
        budget = budget_for(getattr(self._job_client.config, "pipeline_name", None))
        return budget is None or budget.allows_wait(delay)

    _batch_roots: BatchRoots | None = None
    """Roots of the batch, for a nested table of a merge (read from the root's files)."""

    @property
    def _table_id_str(self) -> str:
        return f"{self._job_client.dataset_name}.{self.load_table_name}"

    @property
    def _layout(self) -> TableLayout | None:
        """The layout declared for this table (``table_layouts`` of the destination)."""
        layouts = getattr(self._job_client.config, "table_layouts", None) or {}
        declared = layouts.get(self.load_table_name)
        return TableLayout.model_validate(declared) if declared else None

    def _apply_layout(self, txn: Transaction, column_names: list[str]) -> None:
        layout = self._layout
        if layout is None:
            return
        layout.check_columns(column_names, self._table_id_str)
        changed = apply_layout(txn, layout)
        if changed:
            logger.info(f"Layout of {self._table_id_str} evolved with this load: {changed}")

    def _read_data(self) -> pa.Table | ParquetFiles | None:
        """The load's rows; an append of spec-exact Parquet files is kept as files (fast path).

        A nested table of a merge also receives its root's files (``nested_merge``): they give
        the batch's roots, not rows of this table. None: no rows of this table in the load.
        """
        paths = list(self.file_paths)
        disposition = str(self._load_table.get("write_disposition", WriteMode.APPEND))
        if self._load_table.get("parent") and disposition == WriteMode.MERGE:
            paths, root_files = split_files(paths, self.load_table_name)
            if root_files:
                self._batch_roots = batch_roots(
                    root_files, root_table_of(self._job_client.schema, self.load_table_name)
                )
            if not paths:
                return None
        if disposition == WriteMode.APPEND:
            files = inspect_parquet_files(paths)
            if files is not None:
                return files.with_schema(prepare_arrow_data(files.schema.empty_table()).schema)
        return prepare_arrow_data(read_package_files(paths))

    def _commit(self, data: pa.Table | ParquetFiles | None) -> None:
        from pyiceberg.exceptions import CommitStateUnknownException, NoSuchTableError

        catalog: Catalog = self._job_client.get_open_table_catalog("iceberg")
        identifier = (self._job_client.dataset_name, self.load_table_name)
        try:
            table: Table | None = catalog.load_table(identifier)
        except NoSuchTableError:
            table = None
        if data is None:  # a nested table without rows in this load: its roots' rows go
            if table is None:
                return
            data = _empty_rows(table)
        if table is not None:
            done = find_committed_load(
                table, self._load_id, package_files=package_fingerprint(self.file_paths)
            )
            if done is not None:
                logger.info(
                    f"Load {self._load_id} is already committed to {self._table_id_str} as "
                    f"snapshot {done}; not committing it again"
                )
                return
            txn = table.transaction()
        else:
            self._check_state_lineage(None)
            txn = self._create_table_transaction(catalog, identifier, data)
        self._check_state_lineage(txn)
        with iceberg_commit_span(
            pipeline_name=getattr(self._job_client.config, "pipeline_name", None),
            destination_table=self._table_id_str,
            load_id=self._load_id,
        ) as commit:
            try:
                self._stage(txn, data)
                commit.committed(txn.commit_transaction())
            except CommitStateUnknownException:
                raise  # it may have landed: its files may be the table's now
            except StaleStateInCommit as exc:  # found by the check inside PyIceberg's retry
                delete_uncommitted_data_files(txn)
                raise self._stale(exc.reason) from exc
            except BaseException:
                delete_uncommitted_data_files(txn)  # no orphans from a commit that failed
                raise

    def _check_state_lineage(self, txn: Transaction | None) -> None:
        """Refuse to commit rows extracted from a state the table has moved on from.

        Applies to the pipeline's own table (``state_tables``) when the package carries a
        pipeline state, i.e. its extract changed the state (cursor). See ``lineage``.
        """
        tables = getattr(self._job_client.config, "state_tables", None) or []
        state_doc = _pipeline_state_doc()
        if self.load_table_name not in tables or not state_doc:
            return
        from floe_ingestion_dlt.destination.lineage import (
            guard_transaction,
            lineage_of_state_doc,
            stale_state_reason,
        )

        pipeline_name = str(state_doc.get("pipeline_name") or "")
        lineage = lineage_of_state_doc(state_doc)
        version = int(state_doc.get("version") or 0)
        if txn is None:
            reason = stale_state_reason(
                None, pipeline_name=pipeline_name, load_id=self._load_id, lineage=lineage
            )
            if reason is not None:
                raise self._stale(reason)
            return
        try:
            guard_transaction(
                txn,
                pipeline_name=pipeline_name,
                load_id=self._load_id,
                lineage=lineage,
                version=version,
            )
        except StaleStateInCommit as exc:
            raise self._stale(exc.reason) from exc

    def _stale(self, reason: str) -> StaleStateError:
        logger.warning(f"Load {self._load_id} not committed to {self._table_id_str}: {reason}")
        return StaleStateError(
            f"load {self._load_id} not committed to {self._table_id_str}: {reason}; its rows "
            "were extracted from a stale incremental state (nothing committed, the run "
            "restarts from the table's current state)",
            destination_table=self._table_id_str,
        )

    def _create_table_transaction(
        self, catalog: Catalog, identifier: tuple[str, str], data: pa.Table | ParquetFiles
    ) -> Transaction:
        """A new table and its first snapshot are committed together: nobody sees it empty."""
        from dlt.destinations.impl.filesystem.iceberg_adapter import TABLE_PROPERTIES_HINT

        adapter_properties: dict[str, str] = dict(
            self._load_table.get(TABLE_PROPERTIES_HINT) or {}  # type: ignore[call-overload]
        )
        properties = {
            **(self._job_client.config.iceberg_table_properties or {}),
            **adapter_properties,
        }
        from floe_ingestion_dlt.compat.dlt import iceberg_partition_specs

        spec_list = iceberg_partition_specs(self._load_table, self._schema.name)
        if spec_list:
            from dlt.destinations.impl.filesystem.iceberg_partition_spec import (
                build_iceberg_partition_spec,
            )

            partition_spec, schema = build_iceberg_partition_spec(data.schema, spec_list)
            return catalog.create_table_transaction(
                identifier, schema=schema, partition_spec=partition_spec, properties=properties
            )
        return catalog.create_table_transaction(
            identifier, schema=data.schema, properties=properties
        )

    def _stage(self, txn: Transaction, data: pa.Table | ParquetFiles) -> None:
        hints: dict[str, Any] = dict(self._load_table)
        if self._batch_roots is not None:
            hints[BATCH_ROOTS_HINT] = self._batch_roots
        mode = contract_mode(hints)
        files: ParquetFiles | None = None
        if isinstance(data, ParquetFiles):
            # the contract decides on the schema alone; the rows are only read when needed
            staged = apply_schema_contract(txn, data.schema.empty_table(), mode, self._table_id_str)
            self._apply_layout(txn, staged.schema.names)
            # dlt's files are neither partitioned nor sorted: a laid-out table rewrites them
            if data.fits(txn, staged.schema) and txn.table_metadata.sort_order().is_unsorted:
                files = data
            else:
                data = apply_schema_contract(
                    txn, prepare_arrow_data(data.read()), mode, self._table_id_str
                )
        else:
            data = apply_schema_contract(txn, data, mode, self._table_id_str)
            self._apply_layout(txn, data.schema.names)
        ensure_name_mapping(txn)
        state_doc = _pipeline_state_doc()
        disposition = str(hints.get("write_disposition", WriteMode.APPEND))
        props = snapshot_properties(
            load_id=self._load_id,
            pipeline_name=(state_doc or {}).get("pipeline_name")
            or getattr(self._job_client.config, "pipeline_name", None),
            rows=data.num_rows,
            write_mode=disposition,
            state_doc=state_doc,
            package_files=package_fingerprint(self.file_paths),
        )
        if files is not None:
            files.register(txn, props)
            return
        assert not isinstance(data, ParquetFiles)
        own_tables = getattr(self._job_client.config, "state_tables", None) or []
        if disposition == WriteMode.REPLACE and self.load_table_name in own_tables:
            # the pipeline's table only: dlt empties nested child tables a replace has no rows for
            allowed = bool(getattr(self._job_client.config, "allow_empty_replace", False))
            refuse_empty_replace(txn, data, self._table_id_str, allowed=allowed)
        write_strategy(disposition)(txn, data, props, hints)


def _empty_rows(table: Table) -> pa.Table:
    """No rows, in the table's columns (a nested table whose batch rows are all gone)."""
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    return prepare_arrow_data(
        schema_to_pyarrow(table.schema(), include_field_ids=False).empty_table()
    )


def delete_uncommitted_data_files(txn: Transaction) -> list[str]:
    """Delete the data files ``txn`` wrote for a commit that did not land; returns their paths.

    PyIceberg cleans the manifests of a failed commit, not the data files: a disk that filled
    up or a catalog that refused the commit would leave them in the table's folder for good.
    Never called when the commit's outcome is unknown (they may belong to the table then).
    """
    from floe_ingestion_dlt.compat.pyiceberg import transaction_io, uncommitted_data_files

    io, deleted = transaction_io(txn), []
    for data_file in uncommitted_data_files(txn):
        try:
            io.delete(data_file.file_path)
            deleted.append(data_file.file_path)
        except Exception:  # gone already, or the storage refuses: nothing more to do here
            logger.warning(f"Could not delete uncommitted data file {data_file.file_path}")
    if deleted:
        logger.info(f"Deleted {len(deleted)} data files of a commit that did not land")
    return deleted


def read_package_files(paths: list[str]) -> pa.Table:
    """The rows of a table's files in one load package, as one Arrow table.

    Files of one table can have different columns: dlt starts a new file when a column appears
    mid-load, and Arrow pages and normalized rows arrive as separate files. A dataset would take
    the first file's schema and drop the others' new columns, so the schemas are unified first
    (columns missing from a file read as nulls).
    """
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    schemas = [_decoded(pq.read_schema(path)) for path in paths]
    schema = pa.unify_schemas(schemas, promote_options="permissive") if schemas else None
    return ds.dataset(paths, schema=schema, format="parquet").to_table()


def _decoded(schema: pa.Schema) -> pa.Schema:
    """``schema`` with dictionary-encoded columns as their values (dlt encodes ``_dlt_load_id``
    in Arrow files, not in normalized rows; Iceberg has no dictionary type)."""
    import pyarrow as pa

    return pa.schema(
        [f.with_type(f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in schema],
        metadata=schema.metadata,
    )
