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
from typing import Any, cast

from dlt.common.destination.capabilities import DestinationCapabilitiesContext
from dlt.common.normalizers.naming import NamingConvention
from dlt.common.schema.typing import TLoaderMergeStrategy, TTableSchema
from dlt.destinations.impl.filesystem.factory import (
    filesystem_merge_strategies_selector,
)
from pydantic import SecretStr

from floe_ingestion_dlt.compat.dlt import (
    FilesystemFactoryHooks,
    partial_destination_configuration,
)
from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.destination.client import FloeIcebergClient
from floe_ingestion_dlt.destination.configuration import IcebergDestinationClientConfiguration
from floe_ingestion_dlt.errors import PipelineConfigurationError, ValidationError
from floe_ingestion_dlt.vocabulary import MergeStrategy

__all__ = [
    "ICEBERG_MERGE_STRATEGIES",
    "catalog_from_destination_kwargs",
    "destination_config",
    "iceberg",
    "iceberg_merge_strategies_selector",
    "resolve_state_url",
    "state_bucket_credentials",
    "state_bucket_fsspec_kwargs",
]

ICEBERG_MERGE_STRATEGIES = cast(list[TLoaderMergeStrategy], [s.value for s in MergeStrategy])
"""Merge strategies of the ``iceberg`` destination (``merge.py``), as dlt names them; the first
is the default."""


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
        [s for s in supported_merge_strategies if s != MergeStrategy.DELETE_INSERT.value],
        table_schema=table_schema,
    )


def catalog_from_destination_kwargs(
    catalog_type: str, credentials: Mapping[str, Any] | CatalogConfig
) -> CatalogConfig:
    """Validate ``catalog_type`` + ``credentials`` (PyIceberg property names) as a catalog.

    Raises:
        ValidationError: naming ``credentials.<key>`` for unknown, doubled or conflicting keys.
    """
    if isinstance(credentials, CatalogConfig):
        if credentials.type != catalog_type:
            raise ValidationError(
                f"credentials: catalog_type {catalog_type!r} conflicts with the catalog's type "
                f"{credentials.type!r}",
                field="catalog_type",
            )
        return credentials
    if not isinstance(credentials, Mapping):
        raise ValidationError(
            f"credentials: must be a mapping of catalog properties, "
            f"got {type(credentials).__name__}",
            field="credentials",
        )
    given_type = credentials.get("type", catalog_type)
    if given_type != catalog_type:
        raise ValidationError(
            f"credentials: key 'type' ({given_type!r}) conflicts with catalog_type "
            f"{catalog_type!r}",
            field="credentials.type",
        )
    return CatalogConfig.parse({**dict(credentials), "type": catalog_type}, prefix="credentials")


def resolve_state_url(catalog: CatalogConfig, dlt_state_url: str | None) -> str:
    """Where dlt keeps its own bookkeeping (state, schemas, load records): ``bucket_url``.

    ``dlt_state_url`` when given; else, for a SQL catalog (the embedded one included), its
    warehouse: a folder or ordinary bucket the plugin writes anyway, where dlt's files sit beside
    the tables (PyIceberg puts those under ``<warehouse>/<namespace>.db/``). A REST catalog has
    no safe default: its warehouse may be a table bucket that refuses foreign objects (SeaweedFS,
    S3 Tables) or a name rather than a URL (Polaris).

    Raises:
        PipelineConfigurationError: CONFIGURATION, naming ``dlt_state_url``, when a REST
            catalog has none or when it points inside the REST catalog's warehouse bucket.
    """
    if not dlt_state_url:
        if catalog.type == "sql" and catalog.warehouse:
            return str(catalog.warehouse)
        raise PipelineConfigurationError(
            f"dlt_state_url: the REST catalog {catalog.display_uri} needs a location for dlt's "
            "state, schemas and load records: an ordinary bucket or folder such as "
            "s3://lake/dlt (never the catalog's table bucket)",
            field="dlt_state_url",
        )
    if catalog.type == "rest" and _same_bucket(dlt_state_url, catalog.warehouse):
        raise PipelineConfigurationError(
            f"dlt_state_url: {dlt_state_url} is inside the REST catalog's warehouse "
            f"{catalog.warehouse}; table buckets (SeaweedFS, S3 Tables) refuse any object that "
            "is not a table file: use an ordinary bucket or folder",
            field="dlt_state_url",
        )
    return dlt_state_url


