"""The span and log event around one Iceberg commit of a load job.

The load job calls :func:`iceberg_commit_span` in dlt's worker thread. The span's parent is the
context the run published for its pipeline name (the ``load`` phase, see
:mod:`floe_ingestion_dlt.observability`); the run's source type comes from
:mod:`floe_ingestion_dlt.active_runs`, so the destination needs nothing from the layers above it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.active_runs import active_run
from floe_ingestion_dlt.destination.snapshots import ROWS_LOADED, find_committed_load
from floe_ingestion_dlt.errors import categorize_error, format_error
from floe_ingestion_dlt.logging import get_logger, log_context
from floe_ingestion_dlt.tracing import set_attributes, span

if TYPE_CHECKING:
    from opentelemetry.trace import Span
    from pyiceberg.table import Table

__all__ = ["CommitRecorder", "iceberg_commit_span"]

# the event belongs to the run's observability stream, under the logger name it always had
_log = get_logger("floe_ingestion_dlt.observability")


class CommitRecorder:
    """Handed to the body of :func:`iceberg_commit_span` to report what was committed."""

    def __init__(self, current: Span, load_id: str) -> None:
        self.span = current
        self.load_id = load_id
        self.snapshot_id: int | None = None
        self.rows: int | None = None
        self.bytes_written: int | None = None

    def committed(self, table: Table) -> None:
        """Record the snapshot of ``table`` that committed this load id."""
        self.snapshot_id = find_committed_load(table, self.load_id)
        snapshot = table.snapshot_by_id(self.snapshot_id) if self.snapshot_id else None
        if snapshot is not None and snapshot.summary is not None:
            props = snapshot.summary.additional_properties
            self.rows = int(props.get(ROWS_LOADED) or props.get("added-records") or 0)
            self.bytes_written = int(props.get("added-files-size") or 0)
        set_attributes(
            self.span,
            {
                "iceberg.snapshot_id": self.snapshot_id,
                "ingestion.rows_loaded": self.rows,
                "ingestion.bytes_written": self.bytes_written,
            },
        )


def _log_failure(exc: Exception, fields: dict[str, Any], duration: float) -> None:
    _log.error(
        "iceberg commit failed",
        status="failed",
        duration_seconds=round(duration, 3),
        error=format_error(
            exc,
            pipeline_name=fields["pipeline_name"],
            source_type=fields["source_type"],
            destination_table=fields["destination_table"],
        ),
        category=categorize_error(exc).value,
    )


def _log_success(recorder: CommitRecorder, duration: float) -> None:
    _log.info(
        "iceberg commit",
        status="success",
        snapshot_id=recorder.snapshot_id,
        rows_loaded=recorder.rows,
        bytes_written=recorder.bytes_written,
        duration_seconds=round(duration, 3),
    )


@contextmanager
def iceberg_commit_span(
    *, pipeline_name: str | None, destination_table: str, load_id: str
) -> Iterator[CommitRecorder]:
    """Span ``floe.ingestion.iceberg.commit`` and a log event around one Iceberg commit.

    Works in dlt's worker threads: the span's parent is the context published for
    ``pipeline_name`` (the ``load`` phase) when the thread has no active span.
    """
    run = active_run(pipeline_name)
    fields = {
        "pipeline_name": pipeline_name,
        "source_type": run.source_type if run is not None else None,
        "destination_table": destination_table,
        "load_id": load_id,
    }
    attributes = {
        "ingestion.pipeline_name": pipeline_name,
        "ingestion.source_type": fields["source_type"],
        "ingestion.destination_table": destination_table,
        "iceberg.table": destination_table,
        "dlt.load_id": load_id,
    }
    started = time.perf_counter()
    with log_context(**fields), span("iceberg.commit", pipeline_name, **attributes) as current:
        recorder = CommitRecorder(current, load_id)
        try:
            yield recorder
        except Exception as exc:
            duration = time.perf_counter() - started
            set_attributes(current, {"ingestion.duration_seconds": duration})
            _log_failure(exc, fields, duration)
            raise
        duration = time.perf_counter() - started
        set_attributes(current, {"ingestion.duration_seconds": duration})
        _log_success(recorder, duration)
