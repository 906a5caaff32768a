"""Maintenance through the real plugin on an embedded catalog, checked through PyIceberg.

Compaction (also under a concurrent ingestion, 20 rounds), snapshot expiry that keeps the
incremental state (the next run resumes exactly), orphan removal next to a load in flight and
a killed one, the per-source policy after a load, and the CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.maintenance import compaction
from floe_ingestion_dlt.maintenance.compaction import compact_table
from floe_ingestion_dlt.maintenance.expiry import expire_snapshots
from floe_ingestion_dlt.maintenance.orphans import remove_orphan_files
from tests.helpers import embedded_plugin, files_config, read_table

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

TABLE = "bronze.events"
SCHEMA = pa.schema([("id", pa.int64()), ("region", pa.string()), ("amount", pa.float64())])
REPO = Path(__file__).resolve().parents[3]


class Lake:
    def __init__(self, tmp_path: Path, **plugin_config: Any) -> None:
        self.root = tmp_path
        self.plugin: DltIngestionPlugin = embedded_plugin(tmp_path, **plugin_config)
        self.batches = 0
        self.lock = threading.Lock()

    def folder(self, rows: list[dict[str, Any]]) -> Path:
        with self.lock:
            self.batches += 1
            folder = self.root / f"batch-{self.batches}"
        folder.mkdir()
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "rows.parquet")
        return folder

    def load(self, rows: list[dict[str, Any]], mode: str = "append", **source: Any) -> Any:
        if mode == "merge":
            source.setdefault("primary_key", "id")
        config = files_config(self.folder(rows), "*.parquet", TABLE, mode, **source)
        result = self.plugin.run(self.plugin.create_pipeline(config))
        assert result.success, result.errors
        return result

    def rows(self) -> Counter[tuple[Any, ...]]:
        table = read_table(self.plugin, TABLE).scan().to_arrow()
        return Counter(
            (r["id"], r["region"], r["amount"])
            for r in table.select(["id", "region", "amount"]).to_pylist()
        )


def _rows(start: int, n: int, version: float = 1.0) -> list[dict[str, Any]]:
    return [
        {"id": i, "region": ["eu", "us"][i % 2], "amount": i * version}
        for i in range(start, start + n)
    ]


def _as_counter(rows: list[dict[str, Any]]) -> Counter[tuple[Any, ...]]:
    return Counter((r["id"], r["region"], r["amount"]) for r in rows)


def test_compaction_is_one_replace_snapshot_with_identical_rows(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    expected: list[dict[str, Any]] = []
    for n in range(12):
        batch = _rows(n * 10, 10)
        expected += batch
        lake.load(batch, partition_by=["region"])
    before = read_table(lake.plugin, TABLE)
    snapshots_before = len(before.metadata.snapshots)
    files_before = len(list(before.scan().plan_files()))
    report = lake.plugin.maintain(TABLE, compact=True)
    table = read_table(lake.plugin, TABLE)
    assert report.compaction is not None and report.compaction.files_rewritten == files_before
    assert len(table.metadata.snapshots) == snapshots_before + 1
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary.operation.value == "replace"
    assert len(list(table.scan().plan_files())) == 2  # one file per region
    assert len(table.current_snapshot().manifests(table.io)) == 1  # type: ignore[union-attr]
    assert lake.rows() == _as_counter(expected)
    # the previous snapshot still reads the same rows (time travel)
    old = table.scan(snapshot_id=before.metadata.current_snapshot_id).to_arrow()
    assert old.num_rows == len(expected)
    # nothing small left: a second compaction does nothing
    again = lake.plugin.maintain(TABLE, compact=True, dry_run=True)
    assert again.compaction is not None and again.compaction.files_rewritten == 0


def test_compaction_under_a_concurrent_ingestion_loses_and_duplicates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 rounds: in even rounds the writer commits while compaction writes its files (a
    forced conflict: compaction retries, or gives way after a merge); odd rounds race freely.
    """
    lake = Lake(tmp_path)
    expected: dict[int, dict[str, Any]] = {}
    appended: list[dict[str, Any]] = []
    for n in range(4):
        batch = _rows(n * 10, 10)
        appended += batch
        lake.load(batch)
    next_id = 1000
    outcomes: Counter[str] = Counter()
    original_write = compaction._write_files
    for round_number in range(20):
        writer_done = threading.Event()
        forced = round_number % 2 == 0
        use_merge = round_number % 4 == 0
        batch = (
            _rows(round_number * 10 % 40, 5, version=round_number + 2.0)
            if use_merge
            else _rows(next_id, 7)
        )
        next_id += 7
        errors: list[BaseException] = []

        def writer(
            batch: list[dict[str, Any]] = batch,
            use_merge: bool = use_merge,
            errors: list[BaseException] = errors,
            writer_done: threading.Event = writer_done,
        ) -> None:
            try:
                lake.load(batch, "merge" if use_merge else "append")
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
            finally:
                writer_done.set()

        def slow_write(
            table: Any,
            rows: pa.Table,
            forced: bool = forced,
            writer_done: threading.Event = writer_done,
        ) -> Any:
            written = original_write(table, rows)
            if forced:
                assert writer_done.wait(60)
            return written

        monkeypatch.setattr(compaction, "_write_files", slow_write)
        thread = threading.Thread(target=writer)
        thread.start()
        planned_on = read_table(lake.plugin, TABLE)
        base = planned_on.metadata.current_snapshot_id
        result = compact_table(planned_on)
        thread.join(60)
        assert not errors, errors
        if result.gave_way:
            outcomes["gave_way"] += 1
        elif result.snapshot_id is not None:
            table = read_table(lake.plugin, TABLE)
            snapshot = table.snapshot_by_id(result.snapshot_id)
            assert snapshot is not None
            raced = snapshot.parent_snapshot_id != base
            outcomes["committed after a concurrent commit" if raced else "no race"] += 1
        if use_merge:
            current = {r["id"]: r for r in appended}
            for row in batch:
                current[row["id"]] = row
            appended = list(current.values())
        else:
            appended += batch
        assert lake.rows() == _as_counter(appended), f"round {round_number}: {result.as_dict()}"
    expected.clear()
    # the forced rounds really conflicted: every one committed on top of the writer's
    # commit (rebuilt on the new snapshot) or gave way to its merge
    conflicted = outcomes["gave_way"] + outcomes["committed after a concurrent commit"]
    assert conflicted >= 10, outcomes


