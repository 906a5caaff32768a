"""Parallel load jobs may race to create the dataset's namespace: the loser must not fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from sqlalchemy.exc import IntegrityError

from floe_ingestion_dlt.catalog import load_catalog
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.client import FloeIcebergClient


class _Config:
    iceberg_namespace_properties: ClassVar[dict[str, str]] = {}


def _client(dataset: str) -> Any:
    client = FloeIcebergClient.__new__(FloeIcebergClient)
    client.dataset_name = dataset
    client.config = _Config()  # type: ignore[assignment]
    return client


def test_namespace_created_by_a_concurrent_job_is_accepted(tmp_path: Path) -> None:
    catalog = load_catalog(CatalogConfig.embedded(tmp_path))
    real_create = catalog.create_namespace_if_not_exists

    def lose_the_race(namespace: str, properties: dict[str, str]) -> None:
        real_create(namespace, properties)  # the other job wins...
        raise IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed"))

    catalog.create_namespace_if_not_exists = lose_the_race  # type: ignore[method-assign]
    _client("bronze")._ensure_namespace(catalog)
    assert catalog.namespace_exists("bronze")


def test_other_failures_still_raise(tmp_path: Path) -> None:
    catalog = load_catalog(CatalogConfig.embedded(tmp_path))

    def broken(namespace: str, properties: dict[str, str]) -> None:
        raise PermissionError("catalog refuses")

    catalog.create_namespace_if_not_exists = broken  # type: ignore[method-assign]
    with pytest.raises(PermissionError):
        _client("bronze")._ensure_namespace(catalog)
