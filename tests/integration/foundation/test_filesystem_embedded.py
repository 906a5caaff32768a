"""Files -> Iceberg in the embedded catalog, read back through a separate PyIceberg client."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.types import BooleanType, DoubleType, LongType, StringType, TimestamptzType

from tests.helpers import embedded_plugin, files_config, read_table, snapshot_count, user_rows

pytestmark = pytest.mark.integration

UTC = dt.UTC
ROWS = [
    {
        "id": 1,
        "name": "alice",
        "amount": 1.5,
        "ts": dt.datetime(2024, 1, 1, 10, tzinfo=UTC),
        "ok": True,
    },
    {
        "id": 2,
        "name": "bob",
        "amount": None,
        "ts": dt.datetime(2024, 1, 2, 11, tzinfo=UTC),
        "ok": False,
    },
    {"id": 3, "name": None, "amount": 3.25, "ts": None, "ok": True},
    {
        "id": 4,
        "name": "dora",
        "amount": -7.0,
        "ts": dt.datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        "ok": None,
    },
]


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def write_csv(folder: Path, rows: list[dict], name: str = "part-1.csv") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["id,name,amount,ts,ok"]
    for r in rows:
        cells = [r["id"], r["name"], r["amount"], _iso(r["ts"]), r["ok"]]
        lines.append(
            ",".join(
                "" if c is None else str(c).lower() if isinstance(c, bool) else str(c)
                for c in cells
            )
        )
    (folder / name).write_text("\n".join(lines) + "\n")


def write_jsonl(folder: Path, rows: list[dict], name: str = "part-1.jsonl") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w") as fh:
        for r in rows:
            fh.write(json.dumps({**r, "ts": _iso(r["ts"])}) + "\n")


def write_parquet(folder: Path, rows: list[dict], name: str = "part-1.parquet") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("name", pa.string()),
            ("amount", pa.float64()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("ok", pa.bool_()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / name)


WRITERS = {
    "csv": (write_csv, "*.csv"),
    "jsonl": (write_jsonl, "*.jsonl"),
    "parquet": (write_parquet, "*.parquet"),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_files_land_with_exact_rows_and_types(tmp_path: Path, fmt: str) -> None:
    writer, glob = WRITERS[fmt]
    writer(tmp_path / "in", ROWS[:2])
    writer(tmp_path / "in", ROWS[2:], name=f"part-2.{glob[2:]}")
    plugin = embedded_plugin(tmp_path)

    result = plugin.run(plugin.create_pipeline(files_config(tmp_path / "in", glob)))

    assert result.success, result.errors
    table = read_table(plugin, "bronze.items")
    assert user_rows(table.scan().to_arrow()) == ROWS
    types = {f.name: f.field_type for f in table.schema().fields}
    assert types["id"] == LongType()
    assert types["name"] == StringType()
    assert types["amount"] == DoubleType()
    assert types["ts"] == TimestamptzType()
    assert types["ok"] == BooleanType()
    assert snapshot_count(table) == 1


def test_append_twice_doubles_with_one_snapshot_per_run(tmp_path: Path) -> None:
    write_parquet(tmp_path / "in", ROWS)
    plugin = embedded_plugin(tmp_path)
    cfg = files_config(tmp_path / "in", "*.parquet")

    results = [plugin.run(plugin.create_pipeline(cfg)) for _ in range(2)]

    table = read_table(plugin, "bronze.items")
    assert table.scan().to_arrow().num_rows == 2 * len(ROWS)
    snapshots = table.metadata.snapshots
    assert len(snapshots) == 2
    for result, snapshot in zip(results, snapshots, strict=True):
        assert result.success, result.errors
        assert snapshot.summary.operation.value == "append"
        assert result.rows_loaded == int(snapshot.summary["added-records"]) == len(ROWS)
        assert result.bytes_written == int(snapshot.summary["added-files-size"]) > 0
        assert result.duration_seconds > 0


def test_replace_twice_keeps_one_copy_in_one_snapshot_each(tmp_path: Path) -> None:
    write_csv(tmp_path / "in", ROWS)
    plugin = embedded_plugin(tmp_path)
    cfg = files_config(tmp_path / "in", "*.csv", write_mode="replace")

    first = plugin.run(plugin.create_pipeline(cfg))
    write_csv(tmp_path / "in", ROWS[:3])  # the source shrinks: replace must follow it
    second = plugin.run(plugin.create_pipeline(cfg))

    assert first.success and second.success, (first.errors, second.errors)
    table = read_table(plugin, "bronze.items")
    assert user_rows(table.scan().to_arrow()) == ROWS[:3]
    snapshots = table.metadata.snapshots
    assert len(snapshots) == 2
    # the second replace is a single overwrite snapshot: no empty table in between
    assert snapshots[1].summary.operation.value == "overwrite"
    assert snapshots[1].parent_snapshot_id == snapshots[0].snapshot_id
    assert second.rows_loaded == 3 == int(snapshots[1].summary["added-records"])
    assert second.bytes_written == int(snapshots[1].summary["added-files-size"])
    assert int(snapshots[1].summary["total-records"]) == 3


def test_replace_never_exposes_an_empty_table(tmp_path: Path) -> None:
    write_parquet(tmp_path / "in", ROWS)
    plugin = embedded_plugin(tmp_path)
    cfg = files_config(tmp_path / "in", "*.parquet", write_mode="replace")
    for _ in range(3):
        assert plugin.run(plugin.create_pipeline(cfg)).success
    table = read_table(plugin, "bronze.items")
    for snapshot in table.metadata.snapshots:
        assert table.scan(snapshot_id=snapshot.snapshot_id).to_arrow().num_rows == len(ROWS)


def test_glob_matching_nothing_is_a_successful_empty_run(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    plugin = embedded_plugin(tmp_path)
    result = plugin.run(plugin.create_pipeline(files_config(tmp_path / "in", "*.csv")))
    assert result.success, result.errors
    assert result.rows_loaded == 0
    assert result.bytes_written == 0


def test_csv_delimiter_and_explicit_format(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "data.txt").write_text("id;label\n1;x\n2;y\n")
    plugin = embedded_plugin(tmp_path)
    cfg = files_config(tmp_path / "in", "*.txt", format="csv", csv={"delimiter": ";"})
    result = plugin.run(plugin.create_pipeline(cfg))
    assert result.success, result.errors
    rows = user_rows(read_table(plugin, "bronze.items").scan().to_arrow())
    assert rows == [{"id": 1, "label": "x"}, {"id": 2, "label": "y"}]


def test_run_of_a_foreign_pipeline_reports_configuration_error(tmp_path: Path) -> None:
    import dlt

    plugin = embedded_plugin(tmp_path)
    foreign = dlt.pipeline("foreign", pipelines_dir=str(tmp_path / "p2"))
    result = plugin.run(foreign)
    assert not result.success
    assert result.errors[0].startswith("[CONFIGURATION]")


def test_destination_factory_works_in_a_hand_written_dlt_pipeline(tmp_path: Path) -> None:
    import dlt

    from floe_ingestion_dlt import CatalogConfig, DltIngestionPlugin, iceberg
    from floe_ingestion_dlt.catalog import load_catalog

    catalog = CatalogConfig.embedded(tmp_path / "lake")
    plugin = DltIngestionPlugin()
    kwargs = plugin.get_destination_config(catalog.model_dump(by_alias=True, exclude_none=True))
    pipeline = dlt.pipeline(
        "hand", destination=iceberg(**kwargs), dataset_name="raw", pipelines_dir=str(tmp_path / "p")
    )
    data = pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]})
    pipeline.run(data, table_name="things", table_format="iceberg", loader_file_format="parquet")
    table = load_catalog(catalog).load_table("raw.things")
    assert sorted(table.scan().to_arrow().column("id").to_pylist()) == [1, 2, 3]
    assert len(table.metadata.snapshots) == 1


def test_dataset_folder_already_there(tmp_path: Path) -> None:
    plugin = embedded_plugin(tmp_path)
    (tmp_path / "lake" / "warehouse" / "bronze").mkdir(parents=True)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").write_text("id\n1\n")
    result = plugin.run(plugin.create_pipeline(files_config(tmp_path / "in", "*.csv")))
    assert result.success, result.errors
    assert read_table(plugin, "bronze.items").scan().to_arrow().num_rows == 1
