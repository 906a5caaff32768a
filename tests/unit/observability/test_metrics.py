"""Run metrics through the OpenTelemetry metrics API, read with the SDK's in-memory reader."""

from __future__ import annotations

import uuid

import pytest

from floe_ingestion_dlt.metrics import BYTES_WRITTEN, ROWS_LOADED, RUN_DURATION, RUNS, record_run
from tests.observability_sdk import OtelSdk


@pytest.fixture
def table() -> str:
    """A destination table no other test records metrics for."""
    return f"bronze.m_{uuid.uuid4().hex[:10]}"


def test_successful_and_failed_runs(otel: OtelSdk, table: str) -> None:
    labels = {"ingestion.source_type": "filesystem", "ingestion.destination_table": table}
    record_run(
        source_type="filesystem",
        destination_table=table,
        success=True,
        rows_loaded=120,
        bytes_written=4096,
        duration_seconds=2.5,
    )
    record_run(
        source_type="filesystem",
        destination_table=table,
        success=True,
        rows_loaded=30,
        bytes_written=1024,
        duration_seconds=0.7,
    )
    record_run(
        source_type="filesystem",
        destination_table=table,
        success=False,
        rows_loaded=0,
        bytes_written=0,
        duration_seconds=40.0,
        error_category="TRANSIENT",
    )
    assert otel.total(ROWS_LOADED, **labels) == 150
    assert otel.total(BYTES_WRITTEN, **labels) == 5120
    assert otel.total(RUNS, **labels, **{"ingestion.outcome": "success"}) == 2
    [failure] = otel.points(RUNS, **labels, **{"ingestion.outcome": "failure"})
    assert failure.value == 1
    assert failure.attributes["error.category"] == "TRANSIENT"
    [ok_hist] = otel.points(RUN_DURATION, **labels, **{"ingestion.outcome": "success"})
    assert ok_hist.count == 2
    assert ok_hist.sum == pytest.approx(3.2)
    assert ok_hist.min == pytest.approx(0.7)
    [failed_hist] = otel.points(RUN_DURATION, **labels, **{"ingestion.outcome": "failure"})
    assert failed_hist.count == 1
    assert failed_hist.sum == pytest.approx(40.0)
    # bucket boundaries fit runs of seconds to hours, not the SDK's millisecond defaults
    assert 1.0 in failed_hist.explicit_bounds
    assert max(failed_hist.explicit_bounds) >= 3600


def test_instruments_have_units(otel: OtelSdk, table: str) -> None:
    record_run(
        source_type="rest_api",
        destination_table=table,
        success=True,
        rows_loaded=1,
        bytes_written=1,
        duration_seconds=1,
    )
    data = otel.metrics.get_metrics_data()
    units = {
        m.name: m.unit
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        if sm.scope.name == "floe.ingestion.dlt"
        for m in sm.metrics
    }
    assert units[ROWS_LOADED] == "{row}"
    assert units[BYTES_WRITTEN] == "By"
    assert units[RUNS] == "{run}"
    assert units[RUN_DURATION] == "s"
