"""Merging nested tables: the batch's roots decide which nested rows are replaced.

dlt splits lists inside records into nested tables (``orders__items``, ``orders__items__parts``)
whose rows carry the root's row key (``_dlt_root_id``). Under ``upsert`` a root's row key is
derived from its primary key, so a merged root's old nested rows can be found at every level.
A nested table's own files, however, only name the roots that *still have* nested rows: a root
whose list became empty or vanished from the record, or a hard-deleted root, has none there.
dlt even creates no job for a nested table with no rows in the load.

So for a merge, every nested table of the chain (all levels) gets a job, and each job also
receives the root table's files of the load (:func:`nested_merge_job_requests`). The job reads
the roots of the batch from them (:func:`batch_roots`): their row keys, and which are flagged
deleted by the root's ``hard_delete`` column. Every nested row of those roots is removed; the
batch's nested rows of live roots are inserted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.vocabulary import DEFAULT_MERGE_STRATEGY, MergeStrategy, WriteMode

if TYPE_CHECKING:
    import pyarrow as pa
    from dlt.common.destination.client import FollowupJobRequest
    from dlt.common.destination.typing import PreparedTableSchema
    from dlt.common.schema import Schema
    from dlt.common.storages.load_package import LoadJobInfo

__all__ = [
    "BATCH_ROOTS_HINT",
    "BatchRoots",
    "batch_roots",
    "nested_merge_job_requests",
    "split_files",
    "table_of_file",
]

BATCH_ROOTS_HINT = "x-floe-batch-roots"
"""Key of :class:`BatchRoots` in the table hints handed to the merge strategy."""


@dataclass(frozen=True)
class BatchRoots:
    """Row keys of the roots in a load's batch, and of those among them flagged deleted."""

    all: pa.Array
    deleted: pa.Array


def table_of_file(path: str) -> str:
    """The table a load package file belongs to (``orders__items.<id>.0.parquet``)."""
    from dlt.common.storages.load_package import ParsedLoadJobFileName

    return ParsedLoadJobFileName.parse(os.path.basename(path)).table_name


def split_files(paths: Sequence[str], table_name: str) -> tuple[list[str], list[str]]:
    """``paths`` split into the table's own files and the others (its root's)."""
    own = [p for p in paths if table_of_file(p) == table_name]
    return own, [p for p in paths if table_of_file(p) != table_name]


def nested_merge_job_requests(
    table_chain: Sequence[PreparedTableSchema],
    completed_jobs: Sequence[LoadJobInfo],
) -> list[FollowupJobRequest] | None:
    """One Iceberg job per table of a merged chain; nested ones also get the root's files.

    None when the chain is not a merge of a root with nested tables (dlt's requests apply).
    """
    from dlt.common.storages.load_package import ParsedLoadJobFileName
    from dlt.destinations.job_impl import ReferenceFollowupJobRequest

    root = table_chain[0]
    if str(root.get("write_disposition")) != WriteMode.MERGE or len(table_chain) < 2:
        return None
    strategy = str(root.get("x-merge-strategy") or DEFAULT_MERGE_STRATEGY)
    if strategy != MergeStrategy.UPSERT:
        return None

    def files_of(name: str) -> list[str]:
        return [job.file_path for job in completed_jobs if job.job_file_info.table_name == name]

    root_files = files_of(str(root["name"]))
    if not root_files:
        return None
    template = ParsedLoadJobFileName.parse(os.path.basename(root_files[0]))
    requests: list[FollowupJobRequest] = []
    for table in table_chain:
        own = files_of(str(table["name"]))
        if table is root:
            requests.append(ReferenceFollowupJobRequest(os.path.basename(own[0]), own))
            continue
        name = (
            os.path.basename(own[0])
            if own
            else template._replace(table_name=str(table["name"])).file_name()
        )
        requests.append(ReferenceFollowupJobRequest(name, [*own, *root_files]))
    return requests


def batch_roots(root_files: Sequence[str], root_table: dict[str, Any]) -> BatchRoots:
    """The root row keys of the batch (``_dlt_id``) and those flagged by ``hard_delete``."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from floe_ingestion_dlt.destination.merge_batch import hard_deleted_mask

    columns: dict[str, Any] = root_table.get("columns") or {}
    row_key = next((n for n, c in columns.items() if c.get("row_key")), "_dlt_id")
    hard_delete = next((n for n, c in columns.items() if c.get("hard_delete")), None)
    wanted = [row_key, *([hard_delete] if hard_delete else [])]
    parts = []
    for path in root_files:
        available = set(pq.read_schema(path).names)
        parts.append(pq.read_table(path, columns=[c for c in wanted if c in available]))
    rows = pa.concat_tables(parts, promote_options="permissive")
    keys = rows.column(row_key).combine_chunks().cast(pa.string())
    deleted = keys.filter(hard_deleted_mask(rows, hard_delete))
    return BatchRoots(all=pc.unique(keys), deleted=pc.unique(deleted))


def root_table_of(schema: Schema, table_name: str) -> dict[str, Any]:
    """The root table schema of a nested table."""
    from dlt.common.schema.utils import get_root_table

    return dict(get_root_table(schema.tables, table_name))
