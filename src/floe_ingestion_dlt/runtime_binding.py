"""Turning floe's runtime binding (``IngestionConfig.runtime_binding``) into a catalog.

floe's orchestrator passes ``DltIngestionBinding.model_dump()`` (see
:mod:`deployment_binding`). The plugin reads from it:

- ``iceberg_catalog_env``: the catalog's non-secret PyIceberg properties under
  ``PYICEBERG_CATALOG__<NAME>__<PROPERTY>`` names (``URI``, ``WAREHOUSE``, ``S3__ENDPOINT`` ...);
- ``env_refs``: target name -> environment variable holding the secret. Targets are
  ``PYICEBERG_CATALOG__<NAME>__CREDENTIAL`` / ``__TOKEN`` / ``__SCOPE`` /
  ``__OAUTH2_SERVER_URI``, the pair ``__CLIENT_ID`` + ``__CLIENT_SECRET`` (joined as the OAuth2
  ``credential``), and ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``
  (the S3 keys of the catalog's FileIO, of dlt's bookkeeping bucket and of s3:// sources);
- ``destination_filesystem.bucket_url``: where dlt keeps its bookkeeping;
- ``source_filesystem``: the S3 endpoint / region of s3:// filesystem sources.

The variables are read when ``create_pipeline`` is called (floe's orchestrator calls it inside
each materialization), kept only as ``SecretStr`` in memory and registered with the scrubber:
never written anywhere, logged, or put into errors.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.deployment_binding import binding_mapping
from floe_ingestion_dlt.errors import PipelineConfigurationError

__all__ = ["RuntimeTarget", "resolve_runtime_binding", "source_storage_credentials"]

_PYICEBERG_PREFIX = "PYICEBERG_CATALOG__"
_S3_KEYS = {
    "AWS_ACCESS_KEY_ID": "s3.access-key-id",
    "AWS_SECRET_ACCESS_KEY": "s3.secret-access-key",
    "AWS_SESSION_TOKEN": "s3.session-token",
}


@dataclass(frozen=True)
class RuntimeTarget:
    """Where a platform run writes, resolved from the binding and the environment."""

    catalog: CatalogConfig
    dlt_state_url: str | None
    source_storage: dict[str, Any] = field(default_factory=dict)
    """dlt filesystem credentials for s3:// sources (endpoint, region, keys)."""


def _env_to_property(name: str) -> str:
    """PyIceberg's rule: ``S3__PATH_STYLE_ACCESS`` -> ``s3.path-style-access``."""
    return name.lower().replace("__", ".").replace("_", "-")


def _known_property(prop: str) -> str:
    """The CatalogConfig spelling of ``prop`` (environment names lose their case)."""
    for name, info in CatalogConfig.model_fields.items():
        alias = info.alias or name
        if alias.lower() == prop:
            return alias
    return prop


