"""call_with_retry: what is retried, how long it waits, what it logs."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from pyiceberg.exceptions import CommitFailedException

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.errors import (
    ErrorCategory,
    PartialLoadError,
    SchemaContractViolation,
    ValidationError,
)
from floe_ingestion_dlt.retry import call_with_retry, parse_retry_after, retry_after_seconds
from tests.unit.errors.factories import http_error, s3_client_error


class Flaky:
    """Fails with the given exceptions in turn, then returns ``"done"``."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return "done"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(
    func: Callable[[], Any], config: RetryConfig, **kwargs: Any
) -> tuple[Any, Sleeps, list[int]]:
    sleeps, attempts = Sleeps(), []
    result = call_with_retry(func, config, sleep=sleeps, on_attempt=attempts.append, **kwargs)
    return result, sleeps, attempts


NO_JITTER = RetryConfig(
    max_retries=4, initial_delay_seconds=1.0, max_delay_seconds=60.0, jitter=False
)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(http_error(503), id="503"),
        pytest.param(http_error(429), id="429"),
        pytest.param(ConnectionResetError(104, "reset"), id="reset"),
        pytest.param(TimeoutError("timed out"), id="timeout"),
        pytest.param(CommitFailedException("conflict"), id="commit-conflict"),
        pytest.param(s3_client_error("SlowDown", 503), id="s3-slowdown"),
    ],
)
def test_transient_failures_are_retried_until_success(failure: BaseException) -> None:
    func = Flaky(failure, failure)
    result, sleeps, attempts = run(func, NO_JITTER)
    assert result == "done"
    assert func.calls == 3
    assert attempts == [1, 2, 3]
    assert sleeps == [1.0, 2.0]  # exponential: initial * 2 ** (n - 1)


@pytest.mark.parametrize(
    ("failure", "category"),
    [
        pytest.param(http_error(401), ErrorCategory.PERMANENT, id="401"),
        pytest.param(http_error(403), ErrorCategory.PERMANENT, id="403"),
        pytest.param(SchemaContractViolation("frozen"), ErrorCategory.PERMANENT, id="contract"),
        pytest.param(http_error(404), ErrorCategory.CONFIGURATION, id="404"),
        pytest.param(ValidationError("bad", field="x"), ErrorCategory.CONFIGURATION, id="config"),
        pytest.param(ModuleNotFoundError("psycopg2"), ErrorCategory.CONFIGURATION, id="package"),
        pytest.param(PartialLoadError("b failed"), ErrorCategory.PARTIAL, id="partial"),
    ],
)
def test_non_transient_failures_fail_on_the_first_attempt(
    failure: BaseException, category: ErrorCategory
) -> None:
    func = Flaky(failure, failure)
    sleeps, attempts = Sleeps(), []
    with pytest.raises(type(failure)) as caught:
        call_with_retry(func, NO_JITTER, sleep=sleeps, on_attempt=attempts.append)
    assert caught.value is failure  # raised as it is, not wrapped in tenacity's RetryError
    assert func.calls == 1
    assert attempts == [1]
    assert sleeps == []


def test_retries_stop_after_max_retries_and_raise_the_last_error() -> None:
    errors = [http_error(503) for _ in range(10)]
    func = Flaky(*errors)
    config = RetryConfig(max_retries=3, initial_delay_seconds=0.5, jitter=False)
    sleeps = Sleeps()
    with pytest.raises(type(errors[0])) as caught:
        call_with_retry(func, config, sleep=sleeps)
    assert func.calls == 4  # 1 + max_retries
    assert caught.value is errors[3]
    assert sleeps == [0.5, 1.0, 2.0]


def test_zero_retries_means_one_attempt() -> None:
    func = Flaky(http_error(503))
    with pytest.raises(Exception, match="503"):
        call_with_retry(func, RetryConfig(max_retries=0), sleep=Sleeps())
    assert func.calls == 1


def test_backoff_is_capped_by_max_delay() -> None:
    func = Flaky(*[TimeoutError("t") for _ in range(6)])
    config = RetryConfig(
        max_retries=6, initial_delay_seconds=1.0, max_delay_seconds=5.0, jitter=False
    )
    _, sleeps, _ = run(func, config)
    assert sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_backoff_multiplier_is_honoured() -> None:
    func = Flaky(*[TimeoutError("t") for _ in range(3)])
    config = RetryConfig(
        max_retries=3, initial_delay_seconds=0.1, backoff_multiplier=3.0, jitter=False
    )
    _, sleeps, _ = run(func, config)
    assert sleeps == pytest.approx([0.1, 0.3, 0.9])


