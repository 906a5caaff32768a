"""get_destination_config accepts the spellings Polaris and floe users write, or names the key."""

from __future__ import annotations

from typing import Any

import pytest

from floe_ingestion_dlt import DltIngestionConfig, DltIngestionPlugin
from floe_ingestion_dlt.errors import ErrorCategory, ValidationError

POLARIS = {"uri": "http://polaris:8181/api/catalog", "warehouse": "lake"}


def plugin() -> DltIngestionPlugin:
    return DltIngestionPlugin(config=DltIngestionConfig(dlt_state_url="s3://lake-state/dlt"))


def test_catalog_name_and_client_pair_are_accepted() -> None:
    config = plugin().get_destination_config(
        {
            **POLARIS,
            "catalog_name": "polaris",
            "client_id": "root",
            "client_secret": "s3cr3t-xyz-42",
            "scope": "PRINCIPAL_ROLE:ALL",
        }
    )
    assert config["catalog_type"] == "rest"
    credentials = config["credentials"]
    assert credentials["name"] == "polaris"
    assert credentials["credential"].get_secret_value() == "root:s3cr3t-xyz-42"
    assert "s3cr3t-xyz-42" not in repr(config)
    # the state location dlt's iceberg destination needs: documented in the docstring/README
    assert config["bucket_url"] == "s3://lake-state/dlt"


@pytest.mark.parametrize(
    ("extra", "field", "says"),
    [
        ({"client_id": "root"}, "catalog_config.client_id", "client_id and client_secret"),
        ({"client_secret": "x-y-z-w"}, "catalog_config.client_secret", "client_id and"),
        ({"catalog_name": "a", "name": "b"}, "catalog_config.catalog_name", "give 'name'"),
        (
            {"client_id": "a", "client_secret": "b-c-d-e", "credential": "a:b-c-d-e"},
            "catalog_config.client_id",
            "give one",
        ),
    ],
)
def test_half_a_pair_or_two_spellings_name_the_key_to_use(
    extra: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        plugin().get_destination_config({**POLARIS, **extra})
    assert caught.value.category is ErrorCategory.CONFIGURATION
    assert caught.value.field == field
    assert says in caught.value.message