def test_run_after_expiry_resumes_exactly_from_the_state_in_snapshots(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    data = tmp_path / "incoming"
    data.mkdir()

    def run() -> Any:
        config = files_config(data, "*.parquet", TABLE, "append", incremental_files=True)
        result = lake.plugin.run(lake.plugin.create_pipeline(config))
        assert result.success, result.errors
        return result

    expected: list[dict[str, Any]] = []
    for n in range(3):
        batch = _rows(n * 10, 10)
        expected += batch
        pq.write_table(pa.Table.from_pylist(batch, schema=SCHEMA), data / f"part-{n}.parquet")
        time.sleep(0.05)
        run()
    # another writer (e.g. an engine's job) commits on top: its snapshot has no state in it
    foreign = {"id": 99_999, "region": "eu", "amount": 1.0}
    read_table(lake.plugin, TABLE).append(pa.Table.from_pylist([foreign], schema=SCHEMA))
    expected.append(foreign)
    table = read_table(lake.plugin, TABLE)
    result = expire_snapshots(table, older_than_seconds=0, retain_last=1)
    table = read_table(lake.plugin, TABLE)
    assert result.expired, "older snapshots were expired"
    assert result.kept_for_state, "the snapshot holding the state was kept"
    states = [
        s
        for s in table.metadata.snapshots
        if s.summary and "floe.dlt-state" in s.summary.additional_properties
    ]
    assert states, "the state snapshot survived expiry"
    # a new pod: no local pipeline folder, and dlt's own state files gone as well
    import shutil

    shutil.rmtree(tmp_path / "pipelines")
    state_files = list((tmp_path / "lake" / "warehouse" / "bronze").glob("_dlt_pipeline_state/*"))
    assert state_files
    for state_file in state_files:  # only the snapshots hold the state now
        state_file.unlink()
    new_batch = _rows(500, 10)
    pq.write_table(pa.Table.from_pylist(new_batch, schema=SCHEMA), data / "part-new.parquet")
    result_run = run()
    assert result_run.rows_loaded == 10
    assert lake.rows() == _as_counter(expected + new_batch)


def test_compaction_carries_the_state_forward_so_expiry_frees_a_non_incremental_table(
    tmp_path: Path,
) -> None:
    """A non-incremental pipeline's state sits in its first snapshot only: without the
    carried state nothing could ever expire."""
    lake = Lake(tmp_path)
    expected: list[dict[str, Any]] = []
    for n in range(4):
        batch = _rows(n * 10, 10)
        expected += batch
        lake.load(batch)
    table = read_table(lake.plugin, TABLE)
    with_state = [
        s
        for s in table.metadata.snapshots
        if "floe.dlt-state" in s.summary.additional_properties  # type: ignore[union-attr]
    ]
    assert len(with_state) == 1  # only the first load changed the state
    blocked = expire_snapshots(table, older_than_seconds=0, retain_last=1, dry_run=True)
    assert not blocked.expired
    lake.plugin.maintain(TABLE, compact=True)
    table = read_table(lake.plugin, TABLE)
    top = table.current_snapshot().summary.additional_properties  # type: ignore[union-attr]
    first = with_state[0].summary.additional_properties  # type: ignore[union-attr]
    assert top["floe.dlt-state"] == first["floe.dlt-state"]
    report = lake.plugin.maintain(TABLE, expire_older_than="0s", retain_last=1)
    assert report.expiry is not None and len(report.expiry.expired) == 4
    assert report.expiry.files_deleted > 0
    assert lake.rows() == _as_counter(expected)
    lake.load(_rows(900, 5))  # the pipeline restores its state from the compaction snapshot
    assert lake.rows() == _as_counter(expected + _rows(900, 5))


def _start_loader(tmp_path: Path, data: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.maintenance.loader_process",
            str(tmp_path),
            str(data),
            mode,
        ],
        cwd=REPO,
        env=env,
    )


