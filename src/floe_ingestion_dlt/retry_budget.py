"""One retry budget per run, shared by every layer that retries (see ``docs/retries.md``).

``retry_config`` bounds a failure end to end, whichever layer retries it:

* at most ``max_retries`` retries: an HTTP request retried by the REST source's session and the
  run retried by the runner draw from the same count;
* at most ``max_retry_seconds`` from the first failed attempt: no layer starts a wait that
  would end past that deadline, so a dead source fails within the bound plus one attempt.

A success (a request answered, a run that completes) ends the failure: the next failure of a
long load has the whole budget again. The run itself is attempted at most ``max_retries + 1``
times whatever the inner layers did.

The runner creates the budget and registers it under the pipeline name for the run
(:func:`run_budget`); layers built before the run (the REST session) or running in other
threads (dlt's load jobs) find it with :func:`budget_for`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from floe_ingestion_dlt.config import RetryConfig

__all__ = ["DLT_RETRY_SETTINGS", "RetryBudget", "budget_for", "run_budget"]

DLT_RETRY_SETTINGS = {"load.raise_on_max_retries": 1}
"""dlt settings every pipeline runs with (unless the user set them): dlt retries a load job
that failed with a transient error ``raise_on_max_retries`` times (5) without backoff before it
raises. With 1 the load step raises at the first transient job failure and the runner's retry
(which resumes the pending package: only unfinished jobs run again) is the one that counts."""


@dataclass(eq=False)
class RetryBudget:
    """The retries left to one run: a count and a deadline, shared by every layer (thread-safe).

    Example:
        >>> budget = RetryBudget(RetryConfig(max_retries=1, max_retry_seconds=30))
        >>> budget.claim_retry(wait=1.0, layer="http") is None
        True
        >>> budget.claim_retry(wait=1.0, layer="run")
        'retries exhausted (max_retries=1)'
    """

    config: RetryConfig
    clock: Callable[[], float] = time.monotonic
    spent: dict[str, int] = field(default_factory=dict)
    """Retries made in this run, by layer (``http``, ``run``): what the logs report."""
    _retries: int = 0
    _failing_since: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def deadline(self) -> float | None:
        """When the current failure's time is spent (``clock`` time); ``None``: no failure."""
        with self._lock:
            return self._deadline()

    def _deadline(self) -> float | None:
        if self._failing_since is None:
            return None
        return self._failing_since + self.config.max_retry_seconds

    def claim_retry(self, wait: float, layer: str) -> str | None:
        """Note a failure and claim one retry to start after ``wait`` seconds.

        Returns ``None`` when the retry is granted (and counted), else why not: no retries
        left for this failure, or the wait would end past the deadline.
        """
        with self._lock:
            now = self.clock()
            if self._failing_since is None:
                self._failing_since = now
            if self._retries >= self.config.max_retries:
                return f"retries exhausted (max_retries={self.config.max_retries})"
            if now + wait > self._failing_since + self.config.max_retry_seconds:
                return (
                    f"retry time spent (max_retry_seconds={self.config.max_retry_seconds:g}: "
                    f"failing for {now - self._failing_since:.1f}s, next wait {wait:.1f}s)"
                )
            self._retries += 1
            self.spent[layer] = self.spent.get(layer, 0) + 1
            return None

    def allows_wait(self, wait: float) -> bool:
        """True unless a failure's deadline is running and ``wait`` would end past it.

        For waits that are not retries of a failure (an Iceberg commit conflict with another
        writer): they take no retry, but never outlast the run's deadline either.
        """
        with self._lock:
            deadline = self._deadline()
            return deadline is None or self.clock() + wait <= deadline

    def succeeded(self) -> None:
        """A success ends the current failure: its count and its clock start again."""
        with self._lock:
            self._retries = 0
            self._failing_since = None


_budgets: dict[str, list[RetryBudget]] = {}
_budgets_lock = threading.Lock()


@contextmanager
def run_budget(pipeline_name: str, budget: RetryBudget) -> Iterator[RetryBudget]:
    """Make ``budget`` the one :func:`budget_for` returns for ``pipeline_name`` meanwhile."""
    with _budgets_lock:
        _budgets.setdefault(pipeline_name, []).append(budget)
    try:
        yield budget
    finally:
        with _budgets_lock:
            stack = _budgets.get(pipeline_name, [])
            if budget in stack:
                stack.remove(budget)
            if not stack:
                _budgets.pop(pipeline_name, None)


def budget_for(pipeline_name: str | None) -> RetryBudget | None:
    """The budget of the run of ``pipeline_name`` in progress in this process, if any."""
    if pipeline_name is None:
        return None
    with _budgets_lock:
        stack = _budgets.get(pipeline_name)
        return stack[-1] if stack else None
