"""Local HTTP JSON API (stdlib ``ThreadingHTTPServer``) with pagination, auth and faults.

Data endpoints (``name`` is a dataset registered with ``set_records``):
  /offset/{name}?limit=&offset=      -> {"items": [...], "total": N}
  /page/{name}?page=&page_size=      -> {"data": [...], "page": p, "total_pages": T} (1-based)
  /cursor/{name}?cursor=&limit=      -> {"results": [...], "next_cursor": str | null}
  /link/{name}?page=&per_page=       -> [...] with ``Link: <url>; rel="next"`` header
  /jsonlink/{name}?page=&page_size=  -> {"records": [...], "next": absolute url | null}
  /parents/{name}?limit=&offset=     -> like /offset
  /parents/{name}/{id}/children      -> [...] (plain list, not paginated)
Every data endpoint accepts ``updated_since`` (+ ``since_field``, default ``updated_at``).
Faults from ``set_faults``/``fail_next``/``set_delay`` hit data endpoints only;
``set_status`` answers every request (also ``POST /oauth/token``) with that status.
"""

from __future__ import annotations

import base64
import json
import math
import random
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

Record = dict[str, Any]
Response = tuple[int, Any, dict[str, str]]  # status, JSON payload, extra headers
_BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}
_SIZE_PARAM = {"offset": "limit", "parents": "limit", "cursor": "limit"}
_SIZE_PARAM |= {"page": "page_size", "link": "per_page", "jsonlink": "page_size"}


def make_records(n: int, start_id: int = 1, with_updated_at: bool = True) -> list[Record]:
    """Deterministic flat records: int id, str name, float amount (None every 5th), bool flag."""
    records: list[Record] = []
    for i in range(start_id, start_id + n):
        record: Record = {"id": i, "name": f"name-{i}", "flag": i % 2 == 0}
        record["amount"] = None if i % 5 == 0 else round(i * 1.25, 2)
        if with_updated_at:
            record["updated_at"] = (_BASE_TIME + timedelta(minutes=i)).isoformat()
        records.append(record)
    return records


