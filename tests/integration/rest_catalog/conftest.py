"""Fixtures for the REST catalog + S3 tests: plugins on the session SeaweedFS (``weed mini``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from floe_ingestion_dlt import CatalogConfig, DltIngestionConfig, DltIngestionPlugin
from tests.services.seaweedfs import SeaweedFS

PluginFactory = Callable[..., DltIngestionPlugin]


def unique(prefix: str) -> str:
    """A name no other test uses on the shared SeaweedFS (namespaces, prefixes)."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def rest_catalog(
    server: SeaweedFS, without: tuple[str, ...] = (), **overrides: Any
) -> CatalogConfig:
    """The plugin's view of the server's Iceberg REST catalog (table bucket warehouse)."""
    props = {k: v for k, v in server.catalog_properties().items() if k not in without}
    return CatalogConfig.parse({**props, **overrides})


@pytest.fixture(scope="session")
def state_bucket(seaweedfs: SeaweedFS) -> str:
    """An ordinary S3 bucket for dlt's bookkeeping (the table bucket refuses such objects)."""
    name = f"floe-state-{uuid.uuid4().hex[:8]}"
    seaweedfs.create_bucket(name)
    return name


@pytest.fixture
def state_url(state_bucket: str) -> str:
    """A fresh ``dlt_state_url`` prefix in the ordinary bucket, per test."""
    return f"s3://{state_bucket}/{unique('dlt')}"


@pytest.fixture
def make_plugin(seaweedfs: SeaweedFS, state_url: str, tmp_path: Path) -> Iterator[PluginFactory]:
    """Started plugins on the SeaweedFS REST catalog; each call may be a new pod (folder)."""
    made: list[DltIngestionPlugin] = []

    def make(
        pod: str = "pod-1",
        server: SeaweedFS | None = None,
        catalog: CatalogConfig | None = None,
        **config: Any,
    ) -> DltIngestionPlugin:
        plugin = DltIngestionPlugin(
            config=DltIngestionConfig(
                catalog_config=catalog or rest_catalog(server or seaweedfs),
                dlt_state_url=config.pop("dlt_state_url", state_url),
                pipelines_dir=tmp_path / pod / "pipelines",
                **config,
            )
        )
        plugin.startup()
        made.append(plugin)
        return plugin

    yield make
    for plugin in made:
        plugin.shutdown()
