"""The ``iceberg`` destination factory.

Example:
    >>> import dlt
    >>> from floe_ingestion_dlt import iceberg
    >>> dest = iceberg(
    ...     catalog_type="sql",
    ...     credentials={"uri": "sqlite:////tmp/lake/catalog.db", "warehouse": "file:///tmp/lake/wh"},
    ... )
    >>> pipeline = dlt.pipeline("orders", destination=dest, dataset_name="bronze")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.schema.typing import TLoaderMergeStrategy, TTableSchema
from dlt.destinations.impl.filesystem.factory import (
    filesystem,
    filesystem_merge_strategies_selector,
)
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.client import FloeIcebergClient
from floe_ingestion_dlt.destination.configuration import IcebergDestinationClientConfiguration
from floe_ingestion_dlt.errors import PipelineConfigurationError, ValidationError

__all__ = [
    "ICEBERG_MERGE_STRATEGIES",
    "catalog_from_destination_kwargs",
    "iceberg",
    "iceberg_merge_strategies_selector",
    "state_bucket_credentials",
]

ICEBERG_MERGE_STRATEGIES: list[TLoaderMergeStrategy] = ["upsert", "insert-only", "delete-insert"]
"""Merge strategies of the ``iceberg`` destination (``merge.py``); the first is the default."""


def iceberg_merge_strategies_selector(
    supported_merge_strategies: Sequence[TLoaderMergeStrategy],
    /,
    *,
    table_schema: TTableSchema,
) -> Sequence[TLoaderMergeStrategy]:
    """Iceberg tables get this destination's merge strategies; others dlt's filesystem ones."""
    if table_schema.get("table_format") == "iceberg":
        return ICEBERG_MERGE_STRATEGIES
    return filesystem_merge_strategies_selector(
        [s for s in supported_merge_strategies if s not in ("delete-insert",)],
        table_schema=table_schema,
    )


def catalog_from_destination_kwargs(
    catalog_type: str, credentials: Mapping[str, Any] | CatalogConfig
) -> CatalogConfig:
    """Validate ``catalog_type`` + ``credentials`` (PyIceberg property names) as a catalog."""
    if isinstance(credentials, CatalogConfig):
        return credentials
    try:
        return CatalogConfig.model_validate({"type": catalog_type, **dict(credentials)})
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "credentials"
        raise ValidationError(
            f"iceberg destination credentials.{field}: {first['msg']}", field=f"credentials.{field}"
        ) from None


def state_bucket_credentials(catalog: CatalogConfig, bucket_url: str) -> dict[str, Any] | None:
    """fsspec credentials for dlt's bookkeeping bucket, taken from the catalog's S3 settings."""
    if not bucket_url.startswith(("s3://", "s3a://")):
        return None
    creds: dict[str, Any] = {}
    if catalog.s3_access_key_id is not None and catalog.s3_secret_access_key is not None:
        creds["aws_access_key_id"] = catalog.s3_access_key_id.get_secret_value()
        creds["aws_secret_access_key"] = catalog.s3_secret_access_key.get_secret_value()
    if catalog.s3_session_token is not None:
        creds["aws_session_token"] = catalog.s3_session_token.get_secret_value()
    if catalog.s3_endpoint:
        creds["endpoint_url"] = catalog.s3_endpoint
    if catalog.s3_region:
        creds["region_name"] = catalog.s3_region
    if catalog.s3_path_style_access:
        creds["s3_url_style"] = "path"
    return creds or None


class iceberg(filesystem):
    """dlt destination that commits every table of a load as one Iceberg snapshot.

    Args:
        catalog_type: ``"sql"`` (embedded SQLite/PostgreSQL catalog) or ``"rest"``.
        credentials: the catalog's PyIceberg properties: ``uri``, ``warehouse``, ``credential``,
            ``token``, ``scope``, ``s3.endpoint`` ... Values may be ``SecretStr``.
        bucket_url: where dlt keeps its state, schemas and load records. Defaults to the
            warehouse folder of a local catalog; required for a remote one.
        state_tables: tables whose snapshot summaries are consulted when restoring state.
    """

    @property
    def spec(self) -> type[IcebergDestinationClientConfiguration]:
        return IcebergDestinationClientConfiguration

    @property
    def client_class(self) -> type[FloeIcebergClient]:
        return FloeIcebergClient

    def _raw_capabilities(self) -> DestinationCapabilitiesContext:
        """dlt's filesystem capabilities, plus ``delete-insert`` merges for Iceberg tables."""
        caps = super()._raw_capabilities()
        caps.supported_merge_strategies = list(
            dict.fromkeys([*ICEBERG_MERGE_STRATEGIES, *caps.supported_merge_strategies])
        )
        caps.merge_strategies_selector = iceberg_merge_strategies_selector
        return caps

    def __init__(
        self,
        catalog_type: str = "sql",
        credentials: Mapping[str, Any] | CatalogConfig | None = None,
        bucket_url: str | None = None,
        state_tables: list[str] | None = None,
        destination_name: str | None = None,
        environment: str | None = None,
        **kwargs: Any,
    ) -> None:
        if credentials is None:
            raise ValidationError(
                "iceberg destination needs credentials with at least 'uri' (and 'warehouse')",
                field="credentials",
            )
        catalog = catalog_from_destination_kwargs(catalog_type, credentials)
        if bucket_url is None:
            if not catalog.is_local:
                raise PipelineConfigurationError(
                    "dlt_state_url: a remote catalog needs a location for dlt's state "
                    "(an ordinary bucket or folder such as s3://lake/dlt, never a table bucket)",
                    field="dlt_state_url",
                )
            bucket_url = str(catalog.warehouse)
        fs_credentials = state_bucket_credentials(catalog, bucket_url)
        catalog_properties = catalog.model_dump(by_alias=True, exclude_none=True)
        super().__init__(
            bucket_url=bucket_url,
            credentials=fs_credentials,
            destination_name=destination_name,  # type: ignore[arg-type]
            environment=environment,  # type: ignore[arg-type]
            catalog_properties=catalog_properties,
            state_tables=state_tables,
            **kwargs,
        )
        # filesystem's __init__ forwards its own None defaults; they must not read as explicit
        self.config_params = {k: v for k, v in self.config_params.items() if v is not None}

    def __repr__(self) -> str:
        props = dict(self.config_params.get("catalog_properties") or {})
        masked = {k: ("***" if isinstance(v, SecretStr) else v) for k, v in props.items()}
        return f"iceberg(catalog={masked!r}, bucket_url={self.config_params.get('bucket_url')!r})"
