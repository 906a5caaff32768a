"""Canaries for :mod:`floe_ingestion_dlt.compat.pyiceberg`: the private PyIceberg we rely on.

Each test drives real PyIceberg objects (a SQLite ``SqlCatalog`` in ``tmp_path``, no mocks)
and fails with a message naming the upstream name or behaviour that changed, so that a
PyIceberg release that moves one of them is caught here rather than by a broken load.
"""

from __future__ import annotations

import inspect
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, ValidationException
from pyiceberg.io.pyarrow import schema_to_pyarrow
from pyiceberg.manifest import DataFile, ManifestContent
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Operation
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
)

from floe_ingestion_dlt.compat import pyiceberg as compat

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "name", StringType(), required=False),
    NestedField(3, "part", StringType(), required=False),
)
ROWS = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": pa.array(["a", None, "c"], pa.string()),
        "part": pa.array(["x", "y", "x"], pa.string()),
    },
    schema=pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("name", pa.string()),
            pa.field("part", pa.string()),
        ]
    ),
)
FAST_RETRY = {
    TableProperties.COMMIT_MIN_RETRY_WAIT_MS: "1",
    TableProperties.COMMIT_MAX_RETRY_WAIT_MS: "5",
}


@contextmanager
def upstream(what: str) -> Iterator[None]:
    """Turn a missing or re-shaped upstream name into a failure that says which one."""
    try:
        yield
    except (AttributeError, ImportError, TypeError) as exc:
        pytest.fail(f"PyIceberg changed {what}: {type(exc).__name__}: {exc}")


@pytest.fixture
def catalog(tmp_path: Path) -> SqlCatalog:
    catalog = SqlCatalog(
        "canary",
        uri=f"sqlite:///{tmp_path}/catalog.db",
        warehouse=f"file://{tmp_path}/warehouse",
    )
    catalog.create_namespace("ns")
    return catalog


@pytest.fixture
def table(catalog: SqlCatalog) -> Table:
    return catalog.create_table("ns.t", schema=SCHEMA, properties=FAST_RETRY)


def _parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def _write(table: Table, rows: pa.Table, **kwargs: object) -> list[DataFile]:
    with upstream("pyiceberg.io.pyarrow._dataframe_to_data_files"):
        return list(
            compat.dataframe_to_data_files(
                table_metadata=table.metadata,
                df=rows,
                io=table.io,
                write_uuid=kwargs.pop("write_uuid", uuid.uuid4()),  # type: ignore[arg-type]
                **kwargs,  # type: ignore[arg-type]
            )
        )


# transaction_io -------------------------------------------------------------------------


def test_transaction_io_is_the_file_io_of_the_transactions_table(table: Table) -> None:
    with upstream("Transaction._table (the table of a transaction)"):
        io = compat.transaction_io(table.transaction())
    assert io is table.io, "Transaction._table.io is no longer the table's FileIO"


# dataframe_to_data_files ----------------------------------------------------------------


def test_dataframe_to_data_files_keeps_its_signature() -> None:
    from pyiceberg.io import pyarrow as pyiceberg_arrow

    with upstream("pyiceberg.io.pyarrow._dataframe_to_data_files"):
        names = _parameters(pyiceberg_arrow._dataframe_to_data_files)
    assert names[:5] == ["table_metadata", "df", "io", "write_uuid", "counter"], (
        f"_dataframe_to_data_files's parameters changed: {names}"
    )


def test_dataframe_to_data_files_writes_field_ids_and_metrics(table: Table) -> None:
    write_uuid = uuid.uuid4()
    files = _write(table, ROWS, write_uuid=write_uuid)

    assert len(files) == 1, f"3 rows should make one data file, got {len(files)}"
    data_file = files[0]
    assert str(write_uuid) in data_file.file_path, "the write uuid no longer names the file"
    assert data_file.record_count == 3
    assert data_file.file_size_in_bytes > 0
    path = data_file.file_path.removeprefix("file://")
    ids = {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in pq.read_schema(path)}
    assert ids == {"id": 1, "name": 2, "part": 3}, f"Parquet field ids not the table's: {ids}"
    assert data_file.value_counts == {1: 3, 2: 3, 3: 3}, data_file.value_counts
    assert data_file.null_value_counts == {1: 0, 2: 1, 3: 0}, data_file.null_value_counts
    assert set(data_file.lower_bounds) == {1, 2, 3}, "column lower bounds are missing"
    assert set(data_file.upper_bounds) == {1, 2, 3}, "column upper bounds are missing"

    with table.transaction() as txn, txn.update_snapshot().fast_append() as append:
        append.append_data_file(data_file)
    back = table.scan().to_arrow().cast(ROWS.schema).sort_by("id")
    assert back.equals(ROWS), "written rows do not read back"


