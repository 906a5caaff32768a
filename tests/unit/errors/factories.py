"""Real exception objects of the libraries the plugin meets, built the way those libraries do."""

from __future__ import annotations

import socket
from typing import Any

import requests


def http_error(
    status: int, headers: dict[str, str] | None = None, url: str = "http://api.test/items"
) -> requests.HTTPError:
    """The ``HTTPError`` that ``requests.Response.raise_for_status()`` raises for ``status``."""
    response = requests.Response()
    response.status_code = status
    response.reason = {401: "Unauthorized", 429: "Too Many Requests"}.get(status, "Error")
    response.url = url
    response.headers.update(headers or {})
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError(f"{status} did not raise")


def s3_client_error(code: str, status: int, operation: str = "PutObject") -> Exception:
    """botocore's ``ClientError`` as the S3 client raises it."""
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} message"},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}},
        },
        operation,
    )


def refused_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raised(factory: Any) -> BaseException:
    """Run ``factory`` and return what it raised (with its traceback and chain)."""
    try:
        factory()
    except BaseException as exc:
        return exc
    raise AssertionError("nothing raised")
