"""``delete_uncommitted_data_files``: a commit that did not land leaves no data files behind."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import TableProperties

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.destination.load_job import delete_uncommitted_data_files

ROWS = pa.table({"id": pa.array([1, 2], pa.int64())})


def test_files_of_a_refused_commit_are_deleted_and_a_landed_commits_kept(
    tmp_path: Path,
) -> None:
    catalog = load_catalog(CatalogConfig.embedded(tmp_path / "lake"))
    catalog.create_namespace("bronze")
    table = catalog.create_table(
        "bronze.t", schema=ROWS.schema, properties={TableProperties.COMMIT_NUM_RETRIES: "0"}
    )
    table.append(ROWS)
    txn = table.transaction()
    txn.append(ROWS)
    catalog.load_table("bronze.t").append(ROWS)  # another writer: txn's commit is refused
    with pytest.raises(CommitFailedException):
        txn.commit_transaction()

    deleted = delete_uncommitted_data_files(txn)

    assert len(deleted) == 1
    assert not table.io.new_input(deleted[0]).exists()
    landed = catalog.load_table("bronze.t")
    assert landed.scan().to_arrow().num_rows == 4  # the committed files are untouched

    txn = landed.transaction()
    txn.append(ROWS)
    txn.commit_transaction()
    assert delete_uncommitted_data_files(txn) == []
    assert catalog.load_table("bronze.t").scan().to_arrow().num_rows == 6
