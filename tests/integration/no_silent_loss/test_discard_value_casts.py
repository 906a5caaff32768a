"""Case 6 of issue 15: under ``discard_value`` a value that casts losslessly to the column's type
is kept (cast), only values that cannot be represented are dropped; the schema stays as it is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from tests.helpers import embedded_plugin, read_table

pytestmark = pytest.mark.integration

TABLE = "bronze.discarding"


def _config(folder: Path, glob: str) -> IngestionConfig:
    return IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(folder), "file_glob": glob},
        destination_table=TABLE,
        schema_contract="discard_value",
    )


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_discard_value_casts_losslessly_before_dropping(tmp_path: Path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    _write(data / "a.jsonl", [{"id": 1, "amount": 1.5, "code": "x", "qty": 1}])
    plugin = embedded_plugin(tmp_path)
    assert plugin.run(plugin.create_pipeline(_config(data, "a.jsonl"))).success

    _write(
        data / "b.jsonl",
        [
            {"id": 2, "amount": 4, "code": 30, "qty": "30", "extra": "new"},
            {"id": 3, "amount": 2**53 + 1, "code": 31, "qty": "abc", "extra": "new"},
        ],
    )
    result = plugin.run(plugin.create_pipeline(_config(data, "b.jsonl")))
    assert result.success and result.rows_loaded == 2, result.errors

    table = read_table(plugin, TABLE)
    assert [(f.name, str(f.field_type)) for f in table.schema().fields] == [
        ("id", "long"),
        ("amount", "double"),
        ("code", "string"),
        ("qty", "long"),
    ]
    rows = sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    assert rows == [
        {"id": 1, "amount": 1.5, "code": "x", "qty": 1},
        {"id": 2, "amount": 4.0, "code": "30", "qty": 30},  # int 4, 30, "30": lossless casts
        {"id": 3, "amount": None, "code": "31", "qty": None},  # 2**53+1 and "abc" do not fit
    ]
    history = [(s.summary.operation.value, s.summary["added-records"]) for s in table.snapshots()]
    assert history == [("append", "1"), ("append", "2")]


def test_discard_value_casts_a_callers_source_too(tmp_path: Path) -> None:
    """floe's orchestrator hands in its own resource (``run(p, source=...)``): the same casts."""
    import pyarrow as pa

    data = tmp_path / "in"
    data.mkdir()
    _write(data / "a.jsonl", [{"id": 1, "amount": 1.5}])
    plugin = embedded_plugin(tmp_path)
    assert plugin.run(plugin.create_pipeline(_config(data, "a.jsonl"))).success

    batch = pa.table({"id": pa.array([2], pa.int64()), "amount": pa.array([4], pa.int64())})
    result = plugin.run(plugin.create_pipeline(_config(data, "a.jsonl")), source=[batch])
    assert result.success and result.rows_loaded == 1, result.errors

    rows = sorted(read_table(plugin, TABLE).scan().to_arrow().to_pylist(), key=lambda r: r["id"])
    assert rows == [{"id": 1, "amount": 1.5}, {"id": 2, "amount": 4.0}]  # int 4 kept as 4.0