def _same_bucket(url: str, warehouse: str | None) -> bool:
    from urllib.parse import urlsplit

    if not warehouse or "://" not in warehouse or "://" not in url:
        return False
    a, b = urlsplit(url), urlsplit(warehouse)
    s3 = ("s3", "s3a", "s3n")
    same_scheme = a.scheme == b.scheme or (a.scheme in s3 and b.scheme in s3)
    return same_scheme and bool(a.netloc) and a.netloc == b.netloc


def destination_config(catalog: CatalogConfig, dlt_state_url: str | None) -> dict[str, Any]:
    """Keyword arguments of :class:`iceberg` for ``catalog``; secrets stay ``SecretStr``.

    ``credentials`` holds the catalog under PyIceberg's property names (``uri``,
    ``warehouse``, ``credential``, ``scope``, ``token``, ``s3.endpoint`` ...); ``bucket_url``
    is :func:`resolve_state_url`.

    Example:
        >>> cfg = destination_config(
        ...     CatalogConfig.parse({"type": "rest", "uri": "http://cat", "warehouse": "lake",
        ...                          "token": "t0k3n"}),
        ...     "s3://lake-state/dlt",
        ... )
        >>> cfg["catalog_type"], cfg["credentials"]["uri"], cfg["bucket_url"]
        ('rest', 'http://cat', 's3://lake-state/dlt')
        >>> cfg["credentials"]["token"]
        SecretStr('**********')
    """
    credentials = catalog.model_dump(by_alias=True, exclude_defaults=True, exclude={"type"})
    return {
        "catalog_type": catalog.type,
        "credentials": credentials,
        "bucket_url": resolve_state_url(catalog, dlt_state_url),
    }


def state_bucket_credentials(catalog: CatalogConfig, bucket_url: str) -> dict[str, Any] | None:
    """dlt ``AwsCredentials`` for dlt's bookkeeping bucket, from the catalog's S3 settings.

    ``None`` for a non-S3 ``bucket_url`` or a catalog without S3 settings (dlt then uses the
    default AWS credential chain).
    """
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


def state_bucket_fsspec_kwargs(catalog: CatalogConfig, bucket_url: str) -> dict[str, Any] | None:
    """s3fs options for the bookkeeping bucket: path-style addressing when the catalog asks."""
    if bucket_url.startswith(("s3://", "s3a://")) and catalog.s3_path_style_access:
        return {"config_kwargs": {"s3": {"addressing_style": "path"}}}
    return None


