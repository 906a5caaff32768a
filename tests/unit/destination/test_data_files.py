"""Spec-exact Parquet from dlt's writers (``destination/data_files``)."""

from __future__ import annotations

import datetime as dt
import decimal
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.common.destination.capabilities import DestinationCapabilitiesContext

from floe_ingestion_dlt.destination.data_files import (
    IcebergArrowParquetWriter,
    IcebergObjectParquetWriter,
    IcebergParquetFormat,
    iceberg_arrow_type,
    to_iceberg_arrow,
    with_field_ids,
)


def _caps(iceberg: bool) -> DestinationCapabilitiesContext:
    caps = DestinationCapabilitiesContext.generic_capabilities("parquet")
    if iceberg:
        caps.parquet_format = IcebergParquetFormat()
    return caps


def _logical(path: Any, column: str) -> dict[str, Any]:
    schema = pq.read_metadata(path).schema
    index = [schema.column(i).path for i in range(len(schema))].index(column)
    return dict(json.loads(schema.column(index).logical_type.to_json()))


@pytest.mark.parametrize(
    ("source", "written"),
    [
        (pa.timestamp("s"), pa.timestamp("us")),
        (pa.timestamp("ms", "UTC"), pa.timestamp("us", "UTC")),
        (pa.timestamp("ns", "UTC"), pa.timestamp("us", "UTC")),
        (pa.time32("ms"), pa.time64("us")),
        (pa.time64("ns"), pa.time64("us")),
        (pa.date64(), pa.date32()),
        (pa.dictionary(pa.int32(), pa.string()), pa.string()),
        (pa.uint32(), pa.int64()),
        (pa.list_(pa.timestamp("ms")), pa.list_(pa.timestamp("us"))),
        (pa.decimal128(9, 2), pa.decimal128(9, 2)),
    ],
)
def test_iceberg_arrow_types(source: pa.DataType, written: pa.DataType) -> None:
    assert iceberg_arrow_type(source) == written


def test_millisecond_and_second_values_are_upcast_exactly() -> None:
    at = dt.datetime(2023, 5, 1, 10, 0, 0, 123000, tzinfo=dt.UTC)
    data = pa.table({"at": pa.array([at], pa.timestamp("ms", "UTC"))})
    assert to_iceberg_arrow(data).column("at").to_pylist() == [at]


def test_nanoseconds_are_truncated_to_microseconds_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = 1_682_935_200_000_000_000  # 2023-05-01T10:00:00Z in ns
    data = pa.table({"at": pa.array([base + 1_999, base + 3_000], pa.timestamp("ns", "UTC"))})
    result = to_iceberg_arrow(data, "bronze.t")
    assert result.column("at").cast(pa.int64()).to_pylist() == [base // 1000 + 1, base // 1000 + 3]
    out = capsys.readouterr().out
    assert "nanosecond values truncated to microseconds" in out and "at" in out


def test_exact_nanoseconds_convert_without_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    data = pa.table({"at": pa.array([3_000, 4_000], pa.timestamp("ns"))})
    assert to_iceberg_arrow(data).column("at").cast(pa.int64()).to_pylist() == [3, 4]
    assert "truncated" not in capsys.readouterr().out


def test_field_ids_follow_icebergs_fresh_assignment() -> None:
    from pyiceberg.io.pyarrow import _ConvertToIcebergWithoutIDs, visit_pyarrow
    from pyiceberg.schema import assign_fresh_schema_ids

    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("tags", pa.list_(pa.string())),
            ("attrs", pa.struct([("k", pa.string()), ("m", pa.map_(pa.string(), pa.int64()))])),
            ("at", pa.timestamp("us")),
        ]
    )
    iceberg = assign_fresh_schema_ids(visit_pyarrow(schema, _ConvertToIcebergWithoutIDs()))
    ids = with_field_ids(schema)

    def field_id(field: pa.Field) -> int:
        return int(field.metadata[b"PARQUET:field_id"])

    assert [field_id(f) for f in ids] == [iceberg.find_field(n).field_id for n in schema.names]
    assert (
        field_id(ids.field("tags").type.value_field) == iceberg.find_field("tags.element").field_id
    )
    attrs = ids.field("attrs").type
    assert field_id(attrs.field("k")) == iceberg.find_field("attrs.k").field_id
    assert (
        field_id(attrs.field("m").type.item_field) == iceberg.find_field("attrs.m.value").field_id
    )


def _write_arrow(iceberg: bool, table: pa.Table, path: Path) -> None:
    with path.open("wb") as f:
        writer = IcebergArrowParquetWriter(f, caps=_caps(iceberg))
        writer.write_header({})
        writer.write_data([table])
        writer.close()


def test_arrow_writer_writes_spec_exact_files_for_the_iceberg_destination(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array([1, 2], pa.int64()),
            "at": pa.array([1_000, 2_000], pa.timestamp("ms", "UTC")),
            "amount": pa.array([decimal.Decimal("1.25"), None], pa.decimal128(9, 2)),
            "tags": pa.array([["a"], []], pa.list_(pa.string())),
        }
    )
    path = tmp_path / "ours.parquet"
    _write_arrow(True, table, path)

    schema = pq.read_schema(path)
    assert [f.metadata[b"PARQUET:field_id"] for f in schema] == [b"1", b"2", b"3", b"4"]
    assert schema.field("tags").type.value_field.metadata[b"PARQUET:field_id"] == b"5"
    assert _logical(path, "at")["timeUnit"] == "microseconds"
    metadata = pq.read_metadata(path)
    amount = metadata.schema.column(2)
    assert amount.physical_type == "INT32"
    assert metadata.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_table(path).column("at").cast(pa.int64()).to_pylist() == [1_000_000, 2_000_000]


def test_the_writers_are_dlts_own_for_other_destinations(tmp_path: Path) -> None:
    table = pa.table({"at": pa.array([1_000], pa.timestamp("ms"))})
    path = tmp_path / "theirs.parquet"
    _write_arrow(False, table, path)
    assert pq.read_schema(path).field("at").metadata is None
    assert _logical(path, "at")["timeUnit"] == "milliseconds"


def test_object_writer_builds_rows_in_iceberg_types() -> None:
    columns = {
        "id": {"name": "id", "data_type": "bigint"},
        "at": {"name": "at", "data_type": "timestamp", "precision": 3},
        "clock": {"name": "clock", "data_type": "time"},
    }
    sink = io.BytesIO()
    writer = IcebergObjectParquetWriter(sink, caps=_caps(True))
    writer.write_header(columns)  # type: ignore[arg-type]
    at = dt.datetime(2023, 5, 1, 10, 0, 0, 5000, tzinfo=dt.UTC)
    writer.write_data([{"id": 1, "at": at, "clock": dt.time(1, 2, 3, 4)}])
    writer.close()
    sink.seek(0)
    schema = pq.read_schema(sink)
    assert schema.field("at").type == pa.timestamp("us", "UTC")
    assert schema.field("clock").type == pa.time64("us")
    assert all(f.metadata and b"PARQUET:field_id" in f.metadata for f in schema)
