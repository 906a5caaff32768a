"""``merge_rows`` on real PyIceberg tables (embedded SQL catalog), without dlt around it.

Each merge goes through the same steps as the load job: one transaction, schema contract,
``merge_rows``, one commit. Results are read back through a new catalog client and compared
with a reference computed in plain Python over the batches.
"""

from __future__ import annotations

import decimal
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination import merge_files
from floe_ingestion_dlt.destination.merge import merge_rows
from floe_ingestion_dlt.destination.schema_contract import (
    apply_schema_contract,
    prepare_arrow_data,
)

Row = dict[str, Any]
IDENT = ("ns", "t")


@pytest.fixture
def lake(tmp_path: Path) -> CatalogConfig:
    config = CatalogConfig.embedded(tmp_path / "lake")
    load_catalog(config).create_namespace("ns")
    return config


def fresh(config: CatalogConfig) -> Table:
    return load_catalog(config).load_table(IDENT)


def hints(strategy: str = "upsert", pk: tuple[str, ...] = ("id",), **extra: dict[str, Any]) -> Row:
    columns: dict[str, Row] = {name: {"name": name, "primary_key": True} for name in pk}
    for name, hint in extra.items():
        columns.setdefault(name, {"name": name}).update(hint)
    return {"name": "t", "x-merge-strategy": strategy, "columns": columns}


def merge(
    config: CatalogConfig,
    data: pa.Table,
    table_hints: Row,
    load_id: str = "L",
    properties: dict[str, str] | None = None,
) -> None:
    """One load: transaction, schema evolution, merge, one commit (as the load job does);
    ``properties`` are the table's when this load creates it."""
    catalog: Catalog = load_catalog(config)
    data = prepare_arrow_data(data)
    if catalog.table_exists(IDENT):
        txn = catalog.load_table(IDENT).transaction()
    else:
        txn = catalog.create_table_transaction(
            IDENT, schema=data.schema, properties=properties or {}
        )
    data = apply_schema_contract(txn, data, "evolve", "ns.t")
    merge_rows(txn, data, {"floe.load-id": load_id}, table_hints)
    txn.commit_transaction()


def rows_of(table: Table, key: str = "id") -> list[Row]:
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r[key])


def clustered_table(config: CatalogConfig, files: int = 5, per_file: int = 100) -> Table:
    """``files`` data files, file ``i`` holding ids ``i*per_file .. (i+1)*per_file - 1``."""
    catalog = load_catalog(config)
    schema = prepare_arrow_data(
        pa.table({"id": pa.array([], pa.int64()), "v": pa.array([], pa.string())})
    )
    table = catalog.create_table(IDENT, schema=schema.schema)
    for i in range(files):
        ids = list(range(i * per_file, (i + 1) * per_file))
        table.append(prepare_arrow_data(pa.table({"id": ids, "v": [f"old{x}" for x in ids]})))
    return fresh(config)


@pytest.fixture
def read_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple[str, ...]]]]:
    """Records ``(data file path, projected column names)`` of every data file read."""
    calls: list[tuple[str, tuple[str, ...]]] = []
    real: Callable[..., pa.Table] = merge_files.read_data_file

    def spy(metadata: Any, io: Any, task: Any, schema: Any) -> pa.Table:
        calls.append((task.file.file_path, tuple(f.name for f in schema.fields)))
        return real(metadata, io, task, schema)

    monkeypatch.setattr(merge_files, "read_data_file", spy)
    yield calls


def file_of(table: Table, key: int) -> str:
    """Path of the current data file whose id bounds contain ``key``."""
    from pyiceberg.conversions import from_bytes
    from pyiceberg.types import LongType

    for task in table.scan().plan_files():
        low = from_bytes(LongType(), task.file.lower_bounds[1])
        high = from_bytes(LongType(), task.file.upper_bounds[1])
        if low <= key <= high:
            return str(task.file.file_path)
    raise AssertionError(f"no file holds {key}")


