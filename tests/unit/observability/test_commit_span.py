"""The Iceberg commit span, opened by a load job in a worker thread, finds its run.

The destination does not import the run's observability (:mod:`floe_ingestion_dlt.observability`
sits above it): the run's identity reaches the commit span through
:mod:`floe_ingestion_dlt.active_runs`, its parent span through the published context.
"""

from __future__ import annotations

import threading
import uuid

import pytest

from floe_ingestion_dlt.active_runs import RunIdentity, active_run, register_run
from floe_ingestion_dlt.destination.commit_span import iceberg_commit_span
from floe_ingestion_dlt.observability import observe_run
from floe_ingestion_dlt.sources.base import SourceContext
from floe_ingestion_dlt.tracing import span
from tests.observability_sdk import OtelSdk


def _context(name: str) -> SourceContext:
    return SourceContext(
        source_type="rest_api",
        destination_table="obs.orders",
        namespace="obs",
        table_name="orders",
        write_mode="append",
        schema_contract="evolve",
        pipeline_name=name,
    )


def _in_worker_thread(name: str) -> None:
    def commit() -> None:
        with iceberg_commit_span(pipeline_name=name, destination_table="obs.orders", load_id="1"):
            pass

    worker = threading.Thread(target=commit)
    worker.start()
    worker.join()


def test_a_commit_in_a_worker_thread_carries_the_runs_source_type_and_parent(
    otel: OtelSdk,
) -> None:
    name = f"obs_{uuid.uuid4().hex[:8]}"
    with span("run") as run_span, observe_run(_context(name)):
        _in_worker_thread(name)
    commit = otel.one("floe.ingestion.iceberg.commit")
    assert commit.attributes["ingestion.source_type"] == "rest_api"
    assert commit.attributes["ingestion.pipeline_name"] == name
    assert commit.parent is not None
    assert commit.parent.span_id == run_span.get_span_context().span_id
    assert active_run(name) is None  # withdrawn when the run ends


def test_a_commit_outside_a_run_has_no_source_type(otel: OtelSdk) -> None:
    _in_worker_thread(f"obs_{uuid.uuid4().hex[:8]}")
    assert "ingestion.source_type" not in otel.one("floe.ingestion.iceberg.commit").attributes


def test_registrations_nest_and_the_newest_wins() -> None:
    outer = RunIdentity("p", "sql_database", "a.b")
    inner = RunIdentity("p", "filesystem", "a.b")
    withdraw_outer = register_run(outer)
    withdraw_inner = register_run(inner)
    assert active_run("p") is inner
    withdraw_inner()
    assert active_run("p") is outer
    withdraw_outer()
    withdraw_outer()  # withdrawing twice is harmless
    assert active_run("p") is None
    assert active_run(None) is None


def test_a_failed_commit_is_logged_and_raised(otel: OtelSdk) -> None:
    name = f"obs_{uuid.uuid4().hex[:8]}"
    with (
        observe_run(_context(name)),
        pytest.raises(RuntimeError),
        iceberg_commit_span(pipeline_name=name, destination_table="obs.orders", load_id="1"),
    ):
        raise RuntimeError("boom")
    commit = otel.one("floe.ingestion.iceberg.commit")
    assert commit.attributes["ingestion.source_type"] == "rest_api"
    assert commit.attributes["ingestion.duration_seconds"] >= 0
