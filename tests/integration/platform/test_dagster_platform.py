"""floe's real platform path (floe-orchestrator-dagster 0.1.0a1 from PyPI) against SeaweedFS.

The binding comes from this plugin's ``build_deployment_binding`` over the bindings of the real
MinIO storage and Polaris catalog plugins; the assets from ``create_ingestion_assets(...,
runtime_binding=...)``, the resource from ``create_ingestion_resources(...)`` (floe's registry
discovers, configures and starts the plugin), and ``dagster.materialize`` runs them. Results are
read back through the REST catalog with PyIceberg.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from floe_ingestion_dlt import DltIngestionPlugin
from tests.integration.platform.conftest import unique
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def _write_orders(folder: Path, rows: int, start: int = 0, name: str = "part-1.csv") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / name).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "customer", "amount"])
        for i in range(start, start + rows):
            writer.writerow([i, f"c{i % 7}", i * 1.5])


def _source(name: str, table: str, **extra: Any) -> dict[str, Any]:
    """A source entry as floe's compiler writes it into plugins.ingestion.config.sources."""
    return {
        "name": name,
        "source_type": "filesystem",
        "destination_table": table,
        "write_mode": "append",
        "schema_contract": "evolve",
        "source_config": {"format": "csv", "path": "data/orders"},
        **extra,
    }


def _binding(storage_binding: Any, catalog_binding: Any) -> Any:
    return DltIngestionPlugin().build_deployment_binding(
        storage=storage_binding, catalog=catalog_binding
    )


def _materialize(sources: list[dict[str, Any]], binding: Any, project_dir: Path) -> Any:
    import dagster
    from floe_core.schemas.compiled_artifacts import PluginRef
    from floe_orchestrator_dagster.assets.ingestion import create_ingestion_assets
    from floe_orchestrator_dagster.resources.ingestion import create_ingestion_resources

    ref = PluginRef(type="dlt", version="0.1.0", config={"sources": sources})
    assets = create_ingestion_assets(
        ref, project_dir=project_dir, runtime_binding=binding.dlt.model_dump(mode="python")
    )
    resources = create_ingestion_resources(ref)
    return dagster.materialize(assets, resources=resources, raise_on_error=False)


def _table(seaweedfs: SeaweedFS, name: str) -> Any:
    return seaweedfs.pyiceberg_catalog().load_table(name)