def test_jitter_spreads_delays_within_bounds() -> None:
    config = RetryConfig(max_retries=3, initial_delay_seconds=1.0, max_delay_seconds=60.0)
    seen: list[list[float]] = []
    for _ in range(30):
        _, sleeps, _ = run(Flaky(*[TimeoutError("t") for _ in range(3)]), config)
        seen.append(list(sleeps))
        for n, delay in enumerate(sleeps, start=1):
            base = 2.0 ** (n - 1)
            assert base <= delay <= base + 1.0  # jitter adds up to initial_delay_seconds
    assert len({tuple(s) for s in seen}) > 25  # really random, not a fixed schedule


def test_retry_after_raises_the_wait() -> None:
    func = Flaky(http_error(429, {"Retry-After": "7"}), http_error(503))
    _, sleeps, _ = run(func, NO_JITTER)
    assert sleeps == [7.0, 2.0]  # server's 7 s, then the backoff again


def test_retry_after_is_capped_by_max_delay() -> None:
    func = Flaky(http_error(503, {"Retry-After": "3600"}))
    config = RetryConfig(max_retries=2, initial_delay_seconds=1.0, max_delay_seconds=9.0)
    _, sleeps, _ = run(func, config)
    assert sleeps == [9.0]


def test_retry_after_shorter_than_backoff_does_not_shorten_it() -> None:
    func = Flaky(TimeoutError("t"), TimeoutError("t"), http_error(429, {"Retry-After": "0"}))
    _, sleeps, _ = run(func, NO_JITTER)
    assert sleeps == [1.0, 2.0, 4.0]


def test_retry_after_as_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    exc = http_error(503, {"Retry-After": when})
    asked = retry_after_seconds(exc)
    assert asked is not None and 25 <= asked <= 31


@pytest.mark.parametrize("value", ["soon", "", "Wed, 99 Foo 2024", "nan"])
def test_unparseable_retry_after_is_ignored(value: str) -> None:
    assert parse_retry_after(value) is None
    func = Flaky(http_error(503, {"Retry-After": value}))
    _, sleeps, _ = run(func, NO_JITTER)
    assert sleeps == [1.0]


def test_retry_after_found_through_wrappers() -> None:
    cause = http_error(429, {"retry-after": "4"})
    try:
        raise RuntimeError("extract failed") from cause
    except RuntimeError as exc:
        wrapped = exc
    assert retry_after_seconds(wrapped) == 4.0


def test_each_attempt_is_logged_with_number_category_and_delay() -> None:
    func = Flaky(http_error(503), http_error(429, {"Retry-After": "3"}))
    with structlog.testing.capture_logs() as logs:
        run(func, NO_JITTER, log_context={"pipeline_name": "floe__bronze__t"})
    retries = [e for e in logs if e["event"] == "retrying"]
    assert [(e["attempt"], e["category"], e["delay_seconds"]) for e in retries] == [
        (1, "TRANSIENT", 1.0),
        (2, "TRANSIENT", 3.0),
    ]
    assert all(e["pipeline_name"] == "floe__bronze__t" for e in retries)
    assert retries[0]["error_type"] == "HTTPError"
    assert retries[1]["retry_after_seconds"] == 3.0


def test_giving_up_is_logged_with_the_reason() -> None:
    with structlog.testing.capture_logs() as logs, pytest.raises(Exception, match="401"):
        run(Flaky(http_error(401)), NO_JITTER)
    (gave_up,) = [e for e in logs if e["event"] == "giving up"]
    assert gave_up["attempt"] == 1
    assert gave_up["category"] == "PERMANENT"
    assert "not retried" in gave_up["reason"]

    config = RetryConfig(max_retries=1, initial_delay_seconds=0.0, jitter=False)
    with structlog.testing.capture_logs() as logs, pytest.raises(TimeoutError):
        run(Flaky(TimeoutError("a"), TimeoutError("b")), config)
    (gave_up,) = [e for e in logs if e["event"] == "giving up"]
    assert gave_up["attempt"] == 2 and "exhausted" in gave_up["reason"]


def test_on_failure_sees_every_failed_attempt() -> None:
    seen: list[tuple[int, str]] = []
    first, second = TimeoutError("a"), TimeoutError("b")
    sleeps = Sleeps()
    call_with_retry(
        Flaky(first, second),
        NO_JITTER,
        sleep=sleeps,
        on_failure=lambda n, exc: seen.append((n, str(exc))),
    )
    assert seen == [(1, "a"), (2, "b")]


def test_real_sleep_is_the_default() -> None:
    """Without an injected sleep the waits really happen (wall clock)."""
    config = RetryConfig(max_retries=2, initial_delay_seconds=0.05, jitter=False)
    started = time.perf_counter()
    assert call_with_retry(Flaky(TimeoutError("a"), TimeoutError("b")), config) == "done"
    assert time.perf_counter() - started >= 0.15  # 0.05 + 0.10
