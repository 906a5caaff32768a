"""The full journey: floe's compiler over a demo project, then the orchestrator runs the result.

``floe_core.compilation.stages.compile_pipeline`` (what ``floe platform compile`` runs) composes
the real MinIO storage and Polaris catalog plugins (pointed at SeaweedFS) with this plugin; the
compiled artifacts' ingestion binding must be ours. ``build_product_definitions`` of
floe-orchestrator-dagster then builds the product's Dagster definitions from the artifacts and
the ingestion asset is materialized.

Where floe itself stops the journey: ``build_product_definitions`` always declares a dbt asset
from ``<project>/target/manifest.json`` (dbt-core's output). dbt-core is not a dependency of
any floe 0.1.0a1 package, so the test writes the smallest manifest dagster-dbt accepts (a
project without models) and materializes only the ingestion asset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.platform.conftest import unique
from tests.integration.platform.test_dagster_platform import _write_orders
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration


def _demo_project(folder: Path, seaweedfs: SeaweedFS, bucket: str, table: str) -> None:
    (folder / "floe.yaml").write_text(
        f"""
apiVersion: floe.dev/v1
kind: FloeSpec
metadata:
  name: orders-product
  version: 1.0.0
transforms:
  - name: orders
ingestion:
  sources:
    - name: orders_csv
      sourceType: filesystem
      format: csv
      path: data/orders
      destinationTable: {table}
      writeMode: append
"""
    )
    (folder / "manifest.yaml").write_text(
        f"""
apiVersion: floe.dev/v1
kind: Manifest
metadata:
  name: demo-platform
  version: 1.0.0
  owner: data@example.com
plugins:
  compute:
    type: duckdb
  orchestrator:
    type: dagster
  storage:
    type: minio
    config:
      endpoint: {seaweedfs.s3_endpoint}
      bucket: {bucket}
      region: {seaweedfs.region}
      path_style_access: true
  catalog:
    type: polaris
    config:
      uri: {seaweedfs.catalog_uri}
      warehouse: {seaweedfs.warehouse}
      oauth2:
        client_id: compile-time-placeholder
        client_secret: compile-time-placeholder
        token_url: {seaweedfs.catalog_uri}/v1/oauth/tokens
  ingestion:
    type: dlt
    config: {{}}
"""
    )


def _empty_dbt_manifest(project: Path) -> None:
    """The smallest dbt manifest dagster-dbt parses: a project without models."""
    target = project / "target"
    target.mkdir(exist_ok=True)
    manifest: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
            "project_name": "orders_product",
            "adapter_type": "duckdb",
        },
        "nodes": {},
        "sources": {},
        "macros": {},
        "docs": {},
        "exposures": {},
        "metrics": {},
        "groups": {},
        "selectors": {},
        "disabled": {},
        "parent_map": {},
        "child_map": {},
        "group_map": {},
        "saved_queries": {},
        "semantic_models": {},
        "unit_tests": {},
    }
    (target / "manifest.json").write_text(json.dumps(manifest))


def test_compile_then_orchestrator_runs_the_compiled_product(
    seaweedfs: SeaweedFS, platform_env: Path, warehouse_bucket: str
) -> None:
    from floe_core.compilation.stages import compile_pipeline

    table = f"{unique('bronze')}.orders"
    _demo_project(platform_env, seaweedfs, warehouse_bucket, table)
    _write_orders(platform_env / "data" / "orders", 75)

    artifacts = compile_pipeline(
        platform_env / "floe.yaml", platform_env / "manifest.yaml", emit_lineage=False
    )

    binding = artifacts.deployment.ingestion
    assert binding is not None and binding.provider == "dlt"
    assert binding.dlt.plugin_name == "dlt"
    assert binding.dlt.destination_filesystem["bucket_url"] == (
        f"s3://{warehouse_bucket}/_floe_dlt_state"
    )
    assert "PYICEBERG_CATALOG__POLARIS__URI" in binding.dlt.iceberg_catalog_env
    assert artifacts.plugins.ingestion.config["sources"][0]["source_config"] == {
        "format": "csv",
        "path": "data/orders",
    }

    import dagster
    from floe_orchestrator_dagster.runtime import build_product_definitions

    _empty_dbt_manifest(platform_env)
    defs = build_product_definitions(
        product_name="orders-product", artifacts=artifacts, project_dir=platform_env
    )
    job = defs.resolve_implicit_global_asset_job_def()
    for _ in range(2):
        result = job.execute_in_process(
            asset_selection=[dagster.AssetKey("run_ingestion_orders_csv")],
            raise_on_error=False,
        )
        assert result.success, [
            str(e.event_specific_data) for e in result.all_events if e.is_failure
        ]
    loaded = seaweedfs.pyiceberg_catalog().load_table(table)
    assert loaded.scan().to_arrow().num_rows == 150
    assert len(loaded.metadata.snapshots) == 2


def test_compile_names_what_the_plugin_cannot_serve(tmp_path: Path) -> None:
    """Storage warehouse = the catalog's table bucket: dlt's bookkeeping has nowhere to go."""
    from floe_core.compilation.errors import CompilationException
    from floe_core.compilation.stages import compile_pipeline

    class _Server:  # compile connects to nothing: addresses only
        s3_endpoint = "http://127.0.0.1:9"
        catalog_uri = "http://127.0.0.1:9"
        region = "us-east-1"
        warehouse = "s3://lakehouse"

    _demo_project(tmp_path, _Server(), "lakehouse", "bronze.orders")  # type: ignore[arg-type]
    with pytest.raises(CompilationException) as err:
        compile_pipeline(tmp_path / "floe.yaml", tmp_path / "manifest.yaml", emit_lineage=False)
    assert "dlt_state_url" in err.value.error.message
    assert "s3://lakehouse" in err.value.error.message
