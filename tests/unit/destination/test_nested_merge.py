"""The batch's roots of a nested merge (``destination/nested_merge``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from floe_ingestion_dlt.destination.nested_merge import (
    batch_roots,
    nested_merge_job_requests,
    split_files,
    table_of_file,
)

ROOT: dict[str, Any] = {
    "name": "orders",
    "write_disposition": "merge",
    "columns": {
        "id": {"primary_key": True},
        "_dlt_id": {"row_key": True},
        "deleted": {"hard_delete": True},
    },
}


def test_files_are_told_apart_by_table() -> None:
    paths = [
        "/p/orders__items.a1.0.parquet",
        "/p/orders.b2.0.parquet",
        "/p/orders__items.c3.1.parquet",
    ]
    assert table_of_file(paths[1]) == "orders"
    own, others = split_files(paths, "orders__items")
    assert own == [paths[0], paths[2]] and others == [paths[1]]


def test_batch_roots_and_the_hard_deleted_ones(tmp_path: Path) -> None:
    first = tmp_path / "orders.a.0.parquet"
    second = tmp_path / "orders.b.0.parquet"
    pq.write_table(pa.table({"_dlt_id": ["r1", "r2"], "deleted": [False, True]}), first)
    pq.write_table(pa.table({"_dlt_id": ["r3", "r1"], "deleted": [None, False]}), second)

    roots = batch_roots([str(first), str(second)], ROOT)

    assert sorted(roots.all.to_pylist()) == ["r1", "r2", "r3"]
    assert roots.deleted.to_pylist() == ["r2"]


def test_roots_without_a_hard_delete_column_are_all_live(tmp_path: Path) -> None:
    path = tmp_path / "orders.a.0.parquet"
    pq.write_table(pa.table({"_dlt_id": ["r1"], "id": [1]}), path)
    roots = batch_roots([str(path)], {**ROOT, "columns": {"_dlt_id": {"row_key": True}}})
    assert roots.all.to_pylist() == ["r1"] and roots.deleted.to_pylist() == []


def _job(path: str, table: str) -> Any:
    return SimpleNamespace(file_path=path, job_file_info=SimpleNamespace(table_name=table))


def test_every_nested_table_of_a_merged_chain_gets_a_job_with_the_roots_files(
    tmp_path: Path,
) -> None:
    chain: list[Any] = [ROOT, {"name": "orders__items"}, {"name": "orders__items__parts"}]
    jobs = [
        _job(str(tmp_path / "orders.a1.0.parquet"), "orders"),
        _job(str(tmp_path / "orders__items.b2.0.parquet"), "orders__items"),
    ]
    requests = nested_merge_job_requests(chain, jobs)
    assert requests is not None
    names = [Path(r.new_file_path()).name for r in requests]
    assert [table_of_file(n) for n in names] == [t["name"] for t in chain]
    assert all(n.endswith(".reference") for n in names)


def test_other_chains_keep_dlts_requests() -> None:
    chain: list[Any] = [{**ROOT, "write_disposition": "append"}, {"name": "orders__items"}]
    assert nested_merge_job_requests(chain, []) is None
    assert nested_merge_job_requests([ROOT], []) is None
    insert_only: list[Any] = [
        {**ROOT, "x-merge-strategy": "insert-only"},
        {"name": "orders__items"},
    ]
    assert nested_merge_job_requests(insert_only, []) is None
