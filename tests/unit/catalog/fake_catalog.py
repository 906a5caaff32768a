"""A tiny Iceberg-REST-shaped HTTP server for probe unit tests (real sockets, scripted answers).

It speaks just enough of the protocol for :func:`floe_ingestion_dlt.catalog.probe_catalog`:
``POST /v1/oauth/tokens``, ``GET /v1/config``, ``GET|HEAD /v1/<prefix>/namespaces[/<ns>]``.
Answers can be overridden per path to inject 401/403/404/503 or a stall.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    form: dict[str, list[str]] = field(default_factory=dict)


class FakeRestCatalog:
    """OAuth2 client ``client``/``s3cr3t-Zq81x``; issues token ``tok-Zq81x``; prefix ``wh``.

    The values are unusual on purpose: the plugin's scrubber masks registered secrets process-wide,
    so a secret such as "secret" would blank that word in every later test's output.
    """

    def __init__(
        self,
        client_id: str = "client",
        client_secret: str = "s3cr3t-Zq81x",  # noqa: S107
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token = "tok-Zq81x"
        self.requests: list[Seen] = []
        self.overrides: dict[str, tuple[int, dict[str, Any]]] = {}
        self.stall_seconds = 0.0
        self.require_auth_on_config = True
        self.namespaces = {"bronze"}
        self._server: ThreadingHTTPServer | None = None

    @property
    def uri(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeRestCatalog:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_HEAD(self) -> None:
                fake._handle(self, "HEAD")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ protocol
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        form: dict[str, list[str]] = {}
        if method == "POST":
            length = int(handler.headers.get("Content-Length") or 0)
            form = parse_qs(handler.rfile.read(length).decode())
        self.requests.append(
            Seen(method, url.path, parse_qs(url.query), dict(handler.headers.items()), form)
        )
        if self.stall_seconds:
            time.sleep(self.stall_seconds)
        status, body = self._answer(method, url.path, handler.headers.get("Authorization"), form)
        payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(payload)

    def _answer(
        self, method: str, path: str, auth: str | None, form: dict[str, list[str]]
    ) -> tuple[int, dict[str, Any]]:
        if path in self.overrides:
            return self.overrides[path]
        authorised = auth == f"Bearer {self.token}"
        denied = {"error": {"message": "Not authorized", "type": "NotAuthorizedException"}}
        if path == "/v1/oauth/tokens" and method == "POST":
            given = (form.get("client_id", [""])[0], form.get("client_secret", [""])[0])
            if given != (self.client_id, self.client_secret):
                return 401, {"error": "invalid_client", "error_description": "bad client"}
            return 200, {"access_token": self.token, "token_type": "bearer", "expires_in": 60}
        if path == "/v1/config":
            if self.require_auth_on_config and not authorised:
                return 401, denied
            return 200, {"defaults": {}, "overrides": {"prefix": "wh"}}
        if not authorised:
            return 401, denied
        if path == "/v1/wh/namespaces":
            return 200, {"namespaces": [[n] for n in sorted(self.namespaces)]}
        if path.startswith("/v1/wh/namespaces/"):
            name = path.rsplit("/", 1)[-1]
            return (204, {}) if name in self.namespaces else (404, {"error": {"message": "no"}})
        return 404, {"error": {"message": f"no route {method} {path}"}}


class SilentServer:
    """Accepts TCP connections and never answers: a catalog that hangs."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.uri = f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> SilentServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
