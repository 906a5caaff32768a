"""Pages of records -> Arrow tables typed as dlt's row normalizer types them (unit level).

The end-to-end parity with dlt's normalizer (same Iceberg table either way) is proved in
tests/integration/sources/test_rest_api_arrow_pages.py; these pin the rules one by one.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import pyarrow as pa
import pytest
import requests
from dlt.common.schema import Schema
from dlt.common.schema.utils import new_column, new_table

from floe_ingestion_dlt.performance import use_normalize_workers
from floe_ingestion_dlt.sources.rest_api import decode_json_once
from floe_ingestion_dlt.sources.rest_api_arrow import ArrowPages, NotColumnar, page_to_arrow

UTC_US = pa.timestamp("us", tz="UTC")


@pytest.fixture
def schema() -> Schema:
    return Schema("unit")


def test_new_columns_take_the_type_of_their_first_value(schema: Schema) -> None:
    rows = [
        {"Id": 1, "userName": "a", "score": 0.5, "n": 1, "ok": True, "at": "2024-01-01T00:00:00Z"},
        {
            "Id": 2,
            "userName": None,
            "score": 2,
            "n": 2.0,
            "ok": False,
            "at": "2024-01-01T03:00+02:00",
        },
    ]
    table = page_to_arrow(rows, schema, "orders")
    assert table.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("user_name", pa.string()),
            ("score", pa.float64()),
            ("n", pa.int64()),
            ("ok", pa.bool_()),
            ("at", UTC_US),
        ]
    )
    assert table.column("n").to_pylist() == [1, 2]
    assert table.column("at").to_pylist() == [
        dt.datetime(2024, 1, 1, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2024, 1, 1, 1, 0, tzinfo=dt.UTC),
    ]


def test_null_only_keys_add_no_column_and_missing_keys_are_null(schema: Schema) -> None:
    table = page_to_arrow([{"a": 1, "gone": None}, {"b": "x", "gone": None}], schema, "t")
    assert table.column_names == ["a", "b"]
    assert table.to_pylist() == [{"a": 1, "b": None}, {"a": None, "b": "x"}]


def test_date_strings_stay_text_as_dlt_does_not_detect_them(schema: Schema) -> None:
    table = page_to_arrow([{"day": "2024-01-01"}], schema, "t")
    assert table.schema.field("day").type == pa.string()


def test_existing_columns_keep_their_type(schema: Schema) -> None:
    columns = [
        new_column("ref", "text"),
        new_column("amount", "double"),
        new_column("at", "timestamp"),
        new_column("day", "date"),
    ]
    schema.update_table(new_table("t", columns=columns))
    rows = [{"ref": "2024-01-01T00:00:00Z", "amount": 3, "at": "2024-05-01", "day": "2024-02-03"}]
    table = page_to_arrow(rows, schema, "t")
    assert table.schema == pa.schema(
        [("ref", pa.string()), ("amount", pa.float64()), ("at", UTC_US), ("day", pa.date32())]
    )
    assert table.to_pylist()[0]["at"] == dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        ([{"a": {"b": 1}}], "nested values"),
        ([{"a": [1, 2]}], "nested values"),
        ([{"a": 1}, {"a": "x"}], "different types"),
        ([{"a": True}, {"a": 1}], "different types"),
        ([{"a": 2**70}], "different types"),
        ([{"a": 1}, {"a": 1.5}], "is not a bigint"),
        ([{"a": "2024-01-01T00:00:00Z"}, {"a": "soon"}], "is not a timestamp"),
        ([{"a": "2024-01-01T00:00:00Z"}, {"a": "2024-01-01T00:00:00"}], "is not a timestamp"),
        ([{"userName": 1, "user_name": 2}], "both column 'user_name'"),
        ([{"": 1}], "empty key"),
        ([{"a": 1}, ["not", "a", "record"]], "not a JSON object"),
    ],
)
def test_pages_arrow_cannot_type_like_rows_are_refused(
    schema: Schema, rows: list[Any], reason: str
) -> None:
    with pytest.raises(NotColumnar, match=reason) as refused:
        page_to_arrow(rows, schema, "t")
    assert "soon" not in str(refused.value)  # reasons are logged: they never quote a value


def test_existing_column_with_other_hints_is_refused(schema: Schema) -> None:
    schema.update_table(new_table("t", columns=[new_column("n", "bigint", precision=32)]))
    with pytest.raises(NotColumnar, match="hints the Arrow path does not write"):
        page_to_arrow([{"n": 1}], schema, "t")
    schema.update_table(new_table("t", columns=[new_column("v", "text")]))
    with pytest.raises(NotColumnar, match="column 'v' is text, the page has int64"):
        page_to_arrow([{"v": 1}], schema, "t")


def test_the_step_falls_back_once_and_stays_on_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    from floe_ingestion_dlt.sources import rest_api_arrow

    monkeypatch.setattr(rest_api_arrow, "_current_schema", lambda: Schema("step"))
    monkeypatch.delenv("UNIT_STEP__NORMALIZE__WORKERS", raising=False)
    assert use_normalize_workers("unit_step", rows=False)
    step = ArrowPages("t", "unit_step")
    assert isinstance(step([{"a": 1}]), pa.Table)
    nested = [{"a": {"b": 1}}]
    assert step(nested) is nested
    flat = [{"a": 2}]
    assert step(flat) is flat  # the rest of the run stays rows
    assert step([]) == []
    assert (step.arrow_pages, step.row_pages) == (1, 2)
    assert step.fallback_reason is not None and "nested" in step.fallback_reason
    assert step.bind(None) is step  # dlt binds the step before each run: a new run starts over
    assert (step.arrow_pages, step.row_pages, step.fallback_reason) == (0, 0, None)
    assert isinstance(step(flat), pa.Table)
    assert os.environ["UNIT_STEP__NORMALIZE__WORKERS"] != "1" or (os.cpu_count() or 1) == 1


def test_user_set_workers_are_never_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIT_USER__NORMALIZE__WORKERS", "3")
    assert not use_normalize_workers("unit_user", rows=False)
    assert os.environ["UNIT_USER__NORMALIZE__WORKERS"] == "3"


class _Sent:
    """A stand-in transport: ``send`` returns a response with ``body``."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def send(self, request: Any, **kwargs: Any) -> requests.Response:
        response = requests.Response()
        response._content = self.body
        response.status_code = 200
        response.encoding = "utf-8"
        return response


