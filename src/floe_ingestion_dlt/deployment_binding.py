"""What floe's compiler asks the plugin at compile time: requirements and the deployment binding.

``floe_core.compilation.stages`` composes the platform's storage and catalog plugins, then calls
``get_composition_requirements()`` and ``build_deployment_binding(storage=, catalog=)`` of the
ingestion plugin. The binding is secret-free: the catalog's non-secret PyIceberg properties as
``PYICEBERG_CATALOG__<NAME>__<PROPERTY>`` names (``iceberg_catalog_env``), where dlt keeps its
bookkeeping (``destination_filesystem``), the source storage endpoint (``source_filesystem``,
read by floe's orchestrator when it builds filesystem sources) and ``env_refs``: for each secret,
the *name* of the environment variable that holds it at run time (see :mod:`runtime_binding`).

dlt's bookkeeping (state, schemas, load records) goes to ``<storage warehouse>/_floe_dlt_state``,
an ordinary bucket the storage plugin provisions, or to the plugin config's ``dlt_state_url``.
It never goes into a catalog-managed table bucket (SeaweedFS, S3 Tables refuse foreign objects).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.errors import PipelineConfigurationError

if TYPE_CHECKING:
    from floe_core.composition.models import PluginRequirements
    from floe_core.schemas.compiled_artifacts import (
        CatalogDeploymentBinding,
        IcebergRestCatalogBinding,
        IcebergRestOAuth2Binding,
        IngestionDeploymentBinding,
        StorageDeploymentBinding,
    )

__all__ = [
    "STATE_FOLDER",
    "catalog_env_prefix",
    "compilation_error",
    "composition_requirements",
    "deployment_binding",
    "property_env_name",
]

STATE_FOLDER = "_floe_dlt_state"
"""Folder of the storage warehouse where dlt's bookkeeping goes in platform mode."""


def catalog_env_prefix(catalog_name: str) -> str:
    """``PYICEBERG_CATALOG__<NAME>__``: PyIceberg's environment prefix of a catalog.

    Example:
        >>> catalog_env_prefix("polaris")
        'PYICEBERG_CATALOG__POLARIS__'
    """
    return f"PYICEBERG_CATALOG__{re.sub(r'[^A-Z0-9]', '_', catalog_name.upper())}__"


def property_env_name(prop: str) -> str:
    """PyIceberg's environment spelling of a catalog property (``.`` -> ``__``, ``-`` -> ``_``).

    Example:
        >>> property_env_name("s3.path-style-access")
        'S3__PATH_STYLE_ACCESS'
    """
    return prop.replace(".", "__").replace("-", "_").upper()


def composition_requirements(plugin_name: str) -> PluginRequirements:
    """S3(-compatible) storage and an Iceberg REST catalog, with Iceberg tables."""
    from floe_core.composition.models import PluginRequirements, RequirementSet

    return PluginRequirements(
        plugin_type="ingestion",
        plugin_name=plugin_name,
        requirements=RequirementSet(
            protocols=["s3-compatible", "s3"],
            credential_modes=["kubernetes-secret", "environment", "workload-identity"],
            catalog_providers=["iceberg-rest"],
            table_formats=["iceberg"],
        ),
    )


def _oauth2(catalog: CatalogDeploymentBinding) -> IcebergRestOAuth2Binding | None:
    """The catalog's OAuth2 env names (Polaris publishes them in its dbt projection)."""
    if catalog.iceberg_rest is not None and catalog.iceberg_rest.oauth2 is not None:
        return catalog.iceberg_rest.oauth2
    dbt_rest = catalog.dbt.iceberg_rest if catalog.dbt is not None else None
    return dbt_rest.oauth2 if dbt_rest is not None else None


