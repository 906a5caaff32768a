"""Retrying TRANSIENT failures with exponential backoff and jitter (tenacity).

PERMANENT and CONFIGURATION failures are raised on the first attempt. A ``Retry-After`` found
anywhere in the exception chain (HTTP 429/503) sets the least delay before the next attempt.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.errors import ErrorCategory, categorize_error, exception_chain
from floe_ingestion_dlt.logging import get_logger

__all__ = ["call_with_retry", "retry_after_seconds"]

T = TypeVar("T")
_log = get_logger(__name__)


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds asked for by a ``Retry-After`` header anywhere in the chain, if any."""
    for candidate in exception_chain(exc):
        response = getattr(candidate, "response", None)
        headers = getattr(response, "headers", None)
        if not headers:
            continue
        value = headers.get("Retry-After")
        if value is None:
            continue
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            return max(0.0, parsed.timestamp() - time.time())
    return None


def _backoff(config: RetryConfig) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        attempt = state.attempt_number
        delay = config.initial_delay_seconds * config.backoff_multiplier ** (attempt - 1)
        if config.jitter:
            delay *= 0.5 + random.random()
        delay = min(delay, config.max_delay_seconds)
        exc = state.outcome.exception() if state.outcome else None
        asked = retry_after_seconds(exc) if exc else None
        if asked is not None:
            delay = min(max(delay, asked), max(config.max_delay_seconds, asked))
        return delay

    return wait


def call_with_retry(
    func: Callable[[], T],
    config: RetryConfig,
    *,
    on_attempt: Callable[[int], None] | None = None,
    **log_context: Any,
) -> T:
    """Call ``func``; retry it while it fails with a TRANSIENT error, up to ``max_retries``.

    Example:
        >>> call_with_retry(lambda: 42, RetryConfig(max_retries=2))
        42
    """

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        _log.warning(
            "retrying",
            attempt=state.attempt_number,
            next_attempt=state.attempt_number + 1,
            max_attempts=config.max_retries + 1,
            category=categorize_error(exc).value if exc else None,
            error_type=type(exc).__name__ if exc else None,
            delay_seconds=round(delay, 3),
            **log_context,
        )

    retrying = Retrying(
        stop=stop_after_attempt(config.max_retries + 1),
        wait=_backoff(config),
        retry=retry_if_exception(lambda e: categorize_error(e) is ErrorCategory.TRANSIENT),
        before_sleep=before_sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            if on_attempt is not None:
                on_attempt(attempt.retry_state.attempt_number)
            return func()
    raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover
