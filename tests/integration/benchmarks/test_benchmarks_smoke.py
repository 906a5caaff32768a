"""Every benchmark runs end to end at a tiny size, so the benchmark code cannot rot.

No timing is asserted (figures at this size mean nothing); each benchmark itself reads every
table it wrote back through PyIceberg and raises when a row count is wrong.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from benchmarks import (
    bench_files,
    bench_overhead,
    bench_rest,
    bench_sql,
    bench_startup,
    bench_upstream,
)
from benchmarks.harness import Measurement

pytestmark = pytest.mark.integration

TINY = 0.001


def _check(measurements: list[Measurement], names: set[str]) -> None:
    assert {m.name for m in measurements} == names
    for m in measurements:
        assert m.figure > 0 and m.baseline > 0
        assert m.samples["plugin"] and m.samples["baseline"]
        record = m.as_dict()
        json.dumps(record)
        assert record["ratio"] > 0


def test_files_benchmark_small() -> None:
    measurements = bench_files.run(scale=TINY, repeats=1)
    _check(measurements, {"files_parquet", "files_csv"})
    assert all(m.rows == 1_000 for m in measurements)


def test_overhead_benchmark_small() -> None:
    _check(bench_overhead.run(scale=TINY, repeats=1), {"plugin_overhead"})


def test_rest_benchmark_small() -> None:
    measurements = bench_rest.run(scale=0.01, repeats=1)
    _check(measurements, {"rest_api"})
    assert measurements[0].rows == 2 * bench_rest.PAGE_SIZE


def test_sql_benchmark_small() -> None:
    measurements = bench_sql.run(scale=TINY, repeats=1)
    _check(measurements, {"sql_pyarrow", "sql_connectorx", "sql_vs_sqlalchemy_backend"})


def test_startup_benchmark_small() -> None:
    measurements = bench_startup.run(repeats=1)
    _check(measurements, {"startup_import", "startup_import_entry_point", "startup_cli_help"})
    assert all(m.target_met is not None for m in measurements)


def test_upstream_benchmark_small() -> None:
    """Installs floe-ingestion-dlt 0.1.0a1 from PyPI into a throwaway venv and compares."""
    measurements = bench_upstream.run(repeats=1)
    _check(measurements, {"startup_vs_upstream", "first_row_floe_ingest_run"})
    startup = measurements[0]
    assert startup.details["versions"]["upstream"].endswith("PLUGIN=0.1.0a1")
    assert startup.target_met is not None
    first_row = measurements[1]
    assert first_row.figure <= first_row.details["to_rows_committed"]
    assert first_row.details["to_rows_committed"] <= first_row.details["to_exit"]


def test_runner_prints_and_saves_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = importlib.import_module("benchmarks.__main__")
    monkeypatch.setattr(runner, "RESULTS_DIR", tmp_path)

    code = runner.main(["--only", "files", "--scale", str(TINY), "--repeats", "1"])

    assert code == 0
    out = capsys.readouterr().out
    assert "files_parquet" in out and "ratio" in out
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert [m["name"] for m in saved["measurements"]] == ["files_parquet", "files_csv"]
    assert saved["failures"] == {}
    assert len(list(tmp_path.glob("run-*.json"))) == 1


def test_runner_includes_the_observability_benchmark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = importlib.import_module("benchmarks.__main__")
    monkeypatch.setattr(runner, "RESULTS_DIR", tmp_path)

    code = runner.main(["--only", "observability", "--scale", "0.01", "--repeats", "1"])

    assert code == 0
    saved = json.loads((tmp_path / "latest.json").read_text())
    names = [m["name"] for m in saved["measurements"]]
    assert names == ["observability_ab_runs", "observability_work_per_run"]
    assert all(m["figure"] > 0 and m["baseline"] > 0 for m in saved["measurements"])


def test_layout_benchmark_small(tmp_path: Path) -> None:
    """bench_layout end to end at a tiny size, without dlt-iceberg (its venv needs PyPI)."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    env = {
        **os.environ,
        "BENCH_LAYOUT_SCALE": "0.01",
        "BENCH_LAYOUT_SKIP_DLT_ICEBERG": "1",
        "PYTHONPATH": str(repo),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_layout"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ratio one-file / clustered" in proc.stdout
    assert "after compaction" in proc.stdout
