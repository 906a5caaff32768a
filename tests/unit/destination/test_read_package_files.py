"""A table's files in one load package may differ in columns; none may be dropped."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from floe_ingestion_dlt.destination.load_job import read_package_files


def test_columns_only_a_later_file_has_are_kept(tmp_path: Path) -> None:
    first = tmp_path / "a.parquet"
    second = tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1, 2], "name": ["a", "b"]}), first)
    pq.write_table(pa.table({"id": [3], "late": [30.5], "name": ["c"]}), second)
    for order in ([first, second], [second, first]):
        table = read_package_files([str(p) for p in order])
        assert set(table.column_names) == {"id", "name", "late"}
        rows = sorted(table.to_pylist(), key=lambda r: r["id"])
        assert rows == [
            {"id": 1, "name": "a", "late": None},
            {"id": 2, "name": "b", "late": None},
            {"id": 3, "name": "c", "late": 30.5},
        ]


def test_a_column_null_in_one_file_takes_the_other_files_type(tmp_path: Path) -> None:
    first = tmp_path / "a.parquet"
    second = tmp_path / "b.parquet"
    pq.write_table(pa.table({"id": [1], "v": pa.array([None], pa.null())}), first)
    pq.write_table(pa.table({"id": [2], "v": ["x"]}), second)
    table = read_package_files([str(first), str(second)])
    assert table.schema.field("v").type == pa.string()
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 1, "v": None},
        {"id": 2, "v": "x"},
    ]


def test_a_dictionary_encoded_column_unifies_with_its_plain_form(tmp_path: Path) -> None:
    first = tmp_path / "a.parquet"
    second = tmp_path / "b.parquet"
    load_id = pa.array(["1.5"]).dictionary_encode()
    pq.write_table(pa.table({"id": [1], "_dlt_load_id": load_id}), first)
    pq.write_table(pa.table({"id": [2], "_dlt_load_id": ["1.5"]}), second)
    table = read_package_files([str(first), str(second)])
    assert table.schema.field("_dlt_load_id").type == pa.string()
    assert table["_dlt_load_id"].to_pylist() == ["1.5", "1.5"]
