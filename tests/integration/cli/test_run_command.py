"""``floe-ingest run``: real sources into the embedded catalog, verified through PyIceberg."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli, embedded_catalog, write_yaml
from tests.services.http_api import FakeApiServer, make_records

pytestmark = pytest.mark.integration

TWO_SOURCES = """\
sources:
  - name: orders
    source_type: filesystem
    source_config:
      bucket_url: data/orders
      file_glob: "*.csv"
    destination_table: bronze.orders
  - name: items
    source_type: rest_api
    source_config:
      base_url: ${{ITEMS_API}}
      path: offset/items
      paginator: {{type: offset, limit: 10, total_path: total}}
      data_selector: items
    destination_table: bronze.items
    write_mode: replace
"""


def test_run_loads_every_source_and_reports_the_committed_snapshots(
    cli: Cli, workdir: Path, orders_folder: Path, api_server: FakeApiServer
) -> None:
    api_server.set_records("items", make_records(25))
    config = write_yaml(orders_folder.parent.parent, TWO_SOURCES.format())

    result = cli("run", str(config), "--json", env={"ITEMS_API": api_server.base_url})

    assert result.exit_code == 0, result.output
    summary = result.json()
    assert summary["success"] is True
    assert summary["catalog"]["type"] == "sql"
    by_name = {s["name"]: s for s in summary["sources"]}
    catalog = embedded_catalog(workdir)
    for name, table, rows in (("orders", "bronze.orders", 30), ("items", "bronze.items", 25)):
        reported = by_name[name]
        loaded = catalog.load_table(table)
        assert reported["status"] == "success"
        assert reported["rows_loaded"] == rows == loaded.scan().to_arrow().num_rows
        assert reported["snapshot_id"] == loaded.current_snapshot().snapshot_id
        assert reported["bytes_written"] > 0
        assert reported["rows_extracted"] == rows
        assert reported["load_jobs"] >= 1
        assert reported["errors"] == []
        [load] = reported["loads"]  # one load of its own, nothing pending from an earlier run
        assert load["resumed"] is False and load["rows_loaded"] == rows
        assert load["snapshot_ids"] == [reported["snapshot_id"]]
    orders = catalog.load_table("bronze.orders").scan().to_arrow().to_pylist()
    assert sorted(r["order_id"] for r in orders) == list(range(1, 31))
    assert {r["order_id"]: r["amount"] for r in orders}[7] == 10.5
    assert (workdir / ".floe" / "pipelines").is_dir()


def test_text_summary_and_progress(
    cli: Cli, workdir: Path, orders_folder: Path, api_server: FakeApiServer
) -> None:
    api_server.set_records("items", make_records(12))
    config = write_yaml(orders_folder.parent.parent, TWO_SOURCES.format())

    result = cli("run", str(config), env={"ITEMS_API": api_server.base_url})

    assert result.exit_code == 0, result.output
    snapshot = embedded_catalog(workdir).load_table("bronze.items").current_snapshot()
    assert "Ingestion summary" in result.stdout
    assert str(snapshot.snapshot_id) in result.stdout
    footer = " ".join(result.stdout.split())
    assert "✓ 2 sources succeeded, " in footer
    assert " written: 30 new rows appended to 1 table; 12 rows replaced the content of 1 table" in (
        footer
    )
    # progress and closing lines on stderr
    assert "orders -> bronze.orders: extract done, 30 rows" in result.stderr
    assert "items -> bronze.items: load done" in result.stderr
    assert "12 rows committed" in result.stderr


def test_source_option_runs_only_the_named_sources(
    cli: Cli, workdir: Path, orders_folder: Path
) -> None:
    config = write_yaml(orders_folder.parent.parent, TWO_SOURCES.format())

    # the whole file is validated, so the unselected source's variable still needs a value
    result = cli("run", str(config), "--source", "orders", "--json", env={"ITEMS_API": "http://x"})

    assert result.exit_code == 0, result.output
    assert [s["name"] for s in result.json()["sources"]] == ["orders"]
    catalog = embedded_catalog(workdir)
    assert catalog.list_tables("bronze") == [("bronze", "orders")]


def test_unknown_source_name_is_a_configuration_error(
    cli: Cli, workdir: Path, orders_folder: Path
) -> None:
    config = write_yaml(orders_folder.parent.parent, TWO_SOURCES.format())

    result = cli("run", str(config), "--source", "ordrs", env={"ITEMS_API": "http://x"})

    assert result.exit_code == 2
    assert "--source: no source named 'ordrs'; declared sources: orders, items" in result.stderr
    assert not (workdir / ".floe").exists()


def test_invalid_file_runs_nothing(cli: Cli, workdir: Path, orders_folder: Path) -> None:
    config = write_yaml(
        orders_folder.parent.parent,
        TWO_SOURCES.format().replace("write_mode: replace", "write_mode: upsert"),
    )

    result = cli("run", str(config), env={"ITEMS_API": "http://127.0.0.1:1"})

    assert result.exit_code == 2
    assert "sources[1].write_mode (line 16): 'upsert' is not allowed" in result.stderr
    assert not (workdir / ".floe").exists(), "no source may run when one is invalid"


def test_unreachable_source_fails_transient_and_the_others_still_run(
    cli: Cli, workdir: Path, orders_folder: Path, closed_port: int
) -> None:
    config = write_yaml(orders_folder.parent.parent, TWO_SOURCES.format())

    result = cli("run", str(config), "--json", env={"ITEMS_API": f"http://127.0.0.1:{closed_port}"})

    assert result.exit_code == 3, result.output
    summary = result.json()
    by_name = {s["name"]: s for s in summary["sources"]}
    assert by_name["orders"]["status"] == "success"
    assert by_name["items"]["status"] == "failed"
    assert by_name["items"]["category"] == "TRANSIENT"
    assert by_name["items"]["errors"][0].startswith("[TRANSIENT]")
    assert by_name["items"]["snapshot_id"] is None
    catalog = embedded_catalog(workdir)
    assert catalog.list_tables("bronze") == [("bronze", "orders")]


def test_fail_fast_skips_the_remaining_sources(
    cli: Cli, workdir: Path, orders_folder: Path, closed_port: int
) -> None:
    reordered = TWO_SOURCES.format()
    first, second = reordered.split("  - name: items")
    config = write_yaml(
        orders_folder.parent.parent,
        "sources:\n  - name: items" + second + first.removeprefix("sources:\n"),
    )

    result = cli(
        "run",
        str(config),
        "--fail-fast",
        "--json",
        env={"ITEMS_API": f"http://127.0.0.1:{closed_port}"},
    )

    assert result.exit_code == 3
    statuses = [(s["name"], s["status"]) for s in result.json()["sources"]]
    assert statuses == [("items", "failed"), ("orders", "skipped")]
    assert embedded_catalog(workdir).list_namespaces() == []


def test_refused_token_is_permanent_and_never_printed(
    cli: Cli, workdir: Path, tmp_path: Path, api_server: FakeApiServer
) -> None:
    api_server.set_records("items", make_records(5))
    api_server.require_bearer("the-right-token")
    wrong = "wrong-token-5b9e2c71"
    config = write_yaml(
        tmp_path,
        """\
        sources:
          - name: items
            source_type: rest_api
            source_config:
              base_url: ${ITEMS_API}
              path: offset/items
              data_selector: items
              auth: {type: bearer, token: "${ITEMS_TOKEN}"}
            destination_table: bronze.items
        """,
    )
    env = {"ITEMS_API": api_server.base_url, "ITEMS_TOKEN": wrong}

    text = cli("run", str(config), "--verbose", env=env)
    as_json = cli("run", str(config), "--json", env=env)

    assert text.exit_code == as_json.exit_code == 1, text.output
    assert as_json.json()["sources"][0]["category"] == "PERMANENT"
    assert "401" in as_json.json()["sources"][0]["errors"][0]
    for result in (text, as_json):
        assert wrong not in result.output


def test_catalog_option_puts_the_tables_elsewhere(
    cli: Cli, workdir: Path, tmp_path: Path, orders_folder: Path
) -> None:
    config = write_yaml(orders_folder.parent.parent, TWO_SOURCES.format())
    other = tmp_path / "other-lake" / "catalog.db"

    result = cli(
        "run",
        str(config),
        "--source",
        "orders",
        "--catalog",
        f"sqlite:///{other}",
        env={"ITEMS_API": "http://x"},
    )

    assert result.exit_code == 0, result.output
    assert not (workdir / ".floe" / "catalog.db").exists()
    from floe_ingestion_dlt import CatalogConfig
    from floe_ingestion_dlt.catalog import load_catalog

    catalog = load_catalog(
        CatalogConfig(
            type="sql", uri=f"sqlite:///{other}", warehouse=(other.parent / "warehouse").as_uri()
        )
    )
    assert catalog.load_table("bronze.orders").scan().to_arrow().num_rows == 30