def test_json_is_decoded_once_and_odd_bodies_still_decode() -> None:
    session: Any = _Sent(b'{"items": [{"a": 1}], "total": 1}')
    decode_json_once(session)
    response = session.send(None)
    first = response.json()
    assert first == {"items": [{"a": 1}], "total": 1}
    assert response.json() is first  # the paginator and the data selector share one decode
    session.body = b'{"big": 123456789012345678901234567890}'
    odd = session.send(None).json()  # orjson refuses integers past 64 bits; requests decodes
    assert odd == {"big": 123456789012345678901234567890}


def test_arrow_pages_settings_apply_per_plan_and_leave_no_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from floe_ingestion_dlt.performance import (
        PAGED_EXTRACT_BUFFER_ROWS,
        apply_pipeline_settings,
        arrow_pages_settings,
        settings_for,
    )

    prefix = "UNIT_PLANS__"
    for name in [n for n in os.environ if n.startswith(prefix)]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("DATA_WRITER__BUFFER_MAX_ITEMS", raising=False)
    apply_pipeline_settings("unit_plans", arrow_pages_settings())
    assert os.environ[prefix + "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID"] == "true"
    assert os.environ[prefix + "NORMALIZE__WORKERS"] == "1"
    buffer = prefix + "SOURCES__DATA_WRITER__BUFFER_MAX_ITEMS"
    assert os.environ[buffer] == str(PAGED_EXTRACT_BUFFER_ROWS)
    # the same table loaded next from files, in the same process: no row ids, Arrow buffers
    apply_pipeline_settings("unit_plans", settings_for(python_rows=False))
    assert prefix + "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_ID" not in os.environ
    assert prefix + "NORMALIZE__WORKERS" not in os.environ
    assert os.environ[buffer] != str(PAGED_EXTRACT_BUFFER_ROWS)
    # a user's buffer setting wins over the default, never over the required row ids
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "777")
    apply_pipeline_settings("unit_plans", arrow_pages_settings())
    assert buffer not in os.environ
    assert os.environ[prefix + "NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID"] == "true"
