"""Opening the Iceberg catalog described by a :class:`CatalogConfig`, and probing it.

PyIceberg is imported lazily: importing the plugin must stay cheap.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.scrub import register_secrets

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = ["load_catalog", "probe_catalog", "register_catalog_secrets"]


def register_catalog_secrets(config: CatalogConfig) -> None:
    """Make the scrubber aware of the catalog's secret values."""
    register_secrets(
        s.get_secret_value() if s is not None else None
        for s in (
            config.credential,
            config.token,
            config.s3_access_key_id,
            config.s3_secret_access_key,
            config.s3_session_token,
        )
    )
    if config.credential is not None and ":" in config.credential.get_secret_value():
        register_secrets([config.credential.get_secret_value().split(":", 1)[1]])


def _prepare_local_warehouse(config: CatalogConfig) -> None:
    """The embedded catalog's folders are created on first use."""
    from pathlib import Path

    if config.type == "sql" and config.uri.startswith("sqlite:///"):
        Path(config.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if config.warehouse and config.warehouse.startswith("file://"):
        Path(config.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def load_catalog(config: CatalogConfig, **overrides: Any) -> Catalog:
    """Open the PyIceberg catalog for ``config``.

    Example:
        >>> cat = load_catalog(CatalogConfig.embedded("/tmp/floe-doc"))  # doctest: +SKIP
        >>> cat.list_namespaces()  # doctest: +SKIP
        []
    """
    from pyiceberg.catalog import load_catalog as pyiceberg_load_catalog

    register_catalog_secrets(config)
    _prepare_local_warehouse(config)
    props = config.pyiceberg_properties()
    props.update({k: str(v) for k, v in overrides.items()})
    return pyiceberg_load_catalog(config.name, **props)


def probe_catalog(config: CatalogConfig, timeout: float) -> tuple[bool, str, float]:
    """Check that the catalog answers within ``timeout`` seconds.

    REST catalogs are asked ``GET /v1/config``; SQL catalogs are opened and listed.
    Returns ``(ok, message, response_time_ms)`` and never raises.
    """
    started = time.perf_counter()
    try:
        if config.type == "rest":
            _probe_rest(config, timeout)
        else:
            _probe_sql(config, timeout)
    except Exception as exc:  # a health probe reports, it never raises
        from floe_ingestion_dlt.scrub import scrub_text

        elapsed = (time.perf_counter() - started) * 1000
        return False, scrub_text(f"{type(exc).__name__}: {exc}"), elapsed
    return True, f"{config.type} catalog answered", (time.perf_counter() - started) * 1000


def _probe_rest(config: CatalogConfig, timeout: float) -> None:
    import requests

    headers: dict[str, str] = {}
    if config.token is not None:
        headers["Authorization"] = f"Bearer {config.token.get_secret_value()}"
    params = {"warehouse": config.warehouse} if config.warehouse else None
    response = requests.get(
        f"{config.uri.rstrip('/')}/v1/config", headers=headers, params=params, timeout=timeout
    )
    # 401 means the server is alive but wants OAuth2: the server answers, which is health.
    if response.status_code >= 500:
        raise ConnectionError(f"catalog {config.uri} answered HTTP {response.status_code}")


def _probe_sql(config: CatalogConfig, timeout: float) -> None:
    import concurrent.futures

    def _open() -> None:
        catalog = load_catalog(config)
        catalog.list_namespaces()

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(_open).result(timeout=timeout)
    except concurrent.futures.TimeoutError as exc:
        raise TimeoutError(f"catalog {config.uri} did not answer in {timeout}s") from exc
    finally:
        pool.shutdown(wait=False)
