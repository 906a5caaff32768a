"""Span helpers: names, scrubbed attributes, error recording, context handoff across threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest
from opentelemetry.trace import StatusCode

from floe_ingestion_dlt.errors import SchemaContractViolation, SourceConnectionError
from floe_ingestion_dlt.scrub import register_secrets
from floe_ingestion_dlt.tracing import (
    TRACER_NAME,
    handed_off_context,
    publish_context,
    published_context,
    span,
)
from tests.observability_sdk import OtelSdk


def test_span_name_scope_and_attributes(otel: OtelSdk) -> None:
    with span("create_pipeline", **{"ingestion.source_type": "filesystem", "skipped": None}):
        pass
    finished = otel.one("floe.ingestion.create_pipeline")
    assert finished.instrumentation_scope.name == TRACER_NAME
    assert finished.attributes == {"ingestion.source_type": "filesystem"}
    assert finished.status.status_code is StatusCode.UNSET


def test_string_attributes_are_scrubbed(otel: OtelSdk) -> None:
    register_secrets(["tok-55aa66bb"])
    with span(
        "run", **{"note": "dsn postgresql://u:pw@h/db tok-55aa66bb", "tags": ["tok-55aa66bb"]}
    ):
        pass
    attributes = otel.one("floe.ingestion.run").attributes
    assert attributes["note"] == "dsn postgresql://u:***@h/db ***"
    assert list(attributes["tags"]) == ["***"]


def test_escaping_error_marks_span_with_scrubbed_categorized_root_cause(otel: OtelSdk) -> None:
    register_secrets(["pw-77cc88dd"])
    with pytest.raises(RuntimeError), span("run"):
        try:
            raise SourceConnectionError("db refused login pw-77cc88dd")
        except SourceConnectionError as exc:
            raise RuntimeError("wrapper") from exc
    finished = otel.one("floe.ingestion.run")
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.attributes["error.type"] == "SourceConnectionError"
    assert finished.attributes["error.message"] == "db refused login ***"
    assert finished.attributes["error.category"] == "TRANSIENT"
    assert "pw-77cc88dd" not in (finished.status.description or "")
    assert finished.events == ()  # no exception event: it would carry unscrubbed text


def test_permanent_error_category(otel: OtelSdk) -> None:
    with pytest.raises(SchemaContractViolation), span("load"):
        raise SchemaContractViolation("frozen", destination_table="bronze.t")
    assert otel.one("floe.ingestion.load").attributes["error.category"] == "PERMANENT"


def commit_in_thread(key: str) -> None:
    def work() -> None:
        with span("iceberg.commit", key):
            pass

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()


def test_worker_thread_span_takes_the_published_parent(otel: OtelSdk) -> None:
    with span("load") as load_span:
        with published_context("floe__bronze__t"):
            commit_in_thread("floe__bronze__t")
        commit_in_thread("floe__bronze__t")
    commits = otel.finished("floe.ingestion.iceberg.commit")
    assert len(commits) == 2
    load_ctx = load_span.get_span_context()
    assert commits[0].parent is not None
    assert commits[0].parent.span_id == load_ctx.span_id
    assert commits[0].context.trace_id == load_ctx.trace_id
    assert commits[1].parent is None  # withdrawn: a trace of its own


def test_thread_with_its_own_span_keeps_it_as_parent(otel: OtelSdk) -> None:
    with span("load"), published_context("key-a"):
        with span("run") as own, span("iceberg.commit", "key-a"):
            pass
    commit = otel.one("floe.ingestion.iceberg.commit")
    assert commit.parent is not None
    assert commit.parent.span_id == own.get_span_context().span_id


def test_publications_nest_and_withdraw_in_any_order() -> None:
    from opentelemetry import context

    first, second = context.Context({"n": 1}), context.Context({"n": 2})
    withdraw_first = publish_context("k", first)
    withdraw_second = publish_context("k", second)
    assert handed_off_context("k") is second
    withdraw_first()
    assert handed_off_context("k") is second
    withdraw_second()
    assert handed_off_context("k") is None
    withdraw_second()  # harmless


def test_without_sdk_spans_are_no_ops() -> None:
    """In a fresh interpreter with only the API: nothing records, nothing fails."""
    code = textwrap.dedent(
        """
        from floe_ingestion_dlt.tracing import span, published_context
        from floe_ingestion_dlt.metrics import record_run
        with span("run", **{"ingestion.source_type": "x"}) as s:
            assert not s.is_recording()
            with published_context("p"), span("iceberg.commit", "p") as c:
                assert not c.is_recording()
        try:
            with span("run"):
                raise ValueError("boom")
        except ValueError:
            pass
        record_run(source_type="x", destination_table="a.b", success=True,
                   rows_loaded=1, bytes_written=2, duration_seconds=0.1)
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
