"""Case 7 of issue 15: a ``destination_table`` that dlt would normalize is refused before the
run, with the name to write; nothing is created. The normalized name loads and is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_ingestion_dlt.errors import ValidationError
from tests.helpers import embedded_plugin, files_config, fresh_catalog, read_table
from tests.integration.faults.support import write_ids_csv

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("configured", "normalized"),
    [
        ("bronze.Orders", "bronze.orders"),
        ("A.B", "a.b"),
        ("bronze.__v", "bronze._v"),
        ("bronze.t\n", None),  # a trailing newline is not part of an identifier
    ],
)
def test_non_normalized_destination_table_is_refused_before_the_run(
    tmp_path: Path, configured: str, normalized: str | None
) -> None:
    data = tmp_path / "in"
    write_ids_csv(data, [1, 2], "a.csv")
    plugin = embedded_plugin(tmp_path)
    with pytest.raises(ValidationError) as info:
        plugin.create_pipeline(files_config(data, "*.csv", table=configured))
    assert info.value.field == "destination_table"
    if normalized is not None:
        assert f"write destination_table: {normalized}" in str(info.value)
    catalog = fresh_catalog(plugin)
    assert [t for ns in catalog.list_namespaces() for t in catalog.list_tables(ns)] == []
    assert not (tmp_path / "pipelines").exists() or not any((tmp_path / "pipelines").iterdir())


def test_the_normalized_name_is_the_table_written_and_reported(tmp_path: Path) -> None:
    data = tmp_path / "in"
    write_ids_csv(data, [1, 2], "a.csv")
    plugin = embedded_plugin(tmp_path)
    result = plugin.run(plugin.create_pipeline(files_config(data, "*.csv", table="bronze.orders")))
    assert result.success and result.rows_loaded == 2
    table = read_table(plugin, "bronze.orders")
    assert sorted(table.scan(selected_fields=("id",)).to_arrow()["id"].to_pylist()) == [1, 2]
    assert [s.summary.operation.value for s in table.snapshots()] == ["append"]
