"""The quickstart end to end, as the README runs it, read back the ways docs/cli.md shows."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.conftest import embedded_catalog

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
DOCS = REPO / "docs" / "cli.md"
TESTED_BLOCK = re.compile(r"<!-- tested: [^>]*-->\s*```python\n(.*?)```", re.DOTALL)


def quickstart(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python examples/quickstart.py ARGS`` in ``workdir`` (what scripts/quickstart.sh runs)."""
    return subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py"), *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "RUNTIME__DLTHUB_TELEMETRY": "false", "HOME": str(workdir)},
    )


def orders_in_files() -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for path in sorted((EXAMPLES / "data" / "orders").glob("*.csv")):
        with path.open(newline="") as handle:
            rows.extend(csv.DictReader(handle))
    return rows


def customers_in_sql() -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(":memory:")
    connection.executescript((EXAMPLES / "data" / "shop.sql").read_text())
    return connection.execute("SELECT customer_id, name, email FROM customers").fetchall()


def products_in_json() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((EXAMPLES / "data" / "products.json").read_text())
    return records


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    workdir = tmp_path_factory.mktemp("quickstart")
    done = quickstart(workdir, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return workdir, json.loads(done.stdout)


def test_every_source_commits_its_rows(first_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, summary = first_run
    expected = {
        "orders": ("quickstart.orders", len(orders_in_files())),
        "customers": ("quickstart.customers", len(customers_in_sql())),
        "products": ("quickstart.products", len(products_in_json())),
    }
    catalog = embedded_catalog(workdir)
    assert [s["name"] for s in summary["sources"]] == list(expected)
    for source in summary["sources"]:
        table_name, rows = expected[source["name"]]
        table = catalog.load_table(table_name)
        assert source["status"] == "success"
        assert source["rows_loaded"] == rows > 0
        assert table.scan().to_arrow().num_rows == rows
        assert source["snapshot_id"] == table.current_snapshot().snapshot_id


def test_tables_hold_the_source_data(first_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, _ = first_run
    catalog = embedded_catalog(workdir)

    orders = catalog.load_table("quickstart.orders").scan().to_arrow().to_pylist()
    by_id = {row["order_id"]: row for row in orders}
    for row in orders_in_files():
        loaded = by_id[int(row["order_id"])]
        assert loaded["unit_price"] == pytest.approx(float(row["unit_price"]))
        assert loaded["status"] == row["status"]

    customers = catalog.load_table("quickstart.customers").scan().to_arrow()
    assert sorted(
        zip(
            *(customers.column(c).to_pylist() for c in ("customer_id", "name", "email")),
            strict=True,
        )
    ) == sorted(customers_in_sql())

    products = catalog.load_table("quickstart.products").scan().to_arrow().to_pylist()
    assert {(p["product_id"], p["name"], p["price"]) for p in products} == {
        (p["product_id"], p["name"], p["price"]) for p in products_in_json()
    }


def test_query_with_duckdb_as_the_docs_show(first_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, _ = first_run
    catalog = embedded_catalog(workdir)
    connection = catalog.load_table("quickstart.orders").scan().to_duckdb(table_name="orders")
    connection.register("customers", catalog.load_table("quickstart.customers").scan().to_arrow())

    top = connection.execute(
        """
        SELECT c.country, count(*) AS orders, round(sum(o.quantity * o.unit_price), 2) AS revenue
        FROM orders o JOIN customers c USING (customer_id)
        GROUP BY c.country ORDER BY revenue DESC LIMIT 3
        """
    ).fetchall()

    assert len(top) == 3
    assert sum(row[1] for row in top) <= len(orders_in_files())
    assert top[0][2] >= top[1][2] >= top[2][2]


def test_second_run_is_incremental_merge_and_replace(
    first_run: tuple[Path, dict[str, Any]],
) -> None:
    workdir, _ = first_run
    done = quickstart(workdir)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Ingestion summary" in done.stdout
    # a rerun's footer says what kind of rows were committed: not "320 rows" as if all new
    footer = " ".join(done.stdout.split())
    assert "✓ 3 sources succeeded" in footer
    assert "200 rows merged into 1 table (inserted or updated)" in footer
    assert "120 rows replaced the content of 1 table" in footer
    assert "no new data: orders" in footer
    assert "new rows appended" not in footer
    assert "orders -> quickstart.orders" in done.stderr
    assert "(no new data)" in done.stderr  # orders: only new files are read
    catalog = embedded_catalog(workdir)
    assert catalog.load_table("quickstart.orders").scan().to_arrow().num_rows == len(
        orders_in_files()
    )
    customers = catalog.load_table("quickstart.customers")
    assert customers.scan().to_arrow().num_rows == len(customers_in_sql())  # merged, not doubled
    assert len(customers.metadata.snapshots) == 2
    products = catalog.load_table("quickstart.products")
    assert products.scan().to_arrow().num_rows == len(products_in_json())  # replaced
    assert products.current_snapshot().summary.operation.value == "overwrite"


def test_the_documented_query_snippet_runs(first_run: tuple[Path, dict[str, Any]]) -> None:
    """The PyIceberg + DuckDB block of docs/cli.md, as a user pastes it in the quickstart folder."""
    workdir, _ = first_run
    [snippet] = TESTED_BLOCK.findall(DOCS.read_text())
    done = subprocess.run(
        [sys.executable, "-c", snippet],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    refunded = sum(1 for row in orders_in_files() if row["status"] == "refunded")
    assert lines[0] == str(len(orders_in_files()))
    assert lines[1] == str(refunded)
    assert "country" in done.stdout
    assert "revenue" in done.stdout