def _wait_for(path: Path, proc: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None or path.exists(), f"loader exited early ({proc.returncode})"
        assert time.time() < deadline, "loader never reached its commit"
        time.sleep(0.05)


def _table_files(tmp_path: Path) -> set[Path]:
    location = tmp_path / "lake" / "warehouse" / "bronze" / "events"
    return {p for p in location.rglob("*") if p.is_file()}


def _age(paths: set[Path], seconds: float) -> None:
    past = time.time() - seconds
    for path in paths:
        os.utime(path, (past, past))


def test_orphan_removal_spares_a_load_in_flight_and_removes_a_killed_ones_files_after_grace(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    first = _rows(0, 20)
    lake.load(first, partition_by=["region"])
    live_before = _table_files(tmp_path)
    _age(live_before, 10 * 86400)  # live files older than any grace: never touched

    # a load in flight: data files written, commit pending
    in_flight = lake.folder(_rows(100, 20))
    proc = _start_loader(tmp_path, in_flight, "wait")
    _wait_for(tmp_path / "at-commit", proc)
    pending = _table_files(tmp_path) - live_before
    assert pending, "the load in flight has written its data files"
    result = remove_orphan_files(read_table(lake.plugin, TABLE), older_than_seconds=3600)
    assert result.deleted == 0 and result.too_young >= len(pending)
    assert pending <= _table_files(tmp_path)
    (tmp_path / "go").write_text("1")
    assert proc.wait(120) == 0
    assert lake.rows() == _as_counter(first + _rows(100, 20))
    (tmp_path / "at-commit").unlink()
    (tmp_path / "go").unlink()

    # a load killed at its commit: its files are orphans, removed only after the grace period
    committed = _table_files(tmp_path)
    killed = lake.folder(_rows(200, 20))
    proc = _start_loader(tmp_path, killed, "kill")
    assert proc.wait(120) != 0
    leftovers = _table_files(tmp_path) - committed
    assert leftovers, "the killed load left files behind"
    young = remove_orphan_files(read_table(lake.plugin, TABLE), older_than_seconds=3600)
    assert young.deleted == 0
    _age(leftovers, 2 * 3600)
    dry = remove_orphan_files(read_table(lake.plugin, TABLE), older_than_seconds=3600, dry_run=True)
    assert {Path(p.removeprefix("file://")) for p in dry.orphans} == leftovers
    assert leftovers <= _table_files(tmp_path)
    done = lake.plugin.maintain(TABLE, remove_orphans_older_than="1h")
    assert done.orphans is not None and done.orphans.deleted == len(leftovers)
    assert _table_files(tmp_path) == committed
    assert lake.rows() == _as_counter(first + _rows(100, 20))
    table = read_table(lake.plugin, TABLE)
    for snapshot in table.metadata.snapshots:  # every retained snapshot still reads
        table.scan(snapshot_id=snapshot.snapshot_id).to_arrow()


def test_orphan_grace_under_an_hour_is_refused(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.load(_rows(0, 5))
    with pytest.raises(ValueError, match="grace"):
        lake.plugin.maintain(TABLE, remove_orphans_older_than="10m")


def test_a_missing_table_is_named_by_a_typed_error_and_exit_code_2(tmp_path: Path) -> None:
    from floe_ingestion_dlt.cli.app import app
    from floe_ingestion_dlt.errors import ErrorCategory, ValidationError

    lake = Lake(tmp_path)
    lake.load(_rows(0, 5))
    for missing in ("bronze.nothing", "nowhere.nothing"):
        with pytest.raises(ValidationError, match=f"'{missing}' does not exist") as raised:
            lake.plugin.maintain(missing, compact=True)
        assert raised.value.field == "table"
        assert raised.value.category is ErrorCategory.CONFIGURATION
    catalog = f"sqlite:///{tmp_path / 'lake' / 'catalog.db'}"
    result = CliRunner().invoke(
        app, ["maintain", "bronze.nothing", "--compact", "--catalog", catalog]
    )
    assert result.exit_code == 2, result.output
    assert "'bronze.nothing' does not exist" in result.output
    assert "Traceback" not in result.output


def test_source_policy_runs_after_each_successful_load(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    policy = {"compact": True, "compact_min_files": 3, "expire_older_than": "0s", "retain_last": 2}
    data = tmp_path / "incoming"
    data.mkdir()
    expected: list[dict[str, Any]] = []
    for n in range(6):
        batch = _rows(n * 10, 10)
        expected += batch
        pq.write_table(pa.Table.from_pylist(batch, schema=SCHEMA), data / f"part-{n}.parquet")
        time.sleep(0.05)
        config = files_config(
            data, "*.parquet", TABLE, "append", incremental_files=True, maintenance=policy
        )
        result = lake.plugin.run(lake.plugin.create_pipeline(config))
        assert result.success, result.errors
        assert result.rows_loaded == 10  # the state survived every expiry
    table = read_table(lake.plugin, TABLE)
    assert len(list(table.scan().plan_files())) < 3
    assert len(table.metadata.snapshots) <= 3
    assert any(
        s.summary is not None and s.summary.operation.value == "replace"
        for s in table.metadata.snapshots
    )
    assert lake.rows() == _as_counter(expected)


def test_maintain_cli_dry_run_json_and_bad_option(tmp_path: Path) -> None:
    from floe_ingestion_dlt.cli.app import app

    lake = Lake(tmp_path)
    for n in range(3):
        lake.load(_rows(n * 10, 10))
    catalog = f"sqlite:///{tmp_path / 'lake' / 'catalog.db'}"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "maintain",
            TABLE,
            "--compact",
            "--expire-older-than",
            "0s",
            "--dry-run",
            "--json",
            "--catalog",
            catalog,
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    entry = document["tables"][0]
    assert entry["dry_run"] and entry["compaction"]["files_rewritten"] == 3
    assert len(list(read_table(lake.plugin, TABLE).scan().plan_files())) == 3  # unchanged
    result = runner.invoke(app, ["maintain", TABLE, "--compact", "--catalog", catalog])
    assert result.exit_code == 0, result.output
    assert "rewrote 3 files into 1" in result.stdout
    bad = runner.invoke(
        app, ["maintain", TABLE, "--expire-older-than", "a week", "--catalog", catalog]
    )
    assert bad.exit_code == 2
    nothing = runner.invoke(app, ["maintain", TABLE, "--catalog", catalog])
    assert nothing.exit_code == 2
