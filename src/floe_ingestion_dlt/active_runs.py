"""The runs in progress in this process, by pipeline name, for code in other threads.

dlt runs load jobs in a thread pool: the run's contextvars (structlog's log context) do not
reach those threads. The run registers what identifies it here
(:func:`floe_ingestion_dlt.observability.observe_run`); the Iceberg commit span, opened by a load
job in a worker thread, reads it back by pipeline name
(:mod:`floe_ingestion_dlt.destination.commit_span`). Registrations nest: the newest one wins.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RunIdentity", "active_run", "register_run"]


@dataclass(frozen=True)
class RunIdentity:
    """What names a run in its spans and log events."""

    pipeline_name: str
    source_type: str
    destination_table: str


_runs: dict[str, list[RunIdentity]] = {}
_lock = threading.Lock()


def register_run(identity: RunIdentity) -> Callable[[], None]:
    """Register ``identity`` under its pipeline name; returns the function that withdraws it."""
    name = identity.pipeline_name
    with _lock:
        _runs.setdefault(name, []).append(identity)

    def withdraw() -> None:
        with _lock:
            stack = _runs.get(name)
            if stack is None:
                return
            for index in range(len(stack) - 1, -1, -1):
                if stack[index] is identity:
                    del stack[index]
                    break
            if not stack:
                del _runs[name]

    return withdraw


def active_run(pipeline_name: str | None) -> RunIdentity | None:
    """The run most recently registered under ``pipeline_name``, if one is in progress."""
    if pipeline_name is None:
        return None
    with _lock:
        stack = _runs.get(pipeline_name)
        return stack[-1] if stack else None
