"""OpenTelemetry spans of the plugin (tracer ``floe.ingestion.dlt``).

Only the OpenTelemetry API is used: with no SDK configured every span is a no-op and the
helpers here skip all attribute work (they check ``is_recording()`` first).

dlt runs load jobs in a thread pool and OpenTelemetry's context does not cross threads by
itself. A thread that starts such work *publishes* its context under a key (the pipeline name)
with :func:`publish_context`; a span opened in a worker thread with a ``parent_key`` and no
active span of its own takes the published context as its parent.

Example:
    >>> with span("health_check", **{"ingestion.pipeline_name": "floe__bronze__orders"}):
    ...     pass
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from floe_ingestion_dlt.errors import categorize_error, root_error
from floe_ingestion_dlt.scrub import scrub_text

__all__ = [
    "SPAN_PREFIX",
    "TRACER_NAME",
    "handed_off_context",
    "publish_context",
    "published_context",
    "record_error",
    "set_attributes",
    "span",
    "start_span",
]

TRACER_NAME = "floe.ingestion.dlt"
SPAN_PREFIX = "floe.ingestion."

# A ProxyTracer: it delegates to the SDK's tracer once a provider is set, even later.
_TRACER = trace.get_tracer(TRACER_NAME)

_handoffs: dict[str, list[otel_context.Context]] = {}
_handoff_lock = threading.Lock()


def record_error(current: Span, exc: BaseException) -> None:
    """Mark ``current`` as failed with the scrubbed, categorized root cause."""
    if not current.is_recording():
        return
    root = root_error(exc)
    message = scrub_text(str(root))
    current.set_attribute("error.type", type(root).__name__)
    current.set_attribute("error.message", message)
    current.set_attribute("error.category", categorize_error(exc).value)
    current.set_status(Status(StatusCode.ERROR, message))


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, list | tuple):
        return [scrub_text(v) if isinstance(v, str) else v for v in value]
    return value


def set_attributes(current: Span, attributes: Mapping[str, Any]) -> None:
    """Set the non-``None`` ``attributes`` on ``current``; strings are scrubbed of secrets."""
    if not current.is_recording():
        return
    for key, value in attributes.items():
        if value is not None:
            current.set_attribute(key, _clean(value))


def publish_context(key: str, ctx: otel_context.Context | None = None) -> Callable[[], None]:
    """Offer ``ctx`` (default: the current context) as parent to spans opened under ``key``.

    Returns the function that withdraws it again. Publications nest: the newest one wins.
    """
    published = ctx if ctx is not None else otel_context.get_current()
    with _handoff_lock:
        _handoffs.setdefault(key, []).append(published)

    def withdraw() -> None:
        with _handoff_lock:
            stack = _handoffs.get(key)
            if not stack:
                return
            for index in range(len(stack) - 1, -1, -1):
                if stack[index] is published:
                    del stack[index]
                    break
            if not stack:
                del _handoffs[key]

    return withdraw


@contextmanager
def published_context(key: str, ctx: otel_context.Context | None = None) -> Iterator[None]:
    """:func:`publish_context` for the duration of a ``with`` block."""
    withdraw = publish_context(key, ctx)
    try:
        yield
    finally:
        withdraw()


def handed_off_context(key: str) -> otel_context.Context | None:
    """The context most recently published under ``key``, if any."""
    with _handoff_lock:
        stack = _handoffs.get(key)
        return stack[-1] if stack else None


def _parent_for(parent_key: str | None) -> otel_context.Context | None:
    if parent_key is None or trace.get_current_span().get_span_context().is_valid:
        return None  # the thread's own current span is the parent
    return handed_off_context(parent_key)


@contextmanager
def span(name: str, parent_key: str | None = None, /, **attributes: Any) -> Iterator[Span]:
    """A span named ``floe.ingestion.<name>``; an escaping exception marks it ERROR.

    ``parent_key`` (positional) names a context published with :func:`publish_context`; it is
    the parent when the calling thread has no active span (a dlt worker thread).
    """
    with _TRACER.start_as_current_span(
        SPAN_PREFIX + name,
        context=_parent_for(parent_key),
        record_exception=False,  # exception events would carry unscrubbed text
        set_status_on_exception=False,
    ) as current:
        set_attributes(current, attributes)
        try:
            yield current
        except BaseException as exc:
            record_error(current, exc)
            raise


def start_span(name: str, **attributes: Any) -> Span:
    """Start (not activate) a span named ``floe.ingestion.<name>`` under the current context."""
    current = _TRACER.start_span(SPAN_PREFIX + name, record_exception=False)
    set_attributes(current, attributes)
    return current
