"""An HTTP server on 127.0.0.1 whose endpoints misbehave on purpose, one behaviour per path.

* ``/loop``: page 1 links to page 2, page 2 links back to page 1 (a next-link loop);
* ``/same``: every ``?page=N`` returns the same records (the API ignores the page parameter);
* ``/html``: an HTML error page with status 200 where JSON is expected;
* ``/badjson``: a truncated JSON document;
* ``/retry-after``: 429 with ``Retry-After: 100000`` every time;
* ``/drip``: status 200, then one byte of the body every 0.5 s for a minute;
* ``/drip-later``: answers the first request (create_pipeline's probe), drips afterwards;
* ``/redirect``: redirects to itself for ever;
* ``/reset``: the connection is closed without an answer;
* ``/big``: one page of ``BIG_PAGE_RECORDS`` records (about 49 MB of JSON), no next page;
* ``/ok``: three records (the first request of endpoints that fail later).

Every request is counted per path (``hits``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

RECORDS = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}]
BIG_PAGE_RECORDS = 500_000


def big_page(records: int = BIG_PAGE_RECORDS) -> bytes:
    """One JSON page of ``records`` records of five fields each."""
    items = ",".join(
        f'{{"id":{i},"name":"customer-{i:07d}","amount":{i % 1000}.25,'
        f'"active":{"true" if i % 2 else "false"},"created":"2026-01-01T00:00:{i % 60:02d}Z"}}'
        for i in range(records)
    )
    return ('{"items":[' + items + "]}").encode()


class HostileHttpServer:
    """Start with ``with HostileHttpServer() as server``; ``server.base_url`` is its root."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._big_page: bytes | None = None

    def __enter__(self) -> HostileHttpServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                with server._lock:
                    server.hits[parsed.path] += 1
                server._answer(self, parsed.path, parse_qs(parsed.query))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _answer(self, handler: BaseHTTPRequestHandler, path: str, query: dict[str, Any]) -> None:
        page = int(query.get("page", ["1"])[0])
        if path == "/loop":
            following = 2 if page == 1 else 1
            body = {"items": [{"id": page}], "next": f"{self.base_url}/loop?page={following}"}
            _send(handler, 200, json.dumps(body).encode(), "application/json")
        elif path == "/same":
            _send(handler, 200, json.dumps({"items": RECORDS}).encode(), "application/json")
        elif path == "/html":
            html = b"<html><body><h1>Service maintenance</h1></body></html>"
            _send(handler, 200, html, "text/html")
        elif path == "/badjson":
            _send(handler, 200, b'{"items": [{"id": 1}, {"id": ', "application/json")
        elif path == "/retry-after":
            _send(handler, 429, b"{}", "application/json", {"Retry-After": "100000"})
        elif path == "/drip" or (path == "/drip-later" and self.hits[path] > 1):
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "120")
            handler.end_headers()
            try:
                for _ in range(120):
                    handler.wfile.write(b" ")
                    handler.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                return
        elif path == "/big":
            with self._lock:
                if self._big_page is None:
                    self._big_page = big_page()
            _send(handler, 200, self._big_page, "application/json")
        elif path == "/redirect":
            _send(handler, 302, b"", "text/plain", {"Location": f"{self.base_url}/redirect"})
        elif path == "/reset":
            handler.close_connection = True
            handler.connection.shutdown(2)
        else:
            _send(handler, 200, json.dumps({"items": RECORDS}).encode(), "application/json")


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)
