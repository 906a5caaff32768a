"""The batch side of a merge: keys, duplicates and hard deletes, all in Arrow compute.

A :class:`MergePlan` is read from the dlt table hints (``primary_key``, ``merge_key``,
``hard_delete`` and ``dedup_sort`` column hints, ``x-merge-strategy``). :class:`KeySet` holds
the distinct keys of a batch and tells which rows of any Arrow table carry one of them, with a
hash lookup (``pc.is_in``) for a single key column and a hash semi-join for composite keys.
No step loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from floe_ingestion_dlt.errors import (
    DestinationWriteError,
    ErrorCategory,
    PipelineConfigurationError,
    ValidationError,
)
from floe_ingestion_dlt.vocabulary import DEFAULT_MERGE_STRATEGY, MergeStrategy, missing_merge_keys

__all__ = [
    "KeySet",
    "MergePlan",
    "arange",
    "deduplicate",
    "hard_deleted_mask",
]

_POSITION = "__floe_merge_position"


def arange(n: int) -> pa.Int64Array:
    """``0 .. n-1`` as an Arrow array, built without a Python loop."""
    if n == 0:
        return pa.array([], pa.int64())
    ones = pc.fill_null(pa.nulls(n, pa.int64()), 1)
    result: pa.Int64Array = pc.subtract(pc.cumulative_sum(ones), 1)
    return result


def _columns_with(hints: dict[str, Any], prop: str) -> tuple[str, ...]:
    columns: dict[str, dict[str, Any]] = hints.get("columns") or {}
    return tuple(name for name, col in columns.items() if col.get(prop))


@dataclass(frozen=True)
class MergePlan:
    """What a merge does, read from the table's dlt hints."""

    strategy: MergeStrategy
    primary_key: tuple[str, ...]
    merge_key: tuple[str, ...] = ()
    hard_delete_column: str | None = None
    dedup_sort: tuple[str, str] | None = None
    table_name: str = ""

    @classmethod
    def from_hints(cls, hints: dict[str, Any]) -> MergePlan:
        """Read the plan from a dlt (prepared) table schema.

        Raises:
            ValidationError: for an unknown strategy, or upsert/insert-only without a primary key,
                or delete-insert with neither a primary key nor a merge key.
        """
        table_name = str(hints.get("name") or "")
        given = str(hints.get("x-merge-strategy") or DEFAULT_MERGE_STRATEGY)
        try:
            strategy = MergeStrategy(given)
        except ValueError:
            raise ValidationError(
                f"source_config.merge_strategy: {given!r} is not supported for Iceberg tables "
                f"(allowed: {[s.value for s in MergeStrategy]})",
                field="source_config.merge_strategy",
                destination_table=table_name or None,
            ) from None
        if hints.get("parent"):
            return cls._for_nested_table(hints, strategy, table_name)
        primary_key = _columns_with(hints, "primary_key")
        merge_key = _columns_with(hints, "merge_key")
        missing = missing_merge_keys(strategy, primary_key=primary_key, merge_key=merge_key)
        if missing:
            raise ValidationError(
                f"source_config.primary_key: table {table_name!r}: {missing}",
                field="source_config.primary_key",
                destination_table=table_name or None,
            )
        hard_delete = _columns_with(hints, "hard_delete")
        dedup = _columns_with(hints, "dedup_sort")
        dedup_sort = None
        if dedup:
            dedup_sort = (dedup[0], str(hints["columns"][dedup[0]]["dedup_sort"]))
        return cls(
            strategy=strategy,
            primary_key=primary_key,
            merge_key=merge_key,
            hard_delete_column=hard_delete[0] if hard_delete else None,
            dedup_sort=dedup_sort,
            table_name=table_name,
        )

    @classmethod
    def _for_nested_table(
        cls, hints: dict[str, Any], strategy: MergeStrategy, table_name: str
    ) -> MergePlan:
        """Nested (child) tables merge on dlt's keys: their rows of a root are replaced.

        Under ``upsert`` and ``insert-only`` dlt gives a root row a row key derived from its
        primary key, and each nested row a row key (``_dlt_id``, stable per root and list
        position) and a root key (``_dlt_root_id``). Every existing nested row whose root
        appears in the batch is deleted and the batch's rows are inserted; ``insert-only`` adds
        rows whose row key is new. Under ``upsert`` the job of a nested table also gets the
        root table's files (:mod:`.nested_merge`), so roots whose lists are now empty or missing
        and hard-deleted roots lose their nested rows too. Under ``delete-insert`` dlt gives
        root rows random row keys, so old nested rows could not be found: refused with a
        configuration error.
        """
        if strategy is MergeStrategy.DELETE_INSERT:
            raise PipelineConfigurationError(
                f"source_config.merge_strategy: {strategy.value!r} cannot merge the nested "
                f"table {table_name!r} (lists inside rows) into Iceberg: use "
                f"{MergeStrategy.UPSERT.value!r}, or flatten the nested data",
                field="source_config.merge_strategy",
                destination_table=table_name or None,
            )
        row_key = _columns_with(hints, "row_key") or _columns_with(hints, "unique")
        root_key = _columns_with(hints, "root_key")
        if not row_key:
            raise ValidationError(
                f"nested table {table_name!r} has no row key (_dlt_id) to merge on",
                field="source_config.primary_key",
                destination_table=table_name or None,
            )
        if strategy is MergeStrategy.INSERT_ONLY:
            return cls(strategy=strategy, primary_key=row_key, table_name=table_name)
        if root_key:  # replace the rows of every root in the batch
            return cls(
                strategy=MergeStrategy.DELETE_INSERT,
                primary_key=row_key,
                merge_key=root_key,
                table_name=table_name,
            )
        return cls(strategy=MergeStrategy.UPSERT, primary_key=row_key, table_name=table_name)

    def check_batch(self, data: pa.Table) -> None:
        """Refuse a batch that lacks a key column or has a NULL primary key value."""
        for kind, columns in (("primary_key", self.primary_key), ("merge_key", self.merge_key)):
            for name in columns:
                if name not in data.column_names:
                    raise ValidationError(
                        f"source_config.{kind}: column {name!r} is not in the data of "
                        f"{self.table_name!r} (columns: {data.column_names})",
                        field=f"source_config.{kind}",
                        destination_table=self.table_name or None,
                    )
        for name in self.primary_key:
            nulls = data.column(name).null_count
            if nulls:
                raise DestinationWriteError(
                    f"primary key column {name!r} of {self.table_name!r} has {nulls} NULL "
                    "value(s) in the batch; a merge needs every key set. Nothing was written.",
                    category=ErrorCategory.PERMANENT,
                    destination_table=self.table_name or None,
                    field=name,
                )


