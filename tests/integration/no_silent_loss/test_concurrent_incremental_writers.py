"""Case 3 of issue 15: several pods run the same incremental pipeline into one table, each
with its own ``pipelines_dir``. Every round the source grows and all writers run at once; the
table must hold every source row exactly once after every round, with one snapshot per round
(the first commit wins, the others find their state stale, abort and retry from the new state,
which has nothing left to load)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.destination.snapshots import LOAD_ID, ROWS_LOADED
from tests.helpers import read_table
from tests.integration.faults.support import duplicates, table_ids, write_ids_csv

pytestmark = pytest.mark.integration

ROUNDS = 10
ROWS_PER_ROUND = 25
TABLE = "bronze.shared_events"

WRITER = textwrap.dedent(
    """
    import faulthandler, json, signal, sys, time
    faulthandler.register(signal.SIGUSR1)  # the test asks for stacks when a round hangs
    from pathlib import Path
    from floe_core.plugins.ingestion import IngestionConfig
    from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin, RetryConfig

    lake, pipelines, data, signals = (Path(a) for a in sys.argv[1:5])
    writer, rounds, table = sys.argv[5], int(sys.argv[6]), sys.argv[7]
    plugin = DltIngestionPlugin(DltIngestionConfig(
        catalog_config=CatalogConfig.embedded(lake),
        pipelines_dir=pipelines,  # a pod with its own working folder
        retry_config=RetryConfig(max_retries=12, initial_delay_seconds=0.05, max_delay_seconds=0.5),
    ))
    plugin.startup()
    config = IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(data), "file_glob": "*.csv", "cursor_field": "id"},
        destination_table=table,
    )
    (signals / f"ready-{writer}").touch()
    for round_ in range(1, rounds + 1):
        while not (signals / f"go-{round_}").exists():
            time.sleep(0.005)
        outcome = plugin.run_with_outcome(plugin.create_pipeline(config))
        partial = signals / f"partial-{writer}-{round_}"
        partial.write_text(json.dumps({
            "success": outcome.success, "rows": outcome.rows_loaded,
            "attempts": outcome.attempts, "errors": outcome.errors,
            "seconds": round(outcome.duration_seconds, 2),
        }))
        partial.replace(signals / f"done-{writer}-{round_}")  # seen whole or not at all
    """
)


def _wait_for(paths: list[Path], processes: list[subprocess.Popen[str]], what: str) -> None:
    """Wait for the signal files; on a hang or a death, fail with each writer's log tail."""
    deadline = time.monotonic() + 180
    while not all(p.exists() for p in paths):
        hung = time.monotonic() > deadline
        died = any(p.poll() not in (None, 0) for p in processes)
        if hung or died:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGUSR1)
            time.sleep(1)
            for process in processes:
                process.kill()
                process.wait()
            folder = paths[0].parent.parent
            errs = [log.read_text()[-4000:] for log in sorted(folder.glob("writer*.log"))]
            raise AssertionError(
                f"writers {'hung' if hung else 'died'} in {what}:\n" + "\n---\n".join(errs)
            )
        time.sleep(0.01)


@pytest.mark.parametrize("writers", [2, 4])
def test_concurrent_incremental_writers_land_every_row_once(tmp_path: Path, writers: int) -> None:
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    data, signals = tmp_path / "data", tmp_path / "signals"
    data.mkdir()
    signals.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    logs = [open(tmp_path / f"writer{n}.log", "w") for n in range(writers)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "lake"), str(tmp_path / f"pipelines{n}"),
             str(data), str(signals), str(n), str(ROUNDS), TABLE],
            # logs go to files: a pipe nobody reads fills up and blocks the writer
            env=env, stdout=logs[n], stderr=subprocess.STDOUT, text=True,
        )
        for n in range(writers)
    ]  # fmt: skip
    try:
        _wait_for([signals / f"ready-{n}" for n in range(writers)], processes, "startup")
        reader = _reader(tmp_path / "lake")
        attempts = 0
        for round_ in range(1, ROUNDS + 1):
            first = (round_ - 1) * ROWS_PER_ROUND + 1
            write_ids_csv(data, range(first, first + ROWS_PER_ROUND), f"part-{round_:02d}.csv")
            (signals / f"go-{round_}").touch()
            done = [signals / f"done-{n}-{round_}" for n in range(writers)]
            _wait_for(done, processes, f"round {round_}")
            results = [json.loads(p.read_text()) for p in done]
            assert all(r["success"] for r in results), results
            # exactly the new rows were committed, by one writer or shared among several
            assert sum(r["rows"] for r in results) == ROWS_PER_ROUND, results
            attempts += sum(r["attempts"] for r in results)
            print(round_, [(r["rows"], r["attempts"], r["seconds"]) for r in results])
            ids = table_ids(reader, TABLE)
            assert duplicates(ids) == {}, f"round {round_}: duplicated ids"
            assert sorted(ids) == list(range(1, round_ * ROWS_PER_ROUND + 1)), f"round {round_}"
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        for log in logs:
            log.close()

    table = read_table(reader, TABLE)
    snapshots = table.snapshots()
    rows_by_snapshot = [int(s.summary[ROWS_LOADED]) for s in snapshots]
    assert sum(rows_by_snapshot) == ROUNDS * ROWS_PER_ROUND
    assert [s.summary.operation.value for s in snapshots] == ["append"] * len(snapshots)
    load_ids = [s.summary[LOAD_ID] for s in snapshots]
    assert len(set(load_ids)) == len(load_ids)
    print(
        f"{writers} writers x {ROUNDS} rounds: {len(snapshots)} snapshots, "
        f"{attempts} run attempts for {writers * ROUNDS} runs"
    )


def _reader(lake: Path) -> DltIngestionPlugin:
    """A plugin on the writers' lake, only used to read the table back."""
    plugin = DltIngestionPlugin(DltIngestionConfig(catalog_config=CatalogConfig.embedded(lake)))
    plugin.startup()
    return plugin
