"""run(pipeline, **kwargs) with floe's orchestrator keywords, on the embedded catalog.

Each keyword is checked against the plan before anything runs; ``source=`` gets the plan's
guarantees (one snapshot per run, rows read back from snapshots, cursor state with the data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin

pytestmark = pytest.mark.integration


@pytest.fixture
def plugin(tmp_path: Path) -> Any:
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            catalog_config=CatalogConfig.embedded(tmp_path / ".floe"),
            pipelines_dir=tmp_path / "pipelines",
        )
    )
    plugin.startup()
    yield plugin
    plugin.shutdown()


@pytest.fixture
def orders(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("id,amount\n" + "".join(f"{i},{i * 2}\n" for i in range(250)))
    return folder


def _config(orders: Path, **over: Any) -> IngestionConfig:
    values: dict[str, Any] = {
        "source_type": "filesystem",
        "source_config": {"format": "csv", "path": str(orders)},
        "destination_table": "bronze.orders",
        **over,
    }
    return IngestionConfig(**values)


def _table(plugin: DltIngestionPlugin, name: str) -> Any:
    from pyiceberg.catalog import load_catalog

    if not Path(plugin.catalog.uri.removeprefix("sqlite:///")).exists():
        return None  # nothing ever created the embedded catalog
    catalog = load_catalog(plugin.catalog.name, **plugin.catalog.pyiceberg_properties())
    return catalog.load_table(name) if catalog.table_exists(name) else None


ORCHESTRATOR_KWARGS = {
    "write_disposition": "append",
    "table_name": "orders",
    "schema_contract": "evolve",
    "cursor_field": None,
    "primary_key": None,
    "source_type": "filesystem",
    "source_name": "orders",
    "source_path": "data/orders",
}


def test_orchestrator_keywords_matching_the_plan_run(plugin: Any, orders: Path) -> None:
    result = plugin.run(plugin.create_pipeline(_config(orders)), **ORCHESTRATOR_KWARGS)
    assert result.success, result.errors
    assert result.rows_loaded == 250


def test_another_table_is_refused_and_nothing_is_touched(plugin: Any, orders: Path) -> None:
    """The reported case: table_name= once committed to another table and replace emptied it."""
    pipeline = plugin.create_pipeline(_config(orders))
    assert plugin.run(pipeline).rows_loaded == 250
    renamed = plugin.run(pipeline, table_name="renamed")
    replaced = plugin.run(pipeline, write_disposition="replace")
    for result, keyword in ((renamed, "table_name"), (replaced, "write_disposition")):
        assert not result.success
        assert result.errors[0].startswith("[CONFIGURATION] ")
        assert keyword in result.errors[0]
    assert _table(plugin, "bronze.renamed") is None
    table = _table(plugin, "bronze.orders")
    assert table.scan().to_arrow().num_rows == 250
    assert len(table.metadata.snapshots) == 1


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"table_name": "bronze.other"}, "table_name"),
        ({"schema_contract": "freeze"}, "schema_contract"),
        ({"cursor_field": "amount"}, "cursor_field"),
        ({"primary_key": "id"}, "primary_key"),
        ({"source_type": "sql_database"}, "source_type"),
        ({"write_disposition": {"disposition": "merge"}}, "write_disposition"),
        ({"loader_file_format": "jsonl"}, "loader_file_format"),
        ({"source_name": 3}, "source_name"),
    ],
)
def test_conflicting_or_unknown_keywords_fail_before_anything_runs(
    plugin: Any, orders: Path, kwargs: dict[str, Any], named: str
) -> None:
    result = plugin.run(plugin.create_pipeline(_config(orders)), **kwargs)
    assert not result.success
    assert result.errors[0].startswith("[CONFIGURATION] ValidationError")
    assert named in result.errors[0]
    assert _table(plugin, "bronze.orders") is None


def test_unknown_keyword_lists_the_accepted_ones(plugin: Any, orders: Path) -> None:
    result = plugin.run(plugin.create_pipeline(_config(orders)), bogus=1)
    assert "'bogus'" in result.errors[0]
    for keyword in ("source", "write_disposition", "table_name", "source_path"):
        assert f"'{keyword}'" in result.errors[0]


def test_source_resource_gets_one_snapshot_and_exact_counts(plugin: Any, orders: Path) -> None:
    rows = [{"id": i, "amount": i} for i in range(40)]
    pipeline = plugin.create_pipeline(_config(orders))
    outcome = plugin.run_with_outcome(
        pipeline, source=dlt.resource(rows, name="anything"), **ORCHESTRATOR_KWARGS
    )
    assert outcome.success, outcome.errors
    table = _table(plugin, "bronze.orders")
    assert outcome.rows_loaded == 40 == table.scan().to_arrow().num_rows
    assert outcome.snapshot_ids == [s.snapshot_id for s in table.metadata.snapshots]
    assert outcome.bytes_written == int(table.metadata.snapshots[0].summary["added-files-size"])


def test_source_gets_the_plans_merge_and_cursor(plugin: Any, orders: Path) -> None:
    """The plan's primary key and cursor apply to the caller's resource: state with the data."""
    config = _config(
        orders,
        write_mode="merge",
        source_config={
            "format": "csv",
            "path": str(orders),
            "primary_key": "id",
            "cursor_field": "version",
        },
    )
    kwargs = {"write_disposition": "merge", "primary_key": "id", "cursor_field": "version"}
    first = [{"id": i, "version": 1} for i in range(10)]
    second = [{"id": i, "version": 1 if i < 5 else 2} for i in range(10)]
    assert (
        plugin.run(
            plugin.create_pipeline(config), source=dlt.resource(first, name="r"), **kwargs
        ).rows_loaded
        == 10
    )
    # a new pipeline object (a new pod): the cursor comes back from the table's snapshot
    again = plugin.run(
        plugin.create_pipeline(config), source=dlt.resource(second, name="r"), **kwargs
    )
    assert again.success, again.errors
    assert again.rows_loaded == 5
    table = _table(plugin, "bronze.orders")
    assert table.scan().to_arrow().num_rows == 10
    assert len(table.metadata.snapshots) == 2


def test_source_that_would_write_elsewhere_is_refused(plugin: Any, orders: Path) -> None:
    @dlt.source
    def two() -> Any:
        return [dlt.resource([{"a": 1}], name="x"), dlt.resource([{"a": 2}], name="y")]

    pipeline = plugin.create_pipeline(_config(orders))
    for source in (
        two(),
        dlt.resource([{"a": 1}], name="x", table_name="other"),
        dlt.resource([{"a": 1}], name="x", table_name=lambda item: "t"),
        "not a source",
    ):
        result = plugin.run(pipeline, source=source)
        assert not result.success
        assert "source" in result.errors[0]
    assert _table(plugin, "bronze.orders") is None
    assert _table(plugin, "bronze.other") is None


def test_dlt_source_with_one_resource_is_loaded(plugin: Any, orders: Path) -> None:
    @dlt.source
    def one() -> Any:
        return dlt.resource([{"a": 1}, {"a": 2}], name="x")

    result = plugin.run(plugin.create_pipeline(_config(orders)), source=one())
    assert result.success, result.errors
    assert result.rows_loaded == 2
