"""The batch side of merge: plan from dlt hints, deduplication, hard-delete flags, key lookup."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pyarrow as pa
import pytest

from floe_ingestion_dlt.destination.merge_batch import (
    KeySet,
    MergePlan,
    arange,
    deduplicate,
    hard_deleted_mask,
)
from floe_ingestion_dlt.errors import (
    DestinationWriteError,
    ErrorCategory,
    PipelineConfigurationError,
    ValidationError,
)


def hints(strategy: str | None = "upsert", **columns: dict[str, Any]) -> dict[str, Any]:
    table: dict[str, Any] = {
        "name": "t",
        "columns": {n: {"name": n, **c} for n, c in columns.items()},
    }
    if strategy is not None:
        table["x-merge-strategy"] = strategy
    return table


class TestMergePlan:
    def test_reads_keys_hard_delete_and_dedup_sort_from_column_hints(self) -> None:
        plan = MergePlan.from_hints(
            hints(
                "delete-insert",
                a={"primary_key": True},
                v={"dedup_sort": "desc"},
                b={"primary_key": True},
                day={"merge_key": True},
                gone={"hard_delete": True},
            )
        )
        assert plan == MergePlan(
            strategy="delete-insert",
            primary_key=("a", "b"),
            merge_key=("day",),
            hard_delete_column="gone",
            dedup_sort=("v", "desc"),
            table_name="t",
        )

    def test_upsert_is_the_default_strategy(self) -> None:
        assert MergePlan.from_hints(hints(None, id={"primary_key": True})).strategy == "upsert"

    @pytest.mark.parametrize("strategy", ["upsert", "insert-only", "delete-insert"])
    def test_no_key_is_a_configuration_error_naming_primary_key(self, strategy: str) -> None:
        with pytest.raises(ValidationError) as info:
            MergePlan.from_hints(hints(strategy, id={"nullable": False}))
        assert info.value.field == "source_config.primary_key"
        assert info.value.category is ErrorCategory.CONFIGURATION

    def test_delete_insert_accepts_a_merge_key_alone(self) -> None:
        plan = MergePlan.from_hints(hints("delete-insert", day={"merge_key": True}))
        assert plan.primary_key == ()
        assert plan.merge_key == ("day",)

    def test_unknown_strategy_names_merge_strategy(self) -> None:
        with pytest.raises(ValidationError) as info:
            MergePlan.from_hints(hints("scd2", id={"primary_key": True}))
        assert info.value.field == "source_config.merge_strategy"

    def test_batch_without_the_key_column_is_refused(self) -> None:
        plan = MergePlan.from_hints(hints("upsert", id={"primary_key": True}))
        with pytest.raises(ValidationError, match="'id' is not in the data"):
            plan.check_batch(pa.table({"other": [1]}))

    def test_null_primary_key_is_a_permanent_error_naming_the_column(self) -> None:
        plan = MergePlan.from_hints(hints("upsert", id={"primary_key": True}))
        with pytest.raises(DestinationWriteError) as info:
            plan.check_batch(pa.table({"id": [1, None, 3]}))
        assert info.value.category is ErrorCategory.PERMANENT
        assert info.value.field == "id"
        assert "1 NULL" in str(info.value)


class TestDeduplicate:
    def test_last_row_of_a_key_wins_and_winners_keep_batch_order(self) -> None:
        data = pa.table({"id": [3, 1, 3, 2, 1, 3], "v": ["a", "b", "c", "d", "e", "f"]})
        out = deduplicate(data, ("id",), None)
        assert out.to_pylist() == [
            {"id": 2, "v": "d"},
            {"id": 1, "v": "e"},
            {"id": 3, "v": "f"},
        ]

    def test_composite_key(self) -> None:
        data = pa.table({"a": [1, 1, 1, 2], "b": ["x", "y", "x", "x"], "v": [1, 2, 3, 4]})
        out = deduplicate(data, ("a", "b"), None)
        assert out.to_pylist() == [
            {"a": 1, "b": "y", "v": 2},
            {"a": 1, "b": "x", "v": 3},
            {"a": 2, "b": "x", "v": 4},
        ]

    def test_unique_batch_is_returned_as_is(self) -> None:
        data = pa.table({"id": [1, 2, 3]})
        assert deduplicate(data, ("id",), None) is data

    @pytest.mark.parametrize(("order", "kept"), [("desc", "high"), ("asc", "low")])
    def test_dedup_sort_prefers_highest_or_lowest_then_last(self, order: str, kept: str) -> None:
        data = pa.table(
            {
                "id": [1, 1, 1, 1, 2],
                "seq": [5, 9, None, 1, 7],
                "v": ["mid", "high", "null", "low", "only"],
            }
        )
        out = deduplicate(data, ("id",), ("seq", order))
        assert {r["id"]: r["v"] for r in out.to_pylist()} == {1: kept, 2: "only"}

    def test_dedup_sort_ties_fall_back_to_the_last_row(self) -> None:
        data = pa.table({"id": [1, 1, 1], "seq": [4, 4, 2], "v": ["first", "second", "low"]})
        assert deduplicate(data, ("id",), ("seq", "desc")).to_pylist() == [
            {"id": 1, "seq": 4, "v": "second"}
        ]


class TestHardDeleteMask:
    def test_boolean_column_true_means_deleted_null_and_false_do_not(self) -> None:
        data = pa.table({"gone": pa.array([True, False, None])})
        assert hard_deleted_mask(data, "gone").to_pylist() == [True, False, False]

    def test_other_types_any_value_means_deleted(self) -> None:
        ts = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
        data = pa.table({"deleted_at": pa.array([None, ts, None])})
        assert hard_deleted_mask(data, "deleted_at").to_pylist() == [False, True, False]

    def test_no_column_nothing_deleted(self) -> None:
        data = pa.table({"id": [1, 2]})
        assert hard_deleted_mask(data, None).to_pylist() == [False, False]
        assert hard_deleted_mask(data, "missing").to_pylist() == [False, False]


class TestKeySet:
    def test_single_key_membership_casts_the_batch_type(self) -> None:
        keys = KeySet.of(pa.table({"id": pa.array([3, 1, 3], pa.int32())}), ("id",))
        assert len(keys) == 2
        table = pa.table({"id": pa.array([1, 2, 3, None], pa.int64())})
        assert keys.contains(table).to_pylist() == [True, False, True, False]

    def test_composite_key_membership_needs_every_column(self) -> None:
        keys = KeySet.of(pa.table({"a": [1, 2], "b": ["x", "y"]}), ("a", "b"))
        table = pa.table({"a": [1, 1, 2, 2], "b": ["x", "y", "x", "y"], "v": [0, 0, 0, 0]})
        assert keys.contains(table).to_pylist() == [True, False, False, True]

    def test_rows_with_null_keys_take_no_part(self) -> None:
        keys = KeySet.of(pa.table({"day": [None, "d1"]}), ("day",))
        assert keys.values("day").to_pylist() == ["d1"]
        assert keys.contains(pa.table({"day": [None, "d1"]})).to_pylist() == [False, True]

    def test_empty_table(self) -> None:
        keys = KeySet.of(pa.table({"id": [1]}), ("id",))
        assert keys.contains(pa.table({"id": pa.array([], pa.int64())})).to_pylist() == []


def test_arange() -> None:
    assert arange(0).to_pylist() == []
    assert arange(4).to_pylist() == [0, 1, 2, 3]


class TestNestedTablePlan:
    nested: ClassVar[dict[str, Any]] = {
        "name": "orders__items",
        "parent": "orders",
        "columns": {
            "sku": {"name": "sku"},
            "_dlt_root_id": {"name": "_dlt_root_id", "root_key": True},
            "_dlt_id": {"name": "_dlt_id", "unique": True, "row_key": True},
        },
    }

    def test_rows_of_the_batch_roots_are_replaced(self) -> None:
        plan = MergePlan.from_hints({**self.nested, "x-merge-strategy": "upsert"})
        assert (plan.strategy, plan.primary_key, plan.merge_key) == (
            "delete-insert",
            ("_dlt_id",),
            ("_dlt_root_id",),
        )

    def test_delete_insert_is_refused_naming_merge_strategy(self) -> None:
        with pytest.raises(PipelineConfigurationError) as info:
            MergePlan.from_hints({**self.nested, "x-merge-strategy": "delete-insert"})
        assert info.value.field == "source_config.merge_strategy"

    def test_insert_only_adds_new_row_keys(self) -> None:
        plan = MergePlan.from_hints({**self.nested, "x-merge-strategy": "insert-only"})
        assert (plan.strategy, plan.primary_key, plan.merge_key) == (
            "insert-only",
            ("_dlt_id",),
            (),
        )

    def test_without_a_root_key_upserts_by_row_key(self) -> None:
        columns = {k: v for k, v in self.nested["columns"].items() if k != "_dlt_root_id"}
        plan = MergePlan.from_hints({**self.nested, "columns": columns})
        assert (plan.strategy, plan.primary_key) == ("upsert", ("_dlt_id",))
