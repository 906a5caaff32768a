"""The REST catalog (SeaweedFS ``weed mini``) goes away in the middle of a run.

The server is stopped by the load job right before its commit: the run either heals by retry
once the catalog is back, or reports TRANSIENT with nothing committed; a rerun then completes
with every row exactly once. Each test has its own SeaweedFS (stopping the session one would
disturb other tests).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.destination import load_job
from floe_ingestion_dlt.errors import ErrorCategory
from tests.integration.faults.support import duplicates, incremental_files_config, write_ids_csv
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


@pytest.fixture
def own_seaweedfs() -> Iterator[SeaweedFS]:
    with SeaweedFS() as server:
        server.create_bucket("state")
        yield server


def _plugin(server: SeaweedFS, folder: Path, retry: RetryConfig) -> DltIngestionPlugin:
    plugin = DltIngestionPlugin(
        DltIngestionConfig(
            catalog_config=CatalogConfig.parse(server.catalog_properties()),
            dlt_state_url="s3://state/dlt",
            pipelines_dir=folder,
            retry_config=retry,
        )
    )
    plugin.startup()
    return plugin


def _ids(server: SeaweedFS) -> list[int]:
    table = server.pyiceberg_catalog(name="reader").load_table("bronze.events")
    return [int(v) for v in table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()]


def _stop_catalog_before_commit(
    monkeypatch: pytest.MonkeyPatch, server: SeaweedFS, restart_after: float | None
) -> list[bool]:
    """The first commit of the run stops the server (and restarts it after a while).

    Returns a list that records each commit attempt's outcome (True: committed)."""
    original = load_job.IcebergSnapshotLoadJob._commit
    stopped = threading.Event()
    attempts: list[bool] = []

    def commit(job: Any, data: Any) -> None:
        if not stopped.is_set():
            stopped.set()
            server.stop()
            if restart_after is not None:
                threading.Timer(restart_after, server.start).start()
        try:
            original(job, data)
        except Exception:
            attempts.append(False)
            raise
        attempts.append(True)

    monkeypatch.setattr(load_job.IcebergSnapshotLoadJob, "_commit", commit)
    return attempts


def test_catalog_restarted_mid_run_heals_by_retry(
    own_seaweedfs: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = own_seaweedfs
    retry = RetryConfig(max_retries=6, initial_delay_seconds=1.0, max_delay_seconds=4.0)
    plugin = _plugin(server, tmp_path / "pipelines", retry)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 301), "a.csv")
    config = incremental_files_config(data)
    assert plugin.run(plugin.create_pipeline(config)).success

    write_ids_csv(data, range(301, 601), "b.csv")
    pipeline = plugin.create_pipeline(config)
    commits = _stop_catalog_before_commit(monkeypatch, server, restart_after=1.0)
    outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    # failed while the catalog was away, healed by the runner's retries (dlt's own job
    # retries defer to them), committed once
    assert commits[0] is False and commits[-1] is True and commits.count(True) == 1
    ids = _ids(server)
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(1, 601))
    assert outcome.rows_loaded == 300


def test_catalog_down_for_the_whole_run_reports_transient_and_a_rerun_completes(
    own_seaweedfs: SeaweedFS, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = own_seaweedfs
    retry = RetryConfig(max_retries=0)
    plugin = _plugin(server, tmp_path / "pipelines", retry)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 201), "a.csv")
    config = incremental_files_config(data)
    assert plugin.run(plugin.create_pipeline(config)).success

    write_ids_csv(data, range(201, 401), "b.csv")
    pipeline = plugin.create_pipeline(config)
    _stop_catalog_before_commit(monkeypatch, server, restart_after=None)
    try:
        outcome = plugin.run_with_outcome(pipeline)
    finally:
        server.start()
    monkeypatch.undo()

    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.errors[0].startswith("[TRANSIENT] ")
    assert sorted(_ids(server)) == list(range(1, 201))  # nothing of the failed run committed
    assert pipeline.has_pending_data  # TRANSIENT: kept for the rerun

    rerun = plugin.run_with_outcome(plugin.create_pipeline(config))
    assert rerun.success, rerun.errors
    ids = _ids(server)
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(1, 401))
