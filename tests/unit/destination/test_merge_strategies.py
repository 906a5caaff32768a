"""The ``iceberg`` factory's merge strategies, and the dlt internals that decide them.

dlt resolves a table's merge strategy from the destination capabilities
(``supported_merge_strategies`` filtered by ``merge_strategies_selector``) in
``resolve_merge_strategy``; the factory extends ``_raw_capabilities`` (through ``compat.dlt``)
so that Iceberg tables accept ``delete-insert``. These tests fail if dlt changes that mechanism.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from dlt.common.destination.exceptions import DestinationCapabilitiesException
from dlt.common.destination.utils import resolve_merge_strategy
from dlt.common.schema import Schema
from dlt.destinations.impl.filesystem.factory import filesystem
from dlt.destinations.utils import verify_schema_merge_disposition

from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.factory import (
    ICEBERG_MERGE_STRATEGIES,
    iceberg,
    iceberg_merge_strategies_selector,
)


def _table(strategy: str | None, table_format: str | None = "iceberg") -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": "orders",
        "write_disposition": "merge",
        "columns": {
            "id": {"name": "id", "data_type": "bigint", "primary_key": True, "nullable": False},
            "gone": {"name": "gone", "data_type": "bool", "hard_delete": True},
        },
    }
    if table_format:
        table["table_format"] = table_format
    if strategy:
        table["x-merge-strategy"] = strategy
    return table


@pytest.fixture
def caps(tmp_path: Path) -> Any:
    return iceberg(credentials=CatalogConfig.embedded(tmp_path)).capabilities()


@pytest.mark.parametrize("strategy", ICEBERG_MERGE_STRATEGIES)
def test_every_strategy_resolves_for_iceberg_tables(caps: Any, strategy: str) -> None:
    table = _table(strategy)
    assert resolve_merge_strategy({"orders": table}, table, caps) == strategy  # type: ignore[arg-type]


def test_upsert_is_the_default(caps: Any) -> None:
    table = _table(None)
    assert resolve_merge_strategy({"orders": table}, table, caps) == "upsert"  # type: ignore[arg-type]


def test_scd2_and_cdc_are_refused_before_anything_runs(caps: Any) -> None:
    for strategy in ("scd2", "cdc"):
        table = _table(strategy)
        with pytest.raises(DestinationCapabilitiesException, match=strategy):
            resolve_merge_strategy({"orders": table}, table, caps)  # type: ignore[arg-type]


def test_plain_filesystem_tables_keep_dlts_choice() -> None:
    base = filesystem(bucket_url="file:///tmp/x")._raw_capabilities()
    assert (
        list(
            iceberg_merge_strategies_selector(
                base.supported_merge_strategies, table_schema=_table(None, None)
            )
        )
        == []
    )  # type: ignore[arg-type]
    delta = _table(None, "delta")
    assert "delete-insert" not in iceberg_merge_strategies_selector(  # type: ignore[arg-type]
        ["upsert", "delete-insert", "cdc"], table_schema=delta
    )


def test_dlt_still_refuses_delete_insert_for_its_own_iceberg_merge() -> None:
    """Our override is needed: dlt's own filesystem destination does not offer it."""
    base = filesystem(bucket_url="file:///tmp/x")._raw_capabilities()
    table = _table("delete-insert")
    with pytest.raises(DestinationCapabilitiesException, match="delete-insert"):
        resolve_merge_strategy({"orders": table}, table, base)  # type: ignore[arg-type]


def test_hard_delete_hint_passes_dlts_merge_verification(caps: Any) -> None:
    schema = Schema("s")
    table = _table("upsert")
    schema.update_table(table)  # type: ignore[arg-type]
    assert verify_schema_merge_disposition(schema, [table], caps) == []  # type: ignore[list-item]


def test_raw_capabilities_is_still_the_hook_dlt_calls() -> None:
    from dlt.common.destination.reference import Destination

    assert "_raw_capabilities" in inspect.getsource(Destination.capabilities)