class TestPruning:
    def test_only_the_file_holding_the_keys_is_read(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        table = clustered_table(lake)
        target = file_of(table, 150)
        others = {t.file.file_path for t in table.scan().plan_files()} - {target}
        merge(lake, pa.table({"id": [150, 160], "v": ["new150", "new160"]}), hints())
        assert read_spy == [(target, ("id",)), (target, ("id", "v"))]
        after = fresh(lake)
        paths = {t.file.file_path for t in after.scan().plan_files()}
        assert others <= paths and target not in paths
        summary = after.current_snapshot().summary  # type: ignore[union-attr]
        assert summary["floe.merge.files-read"] == "1"
        assert summary["floe.merge.files-rewritten"] == "1"
        assert {r["id"]: r["v"] for r in rows_of(after)}[150] == "new150"
        assert len(rows_of(after)) == 500

    def test_keys_in_two_distant_files_read_exactly_those_two(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        table = clustered_table(lake)
        wanted = {file_of(table, 5), file_of(table, 450)}
        merge(lake, pa.table({"id": [450, 5], "v": ["a", "b"]}), hints())
        assert {path for path, _ in read_spy} == wanted
        assert len(read_spy) == 4  # key columns, then whole rows, of each

    def test_new_keys_beyond_the_table_read_nothing_and_append(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        clustered_table(lake)
        merge(lake, pa.table({"id": [1000, 1001], "v": ["x", "y"]}), hints())
        assert read_spy == []
        snapshot = fresh(lake).current_snapshot()
        assert snapshot is not None and snapshot.summary is not None
        assert snapshot.summary.operation.value == "append"
        assert snapshot.summary["floe.merge.files-planned"] == "0"

    def test_key_inside_a_file_range_but_absent_reads_keys_only_and_rewrites_nothing(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        catalog = load_catalog(lake)
        even = prepare_arrow_data(pa.table({"id": list(range(0, 100, 2)), "v": ["e"] * 50}))
        catalog.create_table(IDENT, schema=even.schema).append(even)
        merge(lake, pa.table({"id": [51], "v": ["odd"]}), hints())
        assert [cols for _, cols in read_spy] == [("id",)]
        table = fresh(lake)
        assert table.current_snapshot().summary["floe.merge.files-rewritten"] == "0"  # type: ignore[union-attr]
        assert len(rows_of(table)) == 51

    def test_string_and_composite_keys_prune_by_every_key_column(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        catalog = load_catalog(lake)
        empty = prepare_arrow_data(
            pa.table(
                {
                    "region": pa.array([], pa.string()),
                    "n": pa.array([], pa.int64()),
                    "v": pa.array([], pa.int64()),
                }
            )
        )
        table = catalog.create_table(IDENT, schema=empty.schema)
        for region in ("eu", "us"):
            for block in range(2):
                ns = list(range(block * 10, block * 10 + 10))
                table.append(
                    prepare_arrow_data(pa.table({"region": [region] * 10, "n": ns, "v": [0] * 10}))
                )
        batch = pa.table({"region": ["us", "us"], "n": [12, 99], "v": [7, 8]})
        merge(lake, batch, hints(pk=("region", "n")))
        assert len({path for path, _ in read_spy}) == 1  # only ("us", 10..19)
        rows = {(r["region"], r["n"]): r["v"] for r in fresh(lake).scan().to_arrow().to_pylist()}
        assert len(rows) == 41
        assert rows[("us", 12)] == 7 and rows[("us", 99)] == 8 and rows[("eu", 12)] == 0

    def test_timestamp_and_date_keys_prune(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        import datetime as dt

        catalog = load_catalog(lake)
        base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        table = None
        for month in range(3):
            ts = [base + dt.timedelta(days=31 * month, hours=h) for h in range(5)]
            days = [t.date() for t in ts]
            data = prepare_arrow_data(pa.table({"ts": ts, "day": days, "v": [month] * 5}))
            table = table or catalog.create_table(IDENT, schema=data.schema)
            table.append(data)
        hit = base + dt.timedelta(days=31, hours=2)
        merge(
            lake, pa.table({"ts": [hit], "day": [hit.date()], "v": [99]}), hints(pk=("ts", "day"))
        )
        assert len({path for path, _ in read_spy}) == 1
        values = sorted(r["v"] for r in fresh(lake).scan().to_arrow().to_pylist())
        assert values == [0] * 5 + [1] * 4 + [2] * 5 + [99]

    def test_many_files_are_read_in_parallel_without_exhausting_pyiceberg_pool(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        """More files than PyIceberg's shared pool has workers (it deadlocked once)."""
        import threading

        from pyiceberg.utils.concurrent import ExecutorFactory

        files = ExecutorFactory.get_or_create()._max_workers + 4  # type: ignore[attr-defined]
        clustered_table(lake, files=files, per_file=10)
        batch = pa.table({"id": [i * 10 + 3 for i in range(files)], "v": ["n"] * files})
        worker = threading.Thread(target=merge, args=(lake, batch, hints()), daemon=True)
        worker.start()
        worker.join(timeout=60)
        assert not worker.is_alive(), "merge hung reading many files"
        assert len({path for path, _ in read_spy}) == files
        assert {r["id"]: r["v"] for r in rows_of(fresh(lake))}[13] == "n"

    @pytest.mark.parametrize(
        ("keys", "files_read"),
        [
            # Iceberg truncates string bounds to 16 characters: a longer common prefix
            # makes every file's range cover every key, so nothing can be pruned
            (pa.array([f"customer-with-a-long-prefix-{i:04d}" for i in range(40)]), 4),
            (pa.array([f"c{i:04d}" for i in range(40)]), 2),
            (pa.array([decimal.Decimal(f"{i}.25") for i in range(40)], pa.decimal128(10, 2)), 2),
            (pa.array([f"k{i:02d}".encode() for i in range(40)], pa.binary()), 2),
            (pa.array([i * 1000 for i in range(40)], pa.int32()), 2),
        ],
        ids=["long-strings", "short-strings", "decimals", "binary", "int32"],
    )
    def test_bounds_of_other_key_types_never_hide_a_matching_file(
        self,
        lake: CatalogConfig,
        keys: pa.Array,
        files_read: int,
        read_spy: list[tuple[str, tuple[str, ...]]],
    ) -> None:
        catalog = load_catalog(lake)
        table = None
        for start in range(0, 40, 10):
            part = prepare_arrow_data(pa.table({"k": keys.slice(start, 10), "v": [0] * 10}))
            table = table or catalog.create_table(IDENT, schema=part.schema)
            table.append(part)
        batch = pa.table({"k": keys.take([17, 33]), "v": [1, 1]})
        merge(lake, batch, hints(pk=("k",)))
        values = [r["v"] for r in fresh(lake).scan().to_arrow().to_pylist()]
        assert sorted(values) == [0] * 38 + [1, 1]
        assert len({path for path, _ in read_spy}) == files_read  # 2: second and fourth file


class TestSemantics:
    def test_new_table_is_one_append_of_the_deduplicated_live_rows(
        self, lake: CatalogConfig
    ) -> None:
        batch = pa.table(
            {"id": [1, 2, 1, 3], "v": ["a", "b", "c", "d"], "gone": [False, False, False, True]}
        )
        merge(lake, batch, hints(gone={"hard_delete": True}))
        table = fresh(lake)
        assert len(table.metadata.snapshots) == 1
        assert rows_of(table) == [
            {"id": 1, "v": "c", "gone": False},
            {"id": 2, "v": "b", "gone": False},
        ]
        assert table.current_snapshot().summary["floe.rows-loaded"] == "2"  # type: ignore[union-attr]

    def test_old_files_are_rewritten_in_the_evolved_schema(self, lake: CatalogConfig) -> None:
        clustered_table(lake, files=2, per_file=3)  # ids 0..5, columns id, v
        merge(lake, pa.table({"id": [1, 9], "v": [None, "n9"], "extra": [1.5, None]}), hints())
        rows = rows_of(fresh(lake))
        assert rows == [
            {"id": 0, "v": "old0", "extra": None},
            {"id": 1, "v": None, "extra": 1.5},
            {"id": 2, "v": "old2", "extra": None},
            {"id": 3, "v": "old3", "extra": None},
            {"id": 4, "v": "old4", "extra": None},
            {"id": 5, "v": "old5", "extra": None},
            {"id": 9, "v": "n9", "extra": None},
        ]

    def test_batch_missing_a_table_column_writes_null_there(self, lake: CatalogConfig) -> None:
        clustered_table(lake, files=1, per_file=2)
        merge(lake, pa.table({"id": [1]}), hints())
        assert rows_of(fresh(lake)) == [{"id": 0, "v": "old0"}, {"id": 1, "v": None}]

    def test_insert_only_with_every_key_present_still_commits_one_snapshot(
        self, lake: CatalogConfig
    ) -> None:
        clustered_table(lake, files=2, per_file=5)
        before = rows_of(fresh(lake))
        merge(lake, pa.table({"id": [1, 7], "v": ["x", "y"]}), hints("insert-only"), "L2")
        table = fresh(lake)
        assert rows_of(table) == before
        assert len(table.metadata.snapshots) == 3
        assert table.current_snapshot().summary["floe.load-id"] == "L2"  # type: ignore[union-attr]

    def test_hard_deleting_every_row_of_a_file_drops_the_file(self, lake: CatalogConfig) -> None:
        clustered_table(lake, files=2, per_file=3)
        batch = pa.table({"id": [0, 1, 2], "gone": [True, True, True]})
        merge(lake, batch, hints(gone={"hard_delete": True}))
        table = fresh(lake)
        assert [r["id"] for r in rows_of(table)] == [3, 4, 5]
        assert len(list(table.scan().plan_files())) == 1
        assert table.current_snapshot().summary["floe.merge.rows-removed"] == "3"  # type: ignore[union-attr]

    def test_delete_insert_removes_by_merge_key_too(self, lake: CatalogConfig) -> None:
        catalog = load_catalog(lake)
        data = prepare_arrow_data(
            pa.table({"id": [1, 2, 3, 4], "day": ["d1", "d1", "d2", "d3"], "v": [1, 2, 3, 4]})
        )
        catalog.create_table(IDENT, schema=data.schema).append(data)
        batch = pa.table({"id": [2, 5], "day": ["d1", "d3"], "v": [20, 50]})
        merge(lake, batch, hints("delete-insert", day={"merge_key": True}))
        # d1 and d3 partitions replaced, id 3 (d2) kept
        assert [(r["id"], r["v"]) for r in rows_of(fresh(lake))] == [(2, 20), (3, 3), (5, 50)]

    def test_failure_while_writing_removes_written_files_and_changes_nothing(
        self, lake: CatalogConfig, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import pyiceberg.io.pyarrow as pyiceberg_arrow

        clustered_table(lake, files=2, per_file=3)
        before = fresh(lake)
        real = pyiceberg_arrow.write_file
        written: list[str] = []

        def one_file_then_fail(**kwargs: Any) -> Iterator[Any]:
            for data_file in real(**kwargs):
                written.append(data_file.file_path)
                yield data_file
                raise OSError("disk full")

        monkeypatch.setattr(pyiceberg_arrow, "write_file", one_file_then_fail)
        with pytest.raises(OSError, match="disk full"):
            merge(lake, pa.table({"id": [1, 10], "v": ["x", "y"]}), hints())
        after = fresh(lake)
        assert after.metadata.current_snapshot_id == before.metadata.current_snapshot_id
        assert rows_of(after) == rows_of(before)
        assert written and not any(Path(p.removeprefix("file://")).exists() for p in written)


class TestTableShapes:
    def test_partitioned_table_reads_only_the_partitions_of_the_keys(
        self, lake: CatalogConfig, read_spy: list[tuple[str, tuple[str, ...]]]
    ) -> None:
        from pyiceberg.partitioning import PartitionField, PartitionSpec
        from pyiceberg.transforms import IdentityTransform

        catalog = load_catalog(lake)
        data = prepare_arrow_data(
            pa.table({"region": ["eu", "us", "ap"] * 4, "id": list(range(12)), "v": [0] * 12})
        )
        schema = catalog.create_table(("ns", "probe"), schema=data.schema).schema()
        spec = PartitionSpec(
            PartitionField(
                source_id=schema.find_field("region").field_id,
                field_id=1000,
                transform=IdentityTransform(),
                name="region",
            )
        )
        catalog.create_table(IDENT, schema=schema, partition_spec=spec).append(data)
        batch = pa.table({"region": ["us", "us"], "id": [1, 100], "v": [5, 6]})
        merge(lake, batch, hints(pk=("region", "id")))
        assert len({path for path, _ in read_spy}) == 1
        table = fresh(lake)
        rows = {(r["region"], r["id"]): r["v"] for r in table.scan().to_arrow().to_pylist()}
        assert len(rows) == 13 and rows[("us", 1)] == 5 and rows[("us", 100)] == 6
        assert {t.file.partition[0] for t in table.scan().plan_files()} == {"eu", "us", "ap"}

    def test_empty_batch_commits_one_snapshot_and_changes_no_row(self, lake: CatalogConfig) -> None:
        clustered_table(lake, files=1, per_file=3)
        before = rows_of(fresh(lake))
        empty = pa.table({"id": pa.array([], pa.int64()), "v": pa.array([], pa.string())})
        merge(lake, empty, hints(), "EMPTY")
        table = fresh(lake)
        assert rows_of(table) == before
        assert table.current_snapshot().summary["floe.load-id"] == "EMPTY"  # type: ignore[union-attr]


# -- against a reference model ------------------------------------------------------------


def reference_merge(
    table: dict[Any, Row], batch: list[Row], strategy: str, key: Callable[[Row], Any]
) -> dict[Any, Row]:
    """dlt's merge semantics over plain dicts; the last row of a key in a batch wins."""
    winners: dict[Any, Row] = {}
    for row in batch:
        winners.pop(key(row), None)
        winners[key(row)] = row
    result = dict(table)
    if strategy == "delete-insert":
        for row in batch:
            result.pop(key(row), None)
    for k, row in winners.items():
        if strategy == "insert-only":
            if k not in result and not row["gone"]:
                result[k] = row
            continue
        result.pop(k, None)
        if not row["gone"]:
            result[k] = row
    return result


@pytest.mark.parametrize("group_rows", [None, 7], ids=["one-row-group", "row-groups-of-7"])
@pytest.mark.parametrize("strategy", ["upsert", "insert-only", "delete-insert"])
@pytest.mark.parametrize("pk", [("id",), ("id", "part")])
def test_random_batches_match_the_reference(
    lake: CatalogConfig, strategy: str, pk: tuple[str, ...], group_rows: int | None
) -> None:
    """Small row groups take the row-group paths: key reads pruned by row-group statistics,
    untouched row groups copied."""
    rng = random.Random(f"{strategy}-{pk}")
    properties = {"write.parquet.row-group-limit": str(group_rows)} if group_rows else None

    def key(row: Row) -> Any:
        return tuple(row[c] for c in pk)

    expected: dict[Any, Row] = {}
    for load in range(4):
        # with small row groups, later batches keep to a window of ids: most row groups of a
        # file then hold none of them (pruned by their statistics, copied untouched)
        low, span = (rng.choice([0, 20, 40]), 20) if group_rows and load else (0, 60)
        batch = [
            {
                "id": low + rng.randrange(span),
                "part": rng.choice(["a", "b"]),
                "v": rng.choice([None, rng.randrange(1000)]),
                "s": rng.choice([None, "x", "y"]),
                "gone": rng.random() < 0.15 if load else False,
            }
            for _ in range(40)
        ]
        if len(pk) == 1:  # one part per id, so both key shapes see the same rows
            for row in batch:
                row["part"] = "ab"[row["id"] % 2]
        arrow = pa.Table.from_pylist(
            batch,
            schema=pa.schema(
                [
                    ("id", pa.int64()),
                    ("part", pa.string()),
                    ("v", pa.int64()),
                    ("s", pa.string()),
                    ("gone", pa.bool_()),
                ]
            ),
        )
        load_hints = hints(strategy, pk=pk, gone={"hard_delete": True})
        merge(lake, arrow, load_hints, f"L{load}", properties)
        expected = reference_merge(expected, batch, strategy, key)
        table = fresh(lake)
        assert len(table.metadata.snapshots) == load + 1
        actual = sorted(table.scan().to_arrow().to_pylist(), key=key)
        assert actual == sorted(expected.values(), key=key), f"after load {load}"


@pytest.mark.parametrize("materialized", [False, True])
def test_sorted_values_bisect_like_the_python_list(materialized: bool) -> None:
    import bisect

    from pyiceberg.types import LongType

    rng = random.Random(7)
    raw = [rng.randrange(1_000) for _ in range(500)] + [None]
    values = merge_files._comparable_values(pa.array(raw, pa.int32()), LongType())
    assert values is not None
    if materialized:
        values.materialize()
    expected = sorted(v for v in raw if v is not None)
    assert len(values) == len(expected) and values[0] == expected[0] and values[-1] == expected[-1]
    assert values[10:13] == expected[10:13]
    for probe in (-1, 0, 17, 500, 999, 1_000, 5_000):
        assert bisect.bisect_left(values, probe) == bisect.bisect_left(expected, probe)
