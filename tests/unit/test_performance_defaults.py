"""The dlt defaults the plugin applies for speed: scoped to the pipeline, never over the user's."""

from __future__ import annotations

import os

import dlt
import pytest
from dlt.common.configuration import configspec
from dlt.common.configuration.resolve import resolve_configuration
from dlt.common.configuration.specs import BaseConfiguration

from floe_ingestion_dlt import performance
from floe_ingestion_dlt.performance import (
    apply_pipeline_settings,
    dlt_defaults,
    settings_for,
    yields_python_rows,
)

PIPELINE = "floe__bronze__perf_test"
SCOPED_WORKERS = "FLOE__BRONZE__PERF_TEST__NORMALIZE__WORKERS"


@configspec
class _Workers(BaseConfiguration):
    """The field of dlt's NormalizeConfiguration the defaults set."""

    workers: int = 1


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        SCOPED_WORKERS,
        "NORMALIZE__WORKERS",
        "FLOE__BRONZE__PERF_TEST__EXTRACT__DATA_WRITER__FILE_MAX_ITEMS",
        "FLOE__BRONZE__PERF_TEST__NORMALIZE__DATA_WRITER__BUFFER_MAX_ITEMS",
        "FLOE__BRONZE__PERF_TEST__SOURCES__DATA_WRITER__BUFFER_MAX_ITEMS",
        "DATA_WRITER__BUFFER_MAX_ITEMS",
        "FLOE__BRONZE__PERF_TEST__EXTRACT__FUTURES_POLL_INTERVAL",
        "EXTRACT__FUTURES_POLL_INTERVAL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(performance, "_cores", lambda: 2)


class _Sql:
    def __init__(self, backend: str) -> None:
        self.backend = backend


def test_python_row_sources_are_recognised() -> None:
    assert yields_python_rows("rest_api", object())
    assert yields_python_rows("sql_database", _Sql("sqlalchemy"))
    assert not yields_python_rows("sql_database", _Sql("pyarrow"))
    assert not yields_python_rows("sql_database", _Sql("connectorx"))
    assert not yields_python_rows("filesystem", object())


def test_arrow_sources_get_no_workers_or_file_rotation() -> None:
    arrow = dlt_defaults(python_rows=False)
    assert set(arrow) == {
        "normalize.data_writer.buffer_max_items",
        "sources.data_writer.buffer_max_items",
        "extract.futures_poll_interval",
    }
    # one Parquet row group per extract flush: as large as PyIceberg's own row groups
    assert arrow["sources.data_writer.buffer_max_items"] == performance.ARROW_EXTRACT_BUFFER_ROWS
    rows = dlt_defaults(python_rows=True)
    assert rows["normalize.workers"] == 2
    # never read by dlt 1.31 (extract resolves its writer under "sources"): no longer set
    assert "extract.data_writer.file_max_items" not in rows
    assert "sources.data_writer.buffer_max_items" not in rows


def test_defaults_are_pipeline_scoped_and_resolved_by_dlt() -> None:
    applied = apply_pipeline_settings(PIPELINE, settings_for(python_rows=True))

    assert applied["normalize.workers"] == 2

    assert os.environ[SCOPED_WORKERS] == "2"
    assert "NORMALIZE__WORKERS" not in os.environ
    # dlt itself reads it for this pipeline's normalize section, not for another pipeline
    scoped = resolve_configuration(_Workers(), sections=(PIPELINE, "normalize"))
    other = resolve_configuration(_Workers(), sections=("other", "normalize"))
    assert scoped.workers == 2
    assert other.workers == 1


def test_user_settings_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NORMALIZE__WORKERS", "3")

    applied = apply_pipeline_settings(PIPELINE, settings_for(python_rows=True))

    assert "normalize.workers" not in applied

    assert SCOPED_WORKERS not in os.environ
    assert str(dlt.config.get("normalize.workers")) == "3"


def test_user_pipeline_scoped_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SCOPED_WORKERS, "1")

    applied = apply_pipeline_settings(PIPELINE, settings_for(python_rows=True))

    assert "normalize.workers" not in applied

    assert os.environ[SCOPED_WORKERS] == "1"


def test_a_general_data_writer_setting_of_the_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "20000")

    applied = apply_pipeline_settings(PIPELINE, settings_for(python_rows=False))

    assert "sources.data_writer.buffer_max_items" not in applied
    assert "FLOE__BRONZE__PERF_TEST__SOURCES__DATA_WRITER__BUFFER_MAX_ITEMS" not in os.environ


def test_extract_configures_its_data_writer_in_the_source_sections() -> None:
    """Guard on dlt 1.31: extract's writers resolve under ``sources.<section>.<name>``."""
    import inspect

    from dlt.common.configuration import inject_section
    from dlt.common.configuration.specs.config_section_context import ConfigSectionContext
    from dlt.common.data_writers.buffered import BufferedDataWriter
    from dlt.extract.extract import Extract

    assert "sections=(known_sections.SOURCES, source.section, source.name)" in inspect.getsource(
        Extract.extract
    )
    apply_pipeline_settings(PIPELINE, settings_for(python_rows=False))
    spec = BufferedDataWriter.BufferedDataWriterConfiguration
    sections = ("sources", "filesystem", "floe_bronze_perf_test")
    with inject_section(ConfigSectionContext(pipeline_name=PIPELINE, sections=sections)):
        ours = resolve_configuration(spec(), sections=sections)
    with inject_section(ConfigSectionContext(pipeline_name="other", sections=sections)):
        other = resolve_configuration(spec(), sections=sections)
    assert ours.buffer_max_items == performance.ARROW_EXTRACT_BUFFER_ROWS
    assert other.buffer_max_items == 5000  # dlt's default, for any other pipeline


def test_extract_polls_with_the_plugin_interval_in_a_real_pipeline(
    tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dlt.extract.concurrency import FuturesPool

    seen: list[float] = []
    original = FuturesPool.__init__

    def spy(self: FuturesPool, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(self.poll_interval)

    monkeypatch.setattr(FuturesPool, "__init__", spy)

    @dlt.resource(name="rows")
    def rows() -> object:
        yield [{"id": 1}]

    def extract(name: str) -> float:
        pipeline = dlt.pipeline(name, pipelines_dir=str(tmp_path))
        pipeline.extract(rows())
        return seen[-1]

    apply_pipeline_settings(PIPELINE, settings_for(python_rows=False))
    assert extract(PIPELINE) == performance.EXTRACT_POLL_SECONDS
    assert extract("other_pipeline") == 0.01  # dlt's default, for any other pipeline
    monkeypatch.setenv("FLOE__BRONZE__PERF_TEST__EXTRACT__FUTURES_POLL_INTERVAL", "0.05")
    assert extract(PIPELINE) == 0.05  # environment set after the plugin: a user's choice
