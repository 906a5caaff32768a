"""REST records whose keys collide after normalization are refused like CSV headers are
(``NameNormalizationCollision``), on the Arrow-page path and the row path, and nothing is
committed; keys that only differ between records fill one column and load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import RetryConfig
from tests.helpers import embedded_plugin, fresh_catalog, read_table
from tests.services.http_api import FakeApiServer

pytestmark = pytest.mark.integration


def _api_config(api: FakeApiServer, table: str, arrow_pages: bool) -> IngestionConfig:
    return IngestionConfig(
        source_type="rest_api",
        source_config={
            "base_url": api.base_url,
            "path": "offset/orders",
            "paginator": {"type": "offset", "limit": 50, "total_path": "total"},
            "data_selector": "items",
            "arrow_pages": arrow_pages,
        },
        destination_table=table,
    )


def _tables(plugin: Any) -> list[tuple[str, ...]]:
    catalog = fresh_catalog(plugin)
    return [t for ns in catalog.list_namespaces() for t in catalog.list_tables(ns)]


@pytest.mark.parametrize("arrow_pages", [True, False], ids=["arrow_pages", "rows"])
@pytest.mark.parametrize(
    "keys", [("Order ID", "order_id"), ("名前", "価格")], ids=["spelling", "non_latin"]
)
def test_colliding_keys_are_refused_like_csv_headers(
    api_server: FakeApiServer, tmp_path: Path, arrow_pages: bool, keys: tuple[str, str]
) -> None:
    first, second = keys
    api_server.set_records(
        "orders", [{"id": i, first: f"a{i}", second: f"b{i}"} for i in range(1, 121)]
    )
    plugin = embedded_plugin(tmp_path, retry_config=RetryConfig(max_retries=0))
    result = plugin.run(
        plugin.create_pipeline(_api_config(api_server, "bronze.orders", arrow_pages))
    )

    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    (csv_dir / "a.csv").write_text(f"id,{first},{second}\n1,a1,b1\n")
    csv = plugin.run(
        plugin.create_pipeline(
            IngestionConfig(
                source_type="filesystem",
                source_config={"bucket_url": str(csv_dir), "file_glob": "*.csv"},
                destination_table="bronze.orders_csv",
            )
        )
    )
    assert not csv.success and "NameNormalizationCollision" in csv.errors[0]
    assert not result.success and result.rows_loaded == 0
    # refused the same way: same category and contract type, the same cause named
    kind = csv.errors[0].split(":")[0]  # e.g. "[PERMANENT] SourceConnectionError"
    assert result.errors[0].startswith(f"{kind}: "), (result.errors, csv.errors)
    assert "NameNormalizationCollision" in result.errors[0], result.errors
    assert repr(first) in result.errors[0] and repr(second) in result.errors[0]
    assert _tables(plugin) == []  # nothing committed, not even an empty table


def test_keys_differing_between_records_fill_one_column(
    api_server: FakeApiServer, tmp_path: Path
) -> None:
    api_server.set_records(
        "orders",
        [{"id": 1, "Order ID": "a"}, {"id": 2, "order_id": "b"}, {"id": 3, "order_id": "c"}],
    )
    plugin = embedded_plugin(tmp_path)
    result = plugin.run(plugin.create_pipeline(_api_config(api_server, "bronze.orders", False)))
    assert result.success and result.rows_loaded == 3, result.errors
    table = read_table(plugin, "bronze.orders")
    rows = sorted(
        table.scan(selected_fields=("id", "order_id")).to_arrow().to_pylist(), key=lambda r: r["id"]
    )
    assert rows == [
        {"id": 1, "order_id": "a"},
        {"id": 2, "order_id": "b"},
        {"id": 3, "order_id": "c"},
    ]
    assert [s.summary.operation.value for s in table.snapshots()] == ["append"]
