"""Case 4 of issue 15: ``incremental_files: true`` loads every new file, also one that arrives
with an older modification time than the files already loaded (``cp -p``, ``tar`` and
``rsync -a`` keep the source's time); files already loaded are not loaded again, on the same
pod or a new one."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from tests.helpers import embedded_plugin, read_table
from tests.integration.faults.support import table_ids, write_ids_csv

pytestmark = pytest.mark.integration

TABLE = "bronze.arrivals"
LONG_AGO = 946_684_800  # 2000-01-01: older than any file loaded by the test


def _config(folder: Path) -> IngestionConfig:
    return IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(folder), "file_glob": "*.csv", "incremental_files": True},
        destination_table=TABLE,
    )


def _old_file(staging: Path, ids: range, name: str) -> Path:
    path = write_ids_csv(staging, ids, name)
    os.utime(path, (LONG_AGO, LONG_AGO))
    return path


def test_files_arriving_with_an_older_mtime_are_loaded_once(tmp_path: Path) -> None:
    data, staging = tmp_path / "in", tmp_path / "staging"
    write_ids_csv(data, range(1, 11), "today.csv")
    plugin = embedded_plugin(tmp_path)
    runs = []

    def run() -> int:
        result = plugin.run(plugin.create_pipeline(_config(data)))
        assert result.success, result.errors
        runs.append(result.rows_loaded)
        return result.rows_loaded

    assert run() == 10
    # cp -p keeps the old modification time
    subprocess.run(
        ["cp", "-p", str(_old_file(staging, range(11, 16), "cp.csv")), str(data)], check=True
    )
    assert (data / "cp.csv").stat().st_mtime == LONG_AGO
    assert run() == 5
    # tar restores the archived modification time
    archive = tmp_path / "batch.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(_old_file(staging, range(16, 20), "tar.csv"), arcname="tar.csv")
    subprocess.run(["tar", "-xf", str(archive), "-C", str(data)], check=True)
    assert (data / "tar.csv").stat().st_mtime == LONG_AGO
    assert run() == 4
    # nothing new: nothing loaded, on this pod and on a new one (state is in the table)
    assert run() == 0
    shutil.rmtree(tmp_path / "pipelines")
    assert run() == 0
    # a file rewritten in place (new content, new time) is a new file again
    write_ids_csv(data, range(20, 23), "cp.csv")
    assert run() == 3

    # ids 11-15 were loaded from the first cp.csv, 20-22 from its rewrite: each row once
    assert sorted(table_ids(plugin, TABLE)) == list(range(1, 23))
    table = read_table(plugin, TABLE)
    history = [(s.summary.operation.value, s.summary["added-records"]) for s in table.snapshots()]
    assert history == [("append", "10"), ("append", "5"), ("append", "4"), ("append", "3")]
    assert runs == [10, 5, 4, 0, 0, 3]
