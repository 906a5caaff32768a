"""Iceberg commits that fail (conflicts injected on the real SQL catalog) or die half-way.

Faults are injected into the real PyIceberg ``SqlCatalog.commit_table`` and into the plugin's
load job around a real commit; the table is always read back through a fresh catalog client.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.destination import load_job
from floe_ingestion_dlt.errors import ErrorCategory
from tests.helpers import embedded_plugin
from tests.integration.faults.support import (
    commits_per_load_id,
    duplicates,
    incremental_files_config,
    plugin_on,
    table_ids,
    write_ids_csv,
)

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

FAST_RETRY = RetryConfig(max_retries=3, initial_delay_seconds=0.05, max_delay_seconds=0.2)


class FailingCommits:
    """Makes the first ``n`` ``SqlCatalog.commit_table`` calls raise ``CommitFailedException``
    as a concurrent writer would make them, then lets commits through."""

    def __init__(self, n: int) -> None:
        self.remaining = n
        self.calls = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._original: Callable[..., Any] = SqlCatalog.commit_table

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FailingCommits:
        fault = self

        def commit_table(catalog: SqlCatalog, *args: Any, **kwargs: Any) -> Any:
            with fault._lock:
                fault.calls += 1
                fail = fault.remaining > 0
                if fail:
                    fault.remaining -= 1
                    fault.failed += 1
            if fail:
                raise CommitFailedException("Table has been updated by another process (injected)")
            return fault._original(catalog, *args, **kwargs)

        monkeypatch.setattr(SqlCatalog, "commit_table", commit_table)
        return self


def test_commit_conflicts_are_retried_inside_the_load_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = embedded_plugin(tmp_path, retry_config=FAST_RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 501), "a.csv")
    config = incremental_files_config(data)
    assert plugin.run(plugin.create_pipeline(config)).success  # table exists before the fault

    write_ids_csv(data, range(501, 1001), "b.csv")
    fault = FailingCommits(3).install(monkeypatch)
    outcome = plugin.run_with_outcome(plugin.create_pipeline(config))

    assert outcome.success, outcome.errors
    assert fault.failed == 3
    assert outcome.attempts == 1  # healed inside the job, the run was not retried
    ids = table_ids(plugin, "bronze.events")
    assert sorted(ids) == list(range(1, 1001))
    assert outcome.rows_loaded == 500
    assert set(commits_per_load_id(plugin, "bronze.events").values()) == {1}


def test_conflicts_beyond_the_job_budget_retry_the_run_and_land_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Job gives up (transient) -> dlt does not retry the job itself (it defers to the run's
    retry budget) -> the runner retries the run, which resumes the pending package: every row
    once, one snapshot for the load."""
    monkeypatch.setattr(load_job, "COMMIT_ATTEMPTS", 2)
    plugin = embedded_plugin(tmp_path, retry_config=FAST_RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 301), "a.csv")
    config = incremental_files_config(data)
    # each run attempt runs the job once, which makes 2 commit attempts
    fault = FailingCommits(4).install(monkeypatch)
    outcome = plugin.run_with_outcome(plugin.create_pipeline(config))

    assert outcome.success, outcome.errors
    assert fault.failed == 4
    assert outcome.attempts == 3
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 301))
    commits = commits_per_load_id(plugin, "bronze.events")
    assert list(commits.values()) == [1]
    assert outcome.load_ids == list(commits)
    assert outcome.rows_loaded == 300