@dataclass(frozen=True)
class RecordedRequest:
    """One request as seen by the server; credential values are never stored."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    auth_present: bool
    auth_ok: bool
    fault: str | None = None


@dataclass
class _State:
    records: dict[str, list[Record]] = field(default_factory=dict)
    children: dict[str, dict[str, list[Record]]] = field(default_factory=dict)
    auth: tuple[str, ...] | None = None  # ("bearer", token) | ("api_key", header, key) | ...
    oauth_client: tuple[str, str] | None = None
    oauth_tokens: set[str] = field(default_factory=set)
    faults: tuple[float, tuple[str, ...], float | None, random.Random] | None = None
    fail_queue: list[tuple[str, float | None]] = field(default_factory=list)
    delay: float = 0.0
    status: int | None = None
    default_page_size: int = 10
    max_page_size: int = 100
    log: list[RecordedRequest] = field(default_factory=list)


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class FakeApiServer:
    """Real HTTP server on 127.0.0.1 serving JSON datasets; state changes are thread-safe."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._state = _State()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> FakeApiServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._httpd is None:
            handler = type("_BoundHandler", (_Handler,), {"api": self})
            self._httpd = _QuietServer((self.host, self.port), handler)
            self.port = int(self._httpd.server_address[1])
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _set(self, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(self._state, key, value)

    def set_records(self, name: str, records: Iterable[Record]) -> None:
        with self._lock:
            self._state.records[name] = [dict(r) for r in records]

    def set_children(self, name: str, children: Mapping[Any, Sequence[Record]]) -> None:
        """Children per parent id of dataset ``name`` (served under /parents/{name}/{id}/...)."""
        with self._lock:
            self._state.children[name] = {str(k): [dict(r) for r in v] for k, v in children.items()}

    def set_page_limits(self, default: int = 10, maximum: int = 100) -> None:
        """Page size used when the client sends none, and the cap applied to requested sizes."""
        self._set(default_page_size=default, max_page_size=maximum)

    def require_bearer(self, token: str) -> None:
        self._set(auth=("bearer", token))

    def require_api_key(self, header_name: str, key: str) -> None:
        self._set(auth=("api_key", header_name, key))

    def require_basic(self, user: str, password: str) -> None:
        self._set(auth=("basic", user, password))

    def enable_oauth2(self, client_id: str, client_secret: str) -> None:
        """``POST /oauth/token`` issues tokens; data endpoints then require one of them."""
        self._set(oauth_client=(client_id, client_secret), auth=("oauth2",))

    def clear_auth(self) -> None:
        self._set(auth=None, oauth_client=None, oauth_tokens=set())

    def set_faults(
        self,
        rate: float = 0.3,
        kinds: Sequence[str] = ("503", "429", "reset"),
        retry_after: float | None = 1,
        seed: int = 123,
    ) -> None:
        """Fail ``rate`` of data requests; a kind is an HTTP status ("503", "429", ...) or
        "reset" (RST without response). 429 always carries Retry-After (0 when None)."""
        self._set(faults=(rate, tuple(kinds), retry_after, random.Random(seed)))

    def fail_next(self, n: int, kind: str = "503", retry_after: float | None = None) -> None:
        with self._lock:
            self._state.fail_queue.extend([(kind, retry_after)] * n)

    def set_delay(self, seconds: float) -> None:
        self._set(delay=seconds)

    def set_status(self, code: int | None) -> None:
        self._set(status=code)

    def clear_faults(self) -> None:
        self._set(faults=None, fail_queue=[], delay=0.0, status=None)

    def reset(self) -> None:
        """Forget datasets, auth, faults, page limits and the request log."""
        with self._lock:
            self._state = _State()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._state.log)

    def request_count(self, path_prefix: str | None = None) -> int:
        log = self.requests
        return sum(1 for r in log if path_prefix is None or r.path.startswith(path_prefix))

    def clear_log(self) -> None:
        self._set(log=[])

    def _admit(self, method: str, path: str, query: dict[str, str], headers: Any) -> Any:
        """Log the request; return the forced status, the fault, "denied" or None."""
        with self._lock:
            st = self._state
            present, ok, key_header = self._check_auth(headers)
            data = path != "/oauth/token"
            fault = self._pick_fault() if data and st.status is None else None
            hidden = _SECRET_HEADERS | ({key_header.lower()} if key_header else set())
            kept = {k: v for k, v in headers.items() if k.lower() not in hidden}
            kind = fault[0] if fault else None
            st.log.append(RecordedRequest(method, path, query, kept, present, ok, kind))
            delay = st.delay if data else 0.0
            verdict = st.status or fault or (None if ok or not data else "denied")
        if delay:
            time.sleep(delay)
        return verdict

    def _check_auth(self, headers: Any) -> tuple[bool, bool, str | None]:
        """(present, ok, api-key header name) for the configured auth mode; lock held."""
        auth = self._state.auth
        value: str | None = headers.get("Authorization")
        if auth is not None and auth[0] == "api_key":
            key = headers.get(auth[1])
            return key is not None, key == auth[2], auth[1]
        if auth is None or value is None:
            return value is not None, auth is None, None
        if auth[0] == "bearer":
            return True, value == f"Bearer {auth[1]}", None
        if auth[0] == "oauth2":
            token = value[7:] if value.lower().startswith("bearer ") else ""
            return True, token in self._state.oauth_tokens, None
        expected = base64.b64encode(f"{auth[1]}:{auth[2]}".encode()).decode()
        return True, value == f"Basic {expected}", None

    def _pick_fault(self) -> tuple[str, float | None] | None:
        st = self._state
        if st.fail_queue:
            return st.fail_queue.pop(0)
        if st.faults is not None and st.faults[3].random() < st.faults[0]:
            return st.faults[3].choice(st.faults[1]), st.faults[2]
        return None

    def _token(self, form: dict[str, str]) -> Response:
        creds = (form.get("client_id"), form.get("client_secret"))
        with self._lock:
            if form.get("grant_type") != "client_credentials" or creds != self._state.oauth_client:
                return 401, {"error": "invalid_client"}, {}
            token = secrets.token_urlsafe(24)
            self._state.oauth_tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": 3600}, {}

    def _data(self, path: str, query: dict[str, str]) -> Response:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] not in _SIZE_PARAM:
            raise _HttpError(404, f"no route for {path}")
        style, name = parts[0], parts[1]
        with self._lock:
            st = self._state
            if name not in st.records:
                raise _HttpError(404, f"unknown dataset {name!r}")
            records = _filter(st.records[name], query)
            children = st.children.get(name, {})
            size = min(_int(query, _SIZE_PARAM[style], st.default_page_size, 1), st.max_page_size)
        if style == "parents" and len(parts) == 4 and parts[3] == "children":
            if parts[2] not in children:
                raise _HttpError(404, f"unknown parent {parts[2]!r}")
            return 200, _filter(children[parts[2]], query), {}
        if len(parts) != 2:
            raise _HttpError(404, f"no route for {path}")
        total = len(records)
        if style in ("offset", "parents"):
            start = _int(query, "offset", 0)
            return 200, {"items": records[start : start + size], "total": total}, {}
        if style == "cursor":
            start = _decode_cursor(query.get("cursor"))
            token = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
            nxt = token if start + size < total else None
            return 200, {"results": records[start : start + size], "next_cursor": nxt}, {}
        page, pages = _int(query, "page", 1, 1), math.ceil(total / size)
        chunk = records[(page - 1) * size : page * size]
        nxt = self._url(path, query, page + 1) if page < pages else None
        if style == "page":
            return 200, {"data": chunk, "page": page, "total_pages": pages}, {}
        if style == "jsonlink":
            return 200, {"records": chunk, "next": nxt}, {}
        links = [f'<{nxt}>; rel="next"'] if nxt else []
        links.append(f'<{self._url(path, query, 1)}>; rel="first"')
        return 200, chunk, {"Link": ", ".join(links)}

    def _url(self, path: str, query: dict[str, str], page: int) -> str:
        return f"{self.base_url}{path}?{urlencode({**query, 'page': str(page)})}"


