"""The table side of a merge: which data files can hold a batch's keys, and reading them.

Files are pruned twice before any is opened: PyIceberg's scan planning drops partitions and
files whose key ranges miss the batch's overall ``[min, max]`` per key column, then each
remaining file's per-column ``lower_bounds``/``upper_bounds`` (from the manifests) are checked
against the sorted batch keys: a file is a candidate only when, for every key column,
at least one batch value falls inside the file's range. A merge therefore reads only the files
its keys can touch, whatever the size of the table.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, overload

import pyarrow as pa
import pyarrow.compute as pc

from floe_ingestion_dlt.errors import DestinationWriteError, ErrorCategory

if TYPE_CHECKING:
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.schema import Schema
    from pyiceberg.table import FileScanTask
    from pyiceberg.table.metadata import TableMetadata
    from pyiceberg.types import IcebergType

    from floe_ingestion_dlt.destination.merge_batch import KeySet

_T = TypeVar("_T")
_R = TypeVar("_R")

__all__ = [
    "CandidateFiles",
    "KeyRanges",
    "on_own_threads",
    "plan_candidate_files",
    "read_data_file",
    "read_data_files",
]


class SortedValues(Sequence[Any]):
    """A column's sorted batch values, each turned into a Python value only when read.

    Checking a file's bounds bisects: about ``2 * log2(n)`` values per file and key column.
    Converting all ``n`` first (``to_pylist``: ~30 ms for 100,000 keys) costs more than that
    for the few files a merge usually plans; past ``n / 100`` files it does pay, and
    :meth:`materialize` does it once.
    """

    def __init__(self, values: pa.Array) -> None:
        self._array = values
        self._python: list[Any] | None = None

    def __len__(self) -> int:
        return len(self._array)

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        if self._python is not None:
            return self._python[index]
        if isinstance(index, slice):
            return self._array[index].to_pylist()
        return self._array[index].as_py()

    def materialize(self) -> None:
        """Convert every value now (worth it when many files are checked)."""
        if self._python is None:
            self._python = self._array.to_pylist()


def _comparable_values(values: pa.Array, field_type: IcebergType) -> SortedValues | None:
    """Sorted ``values`` as the Python values ``from_bytes`` gives for ``field_type``
    (duplicates kept: a bisect does not mind them, and dropping them costs another pass).

    ``None`` when the type has no order we can trust for pruning (floats, UUIDs, nested).
    """
    from pyiceberg.types import (
        BinaryType,
        BooleanType,
        DateType,
        DecimalType,
        FixedType,
        IntegerType,
        LongType,
        StringType,
        TimestampType,
        TimestamptzType,
        TimeType,
    )

    values = values.drop_null()
    try:
        if isinstance(field_type, IntegerType | LongType):
            values = values.cast(pa.int64())
        elif isinstance(field_type, StringType):
            values = values.cast(pa.string())
        elif isinstance(field_type, DateType):
            values = values.cast(pa.date32()).cast(pa.int32())
        elif isinstance(field_type, TimestampType | TimestamptzType):
            values = values.cast(pa.timestamp("us", tz=getattr(values.type, "tz", None)))
            values = values.cast(pa.int64())
        elif isinstance(field_type, TimeType):
            values = values.cast(pa.time64("us")).cast(pa.int64())
        elif not isinstance(field_type, DecimalType | BinaryType | FixedType | BooleanType):
            return None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return SortedValues(values.take(pc.sort_indices(values)))


@dataclass(frozen=True)
class ColumnRange:
    field_id: int
    field_type: Any
    values: SortedValues
    """Sorted batch values of the column."""

    def overlaps(self, data_file: DataFile) -> bool:
        from pyiceberg.conversions import from_bytes

        lower_raw = (data_file.lower_bounds or {}).get(self.field_id)
        upper_raw = (data_file.upper_bounds or {}).get(self.field_id)
        return self.overlaps_range(
            None if lower_raw is None else from_bytes(self.field_type, lower_raw),
            None if upper_raw is None else from_bytes(self.field_type, upper_raw),
        )

    def overlaps_range(self, low: Any, high: Any) -> bool:
        """Whether a batch value lies in ``[low, high]`` (``None``: unbounded on that side)."""
        start = 0 if low is None else bisect.bisect_left(self.values, low)
        if start >= len(self.values):
            return False
        return high is None or bool(self.values[start] <= high)


@dataclass(frozen=True)
class KeyRanges:
    """Per key set, the sorted batch values of each key column whose type allows pruning."""

    ranges: tuple[tuple[ColumnRange, ...], ...]

    @classmethod
    def of(cls, schema: Schema, key_sets: list[KeySet]) -> KeyRanges:
        """Ranges of the key sets' columns, resolved against the table schema."""
        per_set = []
        for key_set in key_sets:
            columns = []
            for name in key_set.columns:
                field = schema.find_field(name)
                values = _comparable_values(key_set.values(name), field.field_type)
                if values is not None:
                    columns.append(ColumnRange(field.field_id, field.field_type, values))
            per_set.append(tuple(columns))
        return cls(tuple(per_set))

    def prepare_for(self, file_count: int) -> None:
        """Convert the values up front when ``file_count`` bound checks make it cheaper."""
        for columns in self.ranges:
            for column in columns:
                if file_count * 100 > len(column.values):
                    column.values.materialize()

    def may_contain(self, data_file: DataFile) -> bool:
        """Whether ``data_file`` can hold a key of any key set, judged by its column bounds."""
        return any(all(col.overlaps(data_file) for col in columns) for columns in self.ranges)

    def row_filter(self, schema: Schema) -> BooleanExpression:
        """``min <= key <= max`` per prunable column, OR-ed over key sets (for scan planning)."""
        from pyiceberg.expressions import (
            AlwaysTrue,
            And,
            GreaterThanOrEqual,
            LessThanOrEqual,
            Or,
        )
        from pyiceberg.expressions.visitors import bind

        alternatives: list[BooleanExpression] = []
        for columns in self.ranges:
            expr: BooleanExpression = AlwaysTrue()
            for col in columns:
                if not col.values:
                    continue
                low, high = col.values[0], col.values[-1]
                if isinstance(low, bool):
                    continue
                name = schema.find_column_name(col.field_id)
                assert name is not None
                expr = And(
                    expr,
                    And(
                        GreaterThanOrEqual(term=name, value=low),
                        LessThanOrEqual(term=name, value=high),
                    ),
                )
            alternatives.append(expr)
        if not alternatives:
            return AlwaysTrue()
        combined = alternatives[0]
        for alt in alternatives[1:]:
            combined = Or(combined, alt)
        try:
            bind(schema, combined, case_sensitive=True)
        except Exception:  # a literal that does not convert: plan without the filter
            return AlwaysTrue()
        return combined


