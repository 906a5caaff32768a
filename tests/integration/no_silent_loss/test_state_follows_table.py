"""Case 1 of issue 15: incremental state belongs to the table it describes. After the table is
dropped, purged, lost with the catalog, or recreated by another writer (a different table
UUID), the next incremental run starts from no state and loads every source row, whatever
dlt's state files and the local pipelines folder still say."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from tests.helpers import embedded_plugin, fresh_catalog, read_table
from tests.integration.faults.support import (
    incremental_files_config,
    table_ids,
    write_ids_csv,
)

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

TABLE = "bronze.events"


def _lose_table(how: str, tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    catalog = fresh_catalog(plugin)
    if how == "drop":
        catalog.drop_table(TABLE)
    elif how == "purge":
        catalog.purge_table(TABLE)
    elif how == "catalog_emptied":
        (tmp_path / "lake" / "catalog.db").write_bytes(b"")
    elif how == "recreated_by_another_writer":
        catalog.drop_table(TABLE)
        foreign = pa.table({"id": pa.array([-1, -2], pa.int64()), "label": ["x", "y"]})
        catalog.create_table(TABLE, schema=foreign.schema).append(foreign)
    else:  # pragma: no cover
        raise AssertionError(how)


@pytest.mark.parametrize("how", ["drop", "purge", "catalog_emptied", "recreated_by_another_writer"])
@pytest.mark.parametrize("new_pod", [False, True], ids=["same_pod", "new_pod"])
def test_lost_table_means_no_cursor(tmp_path: Path, how: str, new_pod: bool) -> None:
    data = tmp_path / "in"
    write_ids_csv(data, range(1, 101), "a.csv")
    plugin = embedded_plugin(tmp_path)
    first = plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE)))
    assert first.success and first.rows_loaded == 100

    _lose_table(how, tmp_path)
    write_ids_csv(data, range(101, 111), "b.csv")
    if new_pod:
        shutil.rmtree(tmp_path / "pipelines")
    plugin = embedded_plugin(tmp_path)
    second = plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE)))

    assert second.success, second.errors
    assert second.rows_loaded == 110
    foreign = [-2, -1] if how == "recreated_by_another_writer" else []
    assert sorted(table_ids(plugin, TABLE)) == foreign + list(range(1, 111))
    table = read_table(plugin, TABLE)
    history = [(s.summary.operation.value, s.summary["added-records"]) for s in table.snapshots()]
    assert history == ([("append", "2")] if foreign else []) + [("append", "110")]

    # the table now holds the state: a third run on a new pod loads only the new rows
    write_ids_csv(data, range(111, 116), "c.csv")
    shutil.rmtree(tmp_path / "pipelines")
    plugin = embedded_plugin(tmp_path)
    third = plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE)))
    assert third.success and third.rows_loaded == 5
    assert sorted(table_ids(plugin, TABLE)) == foreign + list(range(1, 116))
