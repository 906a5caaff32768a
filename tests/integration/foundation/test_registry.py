"""The plugin through floe-core's own registry: discover, get, configure, activate, check, stop."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

import pytest
from floe_core.plugin_metadata import HealthState
from floe_core.plugin_registry import PluginRegistry
from floe_core.plugin_types import PluginType
from floe_core.plugins.ingestion import IngestionPlugin

from floe_ingestion_dlt import DltIngestionConfig, DltIngestionPlugin

pytestmark = pytest.mark.integration


def test_entry_point_is_declared_once() -> None:
    eps = [ep for ep in entry_points(group="floe.ingestion") if ep.name == "dlt"]
    assert len(eps) == 1
    assert eps[0].value == "floe_ingestion_dlt:DltIngestionPlugin"
    plugin_class = eps[0].load()
    assert plugin_class is DltIngestionPlugin
    plugin = plugin_class()
    assert isinstance(plugin, IngestionPlugin)
    for attr in ("name", "version", "floe_api_version", "description"):
        assert getattr(plugin, attr) is not None
    for method in ("startup", "shutdown", "health_check", "get_config_schema"):
        assert callable(getattr(plugin, method))


def test_registry_discovers_configures_activates_and_stops(tmp_path: Path) -> None:
    registry = PluginRegistry()
    registry.discover_all()
    assert "dlt" in registry.list_all()[PluginType.INGESTION]

    plugin = registry.get(PluginType.INGESTION, "dlt")
    assert isinstance(plugin, DltIngestionPlugin)
    assert plugin.health_check().state is HealthState.UNHEALTHY  # not started yet

    config = {
        "catalog_config": {
            "type": "sql",
            "uri": f"sqlite:///{tmp_path}/catalog.db",
            "warehouse": f"file://{tmp_path}/warehouse",
        },
        "sources": [
            {
                "name": "orders",
                "source_type": "filesystem",
                "source_config": {"bucket_url": str(tmp_path), "file_glob": "*.csv"},
                "destination_table": "bronze.orders",
            }
        ],
        "retry_config": {"max_retries": 1},
    }
    validated = registry.configure(PluginType.INGESTION, "dlt", config)
    assert isinstance(validated, DltIngestionConfig)
    assert plugin.config.sources[0].name == "orders"

    registry.activate_plugin(PluginType.INGESTION, "dlt")
    status = plugin.health_check(timeout=5.0)
    assert status.state is HealthState.HEALTHY, status.message
    assert status.message
    assert status.details["response_time_ms"] >= 0
    assert status.details["checked_at"].tzinfo is not None

    errors = registry.shutdown_all()
    assert all(e is None for e in errors.values()), errors
    plugin.shutdown()  # idempotent
    assert plugin.health_check().state is HealthState.UNHEALTHY
