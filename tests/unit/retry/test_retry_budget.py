"""RetryBudget: one count and one deadline for every layer that retries a failure."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import structlog

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.retry import RetryLayer, call_with_retry
from floe_ingestion_dlt.retry_budget import RetryBudget, budget_for, run_budget
from tests.unit.errors.factories import http_error


class Clock:
    """A clock the test moves; ``sleep`` moves it too."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def always(exc: BaseException) -> Any:
    def fail() -> Any:
        raise exc

    return fail


FIXED = {"initial_delay_seconds": 1.0, "backoff_multiplier": 2.0, "jitter": False}


def test_retries_of_every_layer_draw_from_one_count() -> None:
    budget = RetryBudget(RetryConfig(max_retries=2))
    assert budget.claim_retry(0.0, "http") is None
    assert budget.claim_retry(0.0, "run") is None
    assert budget.claim_retry(0.0, "http") == "retries exhausted (max_retries=2)"
    assert budget.spent == {"http": 1, "run": 1}


def test_zero_retries_grants_none() -> None:
    budget = RetryBudget(RetryConfig(max_retries=0))
    assert budget.claim_retry(0.0, "run") == "retries exhausted (max_retries=0)"
    assert budget.spent == {}


def test_no_wait_may_end_past_the_deadline_of_the_first_failure() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(max_retries=10, max_retry_seconds=10), clock=clock)
    assert budget.deadline is None
    assert budget.claim_retry(4.0, "http") is None
    assert budget.deadline == 1010.0
    clock.now += 7.0
    refusal = budget.claim_retry(4.0, "run")  # would end at 1011 > 1010
    assert refusal is not None and "max_retry_seconds=10" in refusal
    assert budget.claim_retry(3.0, "run") is None  # ends exactly at the deadline


def test_a_success_ends_the_failure_count_and_clock() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(max_retries=1, max_retry_seconds=5), clock=clock)
    assert budget.claim_retry(1.0, "http") is None
    assert budget.claim_retry(1.0, "http") is not None
    budget.succeeded()
    clock.now += 100.0  # a long load later, the next failure has the whole budget again
    assert budget.deadline is None
    assert budget.claim_retry(1.0, "http") is None
    assert budget.spent == {"http": 2}


def test_waits_that_are_not_retries_respect_a_running_deadline_only() -> None:
    clock = Clock()
    budget = RetryBudget(RetryConfig(max_retries=3, max_retry_seconds=5), clock=clock)
    assert budget.allows_wait(60.0)  # no failure: nothing to respect
    budget.claim_retry(0.0, "run")
    assert budget.allows_wait(5.0)
    assert not budget.allows_wait(5.5)


def test_budget_is_thread_safe() -> None:
    budget = RetryBudget(RetryConfig(max_retries=20))
    granted: list[bool] = []

    def claim() -> None:
        for _ in range(10):
            granted.append(budget.claim_retry(0.0, "http") is None)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert granted.count(True) == 20
    assert budget.spent == {"http": 20}


def test_run_budget_is_found_by_pipeline_name_while_it_runs() -> None:
    budget = RetryBudget(RetryConfig())
    assert budget_for("p") is None
    with run_budget("p", budget):
        assert budget_for("p") is budget
        assert budget_for("other") is None
        inner = RetryBudget(RetryConfig())
        with run_budget("p", inner):
            assert budget_for("p") is inner
        assert budget_for("p") is budget
    assert budget_for("p") is None
    assert budget_for(None) is None


def test_an_inner_layer_that_spent_the_budget_leaves_no_retry_to_the_run() -> None:
    """The stacking this replaces: HTTP retries x run retries. With one budget of 2 retries,
    the inner layer's 2 retries leave the run none: 3 calls in all, not 3 x 3."""
    clock = Clock()
    config = RetryConfig(max_retries=2, **FIXED)
    budget = RetryBudget(config, clock=clock)
    calls: list[str] = []

    def inner() -> None:
        calls.append("http")
        raise http_error(503)

    http = RetryLayer("http", max_attempts=5, limit="request_max_attempts")
    with pytest.raises(Exception, match="503"):
        call_with_retry(
            lambda: call_with_retry(inner, config, budget=budget, layer=http, sleep=clock.sleep),
            config,
            budget=budget,
            sleep=clock.sleep,
        )
    assert calls == ["http"] * 3
    assert clock.sleeps == [1.0, 2.0]
    assert budget.spent == {"http": 2}


def test_a_layer_cap_hands_the_rest_of_the_budget_to_the_run() -> None:
    clock = Clock()
    config = RetryConfig(max_retries=3, **FIXED)
    budget = RetryBudget(config, clock=clock)
    calls: list[int] = []

    def inner() -> None:
        calls.append(1)
        raise http_error(503)

    http = RetryLayer("http", max_attempts=2, limit="request_max_attempts")
    with pytest.raises(Exception, match="503"):
        call_with_retry(
            lambda: call_with_retry(inner, config, budget=budget, layer=http, sleep=clock.sleep),
            config,
            budget=budget,
            sleep=clock.sleep,
        )
    # run attempt 1: 2 requests (1 retry); run retry; attempt 2: 2 requests (retry 3): spent
    assert len(calls) == 4
    assert budget.spent == {"http": 2, "run": 1}


def test_the_deadline_stops_retries_before_the_count_does() -> None:
    clock = Clock()
    config = RetryConfig(max_retries=20, max_retry_seconds=10, **FIXED)
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        clock.now += 0.5  # each attempt takes half a second
        raise http_error(503)

    with structlog.testing.capture_logs() as logs, pytest.raises(Exception, match="503"):
        call_with_retry(failing, config, budget=RetryBudget(config, clock=clock), sleep=clock.sleep)
    # waits 1, 2, 4 (ends at 9.0 s after the first failure); the next (8 s) would end past 10 s
    assert clock.sleeps == [1.0, 2.0, 4.0]
    assert len(calls) == 4
    assert clock.now - 1000.5 <= 10.0
    gave_up = [e for e in logs if e["event"] == "giving up"]
    assert len(gave_up) == 1 and "max_retry_seconds=10" in gave_up[0]["reason"]


def test_retry_after_past_the_deadline_gives_up_at_once() -> None:
    clock = Clock()
    config = RetryConfig(max_retries=5, max_retry_seconds=30, max_delay_seconds=3600, **FIXED)
    with pytest.raises(Exception, match="429"):
        call_with_retry(
            always(http_error(429, {"Retry-After": "120"})),
            config,
            budget=RetryBudget(config, clock=clock),
            sleep=clock.sleep,
        )
    assert clock.sleeps == []  # waiting 120 s would pass the 30 s budget: no point waiting


def test_max_retry_seconds_is_validated() -> None:
    assert RetryConfig().max_retry_seconds == 600.0
    with pytest.raises(ValueError, match="max_retry_seconds"):
        RetryConfig(max_retry_seconds=0)
