"""Table layout declared in configuration: partition spec, sort order, file size, properties.

Runs the real plugin (files -> dlt -> embedded Iceberg catalog) and reads every table back
through a new PyIceberg client: rows exactly as expected, the declared spec and sort order on
the table, every data file holding only rows of its partition and sorted in the declared order,
one snapshot per run, and a later configuration change evolving the table in that run's commit.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.layout import PartitionField
from tests.helpers import embedded_plugin, files_config, fresh_catalog, read_table

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

Row = dict[str, Any]
TABLE = "bronze.events"
SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("name", pa.string()),
        ("region", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("amount", pa.float64()),
    ]
)
START = datetime(2024, 12, 30, 22, 0, tzinfo=UTC)


def _rows(ids: range, version: int) -> list[Row]:
    return [
        {
            "id": i,
            "name": None if i % 7 == 0 else f"n{(i * 37) % 50:02d}-{version}",
            "region": ["eu", "us", "apac"][i % 3],
            "ts": START + timedelta(hours=(i * 5) % 100, minutes=version),
            "amount": float(i * version),
        }
        for i in ids
    ]


FIRST = _rows(range(0, 120), 1)
SECOND = _rows(range(80, 200), 2)  # 40 updates of existing ids, 80 new ids

LAYOUTS: dict[str, dict[str, Any]] = {
    "identity-day-bucket": {
        "partition_by": ["region", "day(ts)", "bucket(4, id)"],
        "sort_order": ["id desc"],
    },
    "month-truncate": {
        "partition_by": ["month(ts)", "truncate(2, name)"],
        "sort_order": ["name nulls last", "id"],
    },
    "year": {"partition_by": ["year(ts)"], "sort_order": ["amount desc"]},
    "hour": {"partition_by": ["hour(ts)"]},
}
CASES = [
    ("append", "identity-day-bucket"),
    ("replace", "identity-day-bucket"),
    ("merge", "identity-day-bucket"),
    ("append", "month-truncate"),
    ("replace", "month-truncate"),
    ("merge", "month-truncate"),
    ("merge", "year"),
    ("append", "hour"),
]


class Lake:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.plugin: DltIngestionPlugin = embedded_plugin(tmp_path)
        self.batches = 0

    def load(self, rows: list[Row], write_mode: str, **source: Any) -> Any:
        self.batches += 1
        folder = self.root / f"batch-{self.batches}"
        folder.mkdir()
        pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "rows.parquet")
        if write_mode == "merge":
            source.setdefault("primary_key", "id")
        config = files_config(folder, "*.parquet", TABLE, write_mode, **source)
        result = self.plugin.run(self.plugin.create_pipeline(config))
        assert result.success, result.errors
        return result

    def table(self) -> Table:
        return read_table(self.plugin, TABLE)


def _expected(mode: str) -> list[Row]:
    if mode == "append":
        rows = FIRST + SECOND
    elif mode == "replace":
        rows = SECOND
    else:
        by_id = {r["id"]: r for r in FIRST}
        by_id.update({r["id"]: r for r in SECOND})
        rows = list(by_id.values())
    return sorted(rows, key=lambda r: (r["id"], r["amount"]))


def _user_rows(table: pa.Table) -> list[Row]:
    keep = [f.name for f in SCHEMA]
    return sorted(table.select(keep).to_pylist(), key=lambda r: (r["id"], r["amount"]))


def _sort_value(value: Any, nulls_last: bool) -> tuple[int, Any]:
    return ((1 if nulls_last else -1) if value is None else 0, value if value is not None else 0)


def _assert_files_follow_layout(table: Table, layout: dict[str, Any]) -> None:
    """Every current data file: one partition value per field, rows in the sort order."""
    spec = table.spec()
    schema = table.schema()
    sort_fields = [s.strip().split() for s in layout.get("sort_order", [])]
    for task in table.scan().plan_files():
        assert task.file.spec_id == spec.spec_id
        rows = pq.ParquetFile(task.file.file_path.removeprefix("file://")).read()
        for field in spec.fields:
            column = schema.find_column_name(field.source_id)
            assert column is not None
            transformed = {
                field.transform.transform(schema.find_type(field.source_id))(_to_iceberg(v, column))
                for v in rows.column(column).to_pylist()
            }
            assert transformed == {task.file.partition[spec.fields.index(field)]}, field
        if sort_fields:
            values = rows.to_pylist()
            for a, b in itertools.pairwise(values):
                assert _compare(a, b, sort_fields) <= 0, (a, b)


def _compare(a: Row, b: Row, sort_fields: list[list[str]]) -> int:
    """Iceberg's order of two rows: fields in turn, NULLs first ascending / last descending."""
    for parts in sort_fields:
        column, desc = parts[0], len(parts) > 1 and parts[1] == "desc"
        nulls_first = "first" in parts or ("last" not in parts and not desc)
        va, vb = a[column], b[column]
        if va == vb:
            continue
        if va is None or vb is None:
            return (-1 if va is None else 1) * (1 if nulls_first else -1)
        result = -1 if va < vb else 1
        return -result if desc else result
    return 0


