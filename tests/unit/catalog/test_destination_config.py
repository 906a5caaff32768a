"""get_destination_config: a catalog config -> ``iceberg(**kwargs)``, clear errors for bad keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dlt.common.configuration.specs import AwsCredentials
from pydantic import SecretStr

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin, iceberg
from floe_ingestion_dlt.destination.configuration import IcebergDestinationClientConfiguration
from floe_ingestion_dlt.errors import ErrorCategory, PipelineConfigurationError, ValidationError

POLARIS: dict[str, Any] = {
    "type": "rest",
    "uri": "http://polaris:8181/api/catalog",
    "warehouse": "lake",
    "credential": "client-id:client-secret-1",
    "scope": "PRINCIPAL_ROLE:ALL",
    "s3.endpoint": "http://minio:9000",
    "s3.region": "eu-west-1",
    "s3.path-style-access": True,
    "s3.access-key-id": "minio-access-1",
    "s3.secret-access-key": "minio-secret-1",
    "header.X-Iceberg-Access-Delegation": "vended-credentials",
}
SECRETS = ("client-secret-1", "minio-access-1", "minio-secret-1")


def plugin(dlt_state_url: str | None = "s3://lake-state/dlt") -> DltIngestionPlugin:
    return DltIngestionPlugin(config=DltIngestionConfig(dlt_state_url=dlt_state_url))


def resolved(kwargs: dict[str, Any]) -> IcebergDestinationClientConfiguration:
    """What dlt resolves for the destination built from ``kwargs`` (no network)."""
    destination = iceberg(**kwargs)
    spec = destination.spec()._bind_dataset_name(dataset_name="bronze")
    return destination.configuration(spec)  # type: ignore[return-value]


def test_polaris_config_maps_to_a_rest_destination_with_secrets_kept_secret() -> None:
    out = plugin().get_destination_config(dict(POLARIS))
    assert out["catalog_type"] == "rest"
    assert out["bucket_url"] == "s3://lake-state/dlt"
    creds = out["credentials"]
    assert creds["uri"] == POLARIS["uri"]
    assert creds["warehouse"] == "lake"
    assert creds["scope"] == "PRINCIPAL_ROLE:ALL"
    assert creds["s3.endpoint"] == "http://minio:9000"
    assert creds["s3.region"] == "eu-west-1"
    assert creds["s3.path-style-access"] is True
    assert creds["header.X-Iceberg-Access-Delegation"] == "vended-credentials"
    for key in ("credential", "s3.access-key-id", "s3.secret-access-key"):
        assert isinstance(creds[key], SecretStr), key
    assert creds["credential"].get_secret_value() == "client-id:client-secret-1"
    assert "type" not in creds
    assert not any(secret in repr(out) for secret in SECRETS)


def test_the_mapping_builds_a_destination_dlt_resolves() -> None:
    config = resolved(plugin().get_destination_config(dict(POLARIS)))
    assert config.bucket_url == "s3://lake-state/dlt"
    # dlt's state bucket uses the catalog's S3 settings, path-style addressing included
    assert isinstance(config.credentials, AwsCredentials)
    assert config.credentials.endpoint_url == "http://minio:9000"
    assert config.credentials.region_name == "eu-west-1"
    assert config.credentials.aws_access_key_id == "minio-access-1"
    assert config.kwargs == {"config_kwargs": {"s3": {"addressing_style": "path"}}}
    catalog = CatalogConfig.model_validate(config.catalog_properties)
    assert catalog.pyiceberg_properties()["credential"] == "client-id:client-secret-1"
    assert catalog.pyiceberg_properties()["header.X-Iceberg-Access-Delegation"] == (
        "vended-credentials"
    )
    assert not any(
        secret in repr(iceberg(**plugin().get_destination_config(POLARIS))) for secret in SECRETS
    )


def test_bearer_token_and_an_http_uri_without_type_is_rest() -> None:
    out = plugin().get_destination_config(
        {"uri": "https://catalog.example/api", "warehouse": "wh", "token": "bearer-tok-1"}
    )
    assert out["catalog_type"] == "rest"
    assert isinstance(out["credentials"]["token"], SecretStr)
    assert "bearer-tok-1" not in repr(out)


def test_embedded_catalog_keeps_dlt_state_in_its_warehouse(tmp_path: Path) -> None:
    catalog = CatalogConfig.embedded(tmp_path)
    out = plugin(dlt_state_url=None).get_destination_config(
        catalog.model_dump(by_alias=True, exclude_none=True)
    )
    assert out == {
        "catalog_type": "sql",
        "credentials": {"uri": catalog.uri, "warehouse": catalog.warehouse},
        "bucket_url": catalog.warehouse,
    }
    assert not isinstance(resolved(out).credentials, AwsCredentials)


def test_sql_catalog_on_s3_keeps_dlt_state_in_its_warehouse_with_its_s3_settings() -> None:
    out = plugin(dlt_state_url=None).get_destination_config(
        {
            "type": "sql",
            "uri": "postgresql+psycopg2://cat@db/catalog",
            "warehouse": "s3://lake/warehouse",
            "s3.endpoint": "http://minio:9000",
            "s3.access-key-id": "minio-access-1",
            "s3.secret-access-key": "minio-secret-1",
        }
    )
    assert out["bucket_url"] == "s3://lake/warehouse"
    credentials = resolved(out).credentials
    assert isinstance(credentials, AwsCredentials)
    assert credentials.endpoint_url == "http://minio:9000"


def test_rest_catalog_without_dlt_state_url_names_the_field() -> None:
    with pytest.raises(PipelineConfigurationError) as info:
        plugin(dlt_state_url=None).get_destination_config(dict(POLARIS))
    assert info.value.field == "dlt_state_url"
    assert info.value.category is ErrorCategory.CONFIGURATION
    assert "dlt_state_url" in str(info.value)
    with pytest.raises(PipelineConfigurationError, match="dlt_state_url"):
        iceberg(catalog_type="rest", credentials={"uri": "http://c", "warehouse": "w"})


def test_dlt_state_inside_the_rest_warehouse_bucket_is_refused() -> None:
    table_bucket = {**POLARIS, "warehouse": "s3://lakehouse"}
    with pytest.raises(PipelineConfigurationError) as info:
        plugin(dlt_state_url="s3://lakehouse/dlt").get_destination_config(table_bucket)
    assert info.value.field == "dlt_state_url"
    assert "table bucket" in str(info.value)
    # another bucket is fine
    assert plugin("s3://state/dlt").get_destination_config(table_bucket)["bucket_url"] == (
        "s3://state/dlt"
    )


@pytest.mark.parametrize(
    ("extra", "field", "named"),
    [
        ({"s3.endpont": "x"}, "catalog_config.s3.endpont", ["s3.endpont", "'s3.endpoint'"]),
        ({"tokn": "x", "scop": "y"}, "catalog_config.tokn", ["tokn", "scop"]),
        ({"s3_endpoint": "x"}, "catalog_config.s3.endpoint", ["s3.endpoint", "s3_endpoint"]),
        ({"token": "t-1"}, "catalog_config.credential", ["credential", "token"]),
        (
            {"header.X-Iceberg-Access-Delegation": "vended"},
            "catalog_config.header.X-Iceberg-Access-Delegation",
            ["vended", "vended-credentials"],
        ),
        ({"properties": {"scope": "x"}}, "catalog_config.scope", ["scope"]),
        ({"type": "hive"}, "catalog_config.type", ["'sql'", "'rest'"]),
    ],
)
def test_unknown_and_conflicting_keys_are_named(
    extra: dict[str, Any], field: str, named: list[str]
) -> None:
    with pytest.raises(ValidationError) as info:
        plugin().get_destination_config({**POLARIS, **extra})
    assert info.value.field == field
    assert info.value.category is ErrorCategory.CONFIGURATION
    for word in named:
        assert word in str(info.value)
    assert not any(secret in str(info.value) for secret in SECRETS)


@pytest.mark.parametrize(
    ("config", "field", "named"),
    [
        (
            {"type": "sql", "uri": "sqlite:///c.db", "warehouse": "file:///w", "token": "t"},
            "catalog_config.type",
            ["type", "token", "'rest'"],
        ),
        ({"type": "rest", "uri": "http://c", "scope": "s"}, "catalog_config.scope", ["scope"]),
        (
            {"type": "rest", "uri": "http://c", "oauth2-server-uri": "http://idp/token"},
            "catalog_config.oauth2-server-uri",
            ["oauth2-server-uri", "credential"],
        ),
        (
            {"type": "rest", "uri": "http://c", "s3.secret-access-key": "lonely-secret-1"},
            "catalog_config.s3.secret-access-key",
            ["s3.access-key-id"],
        ),
        (
            {"type": "rest", "uri": "http://c", "s3.session-token": "lonely-token-1"},
            "catalog_config.s3.session-token",
            ["s3.access-key-id"],
        ),
        ({"type": "rest", "warehouse": "w"}, "catalog_config.uri", ["uri"]),
    ],
)
def test_contradicting_or_incomplete_keys_are_named(
    config: dict[str, Any], field: str, named: list[str]
) -> None:
    with pytest.raises(ValidationError) as info:
        plugin().get_destination_config(config)
    assert info.value.field == field
    for word in named:
        assert word in str(info.value)
    assert "lonely-secret-1" not in str(info.value)
    assert "lonely-token-1" not in str(info.value)


def test_not_a_mapping_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        plugin().get_destination_config("http://c")  # type: ignore[arg-type]
    assert info.value.field == "catalog_config"


def test_destination_kwargs_errors_name_credentials_keys() -> None:
    with pytest.raises(ValidationError) as info:
        iceberg(catalog_type="rest", credentials={"uri": "http://c", "warehous": "w"})
    assert info.value.field == "credentials.warehous"
    assert "'warehouse'" in str(info.value)
    with pytest.raises(ValidationError) as clash:
        iceberg(catalog_type="rest", credentials={"type": "sql", "uri": "http://c"})
    assert clash.value.field == "credentials.type"
