"""Append fast path on a local warehouse: dlt's file is hard-linked, never shared by name.

The Iceberg data file and dlt's package file are two names of the same immutable bytes: the
table must stay readable when dlt's working folder is wiped, and a file system that refuses
the link must get a copy. Checked through a separate PyIceberg client.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from floe_ingestion_dlt.destination.file_registration import local_path
from tests.helpers import embedded_plugin, files_config, read_table

pytestmark = pytest.mark.integration

ROWS = 5_000


def _source(folder: Path) -> Path:
    folder.mkdir(parents=True)
    ids = pa.array(range(ROWS), pa.int64())
    pq.write_table(
        pa.table({"id": ids, "note": pa.array([f"n{i}" for i in ids])}), folder / "p.parquet"
    )
    return folder


def _load(tmp_path: Path) -> list[str]:
    plugin = embedded_plugin(tmp_path)
    outcome = plugin.run_with_outcome(
        plugin.create_pipeline(files_config(_source(tmp_path / "in"), "*.parquet"))
    )
    assert outcome.success, outcome.errors
    table = read_table(plugin, "bronze.items")
    files = [task.file.file_path for task in table.scan().plan_files()]
    paths = [local_path(f) for f in files]
    assert all(p is not None for p in paths)
    return [p for p in paths if p is not None]


def _ids(tmp_path: Path) -> list[int]:
    plugin = embedded_plugin(tmp_path)
    data = read_table(plugin, "bronze.items").scan().to_arrow()
    return sorted(data["id"].to_pylist())


def test_the_table_survives_dlt_wiping_its_working_folder(tmp_path: Path) -> None:
    [data_file] = _load(tmp_path)
    assert os.stat(data_file).st_nlink == 2  # linked: dlt keeps its loaded package

    shutil.rmtree(tmp_path / "pipelines")

    assert _ids(tmp_path) == list(range(ROWS))
    assert pq.ParquetFile(data_file).metadata.num_rows == ROWS


def test_a_file_system_without_hard_links_gets_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", refuse)
    [data_file] = _load(tmp_path)

    assert os.stat(data_file).st_nlink == 1  # a copy of its own
    assert _ids(tmp_path) == list(range(ROWS))