def _to_iceberg(value: Any, column: str) -> Any:
    """A Python value as PyIceberg's transforms take it (timestamps as microseconds)."""
    if isinstance(value, datetime):
        return int((value - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
    return value


@pytest.mark.parametrize(("mode", "layout_name"), CASES)
def test_partitioned_sorted_table_reads_back_exactly(
    tmp_path: Path, mode: str, layout_name: str
) -> None:
    layout = LAYOUTS[layout_name]
    lake = Lake(tmp_path)
    lake.load(FIRST, mode, **layout)
    lake.load(SECOND, mode, **layout)
    table = lake.table()
    assert _user_rows(table.scan().to_arrow()) == _expected(mode)
    assert len(table.metadata.snapshots) == 2
    declared = [PartitionField.parse(p) for p in layout["partition_by"]]
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [
        (p.field_name, p.transform) for p in declared
    ]
    assert len(table.sort_order().fields) == len(layout.get("sort_order", []))
    _assert_files_follow_layout(table, layout)


def test_layout_evolves_in_the_commit_of_the_run_that_changes_it(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.load(FIRST, "merge", partition_by=["day(ts)"], sort_order=["id"])
    table = lake.table()
    first_spec = table.spec().spec_id
    specs_before = len(table.specs())
    first_files = {t.file.file_path for t in table.scan().plan_files()}
    new_layout = {
        "partition_by": ["region", "bucket(8, id)"],
        "sort_order": ["amount desc"],
        "target_file_size_mb": 64,
        "table_properties": {"write.parquet.compression-codec": "zstd", "owner": "team-a"},
    }
    lake.load(SECOND, "merge", **new_layout)
    table = lake.table()
    assert len(table.metadata.snapshots) == 2  # the evolution is part of the load's commit
    assert len(table.specs()) == specs_before + 1 and table.spec().spec_id != first_spec
    assert [f.name for f in table.spec().fields] == ["region", "id_bucket_8"]
    assert table.properties["write.target-file-size-bytes"] == str(64 * 1024 * 1024)
    assert table.properties["owner"] == "team-a"
    assert _user_rows(table.scan().to_arrow()) == _expected("merge")
    new_files = [t.file for t in table.scan().plan_files() if t.file.file_path not in first_files]
    assert new_files and all(f.spec_id == table.spec().spec_id for f in new_files)
    # the same layout again changes nothing but the data
    metadata_before = table.metadata
    lake.load(_rows(range(500, 510), 3), "append", **new_layout)
    table = lake.table()
    assert table.spec().spec_id == metadata_before.default_spec_id
    assert table.sort_order().order_id == metadata_before.default_sort_order_id
    assert len(table.metadata.partition_specs) == len(metadata_before.partition_specs)
    # an empty list makes the table unpartitioned and unsorted from then on
    lake.load(_rows(range(600, 610), 4), "append", partition_by=[], sort_order=[])
    table = lake.table()
    assert table.spec().is_unpartitioned() and table.sort_order().is_unsorted
    assert table.scan().count() == len(_expected("merge")) + 20


def test_merge_prunes_files_by_partition_of_the_key(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.load(FIRST, "merge", partition_by=["truncate(20, id)"])
    assert len(list(lake.table().scan().plan_files())) == 6
    lake.load(_rows(range(41, 44), 9), "merge", partition_by=["truncate(20, id)"])
    table = lake.table()
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary["floe.merge.files-planned"] == "1"
    assert summary["floe.merge.files-rewritten"] == "1"
    expected = {r["id"]: r for r in FIRST} | {r["id"]: r for r in _rows(range(41, 44), 9)}
    got = _user_rows(table.scan().to_arrow())
    assert got == sorted(expected.values(), key=lambda r: (r["id"], r["amount"]))


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("partition_by", ["day(ts"], "partition field"),
        ("partition_by", ["bucket(0, id)"], "positive"),
        ("partition_by", ["week(ts)"], "partition field"),
        ("sort_order", ["id sideways"], "sort_order"),
        ("target_file_size_mb", -1, "target_file_size_mb"),
    ],
)
def test_bad_layout_is_a_configuration_error_naming_the_field(
    tmp_path: Path, key: str, value: Any, needle: str
) -> None:
    lake = Lake(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(FIRST, schema=SCHEMA), folder / "rows.parquet")
    with pytest.raises(ValidationError) as info:
        lake.plugin.create_pipeline(files_config(folder, "*.parquet", TABLE, **{key: value}))
    assert info.value.field == f"source_config.{key}"
    assert needle in str(info.value)


def test_unknown_partition_column_fails_the_run_and_writes_nothing(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    folder = tmp_path / "data"
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(FIRST, schema=SCHEMA), folder / "rows.parquet")
    pipeline = lake.plugin.create_pipeline(
        files_config(folder, "*.parquet", TABLE, partition_by=["day(created)"])
    )
    result = lake.plugin.run(pipeline)
    assert not result.success
    assert "created" in " ".join(result.errors)
    assert not fresh_catalog(lake.plugin).table_exists(TABLE)


def test_yaml_source_level_layout_keys_reach_source_config() -> None:
    from floe_ingestion_dlt.config import IngestionSourceConfig

    source = IngestionSourceConfig.model_validate(
        {
            "name": "events",
            "source_type": "filesystem",
            "source_config": {"bucket_url": "/x", "file_glob": "*.parquet"},
            "destination_table": TABLE,
            "partition_by": ["day(ts)"],
            "sort_order": "id",
            "maintenance": {"compact": True},
        }
    )
    merged = source.effective_source_config()
    assert merged["partition_by"] == ["day(ts)"]
    assert merged["sort_order"] == "id"
    assert merged["maintenance"] == {"compact": True}
