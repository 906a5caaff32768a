"""Canaries of ``floe_ingestion_dlt.compat.dlt``: each drives the real dlt objects (no mocks).

A failure here means dlt changed a private name or behaviour the plugin relies on: the message
says which; fix the compat function (or drop it if dlt now has a public way), not the plugin.
"""

from __future__ import annotations

import importlib
import inspect
import io
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dlt.common.configuration import configspec, resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration, RuntimeConfiguration
from dlt.common.data_writers import writers as dlt_writers
from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.schema import Schema
from dlt.destinations.impl.filesystem.factory import filesystem
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient

from floe_ingestion_dlt.compat import dlt as compat

UPSTREAM = f"dlt {dlt.__version__}"


def _changed(what: str) -> str:
    return f"{UPSTREAM} changed {what}: update floe_ingestion_dlt/compat/dlt.py"


@pytest.fixture
def pipelines_dir(tmp_path: Path) -> Path:
    return tmp_path / "pipelines"


def _filesystem_pipeline(tmp_path: Path, destination: Any, name: str = "canary") -> Any:
    return dlt.pipeline(
        name,
        destination=destination,
        dataset_name="canary_data",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


# -- destination factory ---------------------------------------------------------------------


class _MarkedFactory(compat.FilesystemFactoryHooks):
    def extend_capabilities(
        self, caps: DestinationCapabilitiesContext
    ) -> DestinationCapabilitiesContext:
        caps.supported_merge_strategies = [*caps.supported_merge_strategies, "delete-insert"]
        caps.max_identifier_length = 123
        return caps


def test_factory_hooks_extend_the_capabilities_dlt_builds(tmp_path: Path) -> None:
    assert "_raw_capabilities" in vars(filesystem), _changed("filesystem._raw_capabilities")
    caps = _MarkedFactory(bucket_url=tmp_path.as_uri()).capabilities()
    assert caps.max_identifier_length == 123, _changed(
        "Destination.capabilities: it no longer builds on _raw_capabilities()"
    )
    assert "delete-insert" in caps.supported_merge_strategies
    plain = filesystem(bucket_url=tmp_path.as_uri()).capabilities()
    assert plain.max_identifier_length != 123


class _CapturingFactory(filesystem):
    seen: ClassVar[list[Any]] = []

    @classmethod
    def adjust_capabilities(cls, caps: Any, config: Any, naming: Any) -> Any:
        cls.seen.append(config)
        return super().adjust_capabilities(caps, config, naming)


def test_partial_configuration_is_what_dlt_resolves_without_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    factory = _CapturingFactory(bucket_url=tmp_path.as_uri())
    layout_env = f"DESTINATION__{factory.destination_name.upper()}__LAYOUT"
    monkeypatch.setenv(layout_env, "{table_name}/{load_id}.{ext}")
    _CapturingFactory.seen.clear()
    factory.capabilities()
    (theirs,) = _CapturingFactory.seen
    ours = compat.partial_destination_configuration(factory)
    assert type(ours) is type(theirs)
    assert dict(ours) == dict(theirs), _changed(
        "the partial configuration Destination.capabilities resolves without a config"
    )
    assert ours.layout == "{table_name}/{load_id}.{ext}"
    assert compat.partial_destination_configuration(factory) is ours  # memoized
    monkeypatch.setenv(layout_env, "{table_name}/x/{load_id}.{ext}")
    assert compat.partial_destination_configuration(factory).layout.startswith("{table_name}/x")


def test_partial_configuration_copies_the_steps_of_dlts_capabilities() -> None:
    from dlt.common.destination.reference import Destination

    source = inspect.getsource(Destination.capabilities)
    for step in (
        "caps = self._raw_capabilities()",
        "init_config.update(self.config_params)",
        "credentials = self.spec.credentials_type(init_config)()",
        "credentials.__is_resolved__ = True",
        "config = self.spec(credentials=credentials)",
        "config = self.configuration(config, accept_partial=True)",
        "caps = self.adjust_capabilities(caps, config, naming)",
    ):
        assert step in source, _changed(f"Destination.capabilities (step {step!r} is gone)")
    adjust = inspect.getsource(filesystem.adjust_capabilities)
    assert adjust.count("config.") == 1 and "config.protocol" in adjust, _changed(
        "filesystem.adjust_capabilities: it reads more than config.protocol"
    )


# -- job client ------------------------------------------------------------------------------


class _RecordingClient(compat.FilesystemClientHooks):
    reads: ClassVar[list[str]] = []

    def read_stored_schema(self, read: Callable[[], Any]) -> Any:
        result = read()
        self.reads.append("found" if result is not None else "none")
        return result


class _RecordingFactory(filesystem):
    @property
    def client_class(self) -> type[FilesystemClient]:
        return _RecordingClient


def test_client_hooks_see_every_stored_schema_read(tmp_path: Path) -> None:
    params = list(
        inspect.signature(FilesystemClient._get_stored_schema_by_hash_or_newest).parameters
    )
    assert params == ["self", "version_hash", "schema_name"], _changed(
        f"FilesystemClient._get_stored_schema_by_hash_or_newest{params}"
    )
    _RecordingClient.reads.clear()
    pipeline = _filesystem_pipeline(tmp_path, _RecordingFactory(bucket_url=tmp_path.as_uri()))
    pipeline.run([{"id": 1}], table_name="t")
    assert _RecordingClient.reads, _changed("update_stored_schema's stored-schema reader")
    _RecordingClient.reads.clear()
    with pipeline.destination_client() as client:
        assert client.get_stored_schema(pipeline.default_schema_name) is not None
        stored_hash = pipeline.default_schema.version_hash
        assert client.get_stored_schema_by_hash(stored_hash) is not None
    assert _RecordingClient.reads == ["found", "found"], _changed(
        "get_stored_schema/get_stored_schema_by_hash: no longer read through the private hook"
    )


def test_partition_specs_are_dlts_own() -> None:
    from dlt.common.schema.exceptions import SchemaCorruptedException
    from dlt.destinations.impl.filesystem.filesystem import IcebergLoadFilesystemJob

    def dlts(table: dict[str, Any]) -> list[Any]:
        job = IcebergLoadFilesystemJob.__new__(IcebergLoadFilesystemJob)
        job._load_table = table  # type: ignore[assignment]
        job._schema = Schema("canary")
        return IcebergLoadFilesystemJob._get_partition_spec_list(job)

    from dlt.destinations.impl.filesystem.iceberg_adapter import iceberg_adapter, iceberg_partition

    resource = dlt.resource([{"a": 1, "at": "2024-01-01"}], name="t")
    iceberg_adapter(resource, partition=[iceberg_partition.month("at"), "a"])
    hinted = dict(resource.compute_table_schema())
    legacy = {
        "name": "t",
        "columns": {"a": {"name": "a", "data_type": "bigint", "partition": True}},
    }
    for table in (hinted, legacy, {"name": "t", "columns": {}}):
        assert compat.iceberg_partition_specs(table, "canary") == dlts(table), _changed(  # type: ignore[arg-type]
            f"IcebergLoadFilesystemJob._get_partition_spec_list for {table}"
        )
    both = {
        **hinted,
        "columns": {
            **hinted.get("columns", {}),
            "a": {"name": "a", "data_type": "bigint", "partition": True},
        },
    }
    with pytest.raises(SchemaCorruptedException):
        dlts(both)
    with pytest.raises(SchemaCorruptedException):
        compat.iceberg_partition_specs(both, "canary")  # type: ignore[arg-type]


# -- Parquet writers ---------------------------------------------------------------------------


def _caps() -> DestinationCapabilitiesContext:
    return DestinationCapabilitiesContext.generic_capabilities("parquet")


class _RowsWriter(compat.ParquetDataWriterHooks):
    opened: ClassVar[list[pa.Schema]] = []

    def create_parquet_writer(self, schema: pa.Schema) -> pq.ParquetWriter:
        self.opened.append(schema)
        return self.dlt_parquet_writer(schema)


class _ArrowWriter(compat.ArrowToParquetWriterHooks):
    opened: ClassVar[list[pa.Schema]] = []

    def create_parquet_writer(self, schema: pa.Schema) -> pq.ParquetWriter:
        self.opened.append(schema)
        return self.dlt_parquet_writer(schema)


def test_rows_writer_opens_its_parquet_writer_through_the_hook() -> None:
    assert "_create_writer" in vars(dlt_writers.ParquetDataWriter), _changed(
        "ParquetDataWriter._create_writer"
    )
    out, caps = io.BytesIO(), _caps()
    writer = _RowsWriter(out, caps)
    assert writer.output_file is out, _changed("DataWriter._f")
    assert writer.destination_capabilities is caps, _changed("DataWriter._caps")
    _RowsWriter.opened.clear()
    columns = {"id": {"name": "id", "data_type": "bigint", "nullable": False}}
    writer.write_all(columns, [{"id": 1}, {"id": 2}])  # type: ignore[arg-type]
    writer.close()
    assert len(_RowsWriter.opened) == 1, _changed("ParquetDataWriter.write_header")
    assert pq.read_table(io.BytesIO(out.getvalue())).column("id").to_pylist() == [1, 2]


def test_arrow_writer_opens_its_parquet_writer_through_the_hook() -> None:
    assert "_create_writer" not in vars(dlt_writers.ArrowToParquetWriter), _changed(
        "ArrowToParquetWriter: it defines its own _create_writer, bypassing the hook"
    )
    out = io.BytesIO()
    writer = _ArrowWriter(out, _caps())
    _ArrowWriter.opened.clear()
    table = pa.table({"id": [1, 2, 3]})
    writer.write_all({"id": {"name": "id", "data_type": "bigint"}}, [table])
    writer.close()
    assert [s.names for s in _ArrowWriter.opened] == [["id"]], _changed(
        "ArrowToParquetWriter.write_data"
    )
    assert pq.read_table(io.BytesIO(out.getvalue())).num_rows == 3


def test_use_writer_class_is_what_dlt_looks_up() -> None:
    base = dlt_writers.ParquetDataWriter
    spec = base.writer_spec()
    before = dlt_writers.WRITER_SPECS[spec]

    class Replacement(compat.ParquetDataWriterHooks):
        pass

    try:
        dlt_writers.WRITER_SPECS[spec] = base
        compat.use_writer_class(base, Replacement)
        assert dlt_writers.DataWriter.writer_class_from_spec(spec) is Replacement, _changed(
            "WRITER_SPECS as the table writer_class_from_spec reads"
        )
        compat.use_writer_class(base, _RowsWriter)  # another replacement is left alone
        assert dlt_writers.DataWriter.writer_class_from_spec(spec) is Replacement
    finally:
        dlt_writers.WRITER_SPECS[spec] = before
    buffered = inspect.getsource(importlib.import_module("dlt.common.data_writers.buffered"))
    assert "DataWriter.writer_class_from_spec(writer_spec)" in buffered, _changed(
        "BufferedDataWriter: it no longer picks its writer class from WRITER_SPECS"
    )


def test_the_plugins_writers_are_installed() -> None:
    from floe_ingestion_dlt.destination.data_files import (
        IcebergArrowParquetWriter,
        IcebergObjectParquetWriter,
        install_iceberg_parquet_writers,
    )

    install_iceberg_parquet_writers()
    lookup = dlt_writers.DataWriter.writer_class_from_spec
    assert lookup(dlt_writers.ParquetDataWriter.writer_spec()) is IcebergObjectParquetWriter
    assert lookup(dlt_writers.ArrowToParquetWriter.writer_spec()) is IcebergArrowParquetWriter


# -- extract: schema, SQL loader, REST client ------------------------------------------------


def test_schema_type_detections_are_the_normalizers() -> None:
    from dlt.common.schema.utils import autodetect_sc_type

    schema = Schema("canary")
    detections = compat.schema_type_detections(schema)
    public = schema.settings.get("detections") or schema.to_dict()["normalizers"].get("detections")
    assert list(detections) == list(public or []), _changed("Schema._type_detections")
    assert autodetect_sc_type(detections, str, "2024-01-01T00:00:00Z") == "timestamp", _changed(
        "the default type detections (iso_timestamp)"
    )
    schema._settings["detections"] = []  # a schema that turns detections off
    schema._compile_settings()
    assert not compat.schema_type_detections(schema)


def test_table_loader_rows_reads_the_query(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from dlt.sources.sql_database.helpers import TableLoader

    params = list(inspect.signature(TableLoader._load_rows).parameters)
    assert params == ["self", "query", "backend_kwargs"], _changed(
        f"TableLoader._load_rows{params}"
    )
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'canary.db'}")
    metadata = sa.MetaData()
    table = sa.Table("t", metadata, sa.Column("id", sa.Integer, primary_key=True))
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": 1}, {"id": 2}])
    loader = TableLoader(engine, "sqlalchemy", table, {"id": {"name": "id"}})
    rows = [
        row for page in compat.table_loader_rows(loader, loader.make_query(), {}) for row in page
    ]
    assert [dict(r)["id"] for r in rows] == [1, 2], _changed("TableLoader._load_rows")


# -- pipeline ------------------------------------------------------------------------------------


class _Steps(compat.CollectorHooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def update(self, name: str, inc: int = 1, *args: Any, **kwargs: Any) -> None:
        pass

    def step_started(self, step: str) -> None:
        self.events.append(f"start {step.split(' ', 1)[0]}")

    def step_finished(self) -> None:
        self.events.append("stop")


def test_collector_hooks_bracket_each_pipeline_step(tmp_path: Path) -> None:
    steps = _Steps()
    pipeline = dlt.pipeline(
        "canary_steps",
        destination=filesystem(bucket_url=tmp_path.as_uri()),
        pipelines_dir=str(tmp_path / "pipelines"),
        progress=steps,
    )
    pipeline.run([{"id": 1}], table_name="t")
    started = {e.lower() for e in steps.events if e.startswith("start")}
    assert started == {"start extract", "start normalize", "start load"}, _changed(
        f"Collector._start/_stop around the steps: {steps.events}"
    )
    # every step is bracketed: started, then finished before the next one starts
    assert steps.events[1::2] == ["stop"] * (len(steps.events) // 2), steps.events


def test_guard_save_trace_sees_every_saved_trace(tmp_path: Path) -> None:
    from dlt.pipeline import trace as dlt_trace

    dlt_pipeline = importlib.import_module("dlt.pipeline.pipeline")
    installed = dlt_pipeline.save_trace
    saved: list[str] = []

    def guard(original: Callable[[str, Any], None]) -> Callable[[str, Any], None]:
        def save_trace(trace_dir: str, trace: Any) -> None:
            saved.append(trace_dir)
            original(trace_dir, trace)

        return save_trace

    try:
        dlt_pipeline.save_trace = dlt_trace.save_trace
        compat.guard_save_trace(guard)
        compat.guard_save_trace(guard)  # idempotent
        pipeline = _filesystem_pipeline(tmp_path, filesystem(bucket_url=tmp_path.as_uri()))
        pipeline.run([{"id": 1}], table_name="t")
    finally:
        dlt_pipeline.save_trace = installed
    assert saved and set(saved) == {pipeline.working_dir}, _changed(
        "Pipeline's save_trace call (module global of dlt.pipeline.pipeline)"
    )
    assert os.path.isfile(os.path.join(pipeline.working_dir, "trace.pickle"))


def test_pipeline_synced_with_destination(tmp_path: Path) -> None:
    pipeline = _filesystem_pipeline(tmp_path, filesystem(bucket_url=tmp_path.as_uri()))
    assert hasattr(pipeline, "_state_restored"), _changed("Pipeline._state_restored")
    assert compat.pipeline_synced_with_destination(pipeline) is False
    pipeline.run([{"id": 1}], table_name="t")
    assert compat.pipeline_synced_with_destination(pipeline) is True, _changed(
        "Pipeline._state_restored: no longer set by a run"
    )


def test_delete_extracted_packages(tmp_path: Path) -> None:
    pipeline = _filesystem_pipeline(tmp_path, filesystem(bucket_url=tmp_path.as_uri()))
    pipeline.extract([{"id": 1}], table_name="t")
    extracted = list(pipeline.list_extracted_load_packages())
    assert len(extracted) == 1
    compat.delete_extracted_packages(pipeline, extracted)
    assert list(pipeline.list_extracted_load_packages()) == [], _changed(
        "Pipeline._get_normalize_storage().extracted_packages"
    )


def test_loader_still_sleeps_a_second_without_a_finished_running_job() -> None:
    """Why ``destination.ready_job`` exists: dlt's loader idles this long per package."""
    from dlt.load.load import Load

    source = inspect.getsource(Load.__init__)
    assert re.search(r"_run_loop_sleep_duration[^=]*=\s*\(?\s*1\.0", source), _changed(
        "Load._run_loop_sleep_duration (1 s): re-measure whether ReadyFileJob still pays"
    )
    assert "self._done_event.acquire(timeout=self._run_loop_sleep_duration)" in inspect.getsource(
        Load
    ), _changed("the loader's wait for a finished job")


# -- configuration through the environment -----------------------------------------------------


@configspec
class _Workers(BaseConfiguration):
    workers: int = 1
    add_dlt_id: bool = False


def test_env_names_are_what_dlt_reads_for_a_pipeline(monkeypatch: pytest.MonkeyPatch) -> None:
    name = compat.dlt_env_name("floe__canary", "normalize.workers")
    assert name == "FLOE__CANARY__NORMALIZE__WORKERS"
    monkeypatch.delenv(name, raising=False)
    assert not compat.dlt_env_is_set(name)
    text = compat.set_dlt_env(name, 3)
    flag = compat.dlt_env_name("floe__canary", "normalize.add_dlt_id")
    compat.set_dlt_env(flag, True)
    try:
        assert text == "3" and compat.dlt_env_is_set(name)
        assert compat.dlt_env_value(True) == os.environ[flag] == "true"
        resolved = resolve_configuration(_Workers(), sections=("floe__canary", "normalize"))
        assert (resolved.workers, resolved.add_dlt_id) == (3, True), _changed(
            "how EnvironProvider names a pipeline-scoped key"
        )
        other = resolve_configuration(_Workers(), sections=("another", "normalize"))
        assert other.workers == 1
        compat.unset_dlt_env(name, "4")  # someone else's value: kept
        assert os.environ[name] == "3"
        compat.unset_dlt_env(name, "3")
        assert name not in os.environ
    finally:
        os.environ.pop(name, None)
        os.environ.pop(flag, None)


def test_telemetry_off_by_default_and_the_users_choice_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(compat.DLT_TELEMETRY_ENV, raising=False)
    compat.disable_dlt_telemetry_by_default()
    assert resolve_configuration(RuntimeConfiguration()).dlthub_telemetry is False, _changed(
        "RUNTIME__DLTHUB_TELEMETRY"
    )
    monkeypatch.setenv(compat.DLT_TELEMETRY_ENV, "true")
    compat.disable_dlt_telemetry_by_default()
    assert resolve_configuration(RuntimeConfiguration()).dlthub_telemetry is True


def test_every_compat_name_has_a_canary() -> None:
    """Each public name of compat/dlt.py is exercised in this file."""
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [name for name in compat.__all__ if f"compat.{name}" not in source]
    assert not missing, f"compat functions without a canary: {missing}"
