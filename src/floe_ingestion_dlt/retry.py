"""Retrying TRANSIENT failures with exponential backoff and jitter (tenacity).

PERMANENT, PARTIAL and CONFIGURATION failures are raised on the first attempt. The wait before
attempt ``n + 1`` is ``initial_delay_seconds * backoff_multiplier ** (n - 1)`` plus a random
jitter of up to ``initial_delay_seconds`` (tenacity's ``wait_exponential_jitter``), capped at
``max_delay_seconds``. A ``Retry-After`` found anywhere in the exception chain (HTTP 429/503,
in seconds or as an HTTP date) raises that wait to what the server asked for, still capped at
``max_delay_seconds``: a server asking for an hour does not stall a pipeline for an hour.

Every retry needs the run's :class:`~floe_ingestion_dlt.retry_budget.RetryBudget` (shared by
the layers that retry: the REST source's HTTP session and the run): no retries left for the
failure, or a wait that would end past its deadline, and the call gives up. Each layer has its
own backoff and attempt cap (:class:`RetryLayer`) and draws from the same budget.

Every failed attempt is logged with its number, the layer, the error's category and type, and
the delay before the next attempt (or why there is none).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter
from tenacity.wait import wait_base

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.errors import ErrorCategory, categorize_error, exception_chain, root_error
from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.retry_budget import RetryBudget

__all__ = [
    "RUN_LAYER",
    "RetryAfterWait",
    "RetryLayer",
    "call_with_retry",
    "is_retryable",
    "parse_retry_after",
    "retry_after_seconds",
]

T = TypeVar("T")
_log = get_logger(__name__)


def _header(headers: Any, name: str) -> str | None:
    """A header value from requests/httpx headers (case-insensitive) or a plain mapping."""
    if not isinstance(headers, Mapping) and not hasattr(headers, "get"):
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, Mapping):
        wanted = name.lower()
        value = next((v for k, v in headers.items() if str(k).lower() == wanted), None)
    return None if value is None else str(value)


def _headers_of(exc: BaseException) -> list[Any]:
    """Response headers carried by requests/httpx (``response.headers``) or botocore errors."""
    found = []
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):  # botocore ClientError
        found.append(response.get("ResponseMetadata", {}).get("HTTPHeaders"))
    else:
        found.append(getattr(response, "headers", None))
    found.append(getattr(exc, "headers", None))
    return [h for h in found if h]


def parse_retry_after(value: str, now: float | None = None) -> float | None:
    """Seconds to wait for a ``Retry-After`` value (delta-seconds or HTTP date); ``None`` if
    the value is neither.

    Example:
        >>> parse_retry_after("3")
        3.0
        >>> parse_retry_after("soon") is None
        True
    """
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if parsed.tzinfo is None:
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds asked for by a ``Retry-After`` header anywhere in the chain, if any."""
    for candidate in exception_chain(exc):
        for headers in _headers_of(candidate):
            value = _header(headers, "Retry-After")
            if value is not None:
                seconds = parse_retry_after(value)
                if seconds is not None:
                    return seconds
    return None