def _validated_layouts(layouts: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``table_layouts`` checked and reduced to plain dicts (a configuration value)."""
    if not layouts:
        return None
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.layout import TableLayout
    from floe_ingestion_dlt.pydantic_errors import validation_error

    checked: dict[str, Any] = {}
    for table, layout in layouts.items():
        try:
            parsed = (
                layout if isinstance(layout, TableLayout) else TableLayout.model_validate(layout)
            )
        except PydanticValidationError as exc:
            raise validation_error(exc, prefix=f"table_layouts.{table}") from None
        checked[table] = parsed.model_dump(exclude_none=True)
    return checked


class iceberg(FilesystemFactoryHooks):
    """dlt destination that commits every table of a load as one Iceberg snapshot.

    Args:
        catalog_type: ``"sql"`` (embedded SQLite/PostgreSQL catalog) or ``"rest"``.
        credentials: the catalog's PyIceberg properties: ``uri``, ``warehouse``, ``credential``,
            ``token``, ``scope``, ``s3.endpoint`` ... Values may be ``SecretStr``.
        bucket_url: where dlt keeps its state, schemas and load records. Defaults to the
            warehouse of a SQL catalog; required for a REST one (see :func:`resolve_state_url`).
        state_tables: tables whose snapshot summaries are consulted when restoring state.
        table_layouts: table name -> layout (``partition_by``, ``sort_order``,
            ``target_file_size_mb``, ``table_properties``; see ``floe_ingestion_dlt.layout``),
            applied when the table is created and evolved when it changes.
        allow_empty_replace: a replace with 0 rows may empty a table that holds rows.
    """

    @property
    def spec(self) -> type[IcebergDestinationClientConfiguration]:
        return IcebergDestinationClientConfiguration

    @property
    def client_class(self) -> type[FloeIcebergClient]:
        return FloeIcebergClient

    def extend_capabilities(
        self, caps: DestinationCapabilitiesContext
    ) -> DestinationCapabilitiesContext:
        """dlt's filesystem capabilities, plus ``delete-insert`` merges for Iceberg tables."""
        caps.supported_merge_strategies = list(
            dict.fromkeys([*ICEBERG_MERGE_STRATEGIES, *caps.supported_merge_strategies])
        )
        caps.merge_strategies_selector = iceberg_merge_strategies_selector
        # dlt's Parquet files become Iceberg data files as they are (append fast path): write
        # them as the Iceberg spec asks (field ids, microseconds, zstd as PyIceberg); explicit
        # data_writer settings of the user still win
        from floe_ingestion_dlt.destination.data_files import (
            IcebergParquetFormat,
            install_iceberg_parquet_writers,
        )

        install_iceberg_parquet_writers()
        caps.parquet_format = IcebergParquetFormat()
        return caps

    def capabilities(
        self, config: Any = None, naming: NamingConvention | None = None
    ) -> DestinationCapabilitiesContext:
        """dlt's capabilities; without ``config``, from a memoized partial configuration.

        dlt builds fresh capabilities 20-30 times per pipeline run and, without a ``config``,
        resolves a partial destination configuration each time (2 ms apiece: 40-60 ms per
        run) only for ``adjust_capabilities`` to read the bucket's protocol. The partial
        configuration is kept while what it is resolved from stays the same: the pipeline
        of the config context, dlt's config providers and the environment.
        Capabilities themselves are still built fresh for every call (dlt mutates them).
        """
        if config is None:
            config = partial_destination_configuration(self)
        return super().capabilities(config, naming)

    def __init__(
        self,
        catalog_type: str = "sql",
        credentials: Mapping[str, Any] | CatalogConfig | None = None,
        bucket_url: str | None = None,
        state_tables: list[str] | None = None,
        table_layouts: Mapping[str, Any] | None = None,
        allow_empty_replace: bool = False,
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
        bucket_url = resolve_state_url(catalog, bucket_url)
        fs_credentials = state_bucket_credentials(catalog, bucket_url)
        fs_kwargs = state_bucket_fsspec_kwargs(catalog, bucket_url)
        if fs_kwargs and "kwargs" not in kwargs:
            kwargs["kwargs"] = fs_kwargs
        catalog_properties = catalog.model_dump(by_alias=True, exclude_none=True)
        layouts = _validated_layouts(table_layouts)
        super().__init__(
            bucket_url=bucket_url,
            credentials=fs_credentials,
            destination_name=destination_name,  # type: ignore[arg-type]
            environment=environment,  # type: ignore[arg-type]
            catalog_properties=catalog_properties,
            state_tables=state_tables,
            table_layouts=layouts,
            allow_empty_replace=allow_empty_replace,
            **kwargs,
        )
        # filesystem's __init__ forwards its own None defaults; they must not read as explicit
        self.config_params = {k: v for k, v in self.config_params.items() if v is not None}

    def __repr__(self) -> str:
        props = dict(self.config_params.get("catalog_properties") or {})
        masked = {k: ("***" if isinstance(v, SecretStr) else v) for k, v in props.items()}
        return f"iceberg(catalog={masked!r}, bucket_url={self.config_params.get('bucket_url')!r})"
