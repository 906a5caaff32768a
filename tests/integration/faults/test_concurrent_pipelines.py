"""Pipelines running at the same time: into one table (separate processes, like pods) and into
different tables (threads of one process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt.runner import RunOutcome
from tests.helpers import embedded_plugin
from tests.integration.faults.support import (
    commits_per_load_id,
    duplicates,
    table_ids,
    write_ids_csv,
)

pytestmark = pytest.mark.integration

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from floe_core.plugins.ingestion import IngestionConfig
    from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin, RetryConfig

    lake, pipelines, data, go, ready = (Path(a) for a in sys.argv[1:6])
    plugin = DltIngestionPlugin(DltIngestionConfig(
        catalog_config=CatalogConfig.embedded(lake),
        pipelines_dir=pipelines,  # each writer is a pod with its own working folder
        retry_config=RetryConfig(max_retries=5, initial_delay_seconds=0.2),
    ))
    plugin.startup()
    pipeline = plugin.create_pipeline(IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(data), "file_glob": "*.csv"},
        destination_table="bronze.shared",
    ))
    ready.touch()
    while not go.exists():  # all writers start their run together
        time.sleep(0.01)
    outcome = plugin.run_with_outcome(pipeline)
    print(f"RESULT success={outcome.success} rows={outcome.rows_loaded} "
          f"attempts={outcome.attempts} load_ids={','.join(outcome.load_ids)} "
          f"errors={outcome.errors}")
    sys.exit(0 if outcome.success else 1)
    """
)


def test_four_writers_into_one_table_land_every_row_once(tmp_path: Path) -> None:
    writers, rows = 4, 1000
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "RUNTIME__LOG_LEVEL": "INFO"}
    # the table exists before the race (creation races are covered by the SqlCatalog tests)
    seed = embedded_plugin(tmp_path)
    seed_data = tmp_path / "seed"
    write_ids_csv(seed_data, [0], "seed.csv")
    seed_config = IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(seed_data), "file_glob": "*.csv"},
        destination_table="bronze.shared",
    )
    assert seed.run(seed.create_pipeline(seed_config)).success

    processes = []
    for n in range(writers):
        data = tmp_path / f"data{n}"
        write_ids_csv(data, range(1 + n * rows, 1 + (n + 1) * rows), f"part{n}.csv")
        processes.append(
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path / "lake"),
                 str(tmp_path / f"pipelines{n}"), str(data), str(go), str(tmp_path / f"ready{n}")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )  # fmt: skip
    deadline = time.monotonic() + 180
    while not all((tmp_path / f"ready{n}").exists() for n in range(writers)):
        assert time.monotonic() < deadline, "writers did not get ready"
        assert all(p.poll() is None for p in processes), "a writer died before the start"
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err[-3000:]

    ids = table_ids(seed, "bronze.shared")
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(writers * rows + 1))
    commits = commits_per_load_id(seed, "bronze.shared")
    assert len(commits) == writers + 1 and set(commits.values()) == {1}
    conflicts = sum(err.count("Commit conflict") for _, err in outputs)
    rebased = sum(err.count("concurrent update") for _, err in outputs)
    print(
        f"4 writers: {len(ids)} rows, job-level conflicts {conflicts}, PyIceberg rebases {rebased}"
    )
    for out, _ in outputs:
        print(out.strip().splitlines()[-1])


def test_pipelines_in_parallel_threads_into_different_tables(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    tables = ["bronze.alpha", "bronze.beta", "bronze.gamma"]
    pipelines = []
    for n, table in enumerate(tables):
        data = tmp_path / f"data{n}"
        write_ids_csv(data, range(n * 1000, n * 1000 + 500 + n * 100), "part.csv")
        config = IngestionConfig(
            source_type="filesystem",
            source_config={"bucket_url": str(data), "file_glob": "*.csv"},
            destination_table=table,
        )
        pipelines.append(plugin.create_pipeline(config))

    outcomes: dict[int, RunOutcome] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(tables))

    def run(n: int) -> None:
        try:
            barrier.wait()
            outcomes[n] = plugin.run_with_outcome(pipelines[n])
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(tables))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures

    for n, table in enumerate(tables):
        assert outcomes[n].success, outcomes[n].errors
        expected = list(range(n * 1000, n * 1000 + 500 + n * 100))
        assert outcomes[n].rows_loaded == len(expected)
        assert sorted(table_ids(plugin, table)) == expected
