"""The published floe platform (PyPI 0.1.0a1) composed over the session SeaweedFS.

Storage and catalog bindings come from the real floe-storage-minio and floe-catalog-polaris
plugins pointed at SeaweedFS (S3 + Iceberg REST with a table-bucket warehouse), the ingestion
binding from this plugin's ``build_deployment_binding``; secrets only in the environment, under
the names those plugins publish.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.services.seaweedfs import SeaweedFS


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def warehouse_bucket(seaweedfs: SeaweedFS) -> str:
    """The storage plugin's warehouse bucket: an ordinary bucket (dlt's state goes there)."""
    name = f"floe-wh-{uuid.uuid4().hex[:8]}"
    seaweedfs.create_bucket(name)
    return name


@pytest.fixture
def platform_env(seaweedfs: SeaweedFS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Secrets where floe's bindings say they are; the project folder for relative paths."""
    monkeypatch.setenv("POLARIS_CLIENT_ID", seaweedfs.access_key)
    monkeypatch.setenv("POLARIS_CLIENT_SECRET", seaweedfs.secret_key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    monkeypatch.setenv("FLOE_PROJECT_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def storage_binding(seaweedfs: SeaweedFS, warehouse_bucket: str) -> Any:
    from floe_storage_minio.config import MinIOStorageConfig
    from floe_storage_minio.plugin import MinIOStoragePlugin

    plugin = MinIOStoragePlugin(
        MinIOStorageConfig(
            endpoint=seaweedfs.s3_endpoint,
            bucket=warehouse_bucket,
            region=seaweedfs.region,
            path_style_access=True,
        )
    )
    return plugin.get_deployment_binding()


@pytest.fixture
def catalog_binding(seaweedfs: SeaweedFS, storage_binding: Any) -> Any:
    from floe_catalog_polaris.config import OAuth2Config, PolarisCatalogConfig
    from floe_catalog_polaris.plugin import PolarisCatalogPlugin

    plugin = PolarisCatalogPlugin(
        PolarisCatalogConfig(
            uri=seaweedfs.catalog_uri,
            warehouse=seaweedfs.warehouse,
            oauth2=OAuth2Config(
                client_id="unused-at-compile-time",
                client_secret="unused-at-compile-time",
                token_url=f"{seaweedfs.catalog_uri}/v1/oauth/tokens",
            ),
        )
    )
    return plugin.build_catalog_deployment(storage_binding)
