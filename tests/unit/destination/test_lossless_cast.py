"""``cast_losslessly``: values that read back the same are kept, the others become NULL."""

from __future__ import annotations

import pyarrow as pa

from floe_ingestion_dlt.destination.lossless_cast import cast_losslessly


def test_whole_column_cast_when_every_value_fits() -> None:
    cast, dropped = cast_losslessly(pa.array([4, None, 7]), pa.float64())
    assert cast.to_pylist() == [4.0, None, 7.0] and dropped == 0


def test_values_without_a_lossless_cast_are_dropped_one_by_one() -> None:
    cast, dropped = cast_losslessly(pa.array(["30", "abc", None, "030"]), pa.int64())
    assert cast.to_pylist() == [30, None, None, None] and dropped == 2
    cast, dropped = cast_losslessly(pa.array([1, 2**53 + 1]), pa.float64())
    assert cast.to_pylist() == [1.0, None] and dropped == 1
    cast, dropped = cast_losslessly(pa.array([30, 31]), pa.string())
    assert cast.to_pylist() == ["30", "31"] and dropped == 0
    cast, dropped = cast_losslessly(pa.array([4.0, 4.5]), pa.int64())
    assert cast.to_pylist() == [4, None] and dropped == 1
