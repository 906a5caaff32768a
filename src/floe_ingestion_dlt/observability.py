"""Spans, structured log events and metrics for the inside of a run.

dlt has no OpenTelemetry of its own. It does have *tracking modules*
(``dlt.pipeline.trace.TRACKING_MODULES``, "plug in your own tracking modules here"), which
``Pipeline.run``/``extract``/``normalize``/``load`` call when each step starts and ends. The
:class:`DltPhaseTracker` registered there turns the ``extract``, ``normalize`` and ``load``
steps of a pipeline that is being run by :func:`observe_run` into child spans of
``floe.ingestion.run`` and logs one event per phase. ``pipeline.run`` stays untouched: the
destination sync, pending packages and dlt's own runtime trace behave as without the plugin.

dlt runs load jobs in a thread pool; OpenTelemetry's context stays in the thread that set it.
While the ``load`` step runs, its span's context is published under the pipeline name
(:func:`floe_ingestion_dlt.tracing.publish_context`), and the run's identity is registered in
:mod:`floe_ingestion_dlt.active_runs`; the load job's
:func:`~floe_ingestion_dlt.destination.commit_span.iceberg_commit_span`, in the worker thread,
opens its span under that context with that identity. So the trace reads::

    floe.ingestion.run
    ├── floe.ingestion.extract
    ├── floe.ingestion.normalize
    └── floe.ingestion.load
        └── floe.ingestion.iceberg.commit   (one per table per load package)
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Status, StatusCode

from floe_ingestion_dlt.active_runs import RunIdentity, register_run
from floe_ingestion_dlt.errors import (
    ErrorCategory,
    categorize_error,
    exception_chain,
    format_error,
)
from floe_ingestion_dlt.logging import get_logger, log_context
from floe_ingestion_dlt.scrub import scrub_text
from floe_ingestion_dlt.tracing import (
    publish_context,
    record_error,
    set_attributes,
    start_span,
)

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from floe_ingestion_dlt.sources.base import SourceContext

__all__ = [
    "PHASES",
    "DltPhaseTracker",
    "install_phase_tracker",
    "observe_run",
]

PHASES = ("extract", "normalize", "load")
"""The dlt steps that become child spans of ``floe.ingestion.run``."""

_log = get_logger("floe_ingestion_dlt.observability")


@dataclass
class _OpenPhase:
    name: str
    span: Span
    token: object
    started: float
    withdraw: Callable[[], None] | None = None


@dataclass
class _RunScope:
    """What the tracker knows about a pipeline being run by the plugin."""

    context: SourceContext
    phases: list[_OpenPhase] = field(default_factory=list)

    @property
    def log_fields(self) -> dict[str, str]:
        return {
            "pipeline_name": self.context.pipeline_name,
            "source_type": self.context.source_type,
            "destination_table": self.context.destination_table,
        }


_scopes: dict[str, _RunScope] = {}
_scopes_lock = threading.Lock()


def _scope(pipeline_name: str | None) -> _RunScope | None:
    if pipeline_name is None:
        return None
    with _scopes_lock:
        return _scopes.get(pipeline_name)


def _user_tables(names: Any) -> list[str]:
    return [str(n) for n in names if not str(n).startswith("_dlt")]


def _extract_counts(info: Any) -> dict[str, Any]:
    rows = size = 0
    tables: set[str] = set()
    for per_load in (getattr(info, "metrics", None) or {}).values():
        for step_metrics in per_load:
            for table, writer in (step_metrics.get("table_metrics") or {}).items():
                if str(table).startswith("_dlt"):
                    continue
                tables.add(str(table))
                rows += int(getattr(writer, "items_count", 0) or 0)
                size += int(getattr(writer, "file_size", 0) or 0)
    return {"rows_extracted": rows, "bytes_extracted": size, "tables": sorted(tables)}


def _normalize_counts(info: Any) -> dict[str, Any]:
    counts = dict(getattr(info, "row_counts", None) or {})
    tables = _user_tables(counts)
    return {"rows_normalized": sum(int(counts[t]) for t in tables), "tables": sorted(tables)}


def _load_counts(info: Any) -> dict[str, Any]:
    completed = failed = 0
    for package in getattr(info, "load_packages", None) or []:
        jobs = getattr(package, "jobs", None) or {}
        completed += len(jobs.get("completed_jobs", []))
        failed += len(jobs.get("failed_jobs", []))
    return {"jobs_completed": completed, "jobs_failed": failed}


_COUNTERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "extract": _extract_counts,
    "normalize": _normalize_counts,
    "load": _load_counts,
}


class DltPhaseTracker:
    """A dlt tracking module: a span and a log event for each phase of an observed run.

    Every callback is wrapped by dlt in ``suppress_and_warn``: an error here cannot fail a run.
    Pipelines that are not inside :func:`observe_run` are ignored.
    """

    def on_start_trace(self, dlt_trace: Any, step: str, pipeline: Any) -> None:
        """dlt callback: a traced pipeline call (run, extract ...) begins. Nothing to do."""

    def on_start_trace_step(self, dlt_trace: Any, step: str, pipeline: Any) -> None:
        """dlt callback: ``step`` begins; open its span as the thread's current span."""
        scope = _scope(getattr(pipeline, "pipeline_name", None))
        if scope is None or step not in PHASES:
            return
        current = start_span(
            step,
            **{
                "ingestion.phase": step,
                "ingestion.pipeline_name": scope.context.pipeline_name,
                "ingestion.source_type": scope.context.source_type,
                "ingestion.destination_table": scope.context.destination_table,
            },
        )
        ctx = otel_trace.set_span_in_context(current)
        phase = _OpenPhase(step, current, otel_context.attach(ctx), time.perf_counter())
        if step == "load":  # load jobs run in dlt's worker threads
            phase.withdraw = publish_context(scope.context.pipeline_name, ctx)
        scope.phases.append(phase)

    def on_end_trace_step(
        self, dlt_trace: Any, step: Any, pipeline: Any, step_info: Any, send_state: bool
    ) -> None:
        """dlt callback: ``step`` ended; close its span and log the phase event."""
        scope = _scope(getattr(pipeline, "pipeline_name", None))
        name = getattr(step, "step", None)
        if scope is None or name not in PHASES or not scope.phases:
            return
        if scope.phases[-1].name != name:
            return  # not the phase we opened (should not happen): leave the stack alone
        phase = scope.phases.pop()
        step_exception = getattr(step, "step_exception", None)
        failed = step_exception is not None
        # dlt calls end callbacks from a ``finally`` while the step's exception propagates;
        # make sure the exception in flight is the step's (dlt records its text)
        exc = sys.exc_info()[1] if failed else None
        if exc is not None and not str(step_exception).startswith(str(exc)):
            exc = None
        _close_phase(scope, phase, step_info, exc, failed, step)

    def on_end_trace(self, dlt_trace: Any, pipeline: Any, send_state: bool) -> None:
        """dlt callback: a traced pipeline call ended. Nothing to do."""


