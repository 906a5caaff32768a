"""dlt configuration spec of the ``iceberg`` destination."""

from __future__ import annotations

from typing import Any, Dict, List, Optional  # noqa: UP035 - dlt configspecs resolve typing aliases

from dlt.common.configuration import configspec, resolve_type
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.destinations.impl.filesystem.configuration import (
    FilesystemDestinationClientConfiguration,
)

__all__ = ["IcebergDestinationClientConfiguration"]


@configspec
class IcebergDestinationClientConfiguration(FilesystemDestinationClientConfiguration):
    """Filesystem configuration plus the Iceberg catalog the tables are committed to.

    ``bucket_url`` is where dlt keeps its own bookkeeping (state, schemas, load records);
    Iceberg tables live wherever the catalog puts them.
    """

    catalog_properties: Optional[Dict[str, Any]] = None  # noqa: UP006,UP045
    """The catalog as ``CatalogConfig`` fields (``type``, ``uri``, ``warehouse``, ``s3.*`` ...)."""
    state_tables: Optional[List[str]] = None  # noqa: UP006,UP045
    """Tables whose snapshot summaries may hold a newer pipeline state than dlt's state files."""
    table_layouts: Optional[Dict[str, Any]] = None  # noqa: UP006,UP045
    """Table name -> declared layout (``floe_ingestion_dlt.layout.TableLayout`` fields)."""
    allow_empty_replace: bool = False
    """A 0-row replace may empty a table that holds rows (``writes.refuse_empty_replace``)."""

    @resolve_type("credentials")
    def resolve_credentials_type(self) -> type[CredentialsConfiguration]:
        # dlt collects hint resolvers per class: re-declare the filesystem one here
        return super().resolve_credentials_type()
