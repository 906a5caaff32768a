"""Bounded reachability probes: a check that cannot finish in time is a connection failure.

Client libraries bound some phases of a connection (connect, read) but not all of them (name
resolution, TLS, a driver's retry loop). :func:`call_with_deadline` runs the probe in a daemon
thread and gives up after ``timeout`` seconds whatever the probe is doing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from floe_ingestion_dlt.errors import SourceConnectionError

__all__ = ["call_with_deadline"]

T = TypeVar("T")


def call_with_deadline(probe: Callable[[], T], timeout: float, *, what: str, source_type: str) -> T:
    """Return ``probe()``, or raise :class:`SourceConnectionError` after ``timeout`` seconds.

    Exceptions raised by ``probe`` propagate unchanged. ``what`` names the endpoint in the
    message (host and port, never credentials).

    Example:
        >>> call_with_deadline(lambda: 42, 1.0, what="db:5432", source_type="sql_database")
        42
    """
    outcome: dict[str, T] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome["value"] = probe()
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name=f"floe-probe-{source_type}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise SourceConnectionError(
            f"{what} did not answer within {timeout:g}s", source_type=source_type
        )
    if failure:
        raise failure[0]
    return outcome["value"]
