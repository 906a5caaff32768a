"""Guards for the runnable no-op job that spares dlt's loader its 1-second idle poll."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

from dlt.common.destination.client import HasFollowupJobs, RunnableLoadJob
from dlt.destinations.impl.filesystem import filesystem as fs_module
from dlt.destinations.job_impl import FinalizedLoadJobWithFollowupJobs
from dlt.load import load as load_module

from floe_ingestion_dlt.destination.client import FloeIcebergClient
from floe_ingestion_dlt.destination.load_job import IcebergSnapshotLoadJob
from floe_ingestion_dlt.destination.ready_job import ReadyFileJob

ICEBERG_TABLE = {"name": "orders", "table_format": "iceberg", "columns": {}}


def _client() -> FloeIcebergClient:
    client = object.__new__(FloeIcebergClient)
    client.schema = SimpleNamespace(state_table_name="_dlt_pipeline_state")  # type: ignore[assignment]
    client.config = SimpleNamespace(as_staging_destination=False)  # type: ignore[assignment]
    return client


def test_dlt_still_marks_table_format_files_with_a_never_running_job() -> None:
    source = inspect.getsource(fs_module.FilesystemClient.get_load_job_class)
    assert "FinalizedLoadJobWithFollowupJobs" in source


def test_dlt_loader_still_polls_and_only_pools_runnable_jobs() -> None:
    assert "_run_loop_sleep_duration" in inspect.getsource(load_module.Load.__init__)
    assert "isinstance(job, RunnableLoadJob)" in inspect.getsource(load_module.Load.submit_job)
    assert "self._done_event.release()" in inspect.getsource(RunnableLoadJob._release)


def test_data_files_of_iceberg_tables_get_the_runnable_no_op_job() -> None:
    client = _client()
    assert client.get_load_job_class(ICEBERG_TABLE, "/x/orders.abc.0.parquet") is ReadyFileJob  # type: ignore[arg-type]
    assert (
        client.get_load_job_class(ICEBERG_TABLE, "/x/orders.abc.0.reference")  # type: ignore[arg-type]
        is IcebergSnapshotLoadJob
    )
    assert issubclass(ReadyFileJob, RunnableLoadJob)
    assert issubclass(ReadyFileJob, HasFollowupJobs)
    assert not issubclass(ReadyFileJob, FinalizedLoadJobWithFollowupJobs)


def test_the_state_table_keeps_dlt_s_job() -> None:
    state = {"name": "_dlt_pipeline_state", "columns": {}}
    assert (
        _client().get_load_job_class(state, "/x/_dlt_pipeline_state.a.0.jsonl") is not ReadyFileJob
    )  # type: ignore[arg-type]