def test_dataframe_to_data_files_splits_by_partition_and_counts_tasks(
    catalog: SqlCatalog,
) -> None:
    spec = PartitionSpec(
        PartitionField(source_id=3, field_id=1000, transform=IdentityTransform(), name="part")
    )
    table = catalog.create_table("ns.parted", schema=SCHEMA, partition_spec=spec)

    files = _write(table, ROWS, counter=itertools.count(7))

    by_part = {f.partition[0]: f.record_count for f in files}
    assert by_part == {"x": 2, "y": 1}, f"not one file per partition value: {by_part}"
    names = sorted(Path(f.file_path).name.split("-")[1] for f in files)
    assert names == ["7", "8"], f"task ids no longer drawn from the counter passed: {names}"


# check_arrow_schema_compatible ----------------------------------------------------------


def test_check_arrow_schema_compatible_accepts_the_tables_own_schema(table: Table) -> None:
    arrow = schema_to_pyarrow(table.schema(), include_field_ids=True)
    with upstream("pyiceberg.io.pyarrow._check_pyarrow_schema_compatible"):
        compat.check_arrow_schema_compatible(table.schema(), arrow, format_version=2)


@pytest.mark.parametrize(
    "arrow",
    [
        pytest.param(
            pa.schema(
                [
                    pa.field("id", pa.string(), metadata={"PARQUET:field_id": "1"}),
                    pa.field("name", pa.string(), metadata={"PARQUET:field_id": "2"}),
                    pa.field("part", pa.string(), metadata={"PARQUET:field_id": "3"}),
                ]
            ),
            id="another type",
        ),
        pytest.param(
            pa.schema(
                [
                    pa.field("id", pa.int64(), True, metadata={"PARQUET:field_id": "1"}),
                    pa.field("name", pa.string(), metadata={"PARQUET:field_id": "2"}),
                    pa.field("part", pa.string(), metadata={"PARQUET:field_id": "3"}),
                ]
            ),
            id="optional where the table is required",
        ),
    ],
)
def test_check_arrow_schema_compatible_refuses_with_value_error(
    table: Table, arrow: pa.Schema
) -> None:
    with (
        upstream("pyiceberg.io.pyarrow._check_pyarrow_schema_compatible"),
        pytest.raises(ValueError),
    ):
        compat.check_arrow_schema_compatible(table.schema(), arrow, format_version=2)


# arrow_to_schema_without_ids ------------------------------------------------------------


def test_arrow_to_schema_without_ids_converts_with_no_ids_assigned() -> None:
    arrow = pa.schema(
        [
            pa.field("id", pa.int64(), nullable=False),
            pa.field("s", pa.struct([("a", pa.string())])),
            pa.field("l", pa.list_(pa.int64())),
            pa.field("t", pa.timestamp("us")),
        ]
    )
    with upstream("pyiceberg.io.pyarrow._pyarrow_to_schema_without_ids"):
        schema = compat.arrow_to_schema_without_ids(arrow)

    assert [f.field_id for f in schema.fields] == [-1, -1, -1, -1], "field ids were assigned"
    assert [f.name for f in schema.fields] == ["id", "s", "l", "t"]
    assert schema.fields[0].field_type == LongType() and schema.fields[0].required
    assert isinstance(schema.fields[1].field_type, StructType)
    assert isinstance(schema.fields[2].field_type, ListType)
    assert schema.fields[3].field_type == TimestampType()


def test_arrow_to_schema_without_ids_downcasts_ns_only_when_asked() -> None:
    arrow = pa.schema([pa.field("t", pa.timestamp("ns"))])
    with upstream("pyiceberg.io.pyarrow._pyarrow_to_schema_without_ids"):
        schema = compat.arrow_to_schema_without_ids(arrow, downcast_ns_timestamp_to_us=True)
    assert schema.fields[0].field_type == TimestampType()
    with pytest.raises(Exception, match="unsupported type: timestamp\\[ns\\]") as refused:
        compat.arrow_to_schema_without_ids(arrow)
    assert refused.type.__name__ == "UnsupportedPyArrowTypeException", refused.type


