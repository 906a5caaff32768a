"""The REST source's HTTP retries: settings taken from the source or from retry_config."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.sources.rest_api import RestApiSourceConfig
from floe_ingestion_dlt.sources.rest_api_guards import HttpRetry, _endpoint, _http_retryable
from tests.unit.errors.factories import http_error

BASE = {"base_url": "https://api.example.com", "path": "orders"}


def test_unset_backoff_settings_defer_to_retry_config() -> None:
    retry = HttpRetry.of(RestApiSourceConfig.model_validate(BASE))
    assert retry == HttpRetry(max_attempts=5)
    config = RetryConfig(initial_delay_seconds=0.2, max_delay_seconds=7)
    assert retry.backoff(config) == config


def test_the_sources_own_backoff_settings_win() -> None:
    source = RestApiSourceConfig.model_validate(
        {
            **BASE,
            "request_backoff_factor": 0.5,
            "request_max_retry_delay": 3,
            "request_max_attempts": 2,
        }
    )
    retry = HttpRetry.of(source)
    assert retry == HttpRetry(max_attempts=2, backoff_factor=0.5, max_retry_delay=3)
    backoff = retry.backoff(RetryConfig(max_retries=9, max_retry_seconds=40))
    assert (backoff.initial_delay_seconds, backoff.backoff_multiplier) == (0.5, 2.0)
    assert backoff.max_delay_seconds == 3
    assert (backoff.max_retries, backoff.max_retry_seconds) == (9, 40)  # the budget stays


@pytest.mark.parametrize(
    ("failure", "retried"),
    [
        (http_error(503), True),
        (http_error(429), True),
        (http_error(401), False),
        (http_error(404), False),
        (requests.exceptions.ConnectionError("refused"), True),
        (requests.exceptions.ReadTimeout("slow"), True),
        (requests.exceptions.ChunkedEncodingError("cut"), True),
        (ValueError("not JSON"), False),
    ],
)
def test_what_the_session_retries(failure: BaseException, retried: bool) -> None:
    assert _http_retryable(failure) is retried


@pytest.mark.parametrize(
    ("url", "logged"),
    [
        (
            "https://user:pw@api.example.com:8443/v1/items?api_key=s3cr3t",
            "https://api.example.com:8443/v1/items",
        ),
        ("http://127.0.0.1/orders", "http://127.0.0.1/orders"),
    ],
)
def test_logged_endpoint_has_no_credentials_and_no_query(url: str, logged: Any) -> None:
    assert _endpoint(url) == logged
