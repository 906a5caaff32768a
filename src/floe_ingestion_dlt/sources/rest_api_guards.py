"""Bounds on what a hostile or broken HTTP API can make a REST load do.

* :func:`cap_retry_after`: dlt's HTTP client waits whatever ``Retry-After`` says
  (``Retry-After: 100000`` waited ~18 minutes); the wait is capped at the client's
  ``request_max_retry_delay``.
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
from typing import Any

from floe_ingestion_dlt.scrub import scrub_text

__all__ = [
    "PaginationLoopError",
    "bound_response_time",
    "cap_retry_after",
    "guard_pagination",
]

SAME_BODY_LIMIT = 3
"""Identical page bodies in a row after which the pagination is a loop."""


class PaginationLoopError(ValueError):
    """The API's pagination returned to a page it already gave (a loop)."""


def cap_retry_after() -> None:
    """Cap dlt's ``Retry-After`` waits at the client's maximum retry delay (idempotent)."""
    from floe_ingestion_dlt.compat.dlt import retry_after_wait_class, use_retry_after_wait_class

    original = retry_after_wait_class()
    if getattr(original, "floe_capped", False):
        return

    class CappedRetryAfter(original):  # type: ignore[misc, valid-type]
        floe_capped = True

        def __call__(self, retry_state: Any) -> float:
            wait = float(super().__call__(retry_state))
            return min(wait, float(self.max))

    use_retry_after_wait_class(CappedRetryAfter)


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
