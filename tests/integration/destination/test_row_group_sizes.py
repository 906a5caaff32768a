"""Every data file the plugin writes has row groups a later merge can copy (``row_group_merge``).

A merge copies untouched row groups byte for byte, so its cost follows the rows it changes
only when files hold several row groups. Appends (dlt's writer), merges (``write_parts``),
replaces and compaction all write ``ROW_GROUP_ROWS``-row groups; read back through PyIceberg
and the files' own footers.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from floe_ingestion_dlt.destination.rewrite_files import ROW_GROUP_ROWS
from floe_ingestion_dlt.maintenance.compaction import compact_table
from tests.helpers import embedded_plugin, files_config, read_table

pytestmark = pytest.mark.integration

TABLE = "bronze.wide"


def _folder(root: Path, name: str, start: int, rows: int) -> Path:
    folder = root / name
    folder.mkdir()
    ids = pa.array(range(start, start + rows), pa.int64())
    data = pa.table({"id": ids, "label": pa.compute.cast(ids, pa.string())})
    pq.write_table(data, folder / "rows.parquet", row_group_size=rows)  # one big source group
    return folder


def _row_groups(table: object) -> list[int]:
    """Rows of every row group of every current data file of ``table``."""
    sizes: list[int] = []
    for task in table.scan().plan_files():  # type: ignore[attr-defined]
        path = task.file.file_path.removeprefix("file://")
        metadata = pq.ParquetFile(path).metadata
        sizes += [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    return sizes


@pytest.mark.parametrize("write_mode", ["append", "replace"])
def test_a_load_writes_row_groups_of_at_most_row_group_rows(
    tmp_path: Path, write_mode: str
) -> None:
    plugin = embedded_plugin(tmp_path)
    rows = 2 * ROW_GROUP_ROWS + 12_345
    config = files_config(_folder(tmp_path, "src", 0, rows), "*.parquet", TABLE, write_mode)
    result = plugin.run(plugin.create_pipeline(config))
    assert result.success, result.errors
    table = read_table(plugin, TABLE)
    assert table.scan().count() == rows
    sizes = _row_groups(table)
    assert sum(sizes) == rows
    assert max(sizes) <= ROW_GROUP_ROWS and len(sizes) >= 3, sizes


def test_compaction_writes_row_groups_of_at_most_row_group_rows(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    batch = ROW_GROUP_ROWS // 2 + 1_000
    for number in range(5):
        folder = _folder(tmp_path, f"batch-{number}", number * batch, batch)
        result = plugin.run(plugin.create_pipeline(files_config(folder, "*.parquet", TABLE)))
        assert result.success, result.errors
    compacted = compact_table(read_table(plugin, TABLE))
    assert compacted.snapshot_id is not None
    table = read_table(plugin, TABLE)
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(5 * batch))
    sizes = _row_groups(table)
    assert len(list(table.scan().plan_files())) < 5
    assert max(sizes) <= ROW_GROUP_ROWS and len(sizes) >= 3, sizes
