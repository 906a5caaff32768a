"""Does PyIceberg's SqlCatalog (the embedded catalog) really detect concurrent commits?

The plugin's commit retry is only safe if a commit based on stale metadata is refused rather
than silently replacing the other writer's snapshot (a lost update).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException

from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.config import CatalogConfig

pytestmark = pytest.mark.integration

SCHEMA = pa.schema([pa.field("id", pa.int64()), pa.field("writer", pa.string())])


def _catalog(base: Path) -> Catalog:
    return load_catalog(CatalogConfig.embedded(base))


def _rows(writer: str, ids: range) -> pa.Table:
    return pa.table({"id": list(ids), "writer": [writer] * len(ids)}, schema=SCHEMA)


def _create(base: Path) -> None:
    catalog = _catalog(base)
    catalog.create_namespace_if_not_exists("bronze")
    catalog.create_table(("bronze", "t"), schema=SCHEMA)


def test_commit_on_stale_metadata_is_refused(tmp_path: Path) -> None:
    """With PyIceberg's own commit retry switched off the conflict surfaces as
    ``CommitFailedException`` and the first writer's snapshot stays current."""
    _create(tmp_path)
    with _catalog(tmp_path).load_table(("bronze", "t")).transaction() as txn:
        txn.set_properties({"commit.retry.num-retries": "0"})
    first = _catalog(tmp_path).load_table(("bronze", "t"))
    second = _catalog(tmp_path).load_table(("bronze", "t"))  # same metadata as ``first``

    first.append(_rows("a", range(0, 10)))
    with pytest.raises(CommitFailedException):
        second.append(_rows("b", range(10, 20)))

    table = _catalog(tmp_path).load_table(("bronze", "t"))
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(10))
    # after a refresh the same append goes through on top of the other writer's snapshot
    second.refresh().append(_rows("b", range(10, 20)))
    table = _catalog(tmp_path).load_table(("bronze", "t"))
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(20))


def test_stale_append_is_detected_and_rebased_by_pyiceberg(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Default table properties: PyIceberg detects the conflict, refreshes and re-applies the
    append on the new snapshot (no lost update), before the plugin's own retry is needed."""
    _create(tmp_path)
    first = _catalog(tmp_path).load_table(("bronze", "t"))
    second = _catalog(tmp_path).load_table(("bronze", "t"))
    first.append(_rows("a", range(0, 10)))
    with caplog.at_level("WARNING", logger="pyiceberg"):
        second.append(_rows("b", range(10, 20)))
    assert any("concurrent update" in r.getMessage() for r in caplog.records)
    table = _catalog(tmp_path).load_table(("bronze", "t"))
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(20))
    assert len(table.metadata.snapshots) == 2


def test_concurrent_creation_of_the_same_table_lets_one_win(tmp_path: Path) -> None:
    from pyiceberg.exceptions import TableAlreadyExistsError

    catalog = _catalog(tmp_path)
    catalog.create_namespace_if_not_exists("bronze")
    catalog.create_table(("bronze", "new"), schema=SCHEMA)
    with pytest.raises(TableAlreadyExistsError):
        _catalog(tmp_path).create_table(("bronze", "new"), schema=SCHEMA)


def test_threads_appending_with_retry_lose_nothing(tmp_path: Path) -> None:
    """4 writers x 10 commits, each with its own catalog client, started on a barrier.

    PyIceberg's own retry is off so that every conflict reaches the writer's retry loop (the
    way the plugin's load job sees what PyIceberg gives up on)."""
    _create(tmp_path)
    with _catalog(tmp_path).load_table(("bronze", "t")).transaction() as txn:
        txn.set_properties({"commit.retry.num-retries": "0"})
    writers, commits, per_commit = 4, 10, 25
    barrier = threading.Barrier(writers)
    conflicts = [0] * writers
    failures: list[BaseException] = []

    def write(n: int) -> None:
        try:
            catalog = _catalog(tmp_path)
            barrier.wait()
            for c in range(commits):
                start = (n * commits + c) * per_commit
                while True:
                    table = catalog.load_table(("bronze", "t"))
                    try:
                        table.append(_rows(f"w{n}", range(start, start + per_commit)))
                        break
                    except CommitFailedException:
                        conflicts[n] += 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures

    table = _catalog(tmp_path).load_table(("bronze", "t"))
    ids = table.scan().to_arrow()["id"].to_pylist()
    assert sorted(ids) == list(range(writers * commits * per_commit))
    # one snapshot per successful commit on the main branch, none lost
    assert len([s for s in table.metadata.snapshots if s.summary.operation.value == "append"]) == (
        writers * commits
    )
    print(f"commit conflicts detected and retried: {sum(conflicts)}")