# uncommitted_data_files -----------------------------------------------------------------


def test_uncommitted_data_files_lists_a_failed_commits_files_and_clears_on_success(
    catalog: SqlCatalog, table: Table
) -> None:
    table.transaction().set_properties(
        {TableProperties.COMMIT_NUM_RETRIES: "0"}
    ).commit_transaction()
    table.append(ROWS)
    txn = table.transaction()
    txn.append(ROWS)
    with upstream("Transaction._snapshot_producers / _SnapshotProducer._added_data_files"):
        staged = compat.uncommitted_data_files(txn)
    assert len(staged) == 1, f"the staged append's data file is not listed: {staged}"
    catalog.load_table("ns.t").append(ROWS)  # another writer moves the head

    with pytest.raises(CommitFailedException):
        txn.commit_transaction()

    after = compat.uncommitted_data_files(txn)
    assert [f.file_path for f in after] == [f.file_path for f in staged], (
        "a failed commit no longer keeps its producers' data files listed"
    )
    assert table.io.new_input(staged[0].file_path).exists(), (
        "PyIceberg now deletes the data files of a failed commit itself"
    )

    txn = catalog.load_table("ns.t").transaction()
    txn.append(ROWS)
    txn.commit_transaction()
    assert compat.uncommitted_data_files(txn) == [], (
        "a successful commit no longer clears Transaction._snapshot_producers: "
        "its (committed) data files would be deleted"
    )


# check_before_commit_retry --------------------------------------------------------------


def test_check_before_commit_retry_sees_the_other_writers_head(
    catalog: SqlCatalog, table: Table
) -> None:
    table.append(ROWS)
    txn = table.transaction()
    txn.append(ROWS)
    seen: list[TableMetadata] = []
    with upstream("Transaction._rebuild_snapshot_updates / Transaction._table"):
        compat.check_before_commit_retry(txn, seen.append)
    other = catalog.load_table("ns.t")
    other.append(ROWS)  # a conflict for txn
    head = other.metadata.current_snapshot_id

    txn.commit_transaction()

    assert len(seen) == 1, (
        f"the check ran {len(seen)} times on one conflict: PyIceberg's commit retry no longer "
        "calls Transaction._rebuild_snapshot_updates (the stale-state check would be skipped)"
    )
    assert seen[0].current_snapshot_id == head, (
        "the check did not get the catalog's head after the conflict (without our snapshot)"
    )
    landed = catalog.load_table("ns.t")
    assert len(landed.metadata.snapshots) == 3 and landed.scan().to_arrow().num_rows == 9


def test_check_before_commit_retry_refusal_ends_the_commit(
    catalog: SqlCatalog, table: Table
) -> None:
    table.append(ROWS)
    txn = table.transaction()
    txn.append(ROWS)

    def refuse(metadata: TableMetadata) -> None:
        raise ValidationException("stale")

    compat.check_before_commit_retry(txn, refuse)
    other = catalog.load_table("ns.t")
    other.append(ROWS)
    head = other.metadata.current_snapshot_id

    with pytest.raises(ValidationException, match="stale"):
        txn.commit_transaction()
    assert catalog.load_table("ns.t").metadata.current_snapshot_id == head, (
        "a refusal from the retry hook no longer stops PyIceberg's commit"
    )


def test_no_check_without_a_conflict(table: Table) -> None:
    txn = table.transaction()
    txn.append(ROWS)
    seen: list[TableMetadata] = []
    compat.check_before_commit_retry(txn, seen.append)
    txn.commit_transaction()
    assert seen == []


# ReplaceFiles ---------------------------------------------------------------------------


def _small_files(table: Table, count: int) -> list[DataFile]:
    for index in range(count):
        ids = pa.array([index * 10 + i for i in (1, 2, 3)], pa.int64())
        table.append(ROWS.set_column(0, ROWS.schema.field("id"), ids))
    return [task.file for task in table.scan().plan_files()]


