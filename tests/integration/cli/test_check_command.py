"""``floe-ingest check``: catalog health and source reachability, with real endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli, write_yaml
from tests.services.http_api import FakeApiServer, make_records

pytestmark = pytest.mark.integration

FILES_AND_API = """\
sources:
  - name: orders
    source_type: filesystem
    source_config: {{bucket_url: data/orders, file_glob: "*.csv"}}
    destination_table: bronze.orders
  - name: items
    source_type: rest_api
    source_config: {{base_url: "{api}", path: offset/items, data_selector: items}}
    destination_table: bronze.items
"""


def test_dead_rest_catalog_is_reported_transient(
    cli: Cli, workdir: Path, orders_folder: Path, closed_port: int, api_server: FakeApiServer
) -> None:
    api_server.set_records("items", make_records(3))
    config = write_yaml(orders_folder.parent.parent, FILES_AND_API.format(api=api_server.base_url))
    dead = f"http://127.0.0.1:{closed_port}/api/catalog"

    result = cli("check", str(config), "--catalog", dead, "--timeout", "2", "--json")

    assert result.exit_code == 3, result.output
    report = result.json()
    assert report["healthy"] is False
    catalog, *sources = report["checks"]
    assert catalog["component"] == "catalog"
    assert catalog["target"] == dead
    assert catalog["ok"] is False
    assert catalog["category"] == "TRANSIENT"
    assert f"127.0.0.1:{closed_port}" in catalog["detail"]
    assert [(s["component"], s["ok"]) for s in sources] == [
        ("source orders", True),
        ("source items", True),
    ]


def test_dead_catalog_text_output(
    cli: Cli, workdir: Path, orders_folder: Path, closed_port: int
) -> None:
    config = write_yaml(orders_folder.parent.parent, FILES_AND_API.format(api="http://127.0.0.1:9"))

    result = cli("check", str(config), "--catalog", f"http://127.0.0.1:{closed_port}")

    assert result.exit_code == 3
    assert "failed (TRANSIENT)" in result.stdout
    assert "checks failed (exit code 3: transient)" in result.stderr


def test_healthy_embedded_catalog_and_sources(
    cli: Cli, workdir: Path, orders_folder: Path, api_server: FakeApiServer
) -> None:
    api_server.set_records("items", make_records(3))
    config = write_yaml(orders_folder.parent.parent, FILES_AND_API.format(api=api_server.base_url))

    result = cli("check", str(config), "--json")

    assert result.exit_code == 0, result.output
    checks = result.json()["checks"]
    assert [(c["component"], c["ok"]) for c in checks] == [
        ("catalog", True),
        ("source orders", True),
        ("source items", True),
    ]
    assert checks[1]["target"] == str(orders_folder)
    assert checks[2]["target"] == api_server.base_url
    assert all(c["response_time_ms"] >= 0 for c in checks)


def test_unreachable_source_and_missing_table(
    cli: Cli, workdir: Path, tmp_path: Path, closed_port: int
) -> None:
    import sqlite3

    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY)")
    config = write_yaml(
        tmp_path,
        f"""\
        sources:
          - name: api
            source_type: rest_api
            source_config: {{base_url: "http://127.0.0.1:{closed_port}", path: items}}
            destination_table: bronze.api
          - name: db
            source_type: sql_database
            source_config: {{credentials: "sqlite:///{database}", table: custmers}}
            destination_table: bronze.db
        """,
    )

    result = cli("check", str(config), "--timeout", "2", "--json")

    checks = {c["component"]: c for c in result.json()["checks"]}
    assert checks["catalog"]["ok"] is True
    assert checks["source api"]["ok"] is False
    assert checks["source api"]["category"] == "TRANSIENT"
    assert checks["source db"]["ok"] is False
    assert checks["source db"]["category"] == "CONFIGURATION"
    assert "custmers" in checks["source db"]["detail"]
    assert result.exit_code == 2, "configuration problems outrank transient ones"


def test_check_does_not_create_the_embedded_catalog(
    cli: Cli, workdir: Path, orders_folder: Path
) -> None:
    """docs/cli.md: check writes nothing; a missing embedded catalog is created by the first run."""
    config = write_yaml(
        orders_folder.parent.parent,
        """\
        sources:
          - name: orders
            source_type: filesystem
            source_config: {bucket_url: data/orders, file_glob: "*.csv"}
            destination_table: bronze.orders
        """,
    )

    result = cli("check", str(config), "--json")

    assert result.exit_code == 0, result.output
    catalog = result.json()["checks"][0]
    assert catalog["ok"] is True
    assert "embedded catalog can be created here by the first run" in catalog["detail"]
    assert not (workdir / ".floe").exists()