def _record_step_failure(current: Span, step: Any) -> None:
    """Error attributes from dlt's record of a failed step, when the exception is gone."""
    traces = list(getattr(step, "exception_traces", None) or [])
    last: dict[str, Any] = dict(traces[-1]) if traces else {}
    message = scrub_text(str(last.get("message") or getattr(step, "step_exception", "") or ""))
    set_attributes(
        current,
        {
            "error.type": str(last.get("exception_type") or "PipelineStepFailed").rsplit(".")[-1],
            "error.message": message,
            "error.category": ErrorCategory.PERMANENT.value,
        },
    )
    current.set_status(Status(StatusCode.ERROR, message))


def _close_phase(
    scope: _RunScope,
    phase: _OpenPhase,
    step_info: Any,
    exc: BaseException | None,
    failed: bool,
    step: Any = None,
) -> None:
    duration = time.perf_counter() - phase.started
    try:
        counts: dict[str, Any] = {}
        load_ids: list[str] = []
        if step_info is not None and not isinstance(step_info, BaseException):
            counts = _COUNTERS[phase.name](step_info)
            load_ids = [str(i) for i in getattr(step_info, "loads_ids", None) or []]
        set_attributes(
            phase.span,
            {
                "ingestion.duration_seconds": duration,
                "dlt.load_ids": load_ids or None,
                "dlt.load_id": load_ids[-1] if load_ids else None,
                **{f"ingestion.{k}": v for k, v in counts.items() if not isinstance(v, list)},
            },
        )
        fields = {
            **scope.log_fields,
            "phase": phase.name,
            "status": "failed" if failed else "success",
            "load_id": load_ids[-1] if load_ids else None,
            "load_ids": load_ids,
            "duration_seconds": round(duration, 3),
            **counts,
        }
        if failed:
            if exc is not None:
                record_error(phase.span, exc)
                fields["error"] = format_error(exc, **scope.log_fields)
                fields["category"] = categorize_error(exc).value
                _log_contract_violation(scope, exc)
            else:
                _record_step_failure(phase.span, step)
            _log.error(f"{phase.name} failed", **fields)
        else:
            _log.info(f"{phase.name} finished", **fields)
    finally:
        if phase.withdraw is not None:
            phase.withdraw()
        phase.span.end()
        otel_context.detach(phase.token)  # type: ignore[arg-type]


