"""A merge reads the key columns of a file only in the row groups that can hold a batch key.

Real PyIceberg tables (embedded SQL catalog) with files of several row groups; what was read is
checked on the :class:`FileKeys` returned, and merges through it against rows computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.table import Table

from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.compat.pyiceberg import transaction_io
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.merge_batch import KeySet
from floe_ingestion_dlt.destination.merge_files import plan_candidate_files
from floe_ingestion_dlt.destination.merge_keys import FileKeys, read_file_keys
from floe_ingestion_dlt.destination.schema_contract import prepare_arrow_data
from tests.unit.destination.test_merge_rows import IDENT, fresh, hints, merge, rows_of

GROUP_ROWS = 100
GROUPS = 10


@pytest.fixture
def lake(tmp_path: Path) -> CatalogConfig:
    config = CatalogConfig.embedded(tmp_path / "lake")
    load_catalog(config).create_namespace("ns")
    return config


def _table(config: CatalogConfig, keys: list[Any], key_type: pa.DataType) -> Table:
    """One data file of ``GROUP_ROWS``-row groups holding ``keys`` in order."""
    data = pa.table({"id": pa.array(keys, key_type), "v": [f"old{i}" for i in range(len(keys))]})
    data = prepare_arrow_data(data)
    table = load_catalog(config).create_table(
        IDENT, schema=data.schema, properties={"write.parquet.row-group-limit": str(GROUP_ROWS)}
    )
    table.append(data)
    return fresh(config)


def _file_keys(table: Table, batch: pa.Table) -> list[FileKeys]:
    metadata = table.metadata
    io = transaction_io(table.transaction())
    key_sets = [KeySet.of(prepare_arrow_data(batch), ("id",))]
    candidates = plan_candidate_files(metadata, io, key_sets)
    return read_file_keys(metadata, io, candidates.tasks, ["id"], candidates.ranges)


def _read_groups(keys: FileKeys) -> list[int]:
    return [index for index, (_, read) in enumerate(keys.pieces) if read is not None]


def test_integer_keys_are_read_only_from_the_row_groups_that_can_hold_them(
    lake: CatalogConfig,
) -> None:
    table = _table(lake, list(range(GROUP_ROWS * GROUPS)), pa.int64())
    [keys] = _file_keys(table, pa.table({"id": pa.array([950, 951, 5_000], pa.int64())}))
    assert _read_groups(keys) == [9]
    assert keys.rows_read == GROUP_ROWS
    assert [rows for rows, _ in keys.pieces] == [GROUP_ROWS] * GROUPS
    mask = keys.mask(lambda rows: KeySet.of(rows, ("id",)).contains(rows))
    assert len(mask) == GROUP_ROWS * GROUPS and mask.true_count == GROUP_ROWS


def test_keys_between_row_groups_read_nothing_and_change_nothing(lake: CatalogConfig) -> None:
    evens = list(range(0, 2 * GROUP_ROWS * GROUPS, 2))
    table = _table(lake, evens, pa.int64())
    # 199 lies between row group 0 (0..198) and row group 1 (200..398)
    [keys] = _file_keys(table, pa.table({"id": pa.array([199], pa.int64())}))
    assert _read_groups(keys) == []
    merge(lake, pa.table({"id": pa.array([199], pa.int64()), "v": ["new"]}), hints())
    after = fresh(lake)
    summary = after.current_snapshot().summary  # type: ignore[union-attr]
    assert summary["floe.merge.files-rewritten"] == "0"
    assert len(rows_of(after)) == len(evens) + 1


def test_string_keys_of_arrow_written_files_are_pruned(lake: CatalogConfig) -> None:
    keys = [f"k{i:05d}" for i in range(GROUP_ROWS * GROUPS)]
    table = _table(lake, keys, pa.string())
    [found] = _file_keys(table, pa.table({"id": ["k00310", "k00399", "zzz"]}))
    assert _read_groups(found) == [3]


def test_a_file_of_one_row_group_is_read_whole(lake: CatalogConfig) -> None:
    table = _table(lake, list(range(GROUP_ROWS // 2)), pa.int64())
    [keys] = _file_keys(table, pa.table({"id": pa.array([3], pa.int64())}))
    assert len(keys.pieces) == 1 and keys.rows_read == GROUP_ROWS // 2


def test_a_file_older_than_the_key_column_reads_it_as_nulls(lake: CatalogConfig) -> None:
    table = _table(lake, list(range(GROUP_ROWS * 3)), pa.int64())
    from pyiceberg.types import LongType

    with table.update_schema() as update:
        update.add_column("k2", LongType())
    table = fresh(lake)
    metadata = table.metadata
    io = transaction_io(table.transaction())
    batch = prepare_arrow_data(pa.table({"id": pa.array([5], pa.int64()), "k2": [1]}))
    key_sets = [KeySet.of(batch, ("id", "k2"))]
    candidates = plan_candidate_files(metadata, io, key_sets)
    [keys] = read_file_keys(metadata, io, candidates.tasks, ["id", "k2"], candidates.ranges)
    [(rows, read)] = keys.pieces
    assert read is not None and rows == GROUP_ROWS * 3
    assert read.column("k2").null_count == rows


@pytest.mark.parametrize("key_type", [pa.int64(), pa.string()])
def test_merges_through_pruned_row_groups_match_the_rows_expected(
    lake: CatalogConfig, key_type: pa.DataType
) -> None:
    def key(i: int) -> Any:
        return i if pa.types.is_integer(key_type) else f"k{i:05d}"

    ids = list(range(0, 3 * GROUP_ROWS * GROUPS, 3))
    _table(lake, [key(i) for i in ids], key_type)
    expected = {key(i): f"old{n}" for n, i in enumerate(ids)}
    batch_ids = [1, 3, 600, 601, 1_500, 2_997, 2_998, 9_000]
    batch = pa.table(
        {"id": pa.array([key(i) for i in batch_ids], key_type), "v": [f"new{i}" for i in batch_ids]}
    )
    merge(lake, batch, hints())
    expected |= {key(i): f"new{i}" for i in batch_ids}
    actual = {row["id"]: row["v"] for row in fresh(lake).scan().to_arrow().to_pylist()}
    assert actual == expected
