"""Merge of nested data (lists split by dlt into nested tables) at several nesting levels.

The rows of every root in a batch replace that root's nested rows at every level: a list that
shrinks, becomes empty or disappears from the record leaves no stale rows behind, and a
hard-deleted root takes its nested rows with it. Expectations are computed from the source
records alone and compared with the tables read back through a separate PyIceberg client.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_ingestion_dlt import CatalogConfig, iceberg
from floe_ingestion_dlt.catalog import load_catalog
from tests.helpers import snapshot_count

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

Row = dict[str, Any]


def _pipeline(tmp_path: Path, hard_delete: bool = False) -> tuple[CatalogConfig, Any, Any]:
    import dlt

    lake = CatalogConfig.embedded(tmp_path / "lake")
    pipeline = dlt.pipeline(
        "nested_levels",
        destination=iceberg(credentials=lake),
        dataset_name="bronze",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
    columns = {"deleted": {"data_type": "bool", "hard_delete": True}} if hard_delete else None

    @dlt.resource(
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": "upsert"},
        table_format="iceberg",
        columns=columns,
    )
    def orders(rows: list[Row]) -> Iterator[list[Row]]:
        yield rows

    return lake, pipeline, orders


def _expected(records: dict[int, Row]) -> tuple[set[Any], set[Any], set[Any]]:
    """(root ids, (root, item sku), (root, item sku, part)) of the current records."""
    roots = set(records)
    items = {(i, it["sku"]) for i, r in records.items() for it in r.get("items") or []}
    parts = {
        (i, it["sku"], p["n"])
        for i, r in records.items()
        for it in r.get("items") or []
        for p in it.get("parts") or []
    }
    return roots, items, parts


def _actual(lake: CatalogConfig) -> tuple[set[Any], set[Any], set[Any]]:
    catalog = load_catalog(lake)
    orders = catalog.load_table("bronze.orders").scan().to_arrow().to_pylist()
    root_of = {r["_dlt_id"]: r["id"] for r in orders}
    items = catalog.load_table("bronze.orders__items").scan().to_arrow().to_pylist()
    sku_of = {r["_dlt_id"]: r["sku"] for r in items}
    parent_of = {r["_dlt_id"]: r["_dlt_parent_id"] for r in items}
    parts = catalog.load_table("bronze.orders__items__parts").scan().to_arrow().to_pylist()
    return (
        set(root_of.values()),
        {(root_of[r["_dlt_root_id"]], r["sku"]) for r in items},
        {
            (root_of[p["_dlt_root_id"]], sku_of[p["_dlt_parent_id"]], p["n"])
            for p in parts
            if p["_dlt_parent_id"] in parent_of
        }
        | {
            ("orphan", p["_dlt_parent_id"], p["n"])
            for p in parts
            if p["_dlt_parent_id"] not in parent_of
        },
    )


def _order(id: int, *items: tuple[str, list[int]]) -> Row:
    return {"id": id, "items": [{"sku": s, "parts": [{"n": n} for n in ns]} for s, ns in items]}


FIRST = [
    _order(1, ("a", [1, 2]), ("b", [3])),
    _order(2, ("c", [4])),
    _order(3, ("d", [5, 6])),
    _order(4, ("e", [7])),
    _order(5, ("f", [8])),
]


def test_lists_that_shrink_empty_or_disappear_leave_no_stale_rows(tmp_path: Path) -> None:
    lake, pipeline, orders = _pipeline(tmp_path)
    pipeline.run(orders(FIRST))
    second = [
        _order(1, ("a", [2])),  # shrinks at both levels
        _order(2),  # empty list
        {"id": 3},  # list missing from the record
        _order(4, ("e", [])),  # nested list of the second level emptied
        _order(6, ("g", [9])),  # a new root
    ]
    pipeline.run(orders(second))

    records = {r["id"]: r for r in FIRST}
    records.update({r["id"]: r for r in second})
    assert _actual(lake) == _expected(records)
    catalog = load_catalog(lake)
    assert snapshot_count(catalog.load_table("bronze.orders__items__parts")) == 2


def test_a_batch_where_every_list_is_empty_still_replaces_the_nested_rows(tmp_path: Path) -> None:
    lake, pipeline, orders = _pipeline(tmp_path)
    pipeline.run(orders(FIRST))
    second = [_order(1), {"id": 2}]
    pipeline.run(orders(second))

    records = {r["id"]: r for r in FIRST}
    records.update({r["id"]: r for r in second})
    assert _actual(lake) == _expected(records)


def test_hard_deleted_roots_take_their_nested_rows_with_them(tmp_path: Path) -> None:
    lake, pipeline, orders = _pipeline(tmp_path, hard_delete=True)
    pipeline.run(orders([{**r, "deleted": False} for r in FIRST]))
    second = [
        {**_order(1, ("a", [1])), "deleted": True},  # deleted, even with nested rows in the batch
        {"id": 2, "deleted": True},
        {**_order(3, ("d", [5])), "deleted": False},
    ]
    pipeline.run(orders(second))

    records = {r["id"]: r for r in FIRST}
    records.update({r["id"]: r for r in second})
    for gone in (1, 2):
        records.pop(gone)
    assert _actual(lake) == _expected(records)