@dataclass(frozen=True)
class CandidateFiles:
    """The data files a merge has to look into."""

    tasks: list[FileScanTask]
    planned: int
    """Files left after scan planning (partition and metrics pruning), before bound checks."""
    ranges: KeyRanges | None = None
    """The batch's key ranges the files were pruned with (row groups are pruned with them)."""


def plan_candidate_files(
    metadata: TableMetadata, io: FileIO, key_sets: list[KeySet], table_name: str = ""
) -> CandidateFiles:
    """Current data files of the table that may hold any key of ``key_sets``.

    Raises:
        DestinationWriteError: when the table has equality delete files (written by another
            engine), which PyIceberg cannot apply.
    """
    from pyiceberg.table import DataScan

    if metadata.current_snapshot() is None or not any(len(k) for k in key_sets):
        return CandidateFiles(tasks=[], planned=0)
    schema = metadata.schema()
    ranges = KeyRanges.of(schema, key_sets)
    scan = DataScan(table_metadata=metadata, io=io, row_filter=ranges.row_filter(schema))
    try:
        tasks = list(scan.plan_files())
    except ValueError as exc:
        if "equality deletes" not in str(exc):
            raise
        raise DestinationWriteError(
            f"cannot merge into {table_name}: the table has equality delete files (written by "
            "another engine) that PyIceberg cannot apply; compact the table first "
            "(e.g. Spark rewrite_data_files)",
            category=ErrorCategory.PERMANENT,
            destination_table=table_name or None,
        ) from exc
    ranges.prepare_for(len(tasks))
    candidates = [task for task in tasks if ranges.may_contain(task.file)]
    return CandidateFiles(tasks=candidates, planned=len(tasks), ranges=ranges)


def read_data_file(
    table_metadata: TableMetadata, io: FileIO, task: FileScanTask, schema: Schema
) -> pa.Table:
    """The rows of one data file (its position deletes applied), projected on ``schema``.

    Columns the file predates read as NULL, so old files are rewritten in the current schema.
    """
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan

    return ArrowScan(table_metadata, io, schema, AlwaysTrue()).to_table([task])


def read_data_files(
    table_metadata: TableMetadata, io: FileIO, tasks: list[FileScanTask], schema: Schema
) -> list[pa.Table]:
    """:func:`read_data_file` over ``tasks`` in parallel, results in task order."""
    return on_own_threads(
        lambda task: read_data_file(table_metadata, io, task, schema), tasks, "floe-merge-read"
    )


def on_own_threads(function: Callable[[_T], _R], items: list[_T], name: str) -> list[_R]:
    """``function`` over ``items`` in parallel, results in order (one item: no thread).

    The threads are our own: PyIceberg's shared pool runs the reads' inner work, and waiting on
    it from its own workers would deadlock once every worker waits.
    """
    if len(items) <= 1:
        return [function(item) for item in items]
    import os
    from concurrent.futures import ThreadPoolExecutor

    workers = min(len(items), max(2, os.cpu_count() or 2))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        return list(pool.map(function, items))
