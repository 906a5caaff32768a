"""The real test services (tests/services) work: PostgreSQL, local HTTP API, SeaweedFS."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg2  # type: ignore[import-untyped]
import pyarrow as pa
import pytest
import requests
import sqlalchemy as sa

from tests.services.http_api import FakeApiServer, make_records
from tests.services.postgres import PostgresServer
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def _get(url: str, **kwargs: Any) -> requests.Response:
    return requests.get(url, timeout=10, **kwargs)


def _post(url: str, **kwargs: Any) -> requests.Response:
    return requests.post(url, timeout=10, **kwargs)


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


# ----------------------------------------------------------------------------- PostgreSQL
def test_postgres_sqlalchemy_roundtrip(postgres_server: PostgresServer) -> None:
    db = _name("db")
    url = postgres_server.create_database(db)
    assert url == postgres_server.dsn(db)
    assert url.startswith(f"postgresql+psycopg2://{postgres_server.user}:")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE items (id int PRIMARY KEY, name text)"))
            conn.execute(sa.text("INSERT INTO items VALUES (1, 'a'), (2, NULL)"))
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, name FROM items ORDER BY id")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [(1, "a"), (2, None)]
    assert postgres_server.execute("SELECT count(*) FROM items", database=db) == [(2,)]
    postgres_server.drop_database(db)


def test_postgres_requires_password(postgres_server: PostgresServer) -> None:
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host=postgres_server.host,
            port=postgres_server.port,
            user=postgres_server.user,
            password="wrong",
            dbname="postgres",
        )


def test_postgres_stop_start_keeps_data(postgres_server: PostgresServer) -> None:
    table = _name("keep")
    postgres_server.execute(f"CREATE TABLE {table} AS SELECT 42 AS answer")
    port = postgres_server.port
    try:
        postgres_server.stop()
        assert not postgres_server.is_running
        with pytest.raises(psycopg2.OperationalError):
            postgres_server.connect()
    finally:
        postgres_server.start()
    assert postgres_server.port == port
    assert postgres_server.execute(f"SELECT answer FROM {table}") == [(42,)]


# ----------------------------------------------------------------------------- HTTP API
def _follow_offset(base: str, name: str, **extra: Any) -> tuple[list[int], int]:
    ids: list[int] = []
    while True:
        params = {"limit": 7, "offset": len(ids), **extra}
        body = _get(f"{base}/offset/{name}", params=params).json()
        ids += [r["id"] for r in body["items"]]
        if len(ids) >= body["total"]:
            return ids, body["total"]


def _follow_page(base: str, name: str) -> list[int]:
    ids: list[int] = []
    page = 1
    while True:
        params = {"page": page, "page_size": 7}
        body = _get(f"{base}/page/{name}", params=params).json()
        ids += [r["id"] for r in body["data"]]
        if page >= body["total_pages"]:
            return ids
        page += 1


def _follow_cursor(base: str, name: str) -> list[int]:
    ids: list[int] = []
    cursor: str | None = ""
    while cursor is not None:
        params = {"cursor": cursor, "limit": 7}
        body = _get(f"{base}/cursor/{name}", params=params).json()
        ids += [r["id"] for r in body["results"]]
        cursor = body["next_cursor"]
    return ids


def _follow_link(base: str, name: str) -> list[int]:
    ids: list[int] = []
    url: str | None = f"{base}/link/{name}?per_page=7"
    while url is not None:
        resp = _get(url)
        ids += [r["id"] for r in resp.json()]
        url = resp.links.get("next", {}).get("url")
    return ids


def _follow_jsonlink(base: str, name: str) -> list[int]:
    ids: list[int] = []
    url: str | None = f"{base}/jsonlink/{name}?page_size=7"
    while url is not None:
        body = _get(url).json()
        ids += [r["id"] for r in body["records"]]
        url = body["next"]
    return ids


FOLLOWERS: dict[str, Callable[[str, str], list[int]]] = {
    "offset": lambda base, name: _follow_offset(base, name)[0],
    "page": _follow_page,
    "cursor": _follow_cursor,
    "link": _follow_link,
    "jsonlink": _follow_jsonlink,
}


@pytest.mark.parametrize("style", sorted(FOLLOWERS))
def test_api_paginators_return_every_record_once(api_server: FakeApiServer, style: str) -> None:
    api_server.set_records("things", make_records(23))
    ids = FOLLOWERS[style](api_server.base_url, "things")
    assert ids == list(range(1, 24))
    assert api_server.request_count(f"/{style}/things") == 4  # ceil(23 / 7)


def test_api_incremental_filter_and_page_cap(api_server: FakeApiServer) -> None:
    records = make_records(30)
    api_server.set_records("things", records)
    since = records[24]["updated_at"]  # id 25
    ids, total = _follow_offset(api_server.base_url, "things", updated_since=since)
    assert (ids, total) == ([26, 27, 28, 29, 30], 5)
    body = _get(
        f"{api_server.base_url}/offset/things", params={"updated_since": 27, "since_field": "id"}
    ).json()
    assert [r["id"] for r in body["items"]] == [28, 29, 30]
    api_server.set_page_limits(default=5, maximum=8)
    assert len(_get(f"{api_server.base_url}/offset/things").json()["items"]) == 5
    body = _get(f"{api_server.base_url}/offset/things?limit=1000").json()
    assert len(body["items"]) == 8
    assert _get(f"{api_server.base_url}/offset/nope").status_code == 404
    assert _get(f"{api_server.base_url}/offset/things?limit=x").status_code == 400


def test_api_parent_child(api_server: FakeApiServer) -> None:
    api_server.set_records("users", make_records(3))
    api_server.set_children("users", {i: make_records(i, start_id=100 * i) for i in (1, 2, 3)})
    parents = _get(f"{api_server.base_url}/parents/users").json()["items"]
    children = {
        p["id"]: _get(f"{api_server.base_url}/parents/users/{p['id']}/children").json()
        for p in parents
    }
    assert {k: [c["id"] for c in v] for k, v in children.items()} == {
        1: [100],
        2: [200, 201],
        3: [300, 301, 302],
    }
    assert _get(f"{api_server.base_url}/parents/users/9/children").status_code == 404


def test_api_fault_rate_and_controls(api_server: FakeApiServer) -> None:
    api_server.set_records("things", make_records(3))
    url = f"{api_server.base_url}/offset/things"
    api_server.set_faults(rate=0.5, kinds=("503", "429", "reset"), retry_after=1, seed=7)
    outcomes: list[Any] = []
    for _ in range(60):
        try:
            with requests.Session() as session:
                resp = session.get(url, timeout=5)
            outcomes.append((resp.status_code, resp.headers.get("Retry-After")))
        except requests.ConnectionError:
            outcomes.append("reset")
    assert api_server.request_count("/offset/things") == 60
    assert 15 <= sum(o != (200, None) for o in outcomes) <= 45
    assert {(503, "1"), (429, "1"), "reset", (200, None)} == set(outcomes)

    api_server.clear_faults()
    api_server.fail_next(2, "500")
    assert [_get(url).status_code for _ in range(3)] == [500, 500, 200]
    api_server.set_status(404)
    assert _post(f"{api_server.base_url}/oauth/token").status_code == 404
    api_server.clear_faults()
    api_server.set_delay(0.3)
    started = time.monotonic()
    assert _get(url).status_code == 200
    assert time.monotonic() - started >= 0.3


AUTH_MODES = ("bearer", "api_key", "basic", "oauth2")


def _auth_headers(server: FakeApiServer, mode: str, right: bool) -> dict[str, str]:
    secret = "s3cret" if right else "wrong"
    if mode == "bearer":
        return {"Authorization": f"Bearer {secret}"}
    if mode == "api_key":
        return {"X-Api-Key": secret}
    if mode == "basic":
        return {"Authorization": "Basic " + base64.b64encode(f"me:{secret}".encode()).decode()}
    form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": secret}
    resp = _post(f"{server.base_url}/oauth/token", data=form)
    if not right:
        assert resp.status_code == 401
        return {"Authorization": "Bearer not-issued"}
    assert resp.json()["token_type"] == "bearer"
    assert resp.json()["expires_in"] == 3600
    return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.mark.parametrize("mode", AUTH_MODES)
def test_api_auth_modes(api_server: FakeApiServer, mode: str) -> None:
    {
        "bearer": lambda: api_server.require_bearer("s3cret"),
        "api_key": lambda: api_server.require_api_key("X-Api-Key", "s3cret"),
        "basic": lambda: api_server.require_basic("me", "s3cret"),
        "oauth2": lambda: api_server.enable_oauth2("cid", "s3cret"),
    }[mode]()
    api_server.set_records("things", make_records(2))
    url = f"{api_server.base_url}/offset/things"
    ok = _get(url, headers=_auth_headers(api_server, mode, right=True))
    assert ok.status_code == 200
    assert len(ok.json()["items"]) == 2
    bad = _get(url, headers=_auth_headers(api_server, mode, right=False))
    assert bad.status_code == 401
    assert "error" in bad.json()
    assert _get(url).status_code == 401
    data_requests = [r for r in api_server.requests if r.path == "/offset/things"]
    assert [(r.auth_present, r.auth_ok) for r in data_requests] == [
        (True, True),
        (True, False),
        (False, False),
    ]
    assert all("s3cret" not in str(r) for r in api_server.requests)


# ----------------------------------------------------------------------------- SeaweedFS
def test_seaweedfs_plain_bucket_roundtrip(seaweedfs: SeaweedFS) -> None:
    bucket = _name("plain").replace("_", "-")
    seaweedfs.create_bucket(bucket)
    fs = seaweedfs.s3fs_filesystem()
    fs.pipe(f"{bucket}/dir/hello.txt", b"hello seaweed")
    assert fs.cat(f"{bucket}/dir/hello.txt") == b"hello seaweed"
    assert fs.ls(f"{bucket}/dir") == [f"{bucket}/dir/hello.txt"]


def _append_three_rows(seaweedfs: SeaweedFS, namespace: str) -> pa.Table:
    data = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int64()),
            "name": pa.array(["a", "b", None], pa.string()),
            "amount": pa.array([1.5, None, 3.25], pa.float64()),
        }
    )
    catalog = seaweedfs.pyiceberg_catalog()
    catalog.create_namespace(namespace)
    table = catalog.create_table(f"{namespace}.events", schema=data.schema)
    assert table.location() == f"{seaweedfs.warehouse}/{namespace}/events"
    table.append(data)
    return data


def _read_back(seaweedfs: SeaweedFS, namespace: str) -> pa.Table:
    fresh = seaweedfs.pyiceberg_catalog(name="fresh")
    assert (namespace,) in fresh.list_namespaces()
    return fresh.load_table(f"{namespace}.events").scan().to_arrow().sort_by("id")


def test_seaweedfs_iceberg_append_and_read_back(seaweedfs: SeaweedFS) -> None:
    namespace = _name("ns")
    data = _append_three_rows(seaweedfs, namespace)
    assert _read_back(seaweedfs, namespace).to_pylist() == data.to_pylist()


def test_seaweedfs_restart_keeps_tables(seaweedfs: SeaweedFS) -> None:
    namespace = _name("ns")
    data = _append_three_rows(seaweedfs, namespace)
    endpoint, catalog_uri = seaweedfs.s3_endpoint, seaweedfs.catalog_uri
    try:
        seaweedfs.stop()
        assert not seaweedfs.is_running
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{catalog_uri}/v1/config", timeout=2)
    finally:
        seaweedfs.start()
    assert seaweedfs.is_running
    assert (seaweedfs.s3_endpoint, seaweedfs.catalog_uri) == (endpoint, catalog_uri)
    assert _read_back(seaweedfs, namespace).to_pylist() == data.to_pylist()
