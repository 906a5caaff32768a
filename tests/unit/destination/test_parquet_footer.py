"""The Thrift compact codec of Parquet footers, and files assembled from copied row groups."""

from __future__ import annotations

import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from floe_ingestion_dlt.destination.parquet_footer import (
    FMD_ROW_GROUPS,
    ParquetFileBuilder,
    ThriftList,
    ThriftStruct,
    decode_struct,
    encode_struct,
    read_footer,
)

ROWS = 3_000


def _table() -> pa.Table:
    ids = list(range(ROWS))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": [f"n{i}" if i % 7 else None for i in ids],
            "at": pa.array([i * 1_000_001 for i in ids], pa.timestamp("us", tz="UTC")),
            "amount": pa.array([i / 4 for i in ids], pa.float64()).cast(pa.decimal128(9, 2)),
            "tags": [[f"t{j}" for j in range(i % 3)] for i in ids],
            "attrs": [{"k": f"k{i}", "v": i} if i % 5 else None for i in ids],
            "props": pa.array([[("a", i)] for i in ids], pa.map_(pa.string(), pa.int64())),
            "flag": [i % 2 == 0 for i in ids],
        }
    )


def _parquet(table: pa.Table, **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=1_000, compression="zstd", **options)
    return sink.getvalue()


def _raw_footer(data: bytes) -> bytes:
    length = int.from_bytes(data[-8:-4], "little")
    return data[-8 - length : -8]


@pytest.mark.parametrize(
    "options",
    [{}, {"write_page_index": True}, {"write_statistics": False}, {"use_dictionary": False}],
)
def test_footers_round_trip_byte_for_byte(options: dict[str, Any]) -> None:
    data = _parquet(_table(), **options)
    assert encode_struct(read_footer(data)) == _raw_footer(data)


def test_every_compact_type_round_trips() -> None:
    inner = ThriftStruct({1: (5, -7)})
    value = ThriftStruct(
        {
            1: (1, True),
            2: (1, False),
            3: (3, -3),
            4: (4, 300),
            5: (5, -(2**31)),
            6: (6, 2**62),
            7: (7, 1.5),
            8: (8, b"\x00bytes"),
            9: (9, ThriftList(5, list(range(20)))),
            10: (9, ThriftList(1, [True, False, True])),
            40: (12, inner),  # a field id jump > 15: long field header
            41: (11, ((8 << 4) | 6, [(b"k", 1), (b"l", -2)])),
            42: (11, (0, [])),
        }
    )
    assert decode_struct(encode_struct(value)) == value


def test_copied_row_groups_read_back_in_their_new_order() -> None:
    table = _table()
    data = _parquet(table, write_page_index=True)
    groups = read_footer(data).get(FMD_ROW_GROUPS).items
    builder = ParquetFileBuilder()
    for index in (2, 0):
        builder.copy_row_group(data, groups[index])
    assembled = builder.finish(read_footer(data))
    read = pq.read_table(pa.BufferReader(assembled))
    assert read.equals(pa.concat_tables([table.slice(2_000, 1_000), table.slice(0, 1_000)]))
    metadata = pq.read_metadata(pa.BufferReader(assembled))
    assert metadata.num_rows == 2_000
    assert (
        metadata.schema.to_arrow_schema()
        == pq.read_metadata(pa.BufferReader(data)).schema.to_arrow_schema()
    )
    stats = metadata.row_group(1).column(0).statistics
    assert (stats.min, stats.max) == (0, 999)  # statistics carried with the row group


def test_a_builder_with_a_sink_writes_in_chunks_as_it_goes() -> None:
    data = _parquet(_table())
    groups = read_footer(data).get(FMD_ROW_GROUPS).items
    sink = io.BytesIO()
    writes: list[int] = []
    original_write = sink.write
    sink.write = lambda chunk: writes.append(len(chunk)) or original_write(chunk)  # type: ignore[method-assign]
    builder = ParquetFileBuilder(sink=sink, chunk_bytes=1_000)
    builder.copy_row_group(data, groups[1])
    assert len(sink.getvalue()) > 1_000  # written before the file is complete
    builder.copy_row_group(data, groups[2])
    assembled = builder.assemble(read_footer(data))
    whole = sink.getvalue()
    assert len(whole) == assembled.size and whole.endswith(assembled.tail)
    assert assembled.pieces == () and max(writes) <= 1_000
    with pytest.raises(ValueError, match="written as it was built"):
        assembled.to_bytes()
    from_footer = pq.read_metadata(pa.BufferReader(assembled.footer_file()))
    assert from_footer.to_dict() == pq.read_metadata(pa.BufferReader(whole)).to_dict()
    assert pq.read_table(pa.BufferReader(whole)).equals(
        pa.concat_tables([_table().slice(1_000, 1_000), _table().slice(2_000, 1_000)])
    )


def test_not_a_parquet_file_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Parquet file"):
        read_footer(b"PAR1 nothing here")
