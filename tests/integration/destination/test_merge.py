"""``write_mode="merge"`` through the real plugin: files -> dlt -> embedded Iceberg catalog.

Every expectation is computed independently from the source rows (plain Python dicts, dlt's
merge semantics, the last row of a key in a batch wins) and compared with the table read back
through a separate PyIceberg client.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Transaction

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.destination import merge_files
from floe_ingestion_dlt.errors import ValidationError
from tests.helpers import embedded_plugin, files_config, fresh_catalog, read_table, snapshot_count

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

Row = dict[str, Any]
TABLE = "bronze.customers"
SCHEMA = pa.schema(
    [("id", pa.int64()), ("name", pa.string()), ("score", pa.float64()), ("deleted", pa.bool_())]
)


def _row(id: int, name: str | None, score: float | None = None, deleted: bool = False) -> Row:
    return {"id": id, "name": name, "score": score, "deleted": deleted}


BATCHES: list[list[Row]] = [
    [
        _row(1, "ann", 1.0),
        _row(2, "bob", None),
        _row(3, "cy", 3.0),
        _row(3, "cy-last", 3.5),  # duplicate key in one batch: the last one wins
        _row(4, None, 4.0),
        _row(5, "eve", 5.0),
    ],
    [
        _row(2, "bob-2", 2.5),
        _row(3, None, None),  # NULLs in non-key columns are written as NULL
        _row(4, "dan", None, deleted=True),  # hard delete of an existing key
        _row(6, "fay", 6.0),
        _row(6, "fay-last", None),
        _row(7, "gus", 7.0, deleted=True),  # flagged row with a new key: never inserted
    ],
    [
        _row(1, "ann-3", 1.3),
        _row(5, "eve-3", None),
        _row(5, "eve-3b", 5.3, deleted=True),  # last one wins, and it is a delete
        _row(8, "hal", 8.0),
    ],
]


def reference(table: dict[Any, Row], batch: list[Row], strategy: str) -> tuple[dict[Any, Row], int]:
    """The table after merging ``batch``, and the number of batch rows written."""
    winners: dict[Any, Row] = {}
    for row in batch:
        winners.pop(row["id"], None)
        winners[row["id"]] = row
    result = dict(table)
    if strategy == "delete-insert":
        for row in batch:
            result.pop(row["id"], None)
    written = 0
    for key, row in winners.items():
        if strategy == "insert-only" and key in result:
            continue
        result.pop(key, None)
        if not row["deleted"]:
            result[key] = row
            written += 1
    return result, written


class Lake:
    """A plugin on an embedded catalog and a folder of source batches."""

    def __init__(self, tmp_path: Path, **plugin_config: Any) -> None:
        self.root = tmp_path
        self.plugin: DltIngestionPlugin = embedded_plugin(tmp_path, **plugin_config)
        self.batches = 0

    def write(
        self, rows: list[Row], fmt: str = "parquet", schema: pa.Schema | None = SCHEMA
    ) -> Path:
        self.batches += 1
        folder = self.root / f"batch-{self.batches}"
        folder.mkdir()
        if fmt == "parquet":
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "rows.parquet")
        else:
            lines = [json.dumps(r) for r in rows]
            (folder / "rows.jsonl").write_text("\n".join(lines) + "\n")
        return folder

    def merge(
        self, rows: list[Row], strategy: str = "upsert", fmt: str = "parquet", **source: Any
    ) -> Any:
        folder = self.write(rows, fmt, source.pop("schema", SCHEMA))
        options = {"primary_key": "id", "merge_strategy": strategy, **source}
        config = files_config(folder, f"*.{fmt}", TABLE, "merge", **options)
        return self.plugin.run(self.plugin.create_pipeline(config))

    def rows(self, key: Callable[[Row], Any] = lambda r: r["id"]) -> list[Row]:
        table = read_table(self.plugin, TABLE).scan().to_arrow()
        keep = [c for c in table.column_names if not c.startswith("_dlt")]
        return sorted(table.select(keep).to_pylist(), key=key)

    def snapshots(self) -> int:
        return snapshot_count(read_table(self.plugin, TABLE))

    def current_snapshot_id(self) -> int | None:
        return read_table(self.plugin, TABLE).metadata.current_snapshot_id


@pytest.mark.parametrize("strategy", ["upsert", "insert-only", "delete-insert"])
def test_each_strategy_matches_the_reference_with_one_snapshot_per_run(
    tmp_path: Path, strategy: str
) -> None:
    lake = Lake(tmp_path)
    expected: dict[Any, Row] = {}
    for number, batch in enumerate(BATCHES, start=1):
        result = lake.merge(batch, strategy, hard_delete_column="deleted")
        assert result.success, result.errors
        expected, written = reference(expected, batch, strategy)
        assert lake.rows() == sorted(expected.values(), key=lambda r: r["id"]), f"run {number}"
        assert lake.snapshots() == number
        assert result.rows_loaded == written


def test_composite_primary_key_from_jsonl(tmp_path: Path) -> None:
    lake = Lake(tmp_path)

    def rows(*items: tuple[str, int, str | None]) -> list[Row]:
        return [{"region": r, "id": i, "name": n} for r, i, n in items]

    first = rows(("eu", 1, "a"), ("us", 1, "b"), ("eu", 2, None), ("us", 2, "d"))
    second = rows(("us", 1, "B"), ("eu", 3, "e"), ("us", 1, "B2"), ("eu", 2, "c"))
    key = ["region", "id"]
    assert lake.merge(first, fmt="jsonl", primary_key=key, schema=None).success
    result = lake.merge(second, fmt="jsonl", primary_key=key, schema=None)
    assert result.success, result.errors
    expected = {(r["region"], r["id"]): r for r in first}
    for row in second:
        expected[(row["region"], row["id"])] = row
    by_key = lambda r: (r["region"], r["id"])  # noqa: E731
    assert lake.rows(by_key) == sorted(expected.values(), key=by_key)
    assert lake.snapshots() == 2


def test_merge_without_a_key_is_a_configuration_error_before_anything_runs(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path)
    folder = lake.write([_row(1, "a")])
    config = files_config(folder, "*.parquet", TABLE, "merge")
    with pytest.raises(ValidationError) as info:
        lake.plugin.create_pipeline(config)
    assert info.value.field == "source_config.primary_key"
    assert info.value.category.value == "CONFIGURATION"
    assert not fresh_catalog(lake.plugin).table_exists(TABLE)
    assert not (tmp_path / "pipelines").exists() or not any((tmp_path / "pipelines").iterdir())


def test_schema_evolution_applies_to_merge(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    narrow = pa.schema([("id", pa.int64()), ("name", pa.string())])
    assert lake.merge([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], schema=narrow).success
    wide = pa.schema([("id", pa.int64()), ("name", pa.string()), ("tier", pa.int32())])
    result = lake.merge(
        [{"id": 1, "name": "a2", "tier": 3}, {"id": 9, "name": "z", "tier": None}], schema=wide
    )
    assert result.success, result.errors
    assert lake.rows() == [
        {"id": 1, "name": "a2", "tier": 3},
        {"id": 2, "name": "b", "tier": None},
        {"id": 9, "name": "z", "tier": None},
    ]


def test_large_batch_is_still_one_snapshot(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    first = [_row(i, f"n{i}", float(i)) for i in range(6_000)]
    assert lake.merge(first).success
    second = [_row(i, f"m{i}", None) for i in range(3_000, 9_000)]
    result = lake.merge(second)
    assert result.success, result.errors
    assert lake.snapshots() == 2
    rows = lake.rows()
    assert len(rows) == 9_000
    assert rows[2_999] == _row(2_999, "n2999", 2999.0)
    assert rows[3_000] == _row(3_000, "m3000", None)


@pytest.fixture
def failing_lake(tmp_path: Path) -> Iterator[Lake]:
    """A lake whose plugin does not retry, holding the first batch already merged."""
    lake = Lake(tmp_path, retry_config=RetryConfig(max_retries=0))
    assert lake.merge(BATCHES[0], hard_delete_column="deleted").success
    yield lake


def _assert_unchanged(lake: Lake, snapshot_id: int | None, rows: list[Row], snapshots: int) -> None:
    assert lake.current_snapshot_id() == snapshot_id
    assert lake.snapshots() == snapshots
    assert lake.rows() == rows


def test_failed_commit_leaves_the_previous_snapshot_and_rows(
    failing_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (failing_lake.current_snapshot_id(), failing_lake.rows(), failing_lake.snapshots())
    staged: list[int] = []

    def commit_fails(self: Transaction) -> Any:
        staged.append(len(self._updates))  # the merge's files are written and staged by now
        raise RuntimeError("injected: catalog went away during commit")

    monkeypatch.setattr(Transaction, "commit_transaction", commit_fails)
    result = failing_lake.merge(BATCHES[1], hard_delete_column="deleted")
    monkeypatch.undo()
    assert not result.success
    assert any("injected" in e for e in result.errors)
    assert staged and staged[0] > 0
    _assert_unchanged(failing_lake, *before)


def test_unreadable_data_file_mid_merge_leaves_the_table_unchanged(
    failing_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (failing_lake.current_snapshot_id(), failing_lake.rows(), failing_lake.snapshots())
    real = merge_files.read_data_file
    reads: list[str] = []

    def second_read_fails(metadata: Any, io: Any, task: Any, schema: Any) -> pa.Table:
        reads.append(task.file.file_path)
        if len(reads) == 2:  # keys were read; the whole-row read of the file fails
            raise OSError(f"injected: cannot read {task.file.file_path}")
        return real(metadata, io, task, schema)

    monkeypatch.setattr(merge_files, "read_data_file", second_read_fails)
    result = failing_lake.merge(BATCHES[1], hard_delete_column="deleted")
    monkeypatch.undo()
    assert not result.success
    assert any("injected" in e for e in result.errors)
    assert len(reads) >= 2
    _assert_unchanged(failing_lake, *before)


def _nested_pipeline(tmp_path: Path, strategy: str) -> tuple[Any, Any, Any]:
    import dlt

    from floe_ingestion_dlt import CatalogConfig, iceberg

    lake = CatalogConfig.embedded(tmp_path / "lake")
    pipeline = dlt.pipeline(
        "nested_merge",
        destination=iceberg(credentials=lake),
        dataset_name="bronze",
        pipelines_dir=str(tmp_path / "pipelines"),
    )

    @dlt.resource(
        primary_key="id",
        write_disposition={"disposition": "merge", "strategy": strategy},
        table_format="iceberg",
    )
    def orders(rows: list[Row]) -> Iterator[list[Row]]:
        yield rows

    return lake, pipeline, orders


@pytest.mark.parametrize(
    ("strategy", "items_of_1"), [("upsert", ["z"]), ("insert-only", ["a", "b"])]
)
def test_nested_tables_of_a_merged_root_follow_their_root(
    tmp_path: Path, strategy: str, items_of_1: list[str]
) -> None:
    """dlt splits lists into a nested table; a merged root's nested rows are replaced with it."""
    from floe_ingestion_dlt.catalog import load_catalog

    lake, pipeline, orders = _nested_pipeline(tmp_path, strategy)
    pipeline.run(
        orders(
            [{"id": 1, "items": [{"sku": "a"}, {"sku": "b"}]}, {"id": 2, "items": [{"sku": "c"}]}]
        )
    )
    pipeline.run(
        orders(
            [{"id": 1, "items": [{"sku": "z"}]}, {"id": 3, "items": [{"sku": "d"}, {"sku": "e"}]}]
        )
    )

    catalog = load_catalog(lake)
    roots = {
        r["_dlt_id"]: r["id"]
        for r in catalog.load_table("bronze.orders").scan().to_arrow().to_pylist()
    }
    assert sorted(roots.values()) == [1, 2, 3]
    items = catalog.load_table("bronze.orders__items")
    by_root: dict[int, list[str]] = {}
    for row in sorted(items.scan().to_arrow().to_pylist(), key=lambda r: r["_dlt_list_idx"]):
        by_root.setdefault(roots[row["_dlt_root_id"]], []).append(row["sku"])
    assert by_root == {1: items_of_1, 2: ["c"], 3: ["d", "e"]}
    assert snapshot_count(items) == 2


