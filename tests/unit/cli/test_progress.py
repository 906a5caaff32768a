"""dlt's progress counters as floe-ingest shows them.

The collector hangs on ``Pipeline.collector`` (dlt's ``progress=`` hook) and reads the counter
names dlt's extract, normalize and load steps use: the dlt test here fails if dlt changes them.
"""

from __future__ import annotations

import io
from pathlib import Path

import dlt
import pytest
from rich.console import Console

from floe_ingestion_dlt.cli.progress import ProgressCollector, ProgressCounts, SourceProgress


def test_counts_rows_files_and_jobs_per_phase() -> None:
    seen: list[tuple[ProgressCounts, bool]] = []
    collector = ProgressCollector(lambda counts, finished: seen.append((counts, finished)))

    with collector("Extract my_source"):
        collector.update("Resources", 0, 1)
        collector.update("orders", 300)
        collector.update("orders", 200)
        collector.update("Resources", 1)
    with collector("Extract my_source"):
        collector.update("_dlt_pipeline_state", 1)
    with collector("Normalize my_source in 1234.5"):
        collector.update("Files", 0, 2)
        collector.update("Files", 1)
        collector.update("orders", 500)
        collector.update("Files", 1)
    with collector("Load my_source in 1234.5"):
        collector.update("Jobs", 0, 2)
        collector.update("Jobs", 0, inc_total=1)
        collector.update("Jobs")
        collector.update("Jobs")
        collector.update("Jobs", 1, message="WARNING: Some of the jobs failed!", label="Failed")
        collector.update("Jobs")

    counts = collector.counts
    assert counts == ProgressCounts(
        phase="load",
        rows_extracted=500,
        rows_normalized=500,
        files_done=2,
        files_total=2,
        jobs_done=3,
        jobs_total=3,
        jobs_failed=1,
        tables=("orders",),
    )
    finished_phases = [c.phase for c, finished in seen if finished]
    assert finished_phases == ["extract", "extract", "normalize", "load"]
    assert (
        counts.describe()
        == "loading · 500 rows extracted · files 2/2 · load jobs 3/3 · 1 failed jobs"
    )


@pytest.fixture
def dlt_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dlt.Pipeline:
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    return dlt.pipeline(
        pipeline_name="progress_guard",
        pipelines_dir=str(tmp_path / "pipelines"),
        destination=dlt.destinations.filesystem(bucket_url=(tmp_path / "dest").as_uri()),
        dataset_name="guard",
    )


def test_dlt_reports_to_the_pipeline_collector(dlt_pipeline: dlt.Pipeline) -> None:
    """Guards the dlt internals the progress display relies on (dlt 1.31)."""
    output = io.StringIO()
    console = Console(file=output, force_terminal=False, width=200)
    with SourceProgress(console, "items -> guard.items") as progress:
        dlt_pipeline.collector = progress.collector
        dlt_pipeline.run(
            [{"id": i, "name": f"n{i}"} for i in range(25)],
            table_name="items",
            loader_file_format="jsonl",
        )
    counts = progress.collector.counts
    assert counts.rows_extracted == 25
    assert counts.rows_normalized == 25
    assert counts.tables == ("items",)
    assert counts.files_total >= 1
    assert counts.jobs_done >= 1
    assert counts.jobs_total == counts.jobs_done
    lines = output.getvalue().splitlines()
    assert any(line.startswith("  items -> guard.items: extract done, 25 rows") for line in lines)
    assert any("normalize done, 25 rows in" in line for line in lines)
    assert any("load done" in line for line in lines)


def test_quiet_progress_prints_nothing(dlt_pipeline: dlt.Pipeline) -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=False)
    with SourceProgress(console, "items", quiet=True) as progress:
        dlt_pipeline.collector = progress.collector
        dlt_pipeline.run([{"id": 1}], table_name="items", loader_file_format="jsonl")
        progress.finished("done")
    assert progress.collector.counts.rows_extracted == 1
    assert output.getvalue() == ""
