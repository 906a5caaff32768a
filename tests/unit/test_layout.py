"""Parsing of layout expressions and the row order ``sort_rows`` gives (no catalog)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from floe_ingestion_dlt.layout import PartitionField, SortField, TableLayout, sort_rows
from floe_ingestion_dlt.maintenance.policy import MaintenancePolicy, parse_duration


@pytest.mark.parametrize(
    ("text", "column", "transform", "name"),
    [
        ("region", "region", "identity", "region"),
        ("identity(region)", "region", "identity", "region"),
        ("year(ts)", "ts", "year", "ts_year"),
        ("MONTH( ts )", "ts", "month", "ts_month"),
        ("day(ts)", "ts", "day", "ts_day"),
        ("hour(ts)", "ts", "hour", "ts_hour"),
        ("bucket(16, id)", "id", "bucket[16]", "id_bucket_16"),
        ("bucket[16](id)", "id", "bucket[16]", "id_bucket_16"),
        ("truncate(4, name)", "name", "truncate[4]", "name_truncate_4"),
        ("truncate[4](name)", "name", "truncate[4]", "name_truncate_4"),
    ],
)
def test_partition_fields_parse(text: str, column: str, transform: str, name: str) -> None:
    field = PartitionField.parse(text)
    assert (field.column, field.transform, field.field_name) == (column, transform, name)
    assert str(field.iceberg_transform()) == transform


@pytest.mark.parametrize(
    "text", ["day(ts", "week(ts)", "bucket(id)", "bucket(0, id)", "truncate(x, a)", "day(a b)", ""]
)
def test_bad_partition_fields_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        PartitionField.parse(text)


@pytest.mark.parametrize(
    ("text", "desc", "nulls_first"),
    [
        ("id", False, True),
        ("id desc", True, False),
        ("id DESC NULLS FIRST", True, True),
        ("day(ts) asc nulls last", False, False),
    ],
)
def test_sort_fields_parse(text: str, desc: bool, nulls_first: bool) -> None:
    field = SortField.parse(text)
    assert field.descending is desc and field.effective_nulls_first is nulls_first


def test_layout_properties_and_emptiness() -> None:
    assert TableLayout().is_empty
    layout = TableLayout(target_file_size_mb=64, table_properties={"a": True, "b": 3})  # type: ignore[dict-item]
    assert layout.properties() == {
        "a": "true",
        "b": "3",
        "write.target-file-size-bytes": str(64 * 1024 * 1024),
    }
    assert TableLayout(partition_by="day(ts)").partition_by == ["day(ts)"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="twice"):
        TableLayout(partition_by=["day(ts)", "day(ts)"])


def _metadata(order: list[str], schema: pa.Schema) -> Any:
    """Table metadata of a new table with ``order`` as its sort order."""
    from pyiceberg.io.pyarrow import pyarrow_to_schema
    from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC
    from pyiceberg.schema import assign_fresh_schema_ids
    from pyiceberg.table.metadata import new_table_metadata
    from pyiceberg.table.name_mapping import MappedField, NameMapping
    from pyiceberg.table.sorting import (
        NullOrder,
        SortDirection,
        SortOrder,
    )
    from pyiceberg.table.sorting import (
        SortField as IcebergSort,
    )

    mapping = NameMapping(
        [MappedField(field_id=i + 1, names=[f.name]) for i, f in enumerate(schema)]
    )
    iceberg_schema = assign_fresh_schema_ids(pyarrow_to_schema(schema, name_mapping=mapping))
    fields = []
    for text in order:
        s = SortField.parse(text)
        fields.append(
            IcebergSort(
                source_id=iceberg_schema.find_field(s.term.column).field_id,
                transform=s.term.iceberg_transform(),
                direction=SortDirection.DESC if s.descending else SortDirection.ASC,
                null_order=NullOrder.NULLS_FIRST
                if s.effective_nulls_first
                else NullOrder.NULLS_LAST,
            )
        )
    return new_table_metadata(
        schema=iceberg_schema,
        partition_spec=UNPARTITIONED_PARTITION_SPEC,
        sort_order=SortOrder(*fields),
        location="file:///tmp/x",
    )


def test_sort_rows_follows_directions_and_null_placement() -> None:
    rows = pa.table({"a": [2, None, 1, 2, None], "b": ["x", "y", None, "a", "z"]})
    metadata = _metadata(["a desc nulls first", "b nulls last"], rows.schema)
    ordered = sort_rows(rows, metadata).to_pylist()
    assert ordered == [
        {"a": None, "b": "y"},
        {"a": None, "b": "z"},
        {"a": 2, "b": "a"},
        {"a": 2, "b": "x"},
        {"a": 1, "b": None},
    ]


def test_durations_and_policy() -> None:
    assert parse_duration("90s") == 90 and parse_duration("2w") == 14 * 86400
    with pytest.raises(ValueError):
        parse_duration("7 days")
    assert not MaintenancePolicy().does_anything
    assert MaintenancePolicy(remove_orphans_older_than="3d").orphan_grace_seconds == 3 * 86400
