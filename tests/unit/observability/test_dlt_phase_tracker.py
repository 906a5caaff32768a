"""dlt's tracking modules turned into phase spans and log events (guards the dlt internals used).

dlt calls ``dlt.pipeline.trace.TRACKING_MODULES`` when each step of a pipeline call starts and
ends; the plugin registers :class:`DltPhaseTracker` there. These tests run real dlt pipelines
(local duckdb destination) and fail if dlt stops calling the modules the way the tracker expects.
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import dlt
import pytest
from opentelemetry.trace import StatusCode

from floe_ingestion_dlt.logging import configure_logging
from floe_ingestion_dlt.observability import DltPhaseTracker, install_phase_tracker, observe_run
from floe_ingestion_dlt.sources.base import SourceContext
from floe_ingestion_dlt.tracing import span
from tests.observability_sdk import OtelSdk, children

dlt_trace = importlib.import_module("dlt.pipeline.trace")


def context_for(name: str) -> SourceContext:
    return SourceContext(
        source_type="test_source",
        destination_table="obs.items",
        namespace="obs",
        table_name="items",
        write_mode="append",
        schema_contract="evolve",
        pipeline_name=name,
    )


@pytest.fixture
def pipeline(tmp_path: Path) -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=f"obs_{uuid.uuid4().hex[:8]}",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.duckdb(str(tmp_path / "db.duckdb")),
        dataset_name="obs",
    )


@pytest.fixture
def events() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    configure_logging(level="INFO", json=True, stream=buffer)
    yield buffer


def parsed(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_tracking_module_protocol_is_what_the_tracker_implements() -> None:
    from dlt.common.runtime.tracking import SupportsTracking

    for name in ("on_start_trace", "on_start_trace_step", "on_end_trace_step", "on_end_trace"):
        theirs = list(inspect.signature(getattr(SupportsTracking, name)).parameters)
        ours = list(inspect.signature(getattr(DltPhaseTracker, name)).parameters)
        assert len(theirs) == len(ours), name
    # dlt passes the callbacks positionally
    source = inspect.getsource(dlt_trace)
    assert "module.on_start_trace_step(trace, step, pipeline)" in source
    assert "module.on_end_trace_step(trace, step, pipeline, step_info, send_state)" in source


def test_install_is_idempotent() -> None:
    install_phase_tracker()
    install_phase_tracker()
    trackers = [m for m in dlt_trace.TRACKING_MODULES if isinstance(m, DltPhaseTracker)]
    assert len(trackers) == 1


def test_observed_run_has_phase_spans_under_the_current_span(
    otel: OtelSdk, pipeline: dlt.Pipeline, events: io.StringIO
) -> None:
    rows = [{"id": i, "name": f"n{i}"} for i in range(25)]
    with span("run") as run_span, observe_run(context_for(pipeline.pipeline_name)):
        info = pipeline.run(rows, table_name="items")
    spans = otel.finished()
    run = otel.one("floe.ingestion.run")
    assert run.context.span_id == run_span.get_span_context().span_id
    phases = children(spans, run)
    assert [s.name for s in phases] == [
        "floe.ingestion.extract",
        "floe.ingestion.normalize",
        "floe.ingestion.load",
    ]
    extract, normalize, load = phases
    assert extract.attributes["ingestion.rows_extracted"] == 25
    assert normalize.attributes["ingestion.rows_normalized"] == 25
    assert load.attributes["ingestion.jobs_failed"] == 0
    for phase in phases:
        assert phase.attributes["ingestion.pipeline_name"] == pipeline.pipeline_name
        assert phase.attributes["ingestion.source_type"] == "test_source"
        assert phase.attributes["dlt.load_id"] == info.loads_ids[-1]
        assert phase.attributes["ingestion.duration_seconds"] > 0
        assert phase.status.status_code is StatusCode.UNSET
    logged = {e["event"]: e for e in parsed(events)}
    for name in ("extract finished", "normalize finished", "load finished"):
        event = logged[name]
        assert event["status"] == "success"
        assert event["pipeline_name"] == pipeline.pipeline_name
        assert event["destination_table"] == "obs.items"
        assert event["load_id"] == info.loads_ids[-1]
        assert event["duration_seconds"] >= 0
    assert logged["extract finished"]["rows_extracted"] == 25
    assert logged["normalize finished"]["rows_normalized"] == 25


def test_failed_extract_marks_its_span_and_logs_the_failure(
    otel: OtelSdk, pipeline: dlt.Pipeline, events: io.StringIO
) -> None:
    @dlt.resource(name="items")
    def broken() -> Iterator[dict]:
        yield {"id": 1}
        raise TimeoutError("source read timed out")

    with (
        pytest.raises(Exception, match="timed out"),
        span("run"),
        observe_run(context_for(pipeline.pipeline_name)),
    ):
        pipeline.run(broken())
    extract = otel.one("floe.ingestion.extract")
    assert extract.status.status_code is StatusCode.ERROR
    assert extract.attributes["error.type"] == "TimeoutError"
    assert extract.attributes["error.category"] == "TRANSIENT"
    assert otel.finished("floe.ingestion.normalize") == []
    [failed] = [e for e in parsed(events) if e["event"] == "extract failed"]
    assert failed["level"] == "error"
    assert failed["status"] == "failed"
    assert failed["category"] == "TRANSIENT"
    assert "TimeoutError" in failed["error"]


def test_pipelines_outside_observe_run_are_left_alone(
    otel: OtelSdk, pipeline: dlt.Pipeline
) -> None:
    install_phase_tracker()
    pipeline.run([{"id": 1}], table_name="items")
    assert otel.finished() == []


def test_context_is_restored_after_the_run(otel: OtelSdk, pipeline: dlt.Pipeline) -> None:
    from opentelemetry import trace

    with span("run") as run_span, observe_run(context_for(pipeline.pipeline_name)):
        pipeline.run([{"id": 1}], table_name="items")
        assert trace.get_current_span() is run_span
    assert not trace.get_current_span().get_span_context().is_valid


def test_failed_step_without_exception_in_flight_uses_dlts_record(otel: OtelSdk) -> None:
    """If dlt ever reports a failed step outside its ``finally``, its record still marks it."""
    from types import SimpleNamespace

    from floe_ingestion_dlt.scrub import register_secrets

    register_secrets(["pw-0a1b2c3d"])
    tracker = DltPhaseTracker()
    pipeline = SimpleNamespace(pipeline_name="floe__fake__record")
    step = SimpleNamespace(
        step="normalize",
        step_exception="normalize failed: pw-0a1b2c3d",
        exception_traces=[
            {"exception_type": "dlt.normalize.exceptions.NormalizeJobFailed", "message": "bad"}
        ],
    )
    with span("run"), observe_run(context_for(pipeline.pipeline_name)):
        tracker.on_start_trace_step(None, "normalize", pipeline)
        try:
            raise ValueError("an unrelated error being handled")
        except ValueError:
            tracker.on_end_trace_step(None, step, pipeline, None, False)
    normalize = otel.one("floe.ingestion.normalize")
    assert normalize.status.status_code is StatusCode.ERROR
    assert normalize.attributes["error.type"] == "NormalizeJobFailed"
    assert normalize.attributes["error.message"] == "bad"
    assert normalize.attributes["error.category"] == "PERMANENT"