def _storage_key_envs(storage: StorageDeploymentBinding) -> dict[str, str]:
    """``AWS_*`` target name -> the environment variable holding the storage key."""
    refs: dict[str, str] = {}
    sources: list[Mapping[str, str]] = [storage.runtime.env_refs, storage.credentials.env_refs]
    for target, logical in (
        ("AWS_ACCESS_KEY_ID", "accessKeyId"),
        ("AWS_SECRET_ACCESS_KEY", "secretAccessKey"),
        ("AWS_SESSION_TOKEN", "sessionToken"),
    ):
        for mapping in sources:
            name = mapping.get(logical) or mapping.get(target)
            if name:
                refs[target] = str(name)
                break
    return refs


def _state_url(
    storage: StorageDeploymentBinding, catalog_warehouse: str, configured: str | None
) -> str:
    if configured:
        state_url = configured
    elif storage.warehouse is not None:
        state_url = f"{storage.warehouse.uri.rstrip('/')}/{STATE_FOLDER}"
    else:
        raise PipelineConfigurationError(
            "dlt ingestion needs a place for dlt's state, schemas and load records: the storage "
            "binding has no warehouse bucket (storage.warehouse) and plugins.ingestion.config "
            "has no dlt_state_url",
            field="storage.warehouse",
        )
    from floe_ingestion_dlt.destination.factory import _same_bucket

    if _same_bucket(state_url, catalog_warehouse):
        raise PipelineConfigurationError(
            f"dlt's bookkeeping would go to {state_url}, inside the catalog's warehouse "
            f"{catalog_warehouse} (a table bucket refuses foreign objects): set "
            "plugins.ingestion.config.dlt_state_url to an ordinary bucket",
            field="dlt_state_url",
        )
    return state_url


def deployment_binding(
    plugin_name: str,
    *,
    storage: StorageDeploymentBinding,
    catalog: CatalogDeploymentBinding,
    dlt_state_url: str | None = None,
) -> IngestionDeploymentBinding:
    """floe-core's ``IngestionDeploymentBinding(provider="dlt", dlt=DltIngestionBinding(...))``.

    Works for client-chosen table locations (Polaris on MinIO/S3: tables under the catalog's
    allowed locations) and catalog-managed ones (a table-bucket warehouse): the plugin never
    chooses a table location outside what the catalog answers.

    Raises:
        PipelineConfigurationError: naming what the composition lacks (an Iceberg REST
            catalog binding, a storage endpoint/warehouse).
    """
    from floe_core.schemas.compiled_artifacts import (
        DltIngestionBinding,
        IngestionDeploymentBinding,
    )

    rest = _rest_catalog(catalog)
    prefix = catalog_env_prefix(rest.catalog_name)
    catalog_props = _catalog_properties(storage, rest)
    credential_envs, credential_props = _catalog_credential_envs(catalog, prefix)
    catalog_props.update(credential_props)
    env_refs = {**credential_envs, **_storage_key_envs(storage)}
    filesystem = _s3_filesystem(storage)
    state_url = _state_url(storage, rest.warehouse, dlt_state_url)
    return IngestionDeploymentBinding(
        provider="dlt",
        dlt=DltIngestionBinding(
            plugin_name=plugin_name,
            destination="filesystem",
            table_format="iceberg",
            source_filesystem=dict(filesystem),
            destination_filesystem={"bucket_url": state_url, "credentials": dict(filesystem)},
            iceberg_catalog_env={
                f"{prefix}{property_env_name(k)}": str(v) for k, v in catalog_props.items()
            },
            env_refs=env_refs,
        ),
    )


def _rest_catalog(catalog: CatalogDeploymentBinding) -> IcebergRestCatalogBinding:
    """The catalog's Iceberg REST binding; a catalog without one cannot take dlt's writes."""
    rest = catalog.iceberg_rest
    if rest is None:
        raise PipelineConfigurationError(
            f"dlt ingestion writes through an Iceberg REST catalog, and the catalog binding of "
            f"provider {catalog.provider!r} has none (catalog.iceberg_rest is missing)",
            field="catalog.iceberg_rest",
        )
    return rest


