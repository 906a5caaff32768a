"""Arrow sources: dlt's extract buffers whole row groups, so the registered data files have few.

dlt writes one Parquet row group per extract flush. The plugin makes an Arrow source's extract
buffer up to ``ARROW_EXTRACT_BUFFER_ROWS`` rows (``performance.dlt_defaults``), so a load read in
small Arrow chunks still becomes one row group, as PyIceberg itself would write it. Checked on
the data files the table references, read through a separate PyIceberg client.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from floe_ingestion_dlt import DltIngestionPlugin
from tests.helpers import embedded_plugin, files_config, read_table

pytestmark = pytest.mark.integration

ROWS = 50_000
CHUNK = 10_000


def _source(folder: Path) -> Path:
    folder.mkdir(parents=True)
    ids = pa.array(range(ROWS), pa.int64())
    pq.write_table(
        pa.table({"id": ids, "note": pa.array([f"n{i}" for i in range(ROWS)])}),
        folder / "part.parquet",
    )
    return folder


def _row_groups(plugin: DltIngestionPlugin, table_name: str) -> list[int]:
    """Row groups of each data file of ``table_name``, as the table's readers see them."""
    table = read_table(plugin, table_name)
    assert table.scan().count() == ROWS
    groups = []
    for task in table.scan().plan_files():
        with table.io.new_input(task.file.file_path).open() as stream:
            groups.append(pq.ParquetFile(stream).metadata.num_row_groups)
    return groups


def test_small_arrow_chunks_become_one_row_group(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    folder = _source(tmp_path / "in")

    pipeline = plugin.create_pipeline(files_config(folder, "*.parquet", chunk_size=CHUNK))
    outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    assert _row_groups(plugin, "bronze.items") == [1]


def test_the_users_extract_buffer_setting_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", str(CHUNK))
    plugin = embedded_plugin(tmp_path)
    folder = _source(tmp_path / "in")

    config = files_config(folder, "*.parquet", table="bronze.user_buffer", chunk_size=CHUNK)
    outcome = plugin.run_with_outcome(plugin.create_pipeline(config))

    assert outcome.success, outcome.errors
    assert _row_groups(plugin, "bronze.user_buffer") == [ROWS // CHUNK]
