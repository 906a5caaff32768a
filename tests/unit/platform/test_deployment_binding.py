"""build_deployment_binding / get_composition_requirements return floe-core's own models."""

from __future__ import annotations

from typing import Any

import pytest
from floe_core.compilation.errors import CompilationException
from floe_core.composition.models import PluginRequirements
from floe_core.schemas.compiled_artifacts import (
    CatalogDeploymentBinding,
    DltIngestionBinding,
    IcebergRestCatalogBinding,
    IngestionDeploymentBinding,
    StorageDeploymentBinding,
)
from floe_storage_minio.config import MinIOStorageConfig
from floe_storage_minio.plugin import MinIOStoragePlugin

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.runtime_binding import resolve_runtime_binding


def _storage(bucket: str = "lake") -> StorageDeploymentBinding:
    plugin = MinIOStoragePlugin(
        MinIOStorageConfig(endpoint="http://minio:9000", bucket=bucket, path_style_access=True)
    )
    return plugin.get_deployment_binding()


def _polaris(storage: StorageDeploymentBinding, warehouse: str = "lake") -> Any:
    from floe_catalog_polaris.config import OAuth2Config, PolarisCatalogConfig
    from floe_catalog_polaris.plugin import PolarisCatalogPlugin

    plugin = PolarisCatalogPlugin(
        PolarisCatalogConfig(
            uri="http://polaris:8181/api/catalog",
            warehouse=warehouse,
            oauth2=OAuth2Config(
                client_id="id", client_secret="s", token_url="http://polaris:8181/oauth"
            ),
        )
    )
    return plugin.build_catalog_deployment(storage)


def test_composition_requirements_are_floe_cores_model() -> None:
    req = DltIngestionPlugin().get_composition_requirements()
    assert isinstance(req, PluginRequirements)
    assert req.plugin_type == "ingestion" and req.plugin_name == "dlt"
    assert req.requirements.catalog_providers == ["iceberg-rest"]
    assert req.requirements.table_formats == ["iceberg"]


def test_binding_polaris_on_minio_is_secret_free_and_complete() -> None:
    storage = _storage()
    binding = DltIngestionPlugin().build_deployment_binding(
        storage=storage, catalog=_polaris(storage)
    )
    assert isinstance(binding, IngestionDeploymentBinding)
    assert isinstance(binding.dlt, DltIngestionBinding)
    dlt = binding.dlt
    env = dlt.iceberg_catalog_env
    assert env["PYICEBERG_CATALOG__POLARIS__URI"] == "http://polaris:8181/api/catalog"
    assert env["PYICEBERG_CATALOG__POLARIS__WAREHOUSE"] == "lake"
    assert env["PYICEBERG_CATALOG__POLARIS__S3__ENDPOINT"] == "http://minio:9000"
    assert env["PYICEBERG_CATALOG__POLARIS__S3__PATH_STYLE_ACCESS"] == "true"
    assert dlt.env_refs["PYICEBERG_CATALOG__POLARIS__CLIENT_ID"] == "POLARIS_CLIENT_ID"
    assert dlt.env_refs["PYICEBERG_CATALOG__POLARIS__CLIENT_SECRET"] == "POLARIS_CLIENT_SECRET"
    assert dlt.env_refs["AWS_ACCESS_KEY_ID"] == "AWS_ACCESS_KEY_ID"
    assert dlt.destination_filesystem["bucket_url"] == "s3://lake/_floe_dlt_state"
    assert dlt.source_filesystem["endpoint_url"] == "http://minio:9000"
    # floe-core re-validates the dump the orchestrator passes around
    assert DltIngestionBinding.model_validate(dlt.model_dump()) == dlt


def test_binding_state_url_from_plugin_config_wins() -> None:
    storage = _storage()
    plugin = DltIngestionPlugin()
    plugin.configure({"dlt_state_url": "s3://ops/dlt"})
    binding = plugin.build_deployment_binding(storage=storage, catalog=_polaris(storage))
    assert binding.dlt.destination_filesystem["bucket_url"] == "s3://ops/dlt"


def test_binding_refuses_state_inside_the_catalogs_table_bucket() -> None:
    """Catalog-managed locations: the storage warehouse is the catalog's table bucket."""
    storage = _storage(bucket="tables")
    with pytest.raises(CompilationException) as err:
        DltIngestionPlugin().build_deployment_binding(
            storage=storage, catalog=_polaris(storage, warehouse="s3://tables")
        )
    assert "dlt_state_url" in err.value.error.message
    assert err.value.error.context["field"] == "dlt_state_url"


def test_binding_without_rest_catalog_names_what_is_missing() -> None:
    storage = _storage()
    catalog = CatalogDeploymentBinding(provider="hive")
    with pytest.raises(CompilationException) as err:
        DltIngestionPlugin().build_deployment_binding(storage=storage, catalog=catalog)
    assert "catalog.iceberg_rest is missing" in err.value.error.message
    assert "'hive'" in err.value.error.message


def test_binding_round_trips_to_the_catalog_the_runtime_uses() -> None:
    storage = _storage()
    catalog = CatalogDeploymentBinding(
        provider="rest",
        iceberg_rest=IcebergRestCatalogBinding(
            catalog_name="my-cat", uri="https://cat.example/api", warehouse="s3://tb"
        ),
    )
    plugin = DltIngestionPlugin()
    plugin.configure({"dlt_state_url": "s3://ops/dlt"})
    binding = plugin.build_deployment_binding(storage=storage, catalog=catalog)
    refs = binding.dlt.env_refs
    assert refs["PYICEBERG_CATALOG__MY_CAT__CREDENTIAL"] == "MY_CAT_CREDENTIAL"
    environ = {
        "MY_CAT_CREDENTIAL": "client:s3cr3t-value",
        "AWS_ACCESS_KEY_ID": "AKIA1",
        "AWS_SECRET_ACCESS_KEY": "aws-s3cr3t",
    }
    target = resolve_runtime_binding(binding.dlt.model_dump(), environ)
    assert target.catalog.type == "rest"
    assert target.catalog.uri == "https://cat.example/api"
    assert target.catalog.warehouse == "s3://tb"
    assert target.catalog.credential is not None
    assert target.catalog.credential.get_secret_value() == "client:s3cr3t-value"
    assert target.catalog.s3_path_style_access is True
    assert target.dlt_state_url == "s3://ops/dlt"
    assert "s3cr3t" not in repr(target.catalog)
