"""The schema contract applied on a PyIceberg transaction, against a real SQLite catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from dlt.common.schema.exceptions import DataValidationError
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from pyiceberg.types import DoubleType, IntegerType, LongType, StringType
from structlog.testing import capture_logs

from floe_ingestion_dlt.destination.schema_contract import (
    apply_schema_contract,
    contract_mode,
    contract_violation_from,
    variant_column_name,
)
from floe_ingestion_dlt.errors import ErrorCategory, SchemaContractViolation, format_error

BASE = pa.schema([("id", pa.int64()), ("n", pa.int32()), ("x", pa.float32())])


@pytest.fixture
def table(tmp_path: Path) -> Table:
    catalog = SqlCatalog("t", uri=f"sqlite:///{tmp_path}/c.db", warehouse=f"file://{tmp_path}/wh")
    catalog.create_namespace("ns")
    created = catalog.create_table("ns.t", schema=BASE)
    created.append(pa.table({"id": [1], "n": [1], "x": [1.0]}, schema=BASE))
    return created


def _apply(table: Table, data: pa.Table, mode: str) -> tuple[pa.Table, Table]:
    txn = table.transaction()
    out = apply_schema_contract(txn, data, mode, "ns.t")
    txn.append(out)
    return out, txn.commit_transaction()


def _types(table: Table) -> dict[str, Any]:
    return {f.name: f.field_type for f in table.schema().fields}


def _rows(table: Table) -> list[dict[str, Any]]:
    return sorted(table.scan().to_arrow().to_pylist(), key=lambda r: r["id"])


# -- evolve ------------------------------------------------------------------------------------


def test_evolve_adds_new_columns_and_logs_them_at_info(table: Table) -> None:
    data = pa.table({"id": [2], "n": [2], "x": [2.0], "extra": ["e"]})
    with capture_logs() as logs:
        _, after = _apply(table, data, "evolve")
    assert _types(after)["extra"] == StringType()
    assert _rows(after)[0]["extra"] is None and _rows(after)[1]["extra"] == "e"
    [event] = [e for e in logs if e["event"] == "schema evolved"]
    assert event["log_level"] == "info"
    assert event["new_columns"] == {"extra": "string"}


def test_evolve_widens_int_to_long_and_float_to_double(table: Table) -> None:
    data = pa.table(
        {"id": [2], "n": pa.array([2**40], pa.int64()), "x": pa.array([0.1], pa.float64())}
    )
    _, after = _apply(table, data, "evolve")
    assert _types(after)["n"] == LongType()
    assert _types(after)["x"] == DoubleType()
    assert _rows(after)[1]["n"] == 2**40


def test_evolve_writes_an_incompatible_type_to_a_variant_column(table: Table) -> None:
    data = pa.table({"id": [2], "n": ["two"], "x": pa.array([2.0], pa.float32())})
    with capture_logs() as logs:
        out, after = _apply(table, data, "evolve")
    assert "n__v_text" in out.column_names and "n" not in out.column_names
    assert _types(after)["n"] == IntegerType()  # the original column keeps its type
    assert _types(after)["n__v_text"] == StringType()
    assert [(r["n"], r["n__v_text"]) for r in _rows(after)] == [(1, None), (None, "two")]
    [warning] = [e for e in logs if e["event"].startswith("column type changed")]
    assert warning["variant_columns"] == {"n": "n__v_text"}


def test_evolve_reuses_an_existing_variant_column(table: Table) -> None:
    _, first = _apply(table, pa.table({"id": [2], "n": ["two"]}), "evolve")
    schema_id = first.metadata.current_schema_id
    _, second = _apply(first, pa.table({"id": [3], "n": ["three"]}), "evolve")
    assert second.metadata.current_schema_id == schema_id
    assert [r["n__v_text"] for r in _rows(second)] == [None, "two", "three"]


def test_applying_twice_on_one_transaction_stages_the_change_once(table: Table) -> None:
    txn = table.transaction()
    data = pa.table({"id": [2], "extra": ["e"], "n": ["two"]})
    apply_schema_contract(txn, data.schema.empty_table(), "evolve", "ns.t")
    with capture_logs() as logs:
        out = apply_schema_contract(txn, data, "evolve", "ns.t")
    assert not [e for e in logs if e["event"] == "schema evolved"]
    txn.append(out)
    after = txn.commit_transaction()
    assert set(_types(after)) == {"id", "n", "x", "extra", "n__v_text"}


# -- freeze ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "column"),
    [
        (pa.table({"id": [2], "extra": ["e"]}), "extra"),
        (pa.table({"id": [2], "n": ["two"]}), "n"),
        (pa.table({"id": [2], "n": pa.array([2], pa.int64())}), "n"),  # widening is a change
    ],
    ids=["new column", "incompatible type", "widening"],
)
def test_freeze_refuses_any_change_and_stages_nothing(
    table: Table, data: pa.Table, column: str
) -> None:
    before = table.metadata.current_snapshot_id
    txn = table.transaction()
    with capture_logs() as logs, pytest.raises(SchemaContractViolation) as caught:
        apply_schema_contract(txn, data, "freeze", "ns.t")
    assert caught.value.category is ErrorCategory.PERMANENT
    assert column in str(caught.value)
    [event] = [e for e in logs if e["event"] == "schema change rejected"]
    assert event["log_level"] == "error" and column in event["columns"]
    assert txn.table_metadata == table.metadata  # nothing staged
    assert table.refresh().metadata.current_snapshot_id == before


def test_freeze_accepts_a_missing_column_and_narrower_data(table: Table) -> None:
    data = pa.table({"id": pa.array([2], pa.int32())})
    _, after = _apply(table, data, "freeze")
    assert set(_types(after)) == {"id", "n", "x"}
    assert _rows(after)[1] == {"id": 2, "n": None, "x": None}


# -- discard_value -----------------------------------------------------------------------------


def test_discard_value_drops_unknown_columns_and_values_that_do_not_fit(table: Table) -> None:
    data = pa.table(
        {
            "id": [2, 3],
            "n": ["2", "three"],  # "2" casts losslessly and is kept, "three" is dropped
            "x": pa.array([0.5, 1.5], pa.float64()),  # lossless into float: kept
            "extra": ["e", "f"],
        }
    )
    with capture_logs() as logs:
        _, after = _apply(table, data, "discard_value")
    assert set(_types(after)) == {"id", "n", "x"}
    assert _types(after)["n"] == IntegerType()
    assert [(r["n"], r["x"]) for r in _rows(after)] == [(1, 1.0), (2, 0.5), (None, 1.5)]
    [event] = [e for e in logs if e["event"] == "schema change discarded"]
    assert event["dropped_columns"] == ["extra"] and event["nulled_columns"] == ["n"]


def test_discard_value_keeps_wider_typed_values_that_fit(table: Table) -> None:
    data = pa.table({"id": [2], "n": pa.array([7], pa.int64())})
    _, after = _apply(table, data, "discard_value")
    assert _types(after)["n"] == IntegerType()
    assert _rows(after)[1]["n"] == 7


# -- helpers -----------------------------------------------------------------------------------


def test_variant_column_names_follow_dlt() -> None:
    assert variant_column_name("n", pa.string()) == "n__v_text"
    assert variant_column_name("n", pa.float64()) == "n__v_double"
    assert variant_column_name("n", pa.bool_()) == "n__v_bool"


@pytest.mark.parametrize(
    ("hint", "mode"),
    [
        ("freeze", "freeze"),
        ({"tables": "evolve", "columns": "freeze", "data_type": "freeze"}, "freeze"),
        ({"columns": "discard_value", "data_type": "discard_value"}, "discard_value"),
        ({"tables": "evolve", "columns": "evolve", "data_type": "evolve"}, "evolve"),
        (None, "evolve"),
    ],
)
def test_contract_mode(hint: Any, mode: str) -> None:
    assert contract_mode({"schema_contract": hint} if hint else {}) == mode


def _dlt_refusal(entity: str, column: str, info: str = "") -> DataValidationError:
    return DataValidationError(
        "s",
        "orders",
        column,
        entity,  # type: ignore[arg-type]
        "freeze",
        {"columns": {"n": {"name": "n", "data_type": "bigint"}, "id": {"primary_key": True}}},
        {"columns": "freeze"},  # type: ignore[typeddict-item]
        {"id": "secret-key-value", "n": "two"},
        info,
    )


def test_dlt_data_validation_error_becomes_a_permanent_contract_violation() -> None:
    refusal = _dlt_refusal("data_type", "n", "Incoming column: {'name': 'n', 'data_type': 'text'}.")
    try:
        try:
            raise refusal
        except DataValidationError as inner:
            raise RuntimeError("Pipeline execution failed at step=normalize") from inner
    except RuntimeError as wrapped:
        violation = contract_violation_from(wrapped, "bronze.orders")
    assert isinstance(violation, SchemaContractViolation)
    assert violation.category is ErrorCategory.PERMANENT
    assert (
        str(violation)
        == "schema of bronze.orders is frozen; the data has column n type bigint -> text"
    )
    try:
        raise violation from refusal
    except SchemaContractViolation as raised:
        entry = format_error(raised, destination_table="bronze.orders")
    assert entry.startswith("[PERMANENT] SchemaContractViolation: schema of bronze.orders")
    assert "secret-key-value" not in entry


def test_dlt_new_column_refusal_names_the_column() -> None:
    violation = contract_violation_from(_dlt_refusal("columns", "extra"), "bronze.orders")
    assert violation is not None
    assert "new column extra" in str(violation)


def test_other_errors_are_not_contract_violations() -> None:
    assert contract_violation_from(ValueError("boom"), "bronze.orders") is None


def test_a_refusal_from_a_normalize_worker_process_is_read_from_its_text() -> None:
    """dlt's normalize workers are processes: only the refusal's text comes back."""
    text = (
        "Job for `job_id=t.c2.typed-jsonl.gz` failed terminally in load with `load_id=1` with "
        "message: In schema `s`: In Table: `orders` Column: `n` . Contract on `data_type` with "
        "`contract_mode=freeze` is violated. Can't evolve column type of `n`. Existing column: "
        "{'name': 'n', 'data_type': 'bigint'}. Incoming column: {'name': 'n', 'data_type': "
        "'text'}. Offending data item: _dlt_id: s8+Jld"
    )
    with capture_logs() as logs:
        violation = contract_violation_from(RuntimeError(text), "bronze.orders")
    assert violation is not None
    assert str(violation) == (
        "schema of bronze.orders is frozen; the data has column n type bigint -> text"
    )
    [event] = [e for e in logs if e["event"] == "schema change rejected"]
    assert event["log_level"] == "error" and event["columns"] == ["n"]
    assert "s8+Jld" not in str(violation)