def test_replace_files_commits_one_replace_snapshot_with_merged_manifests(table: Table) -> None:
    before = _small_files(table, 3)
    rows = table.scan().to_arrow().cast(ROWS.schema)
    written = _write(table, rows)

    txn = table.transaction()
    with upstream("pyiceberg.table.update.snapshot._OverwriteFiles"):
        producer = compat.ReplaceFiles.on(txn, {"floe.maintenance": "compaction"})
    with producer:
        for data_file in before:
            producer.delete_data_file(data_file)
        for data_file in written:
            producer.append_data_file(data_file)
    txn.commit_transaction()

    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary.operation == Operation.REPLACE, (
        f"operation {snapshot.summary.operation}: _OverwriteFiles._summary is no longer called"
    )
    summary = snapshot.summary.additional_properties
    assert summary["floe.maintenance"] == "compaction"
    assert summary["deleted-data-files"] == "3" and summary["added-data-files"] == "1", summary
    assert summary["total-data-files"] == "1" and summary["total-records"] == "9", summary
    data_manifests = [m for m in snapshot.manifests(table.io) if m.content == ManifestContent.DATA]
    assert len(data_manifests) == 1, (
        f"{len(data_manifests)} data manifests: _OverwriteFiles._process_manifests is no longer "
        "called, or _ManifestMergeManager no longer merges"
    )
    assert table.scan().to_arrow().cast(ROWS.schema).sort_by("id").equals(rows.sort_by("id"))


def test_replace_files_refuses_to_delete_a_file_that_is_not_live(
    catalog: SqlCatalog, table: Table
) -> None:
    gone = _small_files(table, 1)
    table.delete()  # another writer removed the file
    txn = catalog.load_table("ns.t").transaction()
    with pytest.raises(ValidationException, match="Missing required files to delete"):
        with compat.ReplaceFiles.on(txn, {}) as producer:
            producer.delete_data_file(gone[0])


def test_replace_files_is_not_refused_by_a_concurrent_append(
    catalog: SqlCatalog, table: Table
) -> None:
    """With PyIceberg's commit retry on, rows appended meanwhile survive the rewrite."""
    before = _small_files(table, 2)
    written = _write(table, table.scan().to_arrow().cast(ROWS.schema))
    txn = table.transaction()
    with compat.ReplaceFiles.on(txn, {}) as producer:
        for data_file in before:
            producer.delete_data_file(data_file)
        for data_file in written:
            producer.append_data_file(data_file)
    catalog.load_table("ns.t").append(ROWS)

    try:
        txn.commit_transaction()
    except (ValidationException, CommitFailedException) as exc:
        pytest.fail(
            "the concurrent append refused the rewrite: ReplaceFiles._validate_concurrency no "
            f"longer overrides PyIceberg's check on a commit retry ({type(exc).__name__}: {exc})"
        )

    landed = catalog.load_table("ns.t")
    assert landed.scan().to_arrow().num_rows == 9
    assert landed.current_snapshot().summary.operation == Operation.REPLACE  # type: ignore[union-attr]


# manifest_entries_cached ----------------------------------------------------------------


def test_manifest_entries_are_read_once_within_the_block_and_again_after(
    table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyiceberg.manifest import ManifestFile

    with upstream("ManifestFile.fetch_manifest_entry(io, discard_deleted)"):
        assert _parameters(ManifestFile.fetch_manifest_entry)[1:3] == ["io", "discard_deleted"]
    table.append(ROWS)
    snapshot = table.current_snapshot()
    assert snapshot is not None
    [manifest] = snapshot.manifests(table.io)
    opened: list[str] = []
    real_new_input = table.io.new_input

    def counting_new_input(location: str) -> object:
        opened.append(location)
        return real_new_input(location)

    monkeypatch.setattr(table.io, "new_input", counting_new_input)
    with compat.manifest_entries_cached():
        first = manifest.fetch_manifest_entry(table.io)
        again = manifest.fetch_manifest_entry(table.io)
        # what PyIceberg's scan planning and overwrite producer call, on its own threads too
        planned = list(table.scan().plan_files())
    assert opened.count(manifest.manifest_path) == 1
    assert [e.data_file.file_path for e in first] == [e.data_file.file_path for e in again]
    assert first is not again  # each caller gets a list of its own
    assert {t.file.file_path for t in planned} == {e.data_file.file_path for e in first}
    manifest.fetch_manifest_entry(table.io)
    assert opened.count(manifest.manifest_path) == 2  # the block is over: read again
