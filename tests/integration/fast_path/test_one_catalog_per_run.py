"""A run opens its SQL catalog once: state restore, load and read-back share it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pyiceberg.catalog
import pytest

from tests.helpers import embedded_plugin, files_config, read_table

pytestmark = pytest.mark.integration


def test_a_run_opens_the_embedded_catalog_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "in").mkdir()
    pq.write_table(
        pa.table({"id": pa.array(range(100), pa.int64())}), tmp_path / "in" / "p.parquet"
    )
    plugin = embedded_plugin(tmp_path)
    pipeline = plugin.create_pipeline(files_config(tmp_path / "in", "*.parquet"))
    opened: list[str] = []
    load = pyiceberg.catalog.load_catalog

    def counting(name: str, **props: Any) -> Any:
        opened.append(name)
        return load(name, **props)

    monkeypatch.setattr(pyiceberg.catalog, "load_catalog", counting)
    outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    assert len(opened) == 1
    assert outcome.rows_loaded == 100  # read back through the shared catalog
    monkeypatch.undo()
    assert read_table(plugin, "bronze.items").scan().count() == 100
    # a second run of the same pipeline opens its own
    opened.clear()
    monkeypatch.setattr(pyiceberg.catalog, "load_catalog", counting)
    assert plugin.run_with_outcome(pipeline).success
    assert len(opened) == 1
