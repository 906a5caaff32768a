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
