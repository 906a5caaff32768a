"""rest_api -> Iceberg against a real local HTTP server, read back through PyIceberg."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.config import RetryConfig
from tests.helpers import embedded_plugin, read_table, snapshot_count, user_rows
from tests.services.http_api import FakeApiServer, make_records

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

PAGE = 10
PAGES = 50


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path)


def rest_config(source_config: dict[str, Any], table: str, **extra: Any) -> IngestionConfig:
    return IngestionConfig(
        source_type="rest_api",
        source_config=source_config,
        destination_table=f"bronze.{table}",
        **extra,
    )


def paginated(api: FakeApiServer, style: str, dataset: str) -> dict[str, Any]:
    """Short-form config for one of the server's pagination styles."""
    base = {"base_url": api.base_url, "path": f"{style}/{dataset}"}
    if style == "offset":
        paging = {"paginator": {"type": "offset", "limit": PAGE, "total_path": "total"}}
        return {**base, **paging, "data_selector": "items"}
    if style == "page":
        return {
            **base,
            "params": {"page_size": PAGE},
            "paginator": {"type": "page_number", "base_page": 1, "total_path": "total_pages"},
            "data_selector": "data",
        }
    if style == "cursor":
        return {
            **base,
            "params": {"limit": PAGE},
            "paginator": {"type": "cursor", "cursor_path": "next_cursor", "cursor_param": "cursor"},
            "data_selector": "results",
        }
    if style == "link":
        return {**base, "params": {"per_page": PAGE}, "paginator": "header_link"}
    assert style == "jsonlink"
    return {
        **base,
        "params": {"page_size": PAGE},
        "paginator": {"type": "json_link", "next_url_path": "next"},
        "data_selector": "records",
    }


