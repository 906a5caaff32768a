"""A load package that fails for good must not lose rows behind an advanced cursor.

dlt 1.31 commits the advanced incremental cursor to the local state when extract finishes. The
runner aborts a package that failed PERMANENTLY (dlt rewinds the local state with it), keeps a
PARTIAL one pending, and refuses ``load.raise_on_failed_jobs=false``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import dlt
import pytest

from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.destination import load_job
from floe_ingestion_dlt.errors import ErrorCategory, SchemaContractViolation
from floe_ingestion_dlt.runner import run_plan
from tests.helpers import embedded_plugin
from tests.integration.faults.support import (
    commits_per_load_id,
    duplicates,
    incremental_files_config,
    plugin_on,
    table_ids,
    write_ids_csv,
)

pytestmark = pytest.mark.integration

RETRY = RetryConfig(max_retries=3, initial_delay_seconds=0.05, max_delay_seconds=0.2)


def _reject_commits(monkeypatch: pytest.MonkeyPatch, tables: tuple[str, ...] = ()) -> list[str]:
    """The load job rejects the data of ``tables`` (all when empty) as a frozen schema would."""
    original = load_job.IcebergSnapshotLoadJob._commit
    rejected: list[str] = []

    def commit(job: Any, data: Any) -> None:
        if not tables or job.load_table_name in tables:
            rejected.append(job.load_table_name)
            raise SchemaContractViolation(
                f"column 'surprise' is not in frozen table {job.load_table_name}"
            )
        original(job, data)

    monkeypatch.setattr(load_job.IcebergSnapshotLoadJob, "_commit", commit)
    return rejected


def _cursor(pipeline: Any) -> Any:
    resources = next(iter(pipeline.state["sources"].values()))["resources"]
    return next(iter(resources.values()))["incremental"]["id"]["last_value"]


@pytest.mark.parametrize("next_run", ["same-pod", "new-pod"])
def test_permanent_load_failure_loses_no_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, next_run: str
) -> None:
    plugin = embedded_plugin(tmp_path, retry_config=RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 101), "a.csv")
    config = incremental_files_config(data)
    assert plugin.run(plugin.create_pipeline(config)).success

    write_ids_csv(data, range(101, 201), "b.csv")
    rejected = _reject_commits(monkeypatch)
    pipeline = plugin.create_pipeline(config)
    failed = plugin.run_with_outcome(pipeline)

    assert not failed.success
    assert failed.category is ErrorCategory.PERMANENT
    assert failed.attempts == 1  # not retried
    assert rejected == ["events"]  # dlt did not retry the job either
    assert failed.errors == [
        "[PERMANENT] SchemaContractViolation: column 'surprise' is not in frozen table events "
        "(source_type=filesystem, destination_table=bronze.events, "
        "pipeline=floe__bronze__events)"
    ]
    # the package is aborted and the local cursor rewound to what the table holds
    assert not pipeline.has_pending_data
    assert _cursor(pipeline) == 100
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 101))

    monkeypatch.undo()  # the operator fixes the table / contract
    if next_run == "new-pod":
        plugin = plugin_on(tmp_path / "lake", tmp_path / "new-pod", retry_config=RETRY)
    rerun = plugin.run_with_outcome(plugin.create_pipeline(config))
    assert rerun.success, rerun.errors
    assert rerun.rows_loaded == 100
    ids = table_ids(plugin, "bronze.events")
    assert duplicates(ids) == {}
    assert sorted(ids) == list(range(1, 201))


def test_without_the_abort_dlt_would_keep_the_poisoned_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard of the dlt behaviour the runner relies on: a terminal job failure leaves the
    package pending with the cursor already advanced in the local state."""
    plugin = embedded_plugin(tmp_path, retry_config=RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 51), "a.csv")
    plan = plugin._plans[plugin.create_pipeline(incremental_files_config(data))]
    _reject_commits(monkeypatch)
    with pytest.raises(Exception) as caught:
        plan.pipeline.run(plan.resource, loader_file_format="parquet")
    assert type(caught.value).__name__ == "PipelineStepFailed"
    assert plan.pipeline.has_pending_data
    assert _cursor(plan.pipeline) == 50  # advanced before anything was committed


def _nested_rows(start: int, stop: int) -> list[dict[str, Any]]:
    return [{"id": i, "tags": [{"tag": f"t{i}-{n}"} for n in range(2)]} for i in range(start, stop)]


def test_partial_package_stays_pending_and_rerun_commits_only_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows with a nested list land in two tables (``events`` and ``events__tags``); the child
    table is rejected: PARTIAL, and the rerun commits the child without doubling the parent."""
    plugin = embedded_plugin(tmp_path, retry_config=RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, [1], "seed.csv")
    plan = plugin._plans[plugin.create_pipeline(incremental_files_config(data))]

    def resource() -> Any:  # incremental on id: a rerun extracts nothing already extracted
        return dlt.resource(
            _nested_rows(1, 101),
            name="events",
            table_name="events",
            write_disposition="append",
            table_format="iceberg",
            incremental=dlt.sources.incremental("id"),
        )

    nested_plan = dataclasses.replace(plan, resource=resource())
    _reject_commits(monkeypatch, tables=("events__tags",))

    failed = run_plan(nested_plan, RETRY)

    assert not failed.success
    assert failed.category is ErrorCategory.PARTIAL
    assert failed.attempts == 1
    assert failed.errors[0].startswith("[PARTIAL] SchemaContractViolation:")
    assert failed.rows_loaded == 100  # the parent table did commit
    assert plan.pipeline.has_pending_data  # kept: aborting would double the parent on rerun
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 101))

    monkeypatch.undo()
    rerun = run_plan(dataclasses.replace(nested_plan, resource=resource()), RETRY)
    assert rerun.success, rerun.errors
    assert sorted(table_ids(plugin, "bronze.events")) == list(range(1, 101))
    tags = table_ids_of_child(plugin)
    assert sorted(tags) == sorted(f"t{i}-{n}" for i in range(1, 101) for n in range(2))
    assert set(commits_per_load_id(plugin, "bronze.events").values()) == {1}


def table_ids_of_child(plugin: Any) -> list[str]:
    from tests.helpers import read_table

    table = read_table(plugin, "bronze.events__tags")
    return [str(v) for v in table.scan(selected_fields=("tag",)).to_arrow()["tag"].to_pylist()]


def test_raise_on_failed_jobs_false_is_refused_before_anything_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOAD__RAISE_ON_FAILED_JOBS", "false")
    plugin = embedded_plugin(tmp_path, retry_config=RETRY)
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 11), "a.csv")
    outcome = plugin.run_with_outcome(plugin.create_pipeline(incremental_files_config(data)))

    assert not outcome.success
    assert outcome.category is ErrorCategory.CONFIGURATION
    assert outcome.attempts == 1
    assert outcome.errors[0].startswith(
        "[CONFIGURATION] PipelineConfigurationError: load.raise_on_failed_jobs=false"
    )
    from pyiceberg.exceptions import NoSuchTableError

    with pytest.raises(NoSuchTableError):
        table_ids(plugin, "bronze.events")
