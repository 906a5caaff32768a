"""Case 8 of issue 15: a stateless ``append`` run is killed after its rows were extracted and
normalized, before the commit; the rerun on the same pod commits the pending load (the rows as
the crashed run read them) and then its own load. Two loads, two snapshots, and the result
says so per load: the pending one is ``resumed``. (With a cursor the rerun's own load holds
only rows after the pending load's, see the crash suite.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt.destination.snapshots import LOAD_ID
from floe_ingestion_dlt.result import DltIngestionResult
from tests.helpers import read_table
from tests.integration.faults.support import plugin_on, table_ids, write_ids_csv

pytestmark = pytest.mark.integration

TABLE = "bronze.appended"
ROWS = 1000


def test_rerun_after_a_crash_commits_the_pending_load_and_its_own_reported_apart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "in"
    write_ids_csv(data, range(1, ROWS + 1), "a.csv")
    ingestion = {
        "source_type": "filesystem",
        "source_config": {"bucket_url": str(data), "file_glob": "*.csv"},
        "destination_table": TABLE,
        "write_mode": "append",
    }
    run_json = tmp_path / "run.json"
    run_json.write_text(
        json.dumps(
            {
                "lake": str(tmp_path / "lake"),
                "pipelines_dir": str(tmp_path / "pipelines"),
                "result": str(tmp_path / "result.json"),
                "ingestion": ingestion,
            }
        )
    )
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.integration.crash.harness", "--config", str(run_json)],
        check=False,
        env={**os.environ, "CRASH_AT": "load_start:1", "PYTHONPATH": os.pathsep.join(sys.path)},
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    assert not (tmp_path / "result.json").exists()

    plugin = plugin_on(tmp_path / "lake", tmp_path / "pipelines")
    result = plugin.run(plugin.create_pipeline(IngestionConfig(**ingestion)))

    assert isinstance(result, DltIngestionResult)
    assert result.success, result.errors
    assert result.rows_loaded == 2 * ROWS  # both loads were committed by this run
    pending, own = result.loads
    assert (pending.resumed, pending.rows_loaded) == (True, ROWS)
    assert (own.resumed, own.rows_loaded) == (False, ROWS)
    assert pending.load_id < own.load_id
    assert result.bytes_written == pending.bytes_written + own.bytes_written

    ids = table_ids(plugin, TABLE)
    assert sorted(ids) == sorted([*range(1, ROWS + 1)] * 2)
    table = read_table(plugin, TABLE)
    history = [
        (s.snapshot_id, s.summary.operation.value, s.summary["added-records"], s.summary[LOAD_ID])
        for s in table.snapshots()
    ]
    assert history == [
        (pending.snapshot_ids[0], "append", str(ROWS), pending.load_id),
        (own.snapshot_ids[0], "append", str(ROWS), own.load_id),
    ]

    # the next run has nothing pending: one load of its own
    again = plugin.run(plugin.create_pipeline(IngestionConfig(**ingestion)))
    assert isinstance(again, DltIngestionResult) and again.success
    assert [(load.resumed, load.rows_loaded) for load in again.loads] == [(False, ROWS)]