def served(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records as the table holds them: dlt detects ISO timestamps and keeps them as such."""
    rows = []
    for record in sorted(records, key=lambda r: r["id"]):
        row = dict(record)
        if isinstance(row.get("updated_at"), str):
            row["updated_at"] = dt.datetime.fromisoformat(row["updated_at"])
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    ("style", "pages"),
    [("offset", PAGES), ("page", PAGES), ("cursor", PAGES), ("link", 5), ("jsonlink", 5)],
)
def test_every_page_of_each_paginator_lands_in_one_snapshot(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, style: str, pages: int
) -> None:
    records = make_records(PAGE * pages)
    api_server.set_records("orders", records)
    pipeline = plugin.create_pipeline(rest_config(paginated(api_server, style, "orders"), style))
    api_server.clear_log()
    result = plugin.run(pipeline)
    assert result.success, result.errors
    assert result.rows_loaded == len(records)
    table = read_table(plugin, f"bronze.{style}")
    assert snapshot_count(table) == 1
    assert user_rows(table.scan().to_arrow()) == served(records)
    data_requests = [r for r in api_server.requests if r.path == f"/{style}/orders"]
    assert len(data_requests) in (pages, pages + 1)  # offset/page styles may ask one page past


def test_parent_child_config_loads_the_selected_child(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    parents = make_records(25)
    api_server.set_records("orders", parents)
    children = {p["id"]: [{"line": p["id"] * 100 + k, "qty": k} for k in range(3)] for p in parents}
    api_server.set_children("orders", children)
    source_config = {
        "client": {"base_url": api_server.base_url},
        "resource_defaults": {"endpoint": {"data_selector": "$"}},
        "resources": [
            {
                "name": "orders",
                "endpoint": {
                    "path": "parents/orders",
                    "paginator": {"type": "offset", "limit": 10, "total_path": "total"},
                    "data_selector": "items",
                },
            },
            {
                "name": "order_lines",
                "endpoint": {
                    "path": "parents/orders/{resources.orders.id}/children",
                    "paginator": "single_page",
                },
                "include_from_parent": ["name"],
            },
        ],
        "resource": "order_lines",
    }
    result = plugin.run(plugin.create_pipeline(rest_config(source_config, "order_lines")))
    assert result.success, result.errors
    table = read_table(plugin, "bronze.order_lines").scan().to_arrow()
    rows = sorted(user_rows(table), key=lambda r: r["line"])
    expected = sorted(
        (
            {"line": c["line"], "qty": c["qty"], "_orders_name": p["name"]}
            for p in parents
            for c in children[p["id"]]
        ),
        key=lambda r: r["line"],
    )
    assert rows == expected
    # only the child is a table: the parent was read to resolve the children's URLs
    catalog_tables = {t[1] for t in plugin_catalog_tables(plugin)}
    assert "order_lines" in catalog_tables
    assert "orders" not in catalog_tables


def plugin_catalog_tables(plugin: DltIngestionPlugin) -> list[tuple[str, ...]]:
    from tests.helpers import fresh_catalog

    return list(fresh_catalog(plugin).list_tables("bronze"))


@pytest.mark.parametrize("auth_type", ["bearer", "api_key", "api_key_query", "basic", "oauth2"])
def test_every_auth_type_with_secrets_from_the_environment(
    tmp_path: Path,
    plugin: DltIngestionPlugin,
    api_server: FakeApiServer,
    monkeypatch: pytest.MonkeyPatch,
    auth_type: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level("DEBUG")
    secret = f"{auth_type}-{secrets.token_hex(12)}"
    monkeypatch.setenv("FLOE_TEST_API_SECRET", secret)
    from_env = {"from_env": "FLOE_TEST_API_SECRET"}
    auth: dict[str, Any]
    if auth_type == "bearer":
        api_server.require_bearer(secret)
        auth = {"type": "bearer", "token": from_env}
    elif auth_type == "api_key":
        api_server.require_api_key("X-Api-Key", secret)
        auth = {"type": "api_key", "name": "X-Api-Key", "api_key": from_env}
    elif auth_type == "api_key_query":
        # the server checks header keys only: the query key is checked in the request log below
        auth = {"type": "api_key", "name": "key", "location": "query", "api_key": from_env}
    elif auth_type == "basic":
        api_server.require_basic("floe", secret)
        auth = {"type": "http_basic", "username": "floe", "password": from_env}
    else:
        api_server.enable_oauth2("floe-client", secret)
        auth = {
            "type": "oauth2_client_credentials",
            "access_token_url": f"{api_server.base_url}/oauth/token",
            "client_id": "floe-client",
            "client_secret": from_env,
        }
    records = make_records(30)
    api_server.set_records("orders", records)
    source_config = {**paginated(api_server, "offset", "orders"), "auth": auth}
    result = plugin.run(plugin.create_pipeline(rest_config(source_config, f"auth_{auth_type}")))
    assert result.success, result.errors
    table = read_table(plugin, f"bronze.auth_{auth_type}")
    assert user_rows(table.scan().to_arrow()) == served(records)
    data = [r for r in api_server.requests if r.path == "/offset/orders"]
    assert data and all(r.auth_ok for r in data)
    if auth_type == "api_key_query":
        assert all(r.query.get("key") == secret for r in data)
    out = capsys.readouterr()
    assert secret not in caplog.text + out.out + out.err + repr(result)
    on_disk = [p for p in tmp_path.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert on_disk == []


def test_flaky_api_heals_without_losing_or_repeating_records(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    # the HTTP retries come out of retry_config's one budget: 8 attempts need 7 retries
    plugin = embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=7))
    records = make_records(PAGE * 30)
    api_server.set_records("orders", records)
    source_config = {
        **paginated(api_server, "cursor", "orders"),
        "request_backoff_factor": 0.01,
        "request_max_retry_delay": 0.1,
        "request_max_attempts": 8,
    }
    pipeline = plugin.create_pipeline(rest_config(source_config, "flaky"))
    api_server.set_faults(rate=0.3, kinds=("503", "429", "reset"), retry_after=0, seed=7)
    result = plugin.run(pipeline)
    faults = [r for r in api_server.requests if r.fault]
    assert result.success, result.errors
    assert len(faults) >= 5  # the faults happened and were healed by dlt's HTTP retries
    assert {r.fault for r in faults} == {"503", "429", "reset"}
    table = read_table(plugin, "bronze.flaky")
    assert snapshot_count(table) == 1
    assert user_rows(table.scan().to_arrow()) == served(records)


def test_nested_values_stay_in_the_one_table_as_json(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    records = [
        {"id": i, "tags": ["a", f"t{i}"], "address": {"city": f"c{i}", "zip": i}}
        for i in range(1, 21)
    ]
    api_server.set_records("people", records)
    source_config = paginated(api_server, "offset", "people")
    result = plugin.run(plugin.create_pipeline(rest_config(source_config, "people")))
    assert result.success, result.errors
    assert [t[1] for t in plugin_catalog_tables(plugin)] == ["people"]
    rows = user_rows(read_table(plugin, "bronze.people").scan().to_arrow())
    assert [(r["id"], json.loads(r["tags"]), json.loads(r["address"])) for r in rows] == [
        (r["id"], r["tags"], r["address"]) for r in records
    ]


def test_append_adds_and_replace_swaps(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    first = make_records(40)
    api_server.set_records("orders", first)
    source_config = paginated(api_server, "page", "orders")
    for _ in range(2):
        result = plugin.run(plugin.create_pipeline(rest_config(source_config, "appended")))
        assert result.success, result.errors
    appended = user_rows(read_table(plugin, "bronze.appended").scan().to_arrow())
    assert len(appended) == 80
    assert sorted(r["id"] for r in appended) == sorted([r["id"] for r in first] * 2)

    replace = rest_config(source_config, "replaced", write_mode="replace")
    assert plugin.run(plugin.create_pipeline(replace)).success
    second = make_records(15, start_id=1000)
    api_server.set_records("orders", second)
    result = plugin.run(plugin.create_pipeline(replace))
    assert result.success, result.errors
    table = read_table(plugin, "bronze.replaced")
    assert user_rows(table.scan().to_arrow()) == served(second)
    assert snapshot_count(table) == 2