def _split_catalog_env(env: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``(catalog name, {property: value})`` of the one catalog in ``iceberg_catalog_env``."""
    names = {
        key[len(_PYICEBERG_PREFIX) :].split("__", 1)[0]
        for key in env
        if key.startswith(_PYICEBERG_PREFIX) and "__" in key[len(_PYICEBERG_PREFIX) :]
    }
    if len(names) != 1:
        raise PipelineConfigurationError(
            "runtime_binding.iceberg_catalog_env must describe exactly one catalog as "
            f"PYICEBERG_CATALOG__<NAME>__<PROPERTY> entries, found {sorted(names) or 'none'}",
            field="runtime_binding.iceberg_catalog_env",
        )
    name = names.pop()
    prefix = f"{_PYICEBERG_PREFIX}{name}__"
    props = {
        _known_property(_env_to_property(key[len(prefix) :])): str(value)
        for key, value in env.items()
        if key.startswith(prefix)
    }
    return name.lower(), props


def _secrets_from_env(
    env_refs: Mapping[str, Any], catalog_prefix: str, environ: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``(catalog properties, AWS_* values)`` read from the variables ``env_refs`` names.

    A variable that is not set is skipped (the catalog or bucket may not need it), except
    when only one half of a pair is set: that is a broken deployment and is refused.
    """
    catalog_props: dict[str, str] = {}
    aws: dict[str, str] = {}
    pairs: dict[str, tuple[str, str | None]] = {}
    for target, variable in env_refs.items():
        value = environ.get(str(variable))
        pairs[str(target)] = (str(variable), value)
        if value is None:
            continue
        if target in _S3_KEYS:
            aws[str(target)] = value
        elif str(target).startswith(catalog_prefix):
            prop = _env_to_property(str(target)[len(catalog_prefix) :])
            if prop not in ("client-id", "client-secret"):
                catalog_props[_known_property(prop)] = value
    for first, second in (
        (f"{catalog_prefix}CLIENT_ID", f"{catalog_prefix}CLIENT_SECRET"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ):
        a, b = pairs.get(first), pairs.get(second)
        if a is None or b is None:
            continue
        if (a[1] is None) != (b[1] is None):
            missing_target, (missing_variable, _) = (first, a) if a[1] is None else (second, b)
            raise PipelineConfigurationError(
                f"runtime_binding.env_refs: {missing_target} is read from environment variable "
                f"{missing_variable}, which is not set (its pair is)",
                field=f"runtime_binding.env_refs.{missing_target}",
            )
        if first.endswith("CLIENT_ID") and a[1] is not None and b[1] is not None:
            catalog_props["credential"] = f"{a[1]}:{b[1]}"
    return catalog_props, aws


def resolve_runtime_binding(
    binding: Any, environ: Mapping[str, str] | None = None
) -> RuntimeTarget:
    """The catalog, bookkeeping location and source storage a runtime binding describes.

    Raises:
        PipelineConfigurationError: CONFIGURATION, naming the binding entry at fault; never a
            secret value.
        ValidationError: the resulting catalog is inconsistent (names ``runtime_binding.<key>``).
    """
    environ = os.environ if environ is None else environ
    data = binding_mapping(binding)
    name, props = _split_catalog_env(dict(data.get("iceberg_catalog_env") or {}))
    prefix = f"{_PYICEBERG_PREFIX}{name.upper()}__"
    secret_props, aws = _secrets_from_env(dict(data.get("env_refs") or {}), prefix, environ)
    props.update(secret_props)
    for target, prop in _S3_KEYS.items():
        if target in aws:
            props.setdefault(prop, aws[target])
    if "credential" in props and "token" in props:
        del props["token"]  # both variables set: the OAuth2 exchange wins
    if "credential" not in props:  # OAuth2 settings without a credential are meaningless
        props.pop("scope", None)
        props.pop("oauth2-server-uri", None)
    known = {info.alias or n for n, info in CatalogConfig.model_fields.items()}
    catalog_data: dict[str, Any] = {k: v for k, v in props.items() if k in known}
    extra = {k: v for k, v in props.items() if k not in known}
    if extra:
        catalog_data["properties"] = {**dict(catalog_data.get("properties") or {}), **extra}
    style = catalog_data.get("s3.path-style-access")
    if style is not None:
        catalog_data["s3.path-style-access"] = str(style).lower() in ("true", "1", "yes")
    catalog_data["name"] = name
    catalog = CatalogConfig.parse(catalog_data, prefix="runtime_binding")
    destination = data.get("destination_filesystem") or {}
    state_url = destination.get("bucket_url") if isinstance(destination, Mapping) else None
    source = dict(data.get("source_filesystem") or {})
    storage: dict[str, Any] = {
        key: source[key] for key in ("endpoint_url", "region_name") if source.get(key)
    }
    storage.update({target.lower(): value for target, value in aws.items()})
    return RuntimeTarget(
        catalog=catalog,
        dlt_state_url=str(state_url) if state_url else None,
        source_storage=storage,
    )


def source_storage_credentials(
    source_config: Mapping[str, Any], target: RuntimeTarget
) -> dict[str, Any]:
    """``source_config`` with the binding's S3 settings for an s3:// filesystem source.

    Only when the source gives no ``credentials`` of its own: explicit settings win.
    """
    location = str(source_config.get("bucket_url") or source_config.get("path") or "")
    if not location.startswith(("s3://", "s3a://")) or "credentials" in source_config:
        return dict(source_config)
    if not target.source_storage:
        return dict(source_config)
    return {**source_config, "credentials": dict(target.source_storage)}