def deduplicate(
    data: pa.Table, key: tuple[str, ...], dedup_sort: tuple[str, str] | None
) -> pa.Table:
    """One row per key: the last one in batch order, or the one ``dedup_sort`` prefers.

    ``dedup_sort=(column, "desc")`` keeps the row with the highest value of ``column`` (dlt's
    meaning), ``"asc"`` the lowest; ties and NULLs fall back to the last row. Winners keep
    their batch order.
    """
    if not key or data.num_rows == 0:
        return data
    order: pa.Array | None = None
    ranked = data.select(list(key))
    if dedup_sort is not None and dedup_sort[0] in data.column_names:
        column, direction = dedup_sort
        # the preferred row must come last; sort_indices is stable so ties keep batch order
        arrow_order = "ascending" if direction == "desc" else "descending"
        values = data.column(column)
        ranking = pa.table({"valid": pc.is_valid(values), "value": values})
        # NULLs first (least preferred), whatever the direction
        order = pc.sort_indices(ranking, sort_keys=[("valid", "ascending"), ("value", arrow_order)])
        ranked = ranked.take(order)
    ranked = ranked.append_column(_POSITION, arange(data.num_rows))
    winners = ranked.group_by(list(key), use_threads=False).aggregate([(_POSITION, "max")])
    if winners.num_rows == data.num_rows:
        return data
    rows = winners.column(f"{_POSITION}_max").combine_chunks()
    if order is not None:
        rows = pc.take(order, rows)
    return data.take(pc.take(rows, pc.sort_indices(rows)))


def all_false(n: int) -> pa.BooleanArray:
    """A boolean mask of ``n`` ``False`` values."""
    result: pa.BooleanArray = pc.fill_null(pa.nulls(n, pa.bool_()), False)
    return result


def hard_deleted_mask(data: pa.Table, column: str | None) -> pa.BooleanArray:
    """Rows flagged deleted: ``True`` in a boolean column, any non-NULL value otherwise (dlt)."""
    if column is None or column not in data.column_names:
        return all_false(data.num_rows)
    values = data.column(column).combine_chunks()
    if pa.types.is_boolean(values.type):
        return pc.fill_null(values, False)
    return pc.is_valid(values)


@dataclass(frozen=True)
class KeySet:
    """The distinct, non-NULL values of ``columns`` in a batch."""

    columns: tuple[str, ...]
    keys: pa.Table

    @classmethod
    def of(cls, data: pa.Table, columns: tuple[str, ...], *, distinct: bool = False) -> KeySet:
        """The key set of ``data`` (rows with a NULL in any key column take no part);
        ``distinct=True`` when no two rows of ``data`` share a key (e.g. :func:`deduplicate`'s
        result): the grouping that removes repeats is skipped."""
        keys = data.select(list(columns))
        for name in columns:
            if keys.column(name).null_count:
                keys = keys.filter(pc.is_valid(keys.column(name)))
        if not distinct:
            keys = keys.group_by(list(columns), use_threads=False).aggregate([])
        return cls(columns=columns, keys=keys.select(list(columns)))

    def __len__(self) -> int:
        return int(self.keys.num_rows)

    def values(self, column: str) -> pa.Array:
        """The distinct values of one key column (as one array)."""
        values = self.keys.column(column).combine_chunks()
        return values if len(self.columns) == 1 else pc.unique(values)

    def contains(self, table: pa.Table) -> pa.BooleanArray:
        """Which rows of ``table`` carry a key of this set (a boolean mask without NULLs)."""
        n = table.num_rows
        if n == 0 or len(self) == 0:
            return all_false(n)
        found: pa.BooleanArray
        if len(self.columns) == 1:
            name = self.columns[0]
            column = table.column(name).combine_chunks()
            value_set = self.keys.column(name).combine_chunks()
            if value_set.type != column.type:
                value_set = value_set.cast(column.type)
            found = pc.fill_null(pc.is_in(column, value_set=value_set, skip_nulls=True), False)
            return found
        probe = table.select(list(self.columns))
        keys = self.keys
        if keys.schema != probe.schema:
            keys = keys.cast(probe.schema)
        positions = arange(n)
        probe = probe.append_column(_POSITION, positions)
        matched = probe.join(keys, keys=list(self.columns), join_type="left semi")
        found = pc.is_in(positions, value_set=matched.column(_POSITION).combine_chunks())
        return found
