"""A catalog that is down or rejects our credentials: typed errors, health, nothing written."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from floe_core.plugin_metadata import HealthState

from floe_ingestion_dlt.errors import (
    ErrorCategory,
    PipelineConfigurationError,
    SourceConnectionError,
)
from tests.helpers import files_config
from tests.integration.rest_catalog.conftest import PluginFactory, rest_catalog, unique
from tests.integration.rest_catalog.test_rest_write_modes import ROWS, read_back, write_csv
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def tree(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` with its modification time (empty when there is none)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture
def own_seaweedfs() -> Iterator[SeaweedFS]:
    """A SeaweedFS of this test alone: stopping it disturbs no other test (starts in ~2 s)."""
    with SeaweedFS() as server:
        server.create_bucket("state")
        yield server


def test_catalog_down_health_unhealthy_create_pipeline_transient_nothing_written(
    make_plugin: PluginFactory, own_seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    server = own_seaweedfs
    write_csv(tmp_path / "in", "a.csv", ROWS)
    plugin = make_plugin(server=server, dlt_state_url="s3://state/dlt")
    assert plugin.health_check(timeout=1.0).state is HealthState.HEALTHY
    loaded = files_config(tmp_path / "in", "*.csv", "bronze.items")
    assert plugin.run(plugin.create_pipeline(loaded)).success
    state_objects = sorted(server.s3fs_filesystem().find("state"))
    pipelines_dir = tmp_path / "pod-1" / "pipelines"
    local_before = tree(pipelines_dir)

    server.stop()
    try:
        started = time.perf_counter()
        status = plugin.health_check(timeout=1.0)
        waited = time.perf_counter() - started
        assert status.state is HealthState.UNHEALTHY
        assert waited < 1.0
        assert 0 <= status.details["response_time_ms"] < 1000
        assert status.details["check"] == "catalog"
        assert status.details["catalog_status"] == "unreachable"
        assert server.catalog_uri in status.message

        for table in ("bronze.items", "bronze.other"):
            with pytest.raises(SourceConnectionError) as info:
                plugin.create_pipeline(files_config(tmp_path / "in", "*.csv", table))
            assert info.value.category is ErrorCategory.TRANSIENT
            assert server.catalog_uri in str(info.value)
            assert info.value.destination_table == table
        assert tree(pipelines_dir) == local_before
    finally:
        server.start()

    reader = server.pyiceberg_catalog(name="reader")
    assert [t[-1] for t in reader.list_tables("bronze")] == ["items"]
    assert len(reader.load_table("bronze.items").metadata.snapshots) == 1
    assert sorted(server.s3fs_filesystem().find("state")) == state_objects
    # back up: healthy again, and the pipeline carries on
    assert plugin.health_check(timeout=1.0).state is HealthState.HEALTHY
    assert plugin.run(plugin.create_pipeline(loaded)).rows_loaded == 3


@pytest.mark.parametrize("kind", ["credential", "token"])
def test_wrong_catalog_credentials_are_a_configuration_error_naming_the_uri(
    kind: str,
    make_plugin: PluginFactory,
    seaweedfs: SeaweedFS,
    state_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = f"wrong-{secrets.token_hex(12)}"
    if kind == "credential":
        catalog = rest_catalog(seaweedfs, credential=f"{seaweedfs.access_key}:{wrong}")
    else:
        catalog = rest_catalog(seaweedfs, without=("credential",), token=wrong)
    plugin = make_plugin(catalog=catalog)
    ns = unique("bronze")

    status = plugin.health_check(timeout=2.0)
    assert status.state is HealthState.UNHEALTHY
    assert status.details["catalog_status"] == "rejected"
    assert status.details["catalog_http_status"] == 401

    with pytest.raises(PipelineConfigurationError) as info:
        plugin.create_pipeline(files_config(tmp_path, "*.csv", f"{ns}.items"))
    error = info.value
    assert error.category is ErrorCategory.CONFIGURATION
    assert error.field == f"catalog_config.{kind}"
    assert seaweedfs.catalog_uri in str(error)
    assert "rejected the credentials" in str(error)

    captured = capsys.readouterr()
    everything = "\n".join(
        [str(error), repr(error), status.message, str(status.details), captured.out, captured.err]
        + [r.getMessage() for r in caplog.records]
    )
    assert wrong not in everything
    assert not (tmp_path / "pod-1" / "pipelines").exists()
    assert seaweedfs.s3fs_filesystem().find(state_url.removeprefix("s3://")) == []
    assert (ns,) not in seaweedfs.pyiceberg_catalog(name="reader").list_namespaces()


def test_rest_catalog_health_is_fast(make_plugin: PluginFactory, seaweedfs: SeaweedFS) -> None:
    plugin = make_plugin()
    for _ in range(3):
        status = plugin.health_check()
        assert status.state is HealthState.HEALTHY, status.message
        assert status.details["response_time_ms"] < 1000
        assert status.details["catalog_step"] == "namespaces"
    assert seaweedfs.catalog_uri in status.message


def test_dlt_state_url_inside_the_table_bucket_is_refused_before_anything_is_written(
    make_plugin: PluginFactory, seaweedfs: SeaweedFS, tmp_path: Path
) -> None:
    ns = unique("bronze")
    write_csv(tmp_path / "in", "a.csv", ROWS)
    inside = make_plugin(pod="inside", dlt_state_url=f"{seaweedfs.warehouse}/dlt")
    with pytest.raises(PipelineConfigurationError) as info:
        inside.create_pipeline(files_config(tmp_path / "in", "*.csv", f"{ns}.items"))
    assert info.value.field == "dlt_state_url"
    assert (ns,) not in seaweedfs.pyiceberg_catalog(name="reader").list_namespaces()
    assert not (tmp_path / "inside").exists()
    plugin = make_plugin()
    config = files_config(tmp_path / "in", "*.csv", f"{ns}.items")
    assert plugin.run(plugin.create_pipeline(config)).success
    assert read_back(seaweedfs, f"{ns}.items").scan().to_arrow().num_rows == 3
