"""Bounds on what a hostile or broken HTTP API can make a REST load do.

* :func:`retrying_session`: requests are retried on 429, 5xx, connection errors and timeouts
  within the run's one retry budget (``retry_config``: retries and time shared with the run's
  own retries, see ``floe_ingestion_dlt.retry_budget``), not by dlt's HTTP client on top of it.
  dlt's own client makes one attempt per request; :func:`retrying_session` caps a
  ``Retry-After`` at the time left (``Retry-After: 100000`` used to wait ~18 minutes).
* :func:`bound_response_time`: ``request_timeout`` bounds each socket read, so a server
  dripping a byte every few seconds kept a request alive for ever; every response body must now
  arrive within ``request_total_timeout`` seconds (a ``ReadTimeout``, TRANSIENT).
* :func:`guard_pagination`: a next link pointing back to a page already read in the same
  pagination (``?page=1`` -> ``?page=2`` -> ``?page=1``), or an API answering the same body page
  after page, paged for ever; it is a :class:`PaginationLoopError` (PERMANENT) naming the URL.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.retry import RetryLayer, call_with_retry
from floe_ingestion_dlt.retry_budget import RetryBudget, budget_for
from floe_ingestion_dlt.scrub import scrub_text

if TYPE_CHECKING:
    import requests

__all__ = [
    "RETRY_STATUSES",
    "HttpRetry",
    "PaginationLoopError",
    "bound_response_time",
    "guard_pagination",
    "retrying_session",
]

RETRY_STATUSES = frozenset({429, *range(500, 600)})
"""Response statuses retried (as dlt's HTTP client retries them)."""

SAME_BODY_LIMIT = 3
"""Identical page bodies in a row after which the pagination is a loop."""


class PaginationLoopError(ValueError):
    """The API's pagination returned to a page it already gave (a loop)."""


class HttpRetryOptions(Protocol):
    """The REST source's request settings (``RestApiSourceConfig``)."""

    @property
    def request_timeout(self) -> float: ...
    @property
    def request_max_attempts(self) -> int: ...
    @property
    def request_backoff_factor(self) -> float: ...
    @property
    def request_max_retry_delay(self) -> float: ...
    @property
    def model_fields_set(self) -> set[str]: ...


@dataclass(frozen=True)
class HttpRetry:
    """How one REST source retries a request, within the run's retry budget.

    ``max_attempts`` caps the attempts of one request (``request_max_attempts``); the backoff
    is ``retry_config``'s unless the source set ``request_backoff_factor`` (waits of
    ``factor * 2 ** (n - 1)`` seconds, as dlt's client waits) or ``request_max_retry_delay``.
    """

    max_attempts: int
    backoff_factor: float | None = None
    max_retry_delay: float | None = None

    @classmethod
    def of(cls, options: HttpRetryOptions) -> HttpRetry:
        """The settings the source gave (a default backoff setting defers to retry_config)."""
        given = options.model_fields_set
        return cls(
            max_attempts=options.request_max_attempts,
            backoff_factor=(
                options.request_backoff_factor if "request_backoff_factor" in given else None
            ),
            max_retry_delay=(
                options.request_max_retry_delay if "request_max_retry_delay" in given else None
            ),
        )

    def backoff(self, config: RetryConfig) -> RetryConfig:
        """``config``'s backoff with the source's own settings in place of its defaults."""
        update: dict[str, Any] = {}
        if self.backoff_factor is not None:
            update.update(initial_delay_seconds=self.backoff_factor, backoff_multiplier=2.0)
        if self.max_retry_delay is not None:
            update["max_delay_seconds"] = self.max_retry_delay
        return config.model_copy(update=update)

    @property
    def layer(self) -> RetryLayer:
        return RetryLayer("http", self.max_attempts, "request_max_attempts", _http_retryable, False)


def _http_retryable(exc: BaseException) -> bool:
    import requests

    retried = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.ChunkedEncodingError,
    )
    if isinstance(exc, requests.exceptions.HTTPError):  # raised by dlt's response hooks
        return getattr(exc.response, "status_code", None) in RETRY_STATUSES
    return isinstance(exc, (_RetryableStatus, *retried))


class _RetryableStatus(Exception):
    """A 429/5xx answer, raised inside the retry loop only (its ``response`` carries the
    ``Retry-After``); the last one is returned to dlt's client, which raises for its status."""

    def __init__(self, response: Any) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def _endpoint(url: str | None) -> str:
    """Scheme, host, port and path of ``url``: no credentials, no query (API keys)."""
    parts = urlsplit(str(url or ""))
    port = f":{parts.port}" if parts.port else ""
    return scrub_text(f"{parts.scheme}://{parts.hostname}{port}{parts.path}")


