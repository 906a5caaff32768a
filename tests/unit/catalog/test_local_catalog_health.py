"""health_check proves an embedded catalog can be opened or created, creating nothing."""

from __future__ import annotations

from pathlib import Path

from floe_core.plugin_metadata import HealthState

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin


def started(catalog: CatalogConfig) -> DltIngestionPlugin:
    plugin = DltIngestionPlugin(config=DltIngestionConfig(catalog_config=catalog))
    plugin.startup()
    return plugin


def snapshot(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*"))


def test_catalog_under_a_regular_file_is_unhealthy(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    before = snapshot(tmp_path)

    status = started(CatalogConfig.embedded(blocker / "lake")).health_check()

    assert status.state is HealthState.UNHEALTHY
    assert "cannot be opened or created" in status.message
    assert f"{blocker} is a file, not a folder" in status.message
    assert snapshot(tmp_path) == before


def test_catalog_file_that_is_not_sqlite_is_unhealthy(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "catalog.db").write_text("hello, I am a text file and not a database")

    status = started(CatalogConfig.embedded(lake)).health_check()

    assert status.state is HealthState.UNHEALTHY
    assert "is not a SQLite database" in status.message


def test_warehouse_that_is_a_file_is_unhealthy(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "warehouse").write_text("x")

    status = started(CatalogConfig.embedded(lake)).health_check()

    assert status.state is HealthState.UNHEALTHY
    assert "warehouse" in status.message


def test_creatable_catalog_is_healthy_and_nothing_is_created(tmp_path: Path) -> None:
    status = started(CatalogConfig.embedded(tmp_path / "new" / "lake")).health_check()

    assert status.state is HealthState.HEALTHY, status.message
    assert "can be created" in status.message
    assert not (tmp_path / "new").exists()
