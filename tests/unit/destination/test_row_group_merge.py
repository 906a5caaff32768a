"""Merges into a file of several row groups: untouched row groups copied verbatim.

Real PyIceberg tables (embedded SQL catalog); results read back through a new catalog client
and compared with the rows computed in Python; the assembled file's footer and manifest
entry checked against what pyarrow reads from it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.conversions import from_bytes
from pyiceberg.table import Table
from pyiceberg.types import LongType

from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination import rewrite_files
from floe_ingestion_dlt.destination.schema_contract import prepare_arrow_data
from tests.unit.destination.test_merge_rows import IDENT, fresh, hints, merge, rows_of

Row = dict[str, Any]
GROUP_ROWS = 100
GROUPS = 5
COPIED = "floe.merge.files-row-groups-copied"


@pytest.fixture
def lake(tmp_path: Path) -> CatalogConfig:
    config = CatalogConfig.embedded(tmp_path / "lake")
    load_catalog(config).create_namespace("ns")
    return config


def _rows(ids: range | list[int], label: str) -> list[Row]:
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    return [
        {"id": i, "grp": i // GROUP_ROWS, "v": f"{label}{i}", "at": start + dt.timedelta(seconds=i)}
        for i in ids
    ]


def _arrow(rows: list[Row]) -> pa.Table:
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("grp", pa.int64()),
            ("v", pa.string()),
            ("at", pa.timestamp("us", "UTC")),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def one_file_table(config: CatalogConfig) -> Table:
    """One data file of ``GROUPS`` row groups of ``GROUP_ROWS`` rows, ids ``0..499``."""
    data = prepare_arrow_data(_arrow(_rows(range(GROUP_ROWS * GROUPS), "old")))
    table = load_catalog(config).create_table(
        IDENT,
        schema=data.schema,
        properties={"write.parquet.row-group-limit": str(GROUP_ROWS)},
    )
    table.append(data)
    return fresh(config)


def _local(path: str) -> str:
    return path.removeprefix("file://")


def _current_files(table: Table) -> list[Any]:
    return [task.file for task in table.scan().plan_files()]


def _summary(table: Table) -> dict[str, str]:
    snapshot = table.current_snapshot()
    assert snapshot is not None
    return dict(snapshot.summary.additional_properties)


def test_an_upsert_copies_the_untouched_row_groups(lake: CatalogConfig) -> None:
    one_file_table(lake)
    batch = _rows([*range(110, 120), 450, 499, 500, 501], "new")
    merge(lake, _arrow(batch), hints())
    table = fresh(lake)
    expected = {r["id"]: r for r in _rows(range(500), "old")} | {r["id"]: r for r in batch}
    assert rows_of(table) == sorted(expected.values(), key=lambda r: r["id"])
    assert _summary(table)[COPIED] == "1"
    assembled = [f for f in _current_files(table) if f.file_path.endswith("-rg.parquet")]
    assert len(assembled) == 1
    data_file = assembled[0]
    metadata = pq.read_metadata(_local(data_file.file_path))
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [
        100, 90, 100, 100, 98,
    ]  # fmt: skip
    assert data_file.record_count == 488
    assert data_file.file_size_in_bytes == Path(_local(data_file.file_path)).stat().st_size
    id_field = table.schema().find_field("id").field_id
    assert from_bytes(LongType(), data_file.lower_bounds[id_field]) == 0
    assert from_bytes(LongType(), data_file.upper_bounds[id_field]) == 498
    assert data_file.null_value_counts[id_field] == 0
    arrow_schema = metadata.schema.to_arrow_schema()
    assert arrow_schema.field("at").type == pa.timestamp("us", tz="UTC")
    assert arrow_schema.field("id").metadata[b"PARQUET:field_id"] == str(id_field).encode()


def test_a_row_group_losing_every_row_is_left_out(lake: CatalogConfig) -> None:
    one_file_table(lake)
    batch = _rows([250, 900], "new")  # delete-insert by grp: every row of group 2 goes
    merge(lake, _arrow(batch), hints("delete-insert", grp={"merge_key": True}), "L2")
    table = fresh(lake)
    kept = [r for r in _rows(range(500), "old") if r["grp"] not in (2, 9)]
    assert rows_of(table) == sorted([*kept, *batch], key=lambda r: r["id"])
    assert _summary(table)[COPIED] == "1"
    assembled = [f for f in _current_files(table) if f.file_path.endswith("-rg.parquet")]
    assert pq.read_metadata(_local(assembled[0].file_path)).num_row_groups == 4


def test_an_evolved_schema_rewrites_the_file_whole(lake: CatalogConfig) -> None:
    one_file_table(lake)
    batch = [{**r, "extra": "x"} for r in _rows([5, 600], "new")]
    merge(
        lake,
        pa.Table.from_pylist(
            batch, schema=_arrow([]).schema.append(pa.field("extra", pa.string()))
        ),
        hints(),
    )
    table = fresh(lake)
    assert _summary(table)[COPIED] == "0"
    rows = {r["id"]: r for r in rows_of(table)}
    assert len(rows) == 501 and rows[5]["extra"] == "x" and rows[6]["extra"] is None


def test_touching_every_row_group_rewrites_the_file_whole(lake: CatalogConfig) -> None:
    one_file_table(lake)
    batch = _rows([0, 100, 200, 300, 400], "new")
    merge(lake, _arrow(batch), hints())
    table = fresh(lake)
    assert _summary(table)[COPIED] == "0"
    expected = {r["id"]: r for r in _rows(range(500), "old")} | {r["id"]: r for r in batch}
    assert rows_of(table) == sorted(expected.values(), key=lambda r: r["id"])


def test_a_failed_merge_leaves_no_assembled_file(
    lake: CatalogConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = one_file_table(lake)
    before = table.current_snapshot()
    folder = Path(_local(_current_files(table)[0].file_path)).parent

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(rewrite_files, "write_parts", fail)
    with pytest.raises(OSError, match="disk full"):
        merge(lake, _arrow(_rows([150, 700], "new")), hints())
    assert not list(folder.glob("*-rg.parquet"))
    assert fresh(lake).current_snapshot() == before


def test_touched_row_groups_encoding_to_another_schema_rewrite_the_file_whole(
    lake: CatalogConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check comes after the untouched row groups before the first touched one were
    written: that partial file is deleted and the merge rewrites the file whole."""
    from floe_ingestion_dlt.destination import row_group_merge

    table = one_file_table(lake)
    folder = Path(_local(_current_files(table)[0].file_path)).parent
    real = row_group_merge._encode_kept_rows

    def other_schema(parquet: Any, pieces: Any, options: dict[str, Any]) -> Any:
        from floe_ingestion_dlt.destination.parquet_footer import FMD_SCHEMA, ThriftList

        data, footer = real(parquet, pieces, options)
        schema = footer.get(FMD_SCHEMA)  # as if one column had come out another way
        footer.set(FMD_SCHEMA, 9, ThriftList(schema.element_type, schema.items[:-1]))
        return data, footer

    monkeypatch.setattr(row_group_merge, "_encode_kept_rows", other_schema)
    batch = _rows([450, 460, 700], "new")  # the last row group only: four are written first
    merge(lake, _arrow(batch), hints())
    table = fresh(lake)
    assert _summary(table)[COPIED] == "0"
    assert not list(folder.glob("*-rg.parquet"))
    expected = {r["id"]: r for r in _rows(range(500), "old")} | {r["id"]: r for r in batch}
    assert rows_of(table) == sorted(expected.values(), key=lambda r: r["id"])