def retrying_session(options: HttpRetryOptions, pipeline_name: str) -> requests.Session:
    """A session of dlt's HTTP client whose requests retry within the run's retry budget.

    dlt's own retries are off (one attempt); :func:`retry_within_budget` retries instead.
    """
    from dlt.sources.helpers.requests import Client

    session: requests.Session = Client(
        raise_for_status=False, request_timeout=options.request_timeout, request_max_attempts=1
    ).session
    retry_within_budget(session, pipeline_name, HttpRetry.of(options))
    return session


def retry_within_budget(session: Any, pipeline_name: str, retry: HttpRetry) -> None:
    """Retry ``session``'s requests on 429, 5xx, connection errors and timeouts.

    Each retry is claimed from the retry budget of the run of ``pipeline_name`` (outside a run:
    a budget of ``request_max_attempts`` for each request); an answered request ends the
    failure. After the last attempt a 429/5xx answer is returned as it is, an error raised.
    """
    send = session.send

    def send_within_budget(request: Any, **kwargs: Any) -> Any:
        budget = budget_for(pipeline_name)
        if budget is None:
            budget = RetryBudget(RetryConfig(max_retries=retry.max_attempts - 1))
        answered: list[Any] = []

        def attempt() -> Any:
            for earlier in answered:
                earlier.close()  # a retried answer's body is not wanted
            answered.clear()
            response = send(request, **kwargs)
            if response.status_code in RETRY_STATUSES:
                answered.append(response)
                raise _RetryableStatus(response)
            return response

        try:
            response = call_with_retry(
                attempt,
                retry.backoff(budget.config),
                budget=budget,
                layer=retry.layer,
                log_context={"endpoint": _endpoint(request.url)},
            )
        except _RetryableStatus as exc:
            return exc.response
        budget.succeeded()
        return response

    session.send = send_within_budget


def bound_response_time(session: Any, total_timeout: float) -> None:
    """Make every response of ``session`` arrive whole within ``total_timeout`` seconds."""
    import requests

    send = session.send

    def send_within(request: Any, **kwargs: Any) -> Any:
        if kwargs.get("stream"):
            return send(request, **kwargs)
        started = time.monotonic()
        response = send(request, **{**kwargs, "stream": True})
        chunks: list[bytes] = []
        try:
            for chunk in _available_chunks(response):
                chunks.append(chunk)
                if time.monotonic() - started > total_timeout:
                    raise requests.exceptions.ReadTimeout(
                        f"the response of {scrub_text(str(request.url))} did not arrive whole "
                        f"within {total_timeout:g}s (request_total_timeout)",
                        request=request,
                        response=response,
                    )
        except BaseException:
            response.close()  # drop the connection: the rest of the body is not wanted
            raise
        # read to the end: the connection goes back to the pool (keep-alive) as requests does
        response.raw.release_conn()
        response._content = b"".join(chunks)
        response._content_consumed = True
        return response

    session.send = send_within


def _available_chunks(response: Any) -> Iterator[bytes]:
    """The body as it arrives: ``read1`` returns what one socket read gave (``read(n)`` and
    ``iter_content`` wait for ``n`` bytes, so a drip of one byte a second blocked there)."""
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None or getattr(raw, "chunked", False):
        yield from response.iter_content(chunk_size=1 << 16)
        return
    while True:
        chunk = read1(1 << 16, decode_content=True)
        if not chunk:
            return
        yield chunk


def _request_key(response: Any) -> tuple[str, str, bytes]:
    sent = response.request
    body = sent.body if isinstance(sent.body, bytes) else str(sent.body or "").encode()
    return str(sent.method), str(sent.url), body


def guard_pagination() -> None:
    """Stop dlt's REST client paginating in a loop (idempotent, process-wide)."""
    from dlt.sources.helpers.rest_client.client import RESTClient

    original = RESTClient.paginate
    if getattr(original, "floe_guarded", False):
        return

    def paginate(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        seen: set[tuple[str, str, bytes]] = set()
        last_body: bytes | None = None
        same_bodies = 0
        for page in original(self, *args, **kwargs):
            response = page.response
            key = _request_key(response)
            url = scrub_text(key[1])
            if key in seen:
                raise PaginationLoopError(
                    f"pagination loop: the API's next page {url} was already read in this "
                    "load; check the paginator or the API's next links"
                )
            seen.add(key)
            body = hashlib.sha256(response.content or b"").digest()
            same_bodies = same_bodies + 1 if body == last_body else 0
            last_body = body
            if same_bodies >= SAME_BODY_LIMIT - 1:
                raise PaginationLoopError(
                    f"pagination loop: {SAME_BODY_LIMIT} pages in a row have the same content "
                    f"(last {url}); the API ignores the paginator's parameter"
                )
            yield page

    paginate.floe_guarded = True  # type: ignore[attr-defined]
    RESTClient.paginate = paginate  # type: ignore[method-assign]