def test_conflicts_that_never_end_report_transient_with_nothing_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_job, "COMMIT_ATTEMPTS", 1)
    retry = RetryConfig(max_retries=1, initial_delay_seconds=0.01, max_delay_seconds=0.05)
    plugin = embedded_plugin(tmp_path, retry_config=retry)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 101), "a.csv")
    config = incremental_files_config(data)
    fault = FailingCommits(10_000).install(monkeypatch)
    outcome = plugin.run_with_outcome(plugin.create_pipeline(config))

    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.attempts == 2
    assert outcome.rows_loaded == 0
    assert outcome.errors[0].startswith("[TRANSIENT] DestinationWriteError: CommitFailedException:")
    assert fault.failed == 2  # one job run per attempt, no dlt job retries on top

    fault.remaining = 0  # the conflicts stop: a rerun completes exactly
    rerun = plugin.run_with_outcome(plugin.create_pipeline(config))
    assert rerun.success, rerun.errors
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 101))
    assert set(commits_per_load_id(plugin, "bronze.events").values()) == {1}


def test_load_job_dying_after_its_commit_is_resumed_without_a_second_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit lands, then the job fails (connection reset): dlt retries the job, which
    finds its load id in the table and does not commit again."""
    plugin = embedded_plugin(tmp_path, retry_config=FAST_RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 201), "a.csv")
    original = load_job.IcebergSnapshotLoadJob._commit
    calls: list[str] = []

    def commit_then_die(job: Any, data: Any) -> None:
        original(job, data)
        calls.append(job._load_id)
        if len(calls) == 1:
            raise ConnectionResetError(104, "Connection reset by peer (injected after commit)")

    monkeypatch.setattr(load_job.IcebergSnapshotLoadJob, "_commit", commit_then_die)
    outcome = plugin.run_with_outcome(plugin.create_pipeline(incremental_files_config(data)))

    assert outcome.success, outcome.errors
    assert len(calls) == 2 and calls[0] == calls[1]  # same load committed... then skipped
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 201))
    assert dict(commits_per_load_id(plugin, "bronze.events")) == {calls[0]: 1}


CRASH_AFTER_COMMIT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from floe_core.plugins.ingestion import IngestionConfig
    from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
    from floe_ingestion_dlt.destination import load_job

    base, data = Path(sys.argv[1]), sys.argv[2]
    original = load_job.IcebergSnapshotLoadJob._commit

    def commit_then_crash(job, arrow):
        original(job, arrow)
        os._exit(137)  # the pod is killed right after the Iceberg commit

    load_job.IcebergSnapshotLoadJob._commit = commit_then_crash
    plugin = DltIngestionPlugin(DltIngestionConfig(
        catalog_config=CatalogConfig.embedded(base / "lake"),
        pipelines_dir=base / "pipelines",
    ))
    plugin.startup()
    pipeline = plugin.create_pipeline(IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": data, "file_glob": "*.csv", "cursor_field": "id"},
        destination_table="bronze.events",
    ))
    plugin.run(pipeline)
    sys.exit(0)  # not reached
    """
)


def _crash_after_commit(base: Path, data: Path) -> None:
    script = base / "crash_after_commit.py"
    script.write_text(CRASH_AFTER_COMMIT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, str(script), str(base), str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 137, done.stderr[-3000:]


@pytest.mark.parametrize("pipelines_dir", ["same", "fresh"])
def test_process_killed_after_commit_then_rerun_loads_each_row_once(
    tmp_path: Path, pipelines_dir: str
) -> None:
    """``same``: the pending package is resumed and its commit skipped. ``fresh`` (a new pod):
    the cursor is restored from the snapshot that committed the rows, nothing is re-read."""
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 401), "a.csv")
    _crash_after_commit(tmp_path, data)
    if pipelines_dir == "fresh":
        plugin = plugin_on(tmp_path / "lake", tmp_path / "new-pod-pipelines")
    else:
        plugin = embedded_plugin(tmp_path)
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 401))  # it did commit

    write_ids_csv(data, range(401, 451), "b.csv")
    outcome = plugin.run_with_outcome(plugin.create_pipeline(incremental_files_config(data)))

    assert outcome.success, outcome.errors
    ids = table_ids(plugin, "bronze.events")
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(1, 451))
    assert set(commits_per_load_id(plugin, "bronze.events").values()) == {1}