def _log_contract_violation(scope: _RunScope, exc: BaseException) -> None:
    """dlt refuses data that breaks a frozen schema before it is loaded: say so at ERROR."""
    from dlt.common.schema.exceptions import DataValidationError

    for candidate in exception_chain(exc):
        if isinstance(candidate, DataValidationError):
            _log.error(
                "schema change rejected",
                **scope.log_fields,
                schema_contract=str(candidate.contract_mode),
                contract_entity=str(candidate.schema_entity),
                table=candidate.table_name,
                column=candidate.column_name,
                rejected_by="dlt",
            )
            return


_TRACKER = DltPhaseTracker()


def install_phase_tracker() -> None:
    """Register :class:`DltPhaseTracker` among dlt's tracking modules (idempotent)."""
    dlt_trace = importlib.import_module("dlt.pipeline.trace")  # dlt.pipeline is also a function
    modules = dlt_trace.TRACKING_MODULES
    if modules is None:  # dlt.pipeline sets the defaults when it is imported
        importlib.import_module("dlt")
        modules = dlt_trace.TRACKING_MODULES
    if not any(isinstance(m, DltPhaseTracker) for m in modules):
        modules.append(_TRACKER)


@contextmanager
def observe_run(context: SourceContext) -> Iterator[None]:
    """Observe the dlt calls made inside the block for ``context.pipeline_name``.

    Call it with the ``floe.ingestion.run`` span current: phase spans become its children,
    and Iceberg commits in worker threads find it when no phase is open.
    """
    install_phase_tracker()
    scope = _RunScope(context)
    name = context.pipeline_name
    with _scopes_lock:
        previous = _scopes.get(name)
        _scopes[name] = scope
    withdraw = publish_context(name)
    unregister = register_run(RunIdentity(name, context.source_type, context.destination_table))
    try:
        with log_context(pipeline_name=name):
            _log.info("run started", **scope.log_fields, write_mode=context.write_mode)
            yield
    finally:
        unregister()
        withdraw()
        while scope.phases:  # dlt did not report an end: close what is still open
            _close_phase(scope, scope.phases.pop(), None, None, failed=True)
        with _scopes_lock:
            if previous is None:
                _scopes.pop(name, None)
            else:
                _scopes[name] = previous
