"""OpenTelemetry spans of the plugin (tracer ``floe.ingestion.dlt``).

Only the OpenTelemetry API is used: with no SDK configured every span is a no-op.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from floe_ingestion_dlt.errors import categorize_error, root_error
from floe_ingestion_dlt.scrub import scrub_text

__all__ = ["TRACER_NAME", "record_error", "span"]

TRACER_NAME = "floe.ingestion.dlt"


def _tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def record_error(current: Span, exc: BaseException) -> None:
    """Mark ``current`` as failed with the scrubbed, categorized root cause."""
    root = root_error(exc)
    message = scrub_text(str(root))
    current.set_attribute("error.type", type(root).__name__)
    current.set_attribute("error.message", message)
    current.set_attribute("error.category", categorize_error(exc).value)
    current.set_status(Status(StatusCode.ERROR, message))


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Span]:
    """A span named ``floe.ingestion.<name>``; an escaping exception marks it ERROR."""
    with _tracer().start_as_current_span(
        f"floe.ingestion.{name}", record_exception=False, set_status_on_exception=False
    ) as current:
        for key, value in attributes.items():
            if value is not None:
                current.set_attribute(key, value)
        try:
            yield current
        except BaseException as exc:
            record_error(current, exc)
            raise