def _catalog_properties(
    storage: StorageDeploymentBinding, rest: IcebergRestCatalogBinding
) -> dict[str, str]:
    """The catalog's non-secret PyIceberg properties: storage's, then the REST catalog's."""
    endpoint = storage.endpoint
    return {
        **dict(storage.runtime.pyiceberg_properties),
        "type": "rest",
        "uri": rest.uri,
        "warehouse": rest.warehouse,
        "s3.endpoint": endpoint.internal_url,
        "s3.region": endpoint.region,
        "s3.path-style-access": "true" if endpoint.path_style_access else "false",
        **dict(rest.properties),
    }


def _catalog_credential_envs(
    catalog: CatalogDeploymentBinding, prefix: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The catalog secrets' env names by PyIceberg env name, and the non-secret OAuth2 scope.

    With OAuth2 env names published by the catalog those are used; otherwise the catalog's
    ``CREDENTIAL``/``TOKEN`` are read from ``<NAME>_CREDENTIAL``/``<NAME>_TOKEN``.
    """
    oauth2 = _oauth2(catalog)
    if oauth2 is None:
        env_name = prefix.removeprefix("PYICEBERG_CATALOG__").rstrip("_")
        return {
            f"{prefix}CREDENTIAL": f"{env_name}_CREDENTIAL",
            f"{prefix}TOKEN": f"{env_name}_TOKEN",
        }, {}
    env_refs = {
        f"{prefix}CLIENT_ID": oauth2.client_id_env,
        f"{prefix}CLIENT_SECRET": oauth2.client_secret_env,
        f"{prefix}OAUTH2_SERVER_URI": oauth2.oauth2_server_uri_env,
    }
    if oauth2.oauth2_scope_env:
        env_refs[f"{prefix}SCOPE"] = oauth2.oauth2_scope_env
    scope = {"scope": oauth2.oauth2_scope_default} if oauth2.oauth2_scope_default else {}
    return env_refs, scope


def _s3_filesystem(storage: StorageDeploymentBinding) -> dict[str, Any]:
    """dlt filesystem settings of the storage endpoint (without keys: those are env refs)."""
    endpoint = storage.endpoint
    s3_style = {"s3_url_style": "path"} if endpoint.path_style_access else {}
    return {"endpoint_url": endpoint.internal_url, "region_name": endpoint.region, **s3_style}


def compilation_error(exc: PipelineConfigurationError, plugin_name: str) -> Exception:
    """floe-core's ``CompilationException`` carrying our message.

    floe's compiler passes a ``CompilationException`` through as it is; any other exception
    becomes a generic "could not build deployment binding" that hides what is missing.
    """
    from floe_core.compilation.errors import CompilationError, CompilationException
    from floe_core.compilation.stages import CompilationStage
    from floe_core.composition.error_codes import COMPOSITION_PLUGIN_CONFIG_INVALID

    return CompilationException(
        CompilationError(
            stage=CompilationStage.RESOLVE,
            code=COMPOSITION_PLUGIN_CONFIG_INVALID,
            message=f"Ingestion plugin {plugin_name!r}: {exc.message}",
            suggestion=(
                "Select storage with a warehouse bucket and an Iceberg REST catalog, or set "
                "plugins.ingestion.config.dlt_state_url"
            ),
            context={"ingestion_plugin": plugin_name, "field": exc.field or ""},
        )
    )


def binding_mapping(binding: Any) -> dict[str, Any]:
    """A runtime binding (a mapping or floe-core's model) as a plain dict."""
    if isinstance(binding, Mapping):
        return dict(binding)
    dump = getattr(binding, "model_dump", None)
    if callable(dump):
        dumped = dump(mode="python")
        if isinstance(dumped, Mapping):
            return dict(dumped)
    raise PipelineConfigurationError(
        f"runtime_binding must be a mapping or floe-core's DltIngestionBinding, "
        f"got {type(binding).__name__}",
        field="runtime_binding",
    )