@pytest.mark.parametrize("seed", range(6))
def test_probing_within_the_key_range_finds_what_a_full_probe_finds(seed: int) -> None:
    """``merge._contains`` (range pre-filter) against ``KeySet.contains`` on every row."""
    import random

    from floe_ingestion_dlt.destination.merge import _contains
    from floe_ingestion_dlt.destination.merge_batch import KeySet

    rng = random.Random(seed)
    n = 2_000
    ids = [rng.randrange(0, 5_000) if rng.random() > 0.05 else None for _ in range(n)]
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "code": [None if i is None else f"c{i % 50:03d}" for i in ids],
            "at": pa.array(
                [None if i is None else i * 1_000_000 for i in ids], pa.timestamp("us", "UTC")
            ),
            "score": [rng.random() for _ in range(n)],
        }
    )
    low = rng.randrange(0, 4_000)
    batch_ids = [rng.randrange(low, low + rng.choice([10, 300, 5_000])) for _ in range(200)]
    batch = pa.table(
        {
            "id": pa.array(batch_ids, pa.int64()),
            "code": [f"c{i % 50:03d}" for i in batch_ids],
            "at": pa.array([i * 1_000_000 for i in batch_ids], pa.timestamp("us", "UTC")),
            "score": [0.5] * len(batch_ids),
        }
    )
    for columns in (("id",), ("code",), ("at",), ("score",), ("code", "id"), ("id", "score")):
        key_set = KeySet.of(batch, columns)
        expected = key_set.contains(table).to_pylist()
        assert _contains(key_set, table).to_pylist() == expected, columns


def test_a_partitioned_file_keeps_its_partition(lake: CatalogConfig) -> None:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    data = prepare_arrow_data(_arrow(_rows(range(800), "old")))
    data = data.set_column(1, "grp", pa.array([i % 2 for i in range(800)], pa.int64()))
    catalog = load_catalog(lake)
    schema = catalog.create_table(("ns", "probe"), schema=data.schema).schema()
    spec = PartitionSpec(
        PartitionField(schema.find_field("grp").field_id, 1000, IdentityTransform(), "grp")
    )
    table = catalog.create_table(
        IDENT,
        schema=schema,
        partition_spec=spec,
        properties={"write.parquet.row-group-limit": str(GROUP_ROWS)},
    )
    table.append(data)
    batch = [{**r, "grp": r["id"] % 2} for r in _rows([2, 4, 900], "new")]
    merge(lake, _arrow(batch), hints())
    table = fresh(lake)
    assert _summary(table)[COPIED] == "1"  # grp 0's file; grp 1's file is not touched
    expected = {r["id"]: {**r, "grp": r["id"] % 2} for r in _rows(range(800), "old")}
    expected |= {r["id"]: r for r in batch}
    assert rows_of(table) == sorted(expected.values(), key=lambda r: r["id"])
    assembled = [f for f in _current_files(table) if f.file_path.endswith("-rg.parquet")]
    assert len(assembled) == 1 and assembled[0].partition[0] == 0
    assert assembled[0].spec_id == table.spec().spec_id
    assert table.scan(row_filter="grp = 0").to_arrow().num_rows == 401
