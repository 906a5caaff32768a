"""OpenTelemetry metrics of the plugin (meter ``floe.ingestion.dlt``).

Only the OpenTelemetry metrics API is used: without an SDK the instruments are no-ops. They
are created once, on a proxy meter, so a meter provider installed later still receives them.

Instruments (all labelled ``ingestion.source_type`` and ``ingestion.destination_table``):

* ``floe.ingestion.rows_loaded`` (counter, ``{row}``): rows committed to Iceberg by runs.
* ``floe.ingestion.bytes_written`` (counter, ``By``): bytes of data files committed by runs.
* ``floe.ingestion.runs`` (counter, ``{run}``): runs, labelled ``ingestion.outcome``
  (``success``/``failure``) and, for failures, ``error.category``.
* ``floe.ingestion.run.duration`` (histogram, ``s``): wall-clock run time, labelled like
  ``floe.ingestion.runs``.
"""

from __future__ import annotations

from opentelemetry import metrics

__all__ = [
    "BYTES_WRITTEN",
    "METER_NAME",
    "ROWS_LOADED",
    "RUNS",
    "RUN_DURATION",
    "record_run",
]

METER_NAME = "floe.ingestion.dlt"

ROWS_LOADED = "floe.ingestion.rows_loaded"
BYTES_WRITTEN = "floe.ingestion.bytes_written"
RUNS = "floe.ingestion.runs"
RUN_DURATION = "floe.ingestion.run.duration"

_DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
"""Seconds: ingestion runs last from about a second to hours."""

_meter = metrics.get_meter(METER_NAME)
_rows = _meter.create_counter(
    ROWS_LOADED, unit="{row}", description="Rows committed to Iceberg tables by ingestion runs"
)
_bytes = _meter.create_counter(
    BYTES_WRITTEN, unit="By", description="Bytes of data files committed by ingestion runs"
)
_runs = _meter.create_counter(RUNS, unit="{run}", description="Ingestion runs by outcome")
_duration = _meter.create_histogram(
    RUN_DURATION,
    unit="s",
    description="Wall-clock duration of ingestion runs",
    explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
)


def record_run(
    *,
    source_type: str,
    destination_table: str,
    success: bool,
    rows_loaded: int,
    bytes_written: int,
    duration_seconds: float,
    error_category: str | None = None,
) -> None:
    """Record one finished run (successful or not) on every instrument.

    Example:
        >>> record_run(source_type="filesystem", destination_table="bronze.orders",
        ...            success=True, rows_loaded=10, bytes_written=2048, duration_seconds=1.5)
    """
    labels: dict[str, str] = {
        "ingestion.source_type": source_type,
        "ingestion.destination_table": destination_table,
    }
    _rows.add(rows_loaded, labels)
    _bytes.add(bytes_written, labels)
    outcome = {**labels, "ingestion.outcome": "success" if success else "failure"}
    if not success:
        outcome["error.category"] = error_category or "UNKNOWN"
    _runs.add(1, outcome)
    _duration.record(duration_seconds, outcome)
