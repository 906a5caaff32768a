"""REST pages as Arrow tables write exactly what dlt's row normalizer writes.

Each test loads the same pages twice from the local API - once with ``arrow_pages`` (the
default) and once with ``arrow_pages: false`` (every record through dlt's normalizer) - and
compares the two Iceberg tables read back through the catalog: schema (names, types,
required) and rows, not the column order. dlt's ``_dlt_id`` values are random per row in both, so only their
presence and uniqueness are compared.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.sources.rest_api_arrow import ArrowPages
from tests.helpers import embedded_plugin, read_table, user_rows
from tests.services.http_api import FakeApiServer

pytestmark = pytest.mark.supported_range

PAGE = 10


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(tmp_path)


def config(
    api: FakeApiServer,
    dataset: str,
    table: str,
    arrow_pages: bool,
    source_extra: dict[str, Any] | None = None,
    **extra: Any,
) -> IngestionConfig:
    return IngestionConfig(
        source_type="rest_api",
        source_config={
            "base_url": api.base_url,
            "path": f"offset/{dataset}",
            "paginator": {"type": "offset", "limit": PAGE, "total_path": "total"},
            "data_selector": "items",
            "arrow_pages": arrow_pages,
            **(source_extra or {}),
        },
        destination_table=f"bronze.{table}",
        **extra,
    )


def load(
    plugin: DltIngestionPlugin, cfg: IngestionConfig, expect_step: bool = True
) -> ArrowPages | None:
    """Run ``cfg``; returns the run's Arrow step (None when the builder added none)."""
    pipeline = plugin.create_pipeline(cfg)
    resource = plugin._plans[pipeline].resource
    steps = [s for s in resource._pipe.steps if isinstance(s, ArrowPages)]
    result = plugin.run(pipeline)
    assert result.success, result.errors
    assert bool(steps) == expect_step
    return steps[0] if steps else None


def view(plugin: DltIngestionPlugin, table: str) -> tuple[list[Any], list[dict[str, Any]]]:
    """The table's Iceberg schema (name, type, required) and its rows without dlt ids."""
    iceberg = read_table(plugin, f"bronze.{table}")
    schema = [(f.name, str(f.field_type), f.required) for f in iceberg.schema().fields]
    data = iceberg.scan().to_arrow()
    ids = data["_dlt_id"].to_pylist()
    assert None not in ids and len(set(ids)) == len(ids)
    assert None not in data["_dlt_load_id"].to_pylist()
    return schema, user_rows(data)


def assert_same_tables(plugin: DltIngestionPlugin, arrow: str, rows: str) -> list[dict[str, Any]]:
    arrow_schema, arrow_rows = view(plugin, arrow)
    rows_schema, row_rows = view(plugin, rows)
    # same columns and types; the order may differ: rows add dlt's columns after the keys of
    # the first record, Arrow after the keys of the first page
    assert sorted(arrow_schema) == sorted(rows_schema)
    assert arrow_rows == row_rows
    return arrow_rows


def flat_records(n: int, start: int = 1) -> list[dict[str, Any]]:
    """Flat records exercising dlt's typing: detection, coercion, sparse and null-only keys."""
    base = dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)
    records = []
    for i in range(start, start + n):
        record: dict[str, Any] = {
            "id": i,
            "userName": f"user {i}",
            "score": i * 0.5 if i % 3 else i,  # first value a float: a double column
            "wholeCount": float(i) if i % 4 == 0 else i,  # first an int: whole floats coerce
            "active": i % 2 == 0,
            "createdAt": (base + dt.timedelta(minutes=i)).isoformat().replace("+00:00", "Z"),
            "seenAt": (base + dt.timedelta(seconds=i)).isoformat(),
            "localTime": f"2024-03-01T10:{i % 60:02d}:00",  # no offset: UTC
            "day": f"2024-03-{i % 28 + 1:02d}",  # a date string is not a timestamp: text
            "maybe": None if i % 4 else f"m{i}",
            "alwaysNull": None,
        }
        if i > 25:
            record["lateKey"] = i * 10  # appears on a later page
        if i % 7 == 0:
            del record["userName"]  # a missing key is a null
        records.append(record)
    return records