def test_nested_tables_under_delete_insert_fail_with_a_configuration_error(tmp_path: Path) -> None:
    from dlt.pipeline.exceptions import PipelineStepFailed

    _, pipeline, orders = _nested_pipeline(tmp_path, "delete-insert")
    with pytest.raises(PipelineStepFailed) as info:
        pipeline.run(orders([{"id": 1, "items": [{"sku": "a"}]}]))
    message = str(info.value)
    assert "source_config.merge_strategy" in message and "orders__items" in message


def test_delete_insert_with_only_a_merge_key_replaces_the_rows_of_each_key(
    tmp_path: Path,
) -> None:
    """dlt's rule: ``delete-insert`` needs a primary key OR a merge key. With a merge key alone
    every row of a ``day`` in the batch goes and the batch is inserted as it is (no primary key:
    nothing to deduplicate on, so repeated rows stay, as in dlt's SQL destinations)."""
    lake = Lake(tmp_path)
    schema = pa.schema([("day", pa.string()), ("id", pa.int64()), ("name", pa.string())])

    def rows(*items: tuple[str, int, str]) -> list[Row]:
        return [{"day": d, "id": i, "name": n} for d, i, n in items]

    first = rows(("d1", 1, "a"), ("d1", 2, "b"), ("d2", 3, "c"), ("d2", 4, "d"))
    second = rows(("d1", 1, "a2"), ("d1", 5, "e"), ("d1", 5, "e"), ("d3", 6, "f"))
    options: dict[str, Any] = {"primary_key": None, "merge_key": "day", "schema": schema}
    for batch in (first, second):
        result = lake.merge(batch, "delete-insert", **options)
        assert result.success, result.errors
        assert result.rows_loaded == len(batch)

    def by_row(r: Row) -> tuple[str, int, str]:
        return (r["day"], r["id"], r["name"])

    expected = [r for r in first if r["day"] not in {"d1", "d3"}] + second
    assert lake.rows(by_row) == sorted(expected, key=by_row)
    assert lake.snapshots() == 2


@pytest.mark.parametrize("strategy", ["upsert", "insert-only"])
def test_a_merge_key_alone_is_refused_where_rows_are_identified_by_primary_key(
    tmp_path: Path, strategy: str
) -> None:
    lake = Lake(tmp_path)
    folder = lake.write([_row(1, "a")])
    config = files_config(
        folder, "*.parquet", TABLE, "merge", merge_key="id", merge_strategy=strategy
    )
    with pytest.raises(ValidationError) as info:
        lake.plugin.create_pipeline(config)
    assert info.value.field == "source_config.primary_key"
    assert f"merge_strategy {strategy!r}" in str(info.value)
    assert not fresh_catalog(lake.plugin).table_exists(TABLE)