class RetryAfterWait(wait_base):
    """Exponential backoff with jitter, raised to the server's ``Retry-After``, capped."""

    def __init__(self, config: RetryConfig) -> None:
        self.max_delay = config.max_delay_seconds
        self.backoff = wait_exponential_jitter(
            initial=config.initial_delay_seconds,
            max=config.max_delay_seconds,
            exp_base=config.backoff_multiplier,
            jitter=config.initial_delay_seconds if config.jitter else 0.0,
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = float(self.backoff(retry_state))
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        asked = retry_after_seconds(exc) if exc is not None else None
        if asked is not None:
            delay = max(delay, asked)
        return max(0.0, min(delay, self.max_delay))


def is_retryable(exc: BaseException) -> bool:
    """True for TRANSIENT errors: the only ones a retry can heal."""
    return categorize_error(exc) is ErrorCategory.TRANSIENT


@dataclass(frozen=True)
class RetryLayer:
    """A layer that retries, as its log lines and the budget's tally name it.

    ``max_attempts`` caps this layer's attempts of one call (``None``: ``max_retries + 1``),
    ``limit`` names that cap in the give-up reason; ``retryable`` decides what is retried.
    ``log_not_retried``: log an error this layer does not retry (an inner layer leaves that
    to the run, which decides).
    """

    name: str = "run"
    max_attempts: int | None = None
    limit: str = "max_retries"
    retryable: Callable[[BaseException], bool] = is_retryable
    log_not_retried: bool = True


RUN_LAYER = RetryLayer()


class _AttemptLog:
    """The log lines of one retried call: a warning per retry and one when giving up."""

    def __init__(self, layer: RetryLayer, max_attempts: int, context: Mapping[str, Any]) -> None:
        self.layer = layer
        self.max_attempts = max_attempts
        self.context = {"retry_layer": layer.name, **context}

    def retrying(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        _log.warning(
            "retrying",
            attempt=state.attempt_number,
            next_attempt=state.attempt_number + 1,
            max_attempts=self.max_attempts,
            category=categorize_error(exc).value if exc else None,
            error_type=type(root_error(exc)).__name__ if exc else None,
            delay_seconds=round(delay, 3),
            retry_after_seconds=retry_after_seconds(exc) if exc else None,
            **self.context,
        )

    def giving_up(self, number: int, exc: BaseException, reason: str) -> None:
        _log.warning(
            "giving up",
            attempt=number,
            max_attempts=self.max_attempts,
            category=categorize_error(exc).value,
            error_type=type(root_error(exc)).__name__,
            reason=reason,
            **self.context,
        )


class _BudgetDecision:
    """Stop and wait of one retried call, decided once per failed attempt.

    The wait is the layer's backoff (``RetryAfterWait``); the retry after it must be granted by
    the run's :class:`RetryBudget` (count and deadline) within the layer's own attempt cap.
    Decided once and cached, whichever of stop and wait tenacity asks first.
    """

    def __init__(
        self, wait: wait_base, budget: RetryBudget, layer: RetryLayer, log: _AttemptLog
    ) -> None:
        self.backoff, self.budget, self.layer, self.log = wait, budget, layer, log
        self._decided: dict[int, tuple[float, str | None]] = {}

    def _decide(self, state: RetryCallState) -> tuple[float, str | None]:
        number = state.attempt_number
        if number not in self._decided:
            delay = float(self.backoff(state))
            if number >= self.log.max_attempts:
                refusal: str | None = (
                    f"retries exhausted ({self.layer.limit}={self.log.max_attempts - 1})"
                    if self.layer.limit == "max_retries"
                    else f"{self.layer.limit}={self.log.max_attempts} reached"
                )
            else:
                refusal = self.budget.claim_retry(delay, self.layer.name)
            failure = state.outcome.exception() if state.outcome is not None else None
            if refusal is not None and failure is not None:
                self.log.giving_up(number, failure, refusal)
            self._decided[number] = (delay, refusal)
        return self._decided[number]

    def stop(self, state: RetryCallState) -> bool:
        return self._decide(state)[1] is not None

    def wait(self, state: RetryCallState) -> float:
        return self._decide(state)[0]


def call_with_retry(
    func: Callable[[], T],
    config: RetryConfig,
    *,
    budget: RetryBudget | None = None,
    layer: RetryLayer = RUN_LAYER,
    on_attempt: Callable[[int], None] | None = None,
    on_failure: Callable[[int, BaseException], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    log_context: Mapping[str, Any] | None = None,
) -> T:
    """Call ``func``; retry it while it fails with a retryable error and the budget allows.

    ``config`` gives the backoff; ``budget`` (default: a budget of its own from ``config``) the
    retries left to the run and its deadline, shared with the other layers. ``on_attempt(n)``
    is called before attempt ``n`` (1-based), ``on_failure(n, exc)`` after each failed attempt;
    ``log_context`` is added to every log line. The last error is raised as it is (not wrapped
    in tenacity's ``RetryError``).

    Example:
        >>> call_with_retry(lambda: 42, RetryConfig(max_retries=2))
        42
    """
    max_attempts = layer.max_attempts or config.max_retries + 1
    log = _AttemptLog(layer, max_attempts, dict(log_context or {}))
    decision = _BudgetDecision(RetryAfterWait(config), budget or RetryBudget(config), layer, log)
    retrying = Retrying(
        stop=decision.stop,
        wait=decision.wait,
        retry=retry_if_exception(layer.retryable),
        before_sleep=log.retrying,
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            number = attempt.retry_state.attempt_number
            if on_attempt is not None:
                on_attempt(number)
            try:
                return func()
            except Exception as exc:
                if on_failure is not None:
                    on_failure(number, exc)
                if layer.log_not_retried and not layer.retryable(exc):
                    reason = f"{categorize_error(exc).value} errors are not retried"
                    log.giving_up(number, exc, reason)
                raise
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
