"""Plugin metadata, capabilities and floe's health-check conventions (no services)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from floe_core.plugin_metadata import HealthState

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin


def test_metadata_matches_the_contract() -> None:
    plugin = DltIngestionPlugin()
    assert plugin.name == "dlt"
    assert plugin.version == "0.1.0"
    assert plugin.floe_api_version == "1.0"
    assert plugin.description == "dlt ingestion plugin for floe data platform"
    assert plugin.is_external is False
    assert plugin.tracer_name == "floe.ingestion.dlt"
    assert plugin.get_config_schema() is DltIngestionConfig


def test_capabilities() -> None:
    caps = DltIngestionPlugin().capabilities
    assert set(caps["source_types"]) == {"rest_api", "sql_database", "filesystem"}
    assert set(caps["write_modes"]) == {"append", "replace", "merge"}
    assert set(caps["schema_contracts"]) == {"evolve", "freeze", "discard_value"}
    assert caps["incremental"] is True


def test_config_argument_optional_and_accepted(tmp_path: Path) -> None:
    cfg = DltIngestionConfig(catalog_config=CatalogConfig.embedded(tmp_path))
    assert DltIngestionPlugin(config=cfg).config is cfg
    plugin = DltIngestionPlugin()
    assert not plugin.is_configured
    plugin.configure(
        {"catalog_config": {"type": "sql", "uri": "sqlite:///x.db", "warehouse": "file:///w"}}
    )
    assert plugin.is_configured


@pytest.mark.parametrize("timeout", [0.0, 0.09, 10.01, -1, 100])
def test_health_timeout_out_of_range(timeout: float) -> None:
    with pytest.raises(ValueError, match="timeout"):
        DltIngestionPlugin().health_check(timeout=timeout)


def test_health_before_startup_is_unhealthy_with_details() -> None:
    status = DltIngestionPlugin().health_check()
    assert status.state is HealthState.UNHEALTHY
    assert status.message
    assert status.details["response_time_ms"] >= 0
    assert status.details["checked_at"].tzinfo == dt.UTC


@pytest.mark.parametrize("timeout", [2.0, 10.0, None])
def test_health_after_startup_on_embedded_catalog(tmp_path: Path, timeout: float | None) -> None:
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(catalog_config=CatalogConfig.embedded(tmp_path))
    )
    plugin.startup()
    status = plugin.health_check(timeout=timeout)
    assert status.state is HealthState.HEALTHY, status.message
    plugin.shutdown()
    plugin.shutdown()


def test_health_with_the_smallest_timeout_answers_without_raising(tmp_path: Path) -> None:
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(catalog_config=CatalogConfig.embedded(tmp_path))
    )
    plugin.startup()
    status = plugin.health_check(timeout=0.1)
    assert status.state in (HealthState.HEALTHY, HealthState.UNHEALTHY)
    assert status.message


def test_get_destination_config_keeps_secrets_secret(tmp_path: Path) -> None:
    from pydantic import SecretStr

    plugin = DltIngestionPlugin(config=DltIngestionConfig(dlt_state_url="s3://lake/dlt"))
    out = plugin.get_destination_config(
        {"type": "rest", "uri": "http://127.0.0.1:1/cat", "warehouse": "wh", "token": "tok-123456"}
    )
    assert out["catalog_type"] == "rest"
    assert out["credentials"]["uri"] == "http://127.0.0.1:1/cat"
    assert out["credentials"]["warehouse"] == "wh"
    assert isinstance(out["credentials"]["token"], SecretStr)
    assert "tok-123456" not in repr(out)
    assert out["bucket_url"] == "s3://lake/dlt"
