"""Append fast path: dlt's Parquet files become the table's data files, one snapshot per load.

Everything is checked through a separate PyIceberg client: rows, types, snapshot count and
summary, and which data files the table references.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table
from pyiceberg.types import IntegerType, LongType, StringType, TimestamptzType

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.destination.file_registration import inspect_parquet_files
from tests.helpers import embedded_plugin, files_config, read_table, snapshot_count, user_rows

pytestmark = [pytest.mark.integration, pytest.mark.supported_range]

UTC = dt.UTC


def _orders(ids: range, **extra: pa.Array) -> pa.Table:
    n = len(ids)
    columns: dict[str, pa.Array] = {
        "id": pa.array(list(ids), pa.int64()),
        "qty": pa.array([i % 7 for i in ids], pa.int32()),
        "note": pa.array([f"n{i}" for i in ids]),
        "at": pa.array(
            [dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(hours=i) for i in ids],
            pa.timestamp("us", tz="UTC"),
        ),
    }
    columns.update(extra)
    assert all(len(c) == n for c in columns.values())
    return pa.table(columns)


def _load(plugin: DltIngestionPlugin, folder: Path, table: str = "bronze.orders", **kw: object):
    pipeline = plugin.create_pipeline(files_config(folder, "*.parquet", table=table, **kw))
    outcome = plugin.run_with_outcome(pipeline)
    assert outcome.success, outcome.errors
    return outcome


def _data_files(table: Table) -> list[str]:
    return [task.file.file_path for task in table.scan().plan_files()]


def _write(folder: Path, data: pa.Table, name: str = "part.parquet") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(data, folder / name)


def test_append_registers_dlt_files_with_one_snapshot_and_floe_summary(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    data = _orders(range(1, 2001))
    _write(tmp_path / "in", data)

    outcome = _load(plugin, tmp_path / "in")

    table = read_table(plugin, "bronze.orders")
    assert snapshot_count(table) == 1
    summary = table.current_snapshot().summary  # type: ignore[union-attr]
    assert summary.operation.value == "append"
    assert summary["floe.load-id"] == outcome.load_ids[0]
    assert summary["floe.rows-loaded"] == "2000"
    assert summary["floe.pipeline-name"] == "floe__bronze__orders"
    assert outcome.rows_loaded == 2000
    # the registered file is a copy of dlt's file, not a PyIceberg rewrite (00000-0-<uuid>)
    files = _data_files(table)
    assert len(files) == 1 and not Path(files[0]).name.startswith("00000-")
    assert table.metadata.name_mapping() is not None
    schema = table.schema()
    assert isinstance(schema.find_field("id").field_type, LongType)
    assert isinstance(schema.find_field("qty").field_type, IntegerType)
    assert isinstance(schema.find_field("note").field_type, StringType)
    assert isinstance(schema.find_field("at").field_type, TimestamptzType)
    assert user_rows(table.scan().to_arrow()) == data.to_pylist()


def test_second_append_with_a_new_column_evolves_and_registers(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    _write(tmp_path / "a", _orders(range(1, 11)))
    _load(plugin, tmp_path / "a")
    extra = pa.array([f"c{i}" for i in range(11, 21)])
    _write(tmp_path / "b", _orders(range(11, 21), channel=extra))

    _load(plugin, tmp_path / "b")

    table = read_table(plugin, "bronze.orders")
    assert snapshot_count(table) == 2
    assert all(not Path(f).name.startswith("00000-") for f in _data_files(table))
    rows = user_rows(table.scan().to_arrow())
    assert [r["id"] for r in rows] == list(range(1, 21))
    assert [r["channel"] for r in rows[:10]] == [None] * 10
    assert [r["channel"] for r in rows[10:]] == [f"c{i}" for i in range(11, 21)]


def test_narrower_type_than_the_table_falls_back_to_rewrite(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    _write(tmp_path / "a", _orders(range(1, 6)))
    _load(plugin, tmp_path / "a")
    narrow = _orders(range(6, 11)).set_column(0, "id", pa.array(range(6, 11), pa.int32()))
    _write(tmp_path / "b", narrow)

    _load(plugin, tmp_path / "b")

    table = read_table(plugin, "bronze.orders")
    assert snapshot_count(table) == 2
    assert isinstance(table.schema().find_field("id").field_type, LongType)
    # the second load was cast to the table's long and written by PyIceberg
    assert sum(Path(f).name.startswith("00000-") for f in _data_files(table)) == 1
    assert [r["id"] for r in user_rows(table.scan().to_arrow())] == list(range(1, 11))


def test_frozen_contract_refuses_a_new_column_before_copying_anything(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    _write(tmp_path / "a", _orders(range(1, 6)))
    _load(plugin, tmp_path / "a")
    table = read_table(plugin, "bronze.orders")
    data_dir = Path(table.location().removeprefix("file://")) / "data"
    before = sorted(data_dir.iterdir())
    _write(tmp_path / "b", _orders(range(6, 11), extra=pa.array([1] * 5)))

    config = files_config(tmp_path / "b", "*.parquet", table="bronze.orders")
    config.schema_contract = "freeze"
    pipeline = plugin.create_pipeline(config)
    outcome = plugin.run_with_outcome(pipeline)

    assert not outcome.success
    assert "extra" in " ".join(outcome.errors)
    table = read_table(plugin, "bronze.orders")
    assert snapshot_count(table) == 1
    assert sorted(data_dir.iterdir()) == before


def _write_spec_exact(folder: Path, data: pa.Table, name: str) -> str:
    """``data`` written as dlt's writers write for the Iceberg destination (ids, µs, int decimals)."""
    from floe_ingestion_dlt.destination.data_files import to_iceberg_arrow, with_field_ids

    folder.mkdir(parents=True, exist_ok=True)
    exact = to_iceberg_arrow(data)
    exact = exact.cast(with_field_ids(exact.schema))
    pq.write_table(exact, folder / name, store_decimal_as_integer=True)
    return str(folder / name)


