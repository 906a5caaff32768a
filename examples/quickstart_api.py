"""A tiny local REST API for the quickstart: paginated JSON from ``data/products.json``.

``GET /products?page=1&page_size=25`` answers::

    {"data": [...], "page": 1, "page_size": 25, "total_pages": 5,
     "next": "http://127.0.0.1:PORT/products?page=2&page_size=25"}

``next`` is ``null`` on the last page. Only the standard library is used; the server binds
127.0.0.1 on a free port (or ``--port``) and runs in a daemon thread.

Run it on its own to try ``examples/quickstart.yaml`` by hand::

    python examples/quickstart_api.py --port 8765
    QUICKSTART_API_URL=http://127.0.0.1:8765 floe-ingest run examples/quickstart.yaml
"""

from __future__ import annotations

import argparse
import json
import math
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

PRODUCTS_FILE = Path(__file__).resolve().parent / "data" / "products.json"
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100


class QuickstartApi:
    """Serves ``/products`` (paginated) and ``/health`` on 127.0.0.1."""

    def __init__(self, products_file: Path = PRODUCTS_FILE, port: int = 0) -> None:
        self.records: list[dict[str, Any]] = json.loads(products_file.read_text("utf-8"))
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("the quickstart API is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> QuickstartApi:
        """Bind 127.0.0.1 and serve in a daemon thread."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the quickstart prints its own progress."""

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="quickstart-api", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> QuickstartApi:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def page(self, page: int, page_size: int) -> dict[str, Any]:
        """The body of ``/products?page=&page_size=`` (pages start at 1)."""
        total_pages = max(1, math.ceil(len(self.records) / page_size))
        start = (page - 1) * page_size
        has_next = page < total_pages
        return {
            "data": self.records[start : start + page_size],
            "page": page,
            "page_size": page_size,
            "total_pages": total_pages,
            "next": f"{self.url}/products?page={page + 1}&page_size={page_size}"
            if has_next
            else None,
        }

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        """Answer one GET request."""
        parts = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.path.rstrip("/") == "/health":
            self._send(request, 200, {"status": "ok"})
            return
        if parts.path.rstrip("/") != "/products":
            self._send(request, 404, {"error": f"no such endpoint: {parts.path}"})
            return
        try:
            page = int(query.get("page", "1"))
            page_size = int(query.get("page_size", str(DEFAULT_PAGE_SIZE)))
        except ValueError:
            self._send(request, 400, {"error": "page and page_size must be integers"})
            return
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            self._send(request, 400, {"error": f"page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}"})
            return
        self._send(request, 200, self.page(page, page_size))

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        payload = json.dumps(body).encode("utf-8")
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)


def main() -> None:
    """Serve until interrupted (for trying ``quickstart.yaml`` by hand)."""
    parser = argparse.ArgumentParser(description="The quickstart's local products API.")
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1")
    args = parser.parse_args()
    api = QuickstartApi(port=args.port).start()
    print(f"serving {len(api.records)} products at {api.url}/products (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
