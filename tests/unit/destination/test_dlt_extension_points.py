"""Guards on the dlt internals the destination extends: these fail if dlt changes underneath."""

from __future__ import annotations

import inspect

import dlt
from dlt.destinations.impl.filesystem import filesystem as fs_module

from floe_ingestion_dlt.destination.client import FloeIcebergClient
from floe_ingestion_dlt.destination.load_job import IcebergSnapshotLoadJob


def test_dlt_minor_version_is_the_pinned_one() -> None:
    assert dlt.__version__.startswith("1.31."), "re-check every override before moving dlt"


def test_overridden_client_methods_exist_with_the_same_signature() -> None:
    base = fs_module.FilesystemClient
    for name in (
        "get_open_table_catalog",
        "load_open_table",
        "get_open_table_location",
        "get_stored_state",
        "get_reference_followup_job_requests",
    ):
        theirs = inspect.signature(getattr(base, name)).parameters
        ours = inspect.signature(getattr(FloeIcebergClient, name)).parameters
        assert [(p.name, p.kind) for p in theirs.values()] == [
            (p.name, p.kind) for p in ours.values()
        ], name
    assert isinstance(
        inspect.getattr_static(base, "get_reference_followup_job_class"), staticmethod
    )


def test_followup_job_base_still_exposes_file_paths_and_table() -> None:
    base = fs_module.TableFormatLoadFilesystemJob
    assert issubclass(IcebergSnapshotLoadJob, base)
    assert "file_paths" in inspect.getsource(fs_module.ReferenceFollowupJob.__init__)
    source = inspect.getsource(fs_module.FilesystemClient.get_load_job_class)
    assert "get_reference_followup_job_class" in source


def test_iceberg_tables_route_to_our_job() -> None:
    table = {"name": "t", "table_format": "iceberg", "write_disposition": "append", "columns": {}}
    assert FloeIcebergClient.get_reference_followup_job_class(table) is IcebergSnapshotLoadJob  # type: ignore[arg-type]


def test_dlt_resolves_parquet_writers_through_writer_specs() -> None:
    """The spec-exact writers of ``data_files`` replace dlt's through ``WRITER_SPECS``."""
    from dlt.common.data_writers import writers
    from dlt.common.storages import data_item_storage

    from floe_ingestion_dlt.destination.data_files import (
        IcebergArrowParquetWriter,
        IcebergObjectParquetWriter,
        install_iceberg_parquet_writers,
    )

    install_iceberg_parquet_writers()
    assert "WRITER_SPECS[spec]" in inspect.getsource(writers.DataWriter.writer_class_from_spec)
    assert "writer_class_from_spec" in inspect.getsource(data_item_storage)
    arrow_spec = writers.ArrowToParquetWriter.writer_spec()
    object_spec = writers.ParquetDataWriter.writer_spec()
    assert writers.DataWriter.writer_class_from_spec(arrow_spec) is IcebergArrowParquetWriter
    assert writers.DataWriter.writer_class_from_spec(object_spec) is IcebergObjectParquetWriter
    # the methods the subclasses extend are still there, with what they read
    create = inspect.getsource(writers.ParquetDataWriter._create_writer)
    assert "pyarrow.parquet.ParquetWriter(self._f, schema" in create
    header = inspect.getsource(writers.ParquetDataWriter.write_header)
    assert "columns_to_arrow(columns_schema, self._caps, self.timestamp_timezone)" in header
    assert "self._create_writer(table.schema)" in inspect.getsource(
        writers.ArrowToParquetWriter.write_data
    )


def test_followup_requests_see_every_table_of_the_chain() -> None:
    """Nested merge jobs are built from the chain and its completed jobs (``nested_merge``)."""
    source = inspect.getsource(
        fs_module.FilesystemClient.create_table_chain_completed_followup_jobs
    )
    assert "get_reference_followup_job_requests" in source
