"""Case 5 of issue 15: a disk that fills up during a run never wedges the pipeline nor leaves
orphan files. The disk is real: a small tmpfs mounted for the test (root in CI), filled with
a ballast file until the run's writes fail with ENOSPC; the ballast is then removed and the
next run must load every row exactly once."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_ingestion_dlt import RetryConfig
from tests.helpers import read_table
from tests.integration.faults.support import (
    incremental_files_config,
    plugin_on,
    table_ids,
    write_ids_csv,
)

pytestmark = pytest.mark.integration

TABLE = "bronze.events"
BIG = 60_000  # rows of the load that does not fit: about 1.3 MB of Parquet


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs: a file system that really runs out of space."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"cannot mount a tmpfs (needs root): {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> Path:
    ballast = disk / "ballast"
    with open(ballast, "wb") as out:
        out.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return ballast


def _big_csv(folder: Path) -> None:
    rng = random.Random(15)  # random labels: the Parquet file does not compress away
    (folder / "b.csv").write_text(
        "id,label\n" + "".join(f"{i},{rng.random()}-{rng.random()}\n" for i in range(101, BIG + 1))
    )


def _data_files_on_disk(location: str) -> set[str]:
    folder = Path(location.removeprefix("file://")) / "data"
    return {str(p) for p in folder.rglob("*.parquet")}


def test_warehouse_full_at_commit_leaves_no_orphan_and_the_next_run_loads_it(
    tmp_path: Path, small_disk: Path
) -> None:
    data = tmp_path / "in"
    write_ids_csv(data, range(1, 101), "a.csv")
    lake = small_disk / "lake"  # catalog, warehouse and dlt's bookkeeping on the small disk

    def run() -> object:
        plugin = plugin_on(lake, tmp_path / "pipelines", retry_config=RetryConfig(max_retries=0))
        return plugin, plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE)))

    plugin, first = run()
    assert first.success and first.rows_loaded == 100
    _big_csv(data)
    ballast = _fill(small_disk, leave=600_000)  # the Parquet file does not fit
    _, full = run()
    assert not full.success and full.rows_loaded == 0
    assert "No space left on device" in full.errors[0]
    table = read_table(plugin, TABLE)
    assert [s.summary["added-records"] for s in table.snapshots()] == ["100"]
    referenced = {f.removeprefix("file://") for f in table.inspect.files()["file_path"].to_pylist()}
    assert _data_files_on_disk(table.location()) == referenced  # no orphan data file

    ballast.unlink()
    _, after = run()
    assert after.success and after.rows_loaded == BIG - 100, after.errors
    ids = table_ids(plugin, TABLE)
    assert sorted(ids) == list(range(1, BIG + 1))
    table = read_table(plugin, TABLE)
    assert [s.summary["added-records"] for s in table.snapshots()] == ["100", str(BIG - 100)]
    referenced = {f.removeprefix("file://") for f in table.inspect.files()["file_path"].to_pylist()}
    assert _data_files_on_disk(table.location()) == referenced


@pytest.mark.parametrize("new_pod", [False, True], ids=["same_pod", "new_pod"])
@pytest.mark.parametrize("room", [0, 4096, 8192], ids=["no_room", "one_page", "two_pages"])
def test_bookkeeping_disk_full_never_wedges_the_pipeline(
    tmp_path: Path, small_disk: Path, new_pod: bool, room: int
) -> None:
    data = tmp_path / "in"
    write_ids_csv(data, range(1, 101), "a.csv")
    state_url = small_disk / "dlt"  # dlt's state, schemas and load records on the small disk

    def run() -> object:
        plugin = plugin_on(
            tmp_path / "lake",
            tmp_path / "pipelines",
            dlt_state_url=str(state_url),
            retry_config=RetryConfig(max_retries=0),
        )
        return plugin, plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE)))

    # full before dlt writes a file, or with room for its small files (the init marker) but
    # not its schema: the write of `_dlt_version/*.jsonl` fails half-way
    ballast = _fill(small_disk, leave=room)
    plugin, full = run()
    assert not full.success, "a run whose bookkeeping cannot be written reports the failure"
    assert "No space left on device" in " ".join(full.errors)
    ballast.unlink()
    if new_pod:
        shutil.rmtree(tmp_path / "pipelines")
    write_ids_csv(data, range(101, 111), "b.csv")
    _, after = run()
    assert after.success, after.errors
    _, again = run()
    assert again.success and again.rows_loaded == 0, again.errors
    assert sorted(table_ids(plugin, TABLE)) == list(range(1, 111))
    table = read_table(plugin, TABLE)
    assert sum(int(s.summary["added-records"]) for s in table.snapshots()) == 110


def test_damaged_pipelines_folder_is_rebuilt_from_the_destination(tmp_path: Path) -> None:
    """What a full disk leaves in the local working folder: empty state and schema files."""
    data = tmp_path / "in"
    write_ids_csv(data, range(1, 11), "a.csv")
    plugin = plugin_on(tmp_path / "lake", tmp_path / "pipelines")
    assert plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE))).success
    working = tmp_path / "pipelines" / "floe__bronze__events"
    for damaged in [working / "state.json", *(working / "schemas").glob("*.json")]:
        damaged.write_bytes(b"")

    write_ids_csv(data, range(11, 16), "b.csv")
    result = plugin.run(plugin.create_pipeline(incremental_files_config(data, TABLE)))
    assert result.success and result.rows_loaded == 5, result.errors
    assert sorted(table_ids(plugin, TABLE)) == list(range(1, 16))
    table = read_table(plugin, TABLE)
    assert [s.summary["added-records"] for s in table.snapshots()] == ["10", "5"]
    assert list((tmp_path / "pipelines" / ".damaged").iterdir())  # set aside, not deleted
