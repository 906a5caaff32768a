"""``floe-ingest show``: schema, snapshots and rows of a table the CLI loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli.conftest import Cli, embedded_catalog, write_yaml

pytestmark = pytest.mark.integration

ORDERS = """\
sources:
  - name: orders
    source_type: filesystem
    source_config: {bucket_url: data/orders, file_glob: "*.csv"}
    destination_table: bronze.orders
"""


@pytest.fixture
def loaded(cli: Cli, orders_folder: Path) -> Path:
    """The orders loaded twice (two append snapshots); returns the YAML file."""
    config = write_yaml(orders_folder.parent.parent, ORDERS)
    for _ in range(2):
        assert cli("run", str(config)).exit_code == 0
    return config


def test_show_table_as_json_matches_pyiceberg(cli: Cli, workdir: Path, loaded: Path) -> None:
    result = cli("show", "bronze.orders", "--limit", "4", "--json")

    assert result.exit_code == 0, result.output
    shown = result.json()
    table = embedded_catalog(workdir).load_table("bronze.orders")
    assert [c["name"] for c in shown["schema"]] == [f.name for f in table.schema().fields]
    assert [c["type"] for c in shown["schema"]] == ["long", "double", "string"]
    assert shown["current_snapshot_id"] == table.current_snapshot().snapshot_id
    assert shown["total_records"] == 60 == table.scan().to_arrow().num_rows
    assert [s["snapshot_id"] for s in shown["snapshots"]] == [
        s.snapshot_id for s in sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    ]
    assert [s["operation"] for s in shown["snapshots"]] == ["append", "append"]
    assert all("floe.load-id" in s["summary"] for s in shown["snapshots"])
    assert all("floe.dlt-state" not in s["summary"] for s in shown["snapshots"])
    assert shown["rows"] == table.scan(limit=4).to_arrow().to_pylist()


def test_show_table_text(cli: Cli, loaded: Path) -> None:
    result = cli("show", "bronze.orders", "-n", "3")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "bronze.orders  60 rows · Iceberg format v2" in out
    for heading in ("Schema", "Snapshots (oldest first)", "First 3 rows"):
        assert heading in out
    for column in ("order_id", "amount", "status"):
        assert column in out


def test_show_lists_tables(cli: Cli, loaded: Path) -> None:
    result = cli("show", "--json")

    assert result.exit_code == 0
    [entry] = result.json()["tables"]
    assert entry["table"] == "bronze.orders"
    assert entry["total_records"] == 60
    assert entry["snapshots"] == 2


def test_show_with_config_or_catalog_option(
    cli: Cli, workdir: Path, loaded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog_uri = f"sqlite:///{workdir / '.floe' / 'catalog.db'}"
    monkeypatch.chdir(tmp_path)  # away from .floe/: the catalog must come from the option

    by_catalog = cli("show", "bronze.orders", "--catalog", catalog_uri, "--json")
    by_config = cli("show", "bronze.orders", "--config", str(loaded), "--json")
    nothing = cli("show", "bronze.orders")

    assert by_catalog.exit_code == 0, by_catalog.output
    assert by_catalog.json()["total_records"] == 60
    # --config uses the file's catalog: the embedded one of the *current* folder, absent here
    assert by_config.exit_code == 2
    assert "no catalog at" in by_config.json()["problems"][0]["message"]
    assert nothing.exit_code == 2
    assert "run `floe-ingest run CONFIG.yaml` here first" in nothing.stderr


def test_unknown_table_lists_the_known_ones(cli: Cli, loaded: Path) -> None:
    result = cli("show", "bronze.ordres")

    assert result.exit_code == 1
    assert "NoSuchTableError" in result.stderr
    assert "tables in this catalog: bronze.orders" in result.stderr


@pytest.mark.parametrize("typed", ["orders", ".orders", "bronze."])
def test_show_a_table_without_namespace_is_a_configuration_error_naming_the_fix(
    cli: Cli, loaded: Path, typed: str
) -> None:
    result = cli("show", typed)

    assert result.exit_code == 2, result.output
    assert f"table '{typed}' is not NAMESPACE.TABLE" in result.stderr
    assert "`floe-ingest show bronze.orders`" in result.stderr
    assert "Empty namespace identifier" not in result.output


def test_show_an_unknown_name_without_namespace_lists_the_tables(cli: Cli, loaded: Path) -> None:
    result = cli("show", "items", "--json")

    assert result.exit_code == 2, result.output
    document = result.json()
    assert document["category"] == "CONFIGURATION"
    assert "'items' is not NAMESPACE.TABLE" in document["error"]
    assert "tables in this catalog: bronze.orders" in document["error"]
