"""runtime_binding -> catalog: secrets read from the variables env_refs names, never stored."""

from __future__ import annotations

from typing import Any

import pytest

from floe_ingestion_dlt.errors import PipelineConfigurationError
from floe_ingestion_dlt.runtime_binding import resolve_runtime_binding, source_storage_credentials

P = "PYICEBERG_CATALOG__POLARIS__"


def _binding(**over: Any) -> dict[str, Any]:
    binding: dict[str, Any] = {
        "plugin_name": "dlt",
        "destination": "filesystem",
        "table_format": "iceberg",
        "source_filesystem": {"endpoint_url": "http://minio:9000", "region_name": "eu-1"},
        "destination_filesystem": {"bucket_url": "s3://lake/_floe_dlt_state"},
        "iceberg_catalog_env": {
            f"{P}TYPE": "rest",
            f"{P}URI": "http://polaris:8181/api/catalog",
            f"{P}WAREHOUSE": "lake",
            f"{P}SCOPE": "PRINCIPAL_ROLE:ALL",
            f"{P}S3__ENDPOINT": "http://minio:9000",
            f"{P}S3__PATH_STYLE_ACCESS": "true",
            f"{P}HEADER__X_ICEBERG_ACCESS_DELEGATION": "vended-credentials",
            f"{P}REST__SIGNING_REGION": "eu-1",
        },
        "env_refs": {
            f"{P}CLIENT_ID": "POLARIS_CLIENT_ID",
            f"{P}CLIENT_SECRET": "POLARIS_CLIENT_SECRET",
            f"{P}OAUTH2_SERVER_URI": "POLARIS_OAUTH2_SERVER_URI",
            "AWS_ACCESS_KEY_ID": "MY_KEY",
            "AWS_SECRET_ACCESS_KEY": "MY_SECRET",
        },
    }
    binding.update(over)
    return binding


ENV = {
    "POLARIS_CLIENT_ID": "client",
    "POLARIS_CLIENT_SECRET": "cl13nt-s3cr3t",
    "MY_KEY": "AKIAX",
    "MY_SECRET": "aws-s3cr3t",
}


def test_catalog_from_env_names_and_refs() -> None:
    target = resolve_runtime_binding(_binding(), ENV)
    cat = target.catalog
    assert (cat.type, cat.uri, cat.warehouse, cat.name) == (
        "rest",
        "http://polaris:8181/api/catalog",
        "lake",
        "polaris",
    )
    assert (
        cat.credential is not None and cat.credential.get_secret_value() == "client:cl13nt-s3cr3t"
    )
    assert cat.scope == "PRINCIPAL_ROLE:ALL"
    assert cat.oauth2_server_uri is None  # its variable is not set: PyIceberg's default
    assert cat.s3_access_key_id is not None and cat.s3_access_key_id.get_secret_value() == "AKIAX"
    assert cat.s3_path_style_access is True
    assert cat.access_delegation == "vended-credentials"
    assert cat.properties == {"rest.signing-region": "eu-1"}
    assert target.dlt_state_url == "s3://lake/_floe_dlt_state"
    assert target.source_storage["endpoint_url"] == "http://minio:9000"
    assert "s3cr3t" not in repr(target.catalog)


def test_secrets_are_read_at_call_time() -> None:
    first = resolve_runtime_binding(_binding(), ENV)
    rotated = resolve_runtime_binding(_binding(), {**ENV, "POLARIS_CLIENT_SECRET": "rotated"})
    assert first.catalog.credential is not None and rotated.catalog.credential is not None
    assert rotated.catalog.credential.get_secret_value() == "client:rotated"


def test_half_a_pair_is_refused_naming_the_variable_not_the_value() -> None:
    env = {k: v for k, v in ENV.items() if k != "POLARIS_CLIENT_SECRET"}
    with pytest.raises(PipelineConfigurationError) as err:
        resolve_runtime_binding(_binding(), env)
    assert "POLARIS_CLIENT_SECRET" in str(err.value)
    assert "client" not in str(err.value).replace("CLIENT", "")
    assert err.value.field == f"runtime_binding.env_refs.{P}CLIENT_SECRET"


def test_no_credentials_set_gives_an_anonymous_catalog() -> None:
    target = resolve_runtime_binding(_binding(), {})
    assert target.catalog.credential is None
    assert target.catalog.scope is None  # OAuth2 settings without a credential are dropped
    assert target.catalog.s3_access_key_id is None


def test_binding_without_a_catalog_is_refused() -> None:
    with pytest.raises(PipelineConfigurationError, match="iceberg_catalog_env"):
        resolve_runtime_binding(_binding(iceberg_catalog_env={}), ENV)


def test_model_binding_accepted() -> None:
    from floe_core.schemas.compiled_artifacts import DltIngestionBinding

    model = DltIngestionBinding.model_validate(_binding())
    assert resolve_runtime_binding(model, ENV).catalog.uri == "http://polaris:8181/api/catalog"


def test_s3_source_gets_the_bindings_storage_unless_it_has_its_own() -> None:
    target = resolve_runtime_binding(_binding(), ENV)
    filled = source_storage_credentials({"format": "csv", "path": "s3://landing/orders"}, target)
    assert filled["credentials"]["endpoint_url"] == "http://minio:9000"
    assert filled["credentials"]["aws_access_key_id"] == "AKIAX"
    own = {"bucket_url": "s3://x", "credentials": {"endpoint_url": "http://other"}}
    assert source_storage_credentials(own, target) == own
    local = {"format": "csv", "path": "data/orders"}
    assert source_storage_credentials(local, target) == local