def test_materialize_twice_appends_exactly_twice_with_one_snapshot_per_run(
    seaweedfs: SeaweedFS,
    platform_env: Path,
    storage_binding: Any,
    catalog_binding: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    _write_orders(platform_env / "data" / "orders", 250)
    table_name = f"{unique('bronze')}.orders"
    binding = _binding(storage_binding, catalog_binding)
    assert seaweedfs.secret_key not in binding.model_dump_json()
    for _ in range(2):
        result = _materialize([_source("orders", table_name)], binding, platform_env)
        assert result.success, [str(e) for e in result.all_events if e.is_failure]
        events = "\n".join(str(e) for e in result.all_events)
        assert seaweedfs.secret_key not in events
    captured = capfd.readouterr()
    assert seaweedfs.secret_key not in captured.out + captured.err
    table = _table(seaweedfs, table_name)
    assert table.scan().to_arrow().num_rows == 500
    assert len(table.metadata.snapshots) == 2
    assert table.location().startswith(seaweedfs.warehouse)  # the catalog chose the location


def test_materialize_merge_twice_keeps_exact_rows_one_snapshot_per_run(
    seaweedfs: SeaweedFS,
    platform_env: Path,
    storage_binding: Any,
    catalog_binding: Any,
) -> None:
    orders = platform_env / "data" / "orders"
    _write_orders(orders, 200)
    table_name = f"{unique('bronze')}.orders_merge"
    source = _source("orders", table_name, write_mode="merge", primary_key="id")
    binding = _binding(storage_binding, catalog_binding)
    assert _materialize([source], binding, platform_env).success
    _write_orders(orders, 100, start=150, name="part-2.csv")  # 50 updates, 50 new keys
    assert _materialize([source], binding, platform_env).success
    rows = _table(seaweedfs, table_name).scan().to_arrow()
    table = _table(seaweedfs, table_name)
    assert rows.num_rows == 250
    assert sorted(rows.column("id").to_pylist()) == list(range(250))
    assert len(table.metadata.snapshots) == 2


def test_failed_materialization_names_the_cause_and_writes_nothing(
    seaweedfs: SeaweedFS,
    platform_env: Path,
    storage_binding: Any,
    catalog_binding: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A secret missing from the environment fails the asset before anything is written."""
    _write_orders(platform_env / "data" / "orders", 10)
    table_name = f"{unique('bronze')}.orders"
    monkeypatch.delenv("POLARIS_CLIENT_SECRET")
    result = _materialize(
        [_source("orders", table_name)], _binding(storage_binding, catalog_binding), platform_env
    )
    assert not result.success
    failure = "\n".join(str(e.event_specific_data) for e in result.all_events if e.is_failure)
    assert "POLARIS_CLIENT_SECRET" in failure
    assert seaweedfs.secret_key not in failure
    catalog = seaweedfs.pyiceberg_catalog()
    assert not catalog.table_exists(table_name)


def test_source_config_only_run_with_runtime_binding(
    seaweedfs: SeaweedFS,
    platform_env: Path,
    storage_binding: Any,
    catalog_binding: Any,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """No orchestrator source: the plugin reads floe's {format, path} itself, twice."""
    from floe_core.plugins.ingestion import IngestionConfig

    _write_orders(platform_env / "data" / "orders", 120)
    table_name = f"{unique('bronze')}.orders"
    binding = _binding(storage_binding, catalog_binding)
    plugin = DltIngestionPlugin()
    plugin.configure({"sources": []})
    plugin.startup()
    config = IngestionConfig(
        source_type="filesystem",
        source_config={"format": "csv", "path": "data/orders"},
        destination_table=table_name,
        runtime_binding=binding.dlt.model_dump(),
    )
    first = plugin.run(plugin.create_pipeline(config))
    second = plugin.run(plugin.create_pipeline(config))
    assert first.success and second.success, (first.errors, second.errors)
    assert (first.rows_loaded, second.rows_loaded) == (120, 120)
    table = _table(seaweedfs, table_name)
    assert table.scan().to_arrow().num_rows == 240
    assert len(table.metadata.snapshots) == 2
    committed = [int(s.summary["added-files-size"]) for s in table.metadata.snapshots]
    assert committed == [first.bytes_written, second.bytes_written]
    plugin.shutdown()
    captured = capfd.readouterr()
    assert seaweedfs.secret_key not in captured.out + captured.err


def test_runtime_binding_wins_over_the_plugins_own_catalog(
    seaweedfs: SeaweedFS,
    platform_env: Path,
    storage_binding: Any,
    catalog_binding: Any,
) -> None:
    """Rows go where the binding says, not to the embedded catalog the plugin would default to."""
    from floe_core.plugins.ingestion import IngestionConfig

    _write_orders(platform_env / "data" / "orders", 30)
    table_name = f"{unique('bronze')}.orders"
    plugin = DltIngestionPlugin()
    plugin.configure({})
    plugin.startup()
    result = plugin.run(
        plugin.create_pipeline(
            IngestionConfig(
                source_type="filesystem",
                source_config={"format": "csv", "path": "data/orders"},
                destination_table=table_name,
                runtime_binding=_binding(storage_binding, catalog_binding).dlt,
            )
        )
    )
    assert result.success, result.errors
    assert _table(seaweedfs, table_name).scan().to_arrow().num_rows == 30
    assert not (platform_env / ".floe").exists()