def test_flat_pages_load_as_arrow_with_the_types_rows_get(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    api_server.set_records("flat", flat_records(47))
    step = load(plugin, config(api_server, "flat", "flat_arrow", True))
    load(plugin, config(api_server, "flat", "flat_rows", False), expect_step=False)
    assert step is not None
    assert (step.arrow_pages, step.row_pages, step.fallback_reason) == (5, 0, None)
    rows = assert_same_tables(plugin, "flat_arrow", "flat_rows")
    schema = dict((n, t) for n, t, _ in view(plugin, "flat_arrow")[0])
    assert schema["created_at"] == schema["seen_at"] == schema["local_time"] == "timestamptz"
    assert (schema["score"], schema["whole_count"], schema["day"]) == ("double", "long", "string")
    assert "always_null" not in schema
    assert rows[0]["local_time"] == dt.datetime(2024, 3, 1, 10, 1, tzinfo=dt.UTC)
    assert rows[3]["whole_count"] == 4 and rows[6]["user_name"] is None
    assert [r["late_key"] for r in rows[24:27]] == [None, 260, 270]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"address": {"city": "Oslo", "zip": 150}}, "nested values"),
        ({"wholeCount": "many"}, "different types"),
        ({"score": 1.5, "wholeCount": 2.5}, "is not a bigint"),
    ],
    ids=["nested", "variant", "fraction_in_int_column"],
)
def test_a_page_arrow_cannot_type_goes_to_rows_and_so_do_the_rest(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, change: dict[str, Any], reason: str
) -> None:
    records = flat_records(40)
    records[23].update(change)  # page 3 of 4
    api_server.set_records("mixed", records)
    step = load(plugin, config(api_server, "mixed", "mixed_arrow", True))
    load(plugin, config(api_server, "mixed", "mixed_rows", False), expect_step=False)
    assert step is not None and step.fallback_reason is not None
    assert reason in step.fallback_reason
    assert (step.arrow_pages, step.row_pages) == (2, 2)
    assert_same_tables(plugin, "mixed_arrow", "mixed_rows")


def test_arrow_pages_keep_the_types_an_earlier_run_gave_the_table(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    first = [{"id": i, "ref": f"ref-{i}", "n": float(i) + 0.5} for i in range(1, 11)]
    second = [
        {"id": i, "ref": f"2024-01-{i:02d}T00:00:00Z", "n": i, "extra": "2024-02-01T00:00:00Z"}
        for i in range(11, 31)
    ]
    for table, arrow_pages in (("kept_arrow", True), ("kept_rows", False)):
        api_server.set_records("kept", first)
        load(plugin, config(api_server, "kept", table, False), expect_step=False)
        api_server.set_records("kept", second)
        step = load(plugin, config(api_server, "kept", table, arrow_pages), arrow_pages)
        if step is not None:
            assert (step.arrow_pages, step.fallback_reason) == (2, None)
    rows = assert_same_tables(plugin, "kept_arrow", "kept_rows")
    schema = dict((n, t) for n, t, _ in view(plugin, "kept_arrow")[0])
    assert (schema["ref"], schema["n"], schema["extra"]) == ("string", "double", "timestamptz")
    assert rows[10]["ref"] == "2024-01-11T00:00:00Z" and rows[10]["n"] == 11.0


def test_replace_uses_arrow_pages_and_merge_or_a_contract_use_rows(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    records = flat_records(20)
    api_server.set_records("modes", records)
    step = load(plugin, config(api_server, "modes", "replaced", True, write_mode="replace"))
    assert step is not None and step.arrow_pages == 2
    merged = config(api_server, "modes", "merged", True, {"primary_key": "id"}, write_mode="merge")
    load(plugin, merged, expect_step=False)
    frozen = config(api_server, "modes", "frozen", True, schema_contract="freeze")
    load(plugin, frozen, expect_step=False)
    table = read_table(plugin, "bronze.merged").scan().to_arrow()
    assert table.num_rows == 20 and isinstance(table, pa.Table)


def test_each_run_of_a_pipeline_starts_with_arrow_pages_again(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    nested = flat_records(20)
    nested[5]["address"] = {"city": "Oslo"}
    api_server.set_records("again", nested)
    pipeline = plugin.create_pipeline(config(api_server, "again", "again", True))
    [step] = [s for s in plugin._plans[pipeline].resource._pipe.steps if isinstance(s, ArrowPages)]
    assert plugin.run(pipeline).success
    assert (step.arrow_pages, step.row_pages) == (0, 2)
    api_server.set_records("again", flat_records(20, start=100))
    assert plugin.run(pipeline).success
    assert (step.arrow_pages, step.row_pages, step.fallback_reason) == (2, 0, None)
    assert len(view(plugin, "again")[1]) == 40