def _filter(records: list[Record], query: dict[str, str]) -> list[Record]:
    since = query.get("updated_since")
    if since is None:
        return records
    key, out = query.get("since_field", "updated_at"), []
    for r in records:
        value = r.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if value > float(since) if isinstance(value, int | float) else str(value) > since:
            out.append(r)
    return out


def _int(query: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = query.get(name)
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise _HttpError(400, f"query parameter {name!r} must be an integer >= {minimum}")
    return value


def _decode_cursor(cursor: str | None) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor).decode() if cursor else "offset:0"
        if text.startswith("offset:"):
            return int(text[7:])
    except ValueError:  # also binascii.Error and UnicodeDecodeError
        pass
    raise _HttpError(400, "invalid cursor")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up mid-response (retries, timeouts) are expected in tests."""


class _Handler(BaseHTTPRequestHandler):
    api: FakeApiServer
    protocol_version = "HTTP/1.1"
    timeout = 10
    disable_nagle_algorithm = True  # small JSON responses: 43 ms -> 2 ms per request

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def _handle(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        verdict = self.api._admit(self.command, split.path, query, self.headers)
        if isinstance(verdict, int):
            self._send(verdict, {"error": f"forced status {verdict}"}, {})
        elif verdict == "denied":
            self._send(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
        elif verdict is not None:
            self._fault(*verdict)
        elif split.path == "/oauth/token":
            self._send(*self.api._token(self._form(body)))
        else:
            try:
                self._send(*self.api._data(split.path, query))
            except _HttpError as exc:
                self._send(exc.status, {"error": str(exc)}, {})

    do_GET = do_POST = _handle

    def _form(self, body: bytes) -> dict[str, str]:
        form = {k: v[-1] for k, v in parse_qs(body.decode()).items()}
        basic = self.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):  # client_secret_basic
            cid, _, csecret = base64.b64decode(basic[6:]).decode().partition(":")
            form.setdefault("client_id", cid)
            form.setdefault("client_secret", csecret)
        return form

    def _fault(self, kind: str, retry_after: float | None) -> None:
        if kind == "reset":
            self.close_connection = True
            linger = struct.pack("ii", 1, 0)  # SO_LINGER 0: close() sends RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            self.connection.close()
            return
        headers = {}
        if retry_after is not None or kind == "429":
            headers["Retry-After"] = str(math.ceil(retry_after or 0))
        self._send(int(kind), {"error": f"injected fault {kind}"}, headers)

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
