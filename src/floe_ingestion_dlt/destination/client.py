"""``FilesystemClient`` subclass that talks to the configured Iceberg catalog.

Mechanism: tables are created without a location, so the catalog places them (Polaris and table
buckets alike); dlt's own files go under ``bucket_url`` = ``dlt_state_url``, an ordinary bucket.
(No metadata HEAD probe; one commit per table per load, see ``load_job``; default state location
and its errors: ``factory.resolve_state_url``.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from dlt.common import logger
from dlt.common.destination.client import LoadJob, StateInfo
from dlt.common.destination.exceptions import DestinationUndefinedEntity
from dlt.common.schema.typing import TTableFormat
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient, ReferenceFollowupJob

from floe_ingestion_dlt.compat.dlt import FilesystemClientHooks
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.snapshots import load_existing_tables, newest_state_in_tables

if TYPE_CHECKING:
    from dlt.common.destination.typing import PreparedTableSchema
    from dlt.common.storages.load_package import LoadJobInfo
    from dlt.destinations.job_impl import ReferenceFollowupJobRequest
    from pyiceberg.catalog import Catalog

__all__ = ["FloeIcebergClient"]

T = TypeVar("T")


class FloeIcebergClient(FilesystemClientHooks):
    """Job client of the ``iceberg`` destination."""

    # the configured catalog and the namespaces ensured in it (dlt keeps its own for its own
    # catalog; these are ours): set per instance on first use
    _iceberg_catalog: Catalog | None = None
    _namespaces_ensured: frozenset[str] = frozenset()

    @property
    def catalog_config(self) -> CatalogConfig:
        props = getattr(self.config, "catalog_properties", None) or {}
        return CatalogConfig.model_validate(props)

    def create_dataset(self) -> None:
        """The dataset folder may exist already (a table placed there by another writer)."""
        self.fs_client.makedirs(self.dataset_path, exist_ok=True)

    @staticmethod
    def get_reference_followup_job_class(
        table: PreparedTableSchema,
    ) -> type[ReferenceFollowupJob] | None:
        if table.get("table_format") == "iceberg":
            from floe_ingestion_dlt.destination.load_job import IcebergSnapshotLoadJob

            return IcebergSnapshotLoadJob
        return FilesystemClient.get_reference_followup_job_class(table)

    def get_reference_followup_job_requests(
        self,
        table_chain: Sequence[PreparedTableSchema],
        completed_table_chain_jobs: Sequence[LoadJobInfo] | None,
    ) -> list[ReferenceFollowupJobRequest]:
        """dlt's requests, except for a merged chain with nested tables (see ``nested_merge``).

        Every nested table of a merged root then gets a job, with the root's files of the load,
        so nested rows of roots whose lists are now empty or missing are replaced too.
        """
        if table_chain[0].get("table_format") == "iceberg" and not self.batch_table_chain:
            from floe_ingestion_dlt.destination.nested_merge import nested_merge_job_requests

            requests = nested_merge_job_requests(table_chain, completed_table_chain_jobs or [])
            if requests is not None:
                return requests  # type: ignore[return-value]
        return super().get_reference_followup_job_requests(table_chain, completed_table_chain_jobs)

    def get_load_job_class(self, table: PreparedTableSchema, file_path: str) -> type[LoadJob]:
        """dlt's job classes, with :class:`ReadyFileJob` for table-format data files.

        dlt's never-running marker job makes the loader sleep a full second before it creates
        the Iceberg follow-up job; a runnable no-op job wakes it at once (see ``ready_job``).
        """
        from dlt.destinations.job_impl import FinalizedLoadJobWithFollowupJobs

        job_class = super().get_load_job_class(table, file_path)
        if job_class is FinalizedLoadJobWithFollowupJobs:
            from floe_ingestion_dlt.destination.ready_job import ReadyFileJob

            return ReadyFileJob
        return job_class

    def get_open_table_catalog(
        self, table_format: TTableFormat, catalog_name: str | None = None
    ) -> Any:
        if table_format != "iceberg" or not getattr(self.config, "catalog_properties", None):
            return super().get_open_table_catalog(table_format, catalog_name)
        catalog = self._iceberg_catalog
        if catalog is None:
            from floe_ingestion_dlt.catalog import load_catalog

            catalog = self._iceberg_catalog = load_catalog(self.catalog_config)
        if self.dataset_name not in self._namespaces_ensured:
            self._ensure_namespace(catalog)
            self._namespaces_ensured = self._namespaces_ensured | {self.dataset_name}
        return catalog

    def _ensure_namespace(self, catalog: Catalog) -> None:
        """Create the dataset's namespace; another job or writer may be creating it too."""
        try:
            catalog.create_namespace_if_not_exists(
                self.dataset_name, properties=self.config.iceberg_namespace_properties or {}
            )
        except Exception:
            # parallel load jobs race between "exists?" and "create" (SQLite: IntegrityError)
            if not catalog.namespace_exists(self.dataset_name):
                raise

    def load_open_table(self, table_format: TTableFormat, table_name: str, **kwargs: Any) -> Any:
        """Load the table from the catalog; no probing of storage paths, no schema change here.

        Schema evolution happens inside the load job's transaction so that it commits together
        with the data (or not at all).
        """
        if table_format != "iceberg":
            return super().load_open_table(table_format, table_name, **kwargs)
        from pyiceberg.exceptions import NoSuchTableError

        catalog: Catalog = self.get_open_table_catalog("iceberg")
        try:
            return catalog.load_table((self.dataset_name, table_name))
        except NoSuchTableError:
            raise DestinationUndefinedEntity(table_name) from None

    def get_open_table_location(
        self, table_format: TTableFormat, table_name: str, schema_name: str | None = None
    ) -> str:
        if table_format == "iceberg":
            try:
                return str(self.load_open_table("iceberg", table_name).location())
            except DestinationUndefinedEntity:
                pass
        return super().get_open_table_location(table_format, table_name, schema_name)

    def get_stored_state(self, pipeline_name: str) -> StateInfo | None:
        """The pipeline state that describes the rows of the pipeline's table, or None.

        State follows the table it describes. The load job writes the pipeline state into the
        snapshot summary of the same commit as the data, so the table's own snapshot lineage
        holds the cursor that matches its rows (also when the process died between the commit
        and dlt's state file). Therefore, for a pipeline with ``state_tables`` (every pipeline
        the plugin plans):

        * no such table in the catalog (dropped, purged, catalog emptied): no state, whatever
          dlt's state files under ``bucket_url`` say; the next run loads from the start;
        * a table whose current lineage holds no state of this pipeline (recreated by another
          writer, a different table UUID): no state either;
        * otherwise the newest state in the lineage, or dlt's state file when that is newer
          (by load id: a later run that committed no row to the table, e.g. no new data),
          stamped with the table's UUID and current snapshot (``destination.lineage``): the
          commit of the rows extracted from it refuses to land on a table that has moved on.

        dlt only installs a restored state whose ``_state_version`` is at least the local one;
        :func:`~floe_ingestion_dlt.state_sync.start_from_destination_state` drops
        the local state before each run so the destination's always wins.
        """
        tables = list(getattr(self.config, "state_tables", None) or [])
        if not tables or not getattr(self.config, "catalog_properties", None):
            return self._stored_state_file(pipeline_name)
        from floe_ingestion_dlt.destination.lineage import with_lineage

        existing = load_existing_tables(
            self.get_open_table_catalog("iceberg"), self.dataset_name, tables
        )
        snapshot_state = newest_state_in_tables(existing, pipeline_name)
        try:
            file_state = self._stored_state_file(pipeline_name)
        except DestinationUndefinedEntity:
            file_state = None
        if snapshot_state is None:
            if file_state is not None:
                logger.warning(
                    f"State of {pipeline_name} in dlt's state file (load "
                    f"{file_state._dlt_load_id}) ignored: the table {self.dataset_name}."
                    f"{tables[0]} does not hold it (dropped, recreated or never committed); "
                    "the run starts without state"
                )
            return None
        chosen = snapshot_state
        if file_state is not None and (file_state._dlt_load_id or "") > (
            snapshot_state._dlt_load_id or ""
        ):
            chosen = file_state
        else:
            logger.info(
                f"Restoring state of {pipeline_name} from Iceberg snapshot of load "
                f"{snapshot_state._dlt_load_id}"
            )
        # the state remembers the table and snapshot it was read at: the commit checks it
        return with_lineage(chosen, existing[0])

    # -- damaged bookkeeping files (a full disk while dlt wrote them) ------------------------

    def read_stored_schema(self, read: Callable[[], T]) -> T:
        """dlt's reader; a damaged schema file (empty or cut short) is set aside, not fatal."""
        return self._skipping_damaged(self.schema.version_table_name, read)  # type: ignore[no-any-return]

    def _stored_state_file(self, pipeline_name: str) -> StateInfo | None:
        read = super().get_stored_state
        return self._skipping_damaged(  # type: ignore[no-any-return]
            self.schema.state_table_name, lambda: read(pipeline_name)
        )

    def _skipping_damaged(self, table_name: str, read: Any) -> Any:
        """``read()``; when it fails on a file that does not parse, the damaged files of
        ``table_name`` are moved to ``_floe_damaged`` and ``read()`` runs again.

        A disk that filled up while dlt wrote its state, schema or load record leaves an empty
        or truncated JSON file; dlt would fail on it in every later run.
        """
        for _ in range(3):
            try:
                return read()
            except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
                if not self._set_aside_damaged(table_name, exc):
                    raise
        return read()

    def _set_aside_damaged(self, table_name: str, exc: BaseException) -> bool:
        import json

        moved = []
        for path in self.list_table_files(table_name):
            try:
                json.loads(self.fs_client.read_text(path, encoding="utf-8"))
                continue
            except ValueError:
                pass
            aside = self.pathlib.join(
                self.dataset_path, "_floe_damaged", table_name, self.pathlib.basename(path)
            )
            self.fs_client.makedirs(self.pathlib.dirname(aside), exist_ok=True)
            self.fs_client.mv(path, aside)
            moved.append(path)
        if moved:
            logger.warning(
                f"Damaged dlt bookkeeping files moved aside ({type(exc).__name__}: {exc}): "
                f"{moved}; the destination's remaining files are used"
            )
        return bool(moved)
