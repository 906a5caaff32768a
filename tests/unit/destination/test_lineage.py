"""``stale_state_reason``: the optimistic check of a commit against the state it started from."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.table import Table

from floe_ingestion_dlt import CatalogConfig
from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.destination.lineage import stale_state_reason
from floe_ingestion_dlt.destination.snapshots import LOAD_ID, PIPELINE_NAME, STATE

ROWS = pa.table({"id": pa.array([1], pa.int64())})


@pytest.fixture
def table(tmp_path: Path) -> Table:
    catalog = load_catalog(CatalogConfig.embedded(tmp_path / "lake"))
    catalog.create_namespace("bronze")
    return catalog.create_table("bronze.t", schema=ROWS.schema)


def _commit(table: Table, load_id: str, pipeline: str = "p", version: int = 1) -> Table:
    state = json.dumps({"version": version, "state": "", "_dlt_load_id": load_id})
    table.append(
        ROWS, snapshot_properties={LOAD_ID: load_id, PIPELINE_NAME: pipeline, STATE: state}
    )
    return table


def _lineage(table: Table) -> dict[str, object]:
    return {
        "table_uuid": str(table.metadata.table_uuid),
        "snapshot_id": table.metadata.current_snapshot_id,
    }


def test_nothing_committed_since_the_state_was_read(table: Table) -> None:
    _commit(table, "1")
    base = _lineage(table)
    table.append(ROWS)  # a writer without state (another pipeline) does not make it stale
    assert stale_state_reason(table.metadata, pipeline_name="p", load_id="2", lineage=base) is None


def test_another_writer_of_the_pipeline_committed_since(table: Table) -> None:
    _commit(table, "1")
    base = _lineage(table)
    _commit(table, "2")
    reason = stale_state_reason(table.metadata, pipeline_name="p", load_id="3", lineage=base)
    assert reason is not None and "committed load 2" in reason
    # the package's own load id is not a competitor (a resumed commit is checked elsewhere)
    assert stale_state_reason(table.metadata, pipeline_name="p", load_id="2", lineage=base) is None


def test_table_replaced_or_gone_since(table: Table) -> None:
    base = {"table_uuid": "00000000-0000-0000-0000-000000000000", "snapshot_id": None}
    assert "replaced" in str(
        stale_state_reason(table.metadata, pipeline_name="p", load_id="3", lineage=base)
    )
    assert "no longer exists" in str(
        stale_state_reason(None, pipeline_name="p", load_id="3", lineage=base)
    )


def test_without_lineage_a_state_of_at_least_the_same_version_is_newer(table: Table) -> None:
    _commit(table, "1", version=3)
    check = lambda version: stale_state_reason(  # noqa: E731
        table.metadata, pipeline_name="p", load_id="2", lineage=None, version=version
    )
    assert check(3) is not None  # started together from nothing
    assert check(4) is None  # a local state that continued from that commit


def test_guard_refuses_a_rebase_onto_another_writers_state_inside_pyicebergs_retry(
    table: Table,
) -> None:
    from pyiceberg.table import TableProperties

    from floe_ingestion_dlt.destination.lineage import StaleStateInCommit, guard_transaction

    table.transaction().set_properties(
        {TableProperties.COMMIT_MIN_RETRY_WAIT_MS: "1"}
    ).commit_transaction()
    _commit(table, "1")
    base = _lineage(table)
    txn = table.transaction()
    guard_transaction(txn, pipeline_name="p", load_id="3", lineage=base)  # nothing newer yet
    txn.append(ROWS, snapshot_properties={LOAD_ID: "3", PIPELINE_NAME: "p"})
    other = table.catalog.load_table("bronze.t")
    _commit(other, "2")  # another pod of the pipeline commits between staging and commit

    with pytest.raises(StaleStateInCommit, match="committed load 2"):
        txn.commit_transaction()
    assert table.refresh().metadata.current_snapshot_id == other.metadata.current_snapshot_id


def test_guard_lets_pyiceberg_rebase_onto_another_pipelines_commit(table: Table) -> None:
    from pyiceberg.table import TableProperties

    from floe_ingestion_dlt.destination.lineage import guard_transaction

    table.transaction().set_properties(
        {TableProperties.COMMIT_MIN_RETRY_WAIT_MS: "1"}
    ).commit_transaction()
    _commit(table, "1")
    txn = table.transaction()
    guard_transaction(txn, pipeline_name="p", load_id="3", lineage=_lineage(table))
    txn.append(ROWS, snapshot_properties={LOAD_ID: "3", PIPELINE_NAME: "p"})
    table.catalog.load_table("bronze.t").append(ROWS)  # a writer without state

    txn.commit_transaction()

    assert table.refresh().scan().to_arrow().num_rows == 3