def test_inspect_refuses_files_whose_schemas_differ(tmp_path: Path) -> None:
    a = _write_spec_exact(tmp_path, _orders(range(1, 3)), "a.parquet")
    b = _write_spec_exact(tmp_path, _orders(range(3, 5), more=pa.array([1, 2])), "b.parquet")

    assert inspect_parquet_files([a, b]) is None
    same = inspect_parquet_files([a, a])
    assert same is not None and same.num_rows == 4
    assert all(f.nullable for f in same.schema)


def test_inspect_refuses_files_without_field_ids_or_with_millisecond_timestamps(
    tmp_path: Path,
) -> None:
    _write(tmp_path, _orders(range(1, 3)), "plain.parquet")
    millis = _orders(range(1, 3))
    millis = millis.set_column(3, "at", millis.column("at").cast(pa.timestamp("ms", tz="UTC")))
    _write(tmp_path, millis, "millis.parquet")

    assert inspect_parquet_files([str(tmp_path / "plain.parquet")]) is None
    assert inspect_parquet_files([str(tmp_path / "millis.parquet")]) is None
    assert inspect_parquet_files([_write_spec_exact(tmp_path, millis, "exact.parquet")])


def test_decimals_and_nested_columns_are_registered_spec_exact(tmp_path: Path) -> None:
    import decimal

    amounts = pa.array([decimal.Decimal("1.25"), decimal.Decimal("2.50")], pa.decimal128(9, 2))
    tags = pa.array(
        [[{"k": "a", "v": 1}], []], pa.list_(pa.struct([("k", pa.string()), ("v", pa.int64())]))
    )
    _write(tmp_path / "in", _orders(range(1, 3), amount=amounts, tags=tags))
    plugin = embedded_plugin(tmp_path)

    _load(plugin, tmp_path / "in")

    table = read_table(plugin, "bronze.orders")
    assert snapshot_count(table) == 1
    files = _data_files(table)
    # dlt wrote the file spec-exact, so it was registered, not rewritten by PyIceberg
    assert files and not any(Path(f).name.startswith("00000-") for f in files)
    footer = pq.read_metadata(files[0].removeprefix("file://")).schema
    amount = footer.column(footer.names.index("amount"))
    assert amount.physical_type == "INT32" and amount.logical_type.type == "DECIMAL"
    rows = user_rows(table.scan().to_arrow())
    assert [r["amount"] for r in rows] == [decimal.Decimal("1.25"), decimal.Decimal("2.50")]
    assert [r["tags"] for r in rows] == [[{"k": "a", "v": 1}], []]
