"""Opening the Iceberg catalog described by a :class:`CatalogConfig`, and probing it.

PyIceberg is imported lazily: importing the plugin must stay cheap. ``startup()`` preloads the
modules a catalog needs (:func:`preload_catalog_modules`) so that health checks stay fast.

A probe asks the catalog what a pipeline will ask it, bounded by a deadline it never overruns:

- REST: the OAuth2 exchange of ``credential`` (when given), ``GET /v1/config`` with the token,
  then one call the catalog must authenticate (some, like SeaweedFS, answer ``/v1/config`` to
  any token): ``HEAD`` of the pipeline's namespace, or for a health check ``GET namespaces``
  with ``pageSize=1`` (a 403 there to an authenticated caller only means "may not list").
  "Answers" means the catalog accepted our credentials: 401/403 is *rejected*, not healthy.
- SQL: the catalog is opened and its namespaces listed (an embedded SQLite catalog that does not
  exist yet is fine: the first run creates it; the probe never creates files).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

from floe_ingestion_dlt.config import CatalogConfig
from floe_ingestion_dlt.errors import PipelineConfigurationError, SourceConnectionError
from floe_ingestion_dlt.scrub import is_secret_key, register_secrets, scrub_text

if TYPE_CHECKING:
    import requests
    from pyiceberg.catalog import Catalog

__all__ = [
    "CatalogProbe",
    "check_catalog",
    "forget_shared_catalogs",
    "load_catalog",
    "preload_catalog_modules",
    "probe_catalog",
    "register_catalog_secrets",
    "shared_sql_catalogs",
]

ProbeStatus = Literal["ok", "unreachable", "rejected", "error"]

_REJECTED_STATUS = frozenset({401, 403})
_UNAVAILABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_SQL_AUTH_TEXT = ("password authentication failed", "access denied", "authentication failed")


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
    register_secrets(v for k, v in config.properties.items() if is_secret_key(k))


def preload_catalog_modules(config: CatalogConfig) -> None:
    """Import what opening and probing ``config`` needs, so the first health check is fast."""
    import requests  # noqa: F401
    from pyiceberg.catalog import load_catalog as _  # noqa: F401

    if config.type == "rest":
        import pyiceberg.catalog.rest
    else:
        import pyiceberg.catalog.sql  # noqa: F401


def _prepare_local_warehouse(config: CatalogConfig) -> None:
    """The embedded catalog's folders are created on first use."""
    from pathlib import Path

    if config.type == "sql" and config.uri.startswith("sqlite:///"):
        Path(config.uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if config.warehouse and config.warehouse.startswith("file://"):
        Path(config.warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


def import_catalog_client(config: CatalogConfig) -> None:
    """Import the PyIceberg module that opens ``config``'s catalog, if a probe will need it.

    ``startup()`` does not import PyIceberg (~0.5 s); health probes call this before their
    clock starts, so a first probe's import is not mistaken for a slow catalog. REST probes
    without SigV4 use ``requests`` only.
    """
    if config.type == "sql":
        import pyiceberg.catalog.sql
    elif str(config.properties.get("rest.sigv4-enabled", "")).lower() in ("true", "1"):
        import pyiceberg.catalog.rest  # noqa: F401


def load_catalog(config: CatalogConfig, **overrides: Any) -> Catalog:
    """Open the PyIceberg catalog for ``config``.

    Inside :func:`shared_sql_catalogs` a SQL catalog is opened once and shared.

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
    if config.type != "sql" or _shared is None:
        return pyiceberg_load_catalog(config.name, **props)
    key = (config.name, tuple(sorted((k, str(v)) for k, v in props.items())))
    with _shared_lock:
        if _shared is not None and key in _shared:
            return _shared[key]
    catalog = pyiceberg_load_catalog(config.name, **props)
    with _shared_lock:
        if _shared is not None:
            catalog = _shared.setdefault(key, catalog)
    return catalog


# --------------------------------------------------------------------------------------------
# One SQL catalog per run
# --------------------------------------------------------------------------------------------

_shared_lock = threading.Lock()
_shared: dict[tuple[str, tuple[tuple[str, str], ...]], Catalog] | None = None
_shared_users = 0


@contextmanager
def shared_sql_catalogs() -> Iterator[None]:
    """Within the block, :func:`load_catalog` opens each SQL catalog once and shares it.

    A pipeline run opens the catalog for the state restore, for each load step and for the
    read-back of its commits (2-3 ms each for an embedded catalog: an SQLAlchemy engine and the
    catalog's table check). A PyIceberg SQL catalog keeps no table state (every
    ``load_table`` queries the database), so one instance serves them all; its engine is
    thread-safe, as dlt's load threads already need. REST catalogs are never shared: their
    OAuth2 token may expire during a long run. Blocks may nest and run in several threads;
    the shared catalogs are dropped when the last block ends (or :func:`forget_shared_catalogs`).
    """
    global _shared, _shared_users
    with _shared_lock:
        _shared_users += 1
        if _shared is None:
            _shared = {}
    try:
        yield
    finally:
        with _shared_lock:
            _shared_users -= 1
            if _shared_users == 0:
                _shared = None


def forget_shared_catalogs() -> None:
    """Open new SQL catalogs from now on (after a failed attempt: its connections may be bad)."""
    with _shared_lock:
        if _shared is not None:
            _shared.clear()


# --------------------------------------------------------------------------------------------
# Probing
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogProbe:
    """What one probe of the catalog found."""

    status: ProbeStatus
    """``ok``; ``unreachable`` (no answer, timeout, 5xx/429: try again later); ``rejected``
    (401/403: the credentials are wrong); ``error`` (the catalog refused the configuration)."""
    message: str
    """Scrubbed, one line, names the catalog URI (password masked)."""
    response_time_ms: float
    step: str
    """The call that decided the outcome: ``token``, ``config``, ``namespace``, ``sql``..."""
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class _Outcome(Exception):
    """Ends a probe early with a verdict."""

    def __init__(self, status: ProbeStatus, step: str, text: str, http: int | None = None):
        super().__init__(text)
        self.status: ProbeStatus = status
        self.step = step
        self.text = text
        self.http = http


def probe_catalog(
    config: CatalogConfig, timeout: float, namespace: str | None = None
) -> CatalogProbe:
    """Ask the catalog whether it answers and accepts our credentials, within ``timeout`` s.

    Never raises and never returns later than ``timeout`` seconds (plus thread start-up): the
    probe runs in a daemon thread whose HTTP calls are themselves bounded by what is left.
    """
    register_catalog_secrets(config)
    started = time.perf_counter()
    deadline = started + timeout
    if config.type == "rest":
        sigv4 = str(config.properties.get("rest.sigv4-enabled", "")).lower() in ("true", "1")
        if sigv4:  # AWS-signed requests (S3 Tables, Glue): PyIceberg signs them
            return _bounded(config, deadline, started, lambda: _probe_with_pyiceberg(config))
        return _bounded(config, deadline, started, lambda: _probe_rest(config, deadline, namespace))
    return _bounded(config, deadline, started, lambda: _probe_sql(config))


def check_catalog(config: CatalogConfig, timeout: float, namespace: str | None = None) -> None:
    """Raise the plugin's typed error when the catalog cannot be used.

    Raises:
        SourceConnectionError: TRANSIENT, the catalog did not answer within ``timeout`` seconds
            or answered that it is unavailable (5xx, 429).
        PipelineConfigurationError: CONFIGURATION, the catalog rejected the credentials
            (401/403) or the configuration (e.g. an unknown warehouse).
    """
    probe = probe_catalog(config, timeout, namespace)
    if probe.ok:
        return
    if probe.status == "unreachable":
        raise SourceConnectionError(probe.message)
    field = "catalog_config"
    if probe.status == "rejected":
        if config.credential is not None:
            field = "catalog_config.credential"
        elif config.token is not None:
            field = "catalog_config.token"
        raise PipelineConfigurationError(
            f"{probe.message}; check the catalog's credential/token", field=field
        )
    raise PipelineConfigurationError(probe.message, field=field)


def _bounded(
    config: CatalogConfig, deadline: float, started: float, probe: Callable[[], tuple[str, str]]
) -> CatalogProbe:
    """Run ``probe`` (returns ``(step, message)``) in a daemon thread until ``deadline``."""
    uri = config.display_uri
    found: list[CatalogProbe] = []

    def elapsed_ms() -> float:
        return (time.perf_counter() - started) * 1000

    def target() -> None:
        try:
            step, text = probe()
            found.append(CatalogProbe("ok", scrub_text(f"{text} ({uri})"), elapsed_ms(), step))
        except _Outcome as out:
            message = scrub_text(f"catalog {uri} {out.text}")
            found.append(CatalogProbe(out.status, message, elapsed_ms(), out.step, out.http))
        except Exception as exc:  # a probe reports, it never raises
            status = _classify(exc)
            text = scrub_text(f"catalog {uri}: {type(exc).__name__}: {_one_line(exc)}")
            step = "sql" if config.type == "sql" else "open"
            found.append(CatalogProbe(status, text, elapsed_ms(), step, None))

    worker = threading.Thread(target=target, name="floe-catalog-probe", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.perf_counter()))
    if found:
        return found[0]
    waited = deadline - started
    return CatalogProbe(
        "unreachable",
        f"catalog {uri} did not answer within {waited:.2f}s",
        elapsed_ms(),
        "timeout",
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _classify(exc: BaseException) -> ProbeStatus:
    """Sort an exception from PyIceberg, requests or SQLAlchemy into a probe status."""
    from floe_ingestion_dlt.errors import ErrorCategory, categorize_error

    name = type(exc).__name__
    text = str(exc).lower()
    if name in ("OAuthError", "UnauthorizedError", "ForbiddenError") or any(
        marker in text for marker in _SQL_AUTH_TEXT
    ):
        return "rejected"
    if categorize_error(exc) is ErrorCategory.TRANSIENT or name in (
        "ServerError",
        "ServiceUnavailableError",
    ):
        return "unreachable"
    return "error"


# ------------------------------------------------------------------------------------- REST


def _server_error_text(response: requests.Response) -> str:
    """The catalog's own error message (Iceberg REST or OAuth2 shape), shortened."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or "")[:200]
        if isinstance(error, str):
            description = body.get("error_description")
            return f"{error}: {description}"[:200] if description else error[:200]
    return str(body)[:200]


def _judge(response: requests.Response, step: str, what: str) -> None:
    """Raise an :class:`_Outcome` unless ``response`` is a success."""
    code = response.status_code
    if code < 400:
        return
    detail = _server_error_text(response)
    text = f"{what} HTTP {code}" + (f" ({detail})" if detail else "")
    if code in _REJECTED_STATUS or (step == "token" and code == 400):
        raise _Outcome("rejected", step, f"rejected the credentials: {text}", code)
    if code in _UNAVAILABLE_STATUS or code >= 500:
        raise _Outcome("unreachable", step, f"is unavailable: {text}", code)
    raise _Outcome("error", step, f"refused the configuration: {text}", code)


def _probe_rest(config: CatalogConfig, deadline: float, namespace: str | None) -> tuple[str, str]:
    import requests

    base = config.uri.rstrip("/")
    headers = {
        k.removeprefix("header."): v
        for k, v in config.properties.items()
        if k.startswith("header.")
    }
    if config.access_delegation:
        headers["X-Iceberg-Access-Delegation"] = config.access_delegation

    def left() -> float:
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise _Outcome("unreachable", "timeout", "did not answer in time")
        return remaining

    with requests.Session() as session:
        session.headers.update(headers)
        try:
            step = "token"
            token = config.token.get_secret_value() if config.token is not None else None
            if config.credential is not None:
                token = _fetch_token(session, config, base, left())
            if token:
                session.headers["Authorization"] = f"Bearer {token}"
            step = "config"
            params = {"warehouse": config.warehouse} if config.warehouse else None
            response = session.get(f"{base}/v1/config", params=params, timeout=left())
            _judge(response, step, "GET /v1/config ->")
            step = "namespace" if namespace else "namespaces"
            prefix = _config_prefix(response)
            namespaces = f"{base}/v1/{prefix + '/' if prefix else ''}namespaces"
            if namespace:
                head = session.head(f"{namespaces}/{quote(namespace, safe='')}", timeout=left())
                if head.status_code != 404:  # a namespace the first run will create
                    _judge(head, step, f"HEAD namespace {namespace} ->")
            else:
                listing = session.get(namespaces, params={"pageSize": "1"}, timeout=left())
                # 403 to an authenticated caller: authenticated, just not allowed to list
                if not (listing.status_code == 403 and token):
                    _judge(listing, step, "GET namespaces ->")
        except requests.Timeout:
            raise _Outcome("unreachable", step, "did not answer in time") from None
        except requests.ConnectionError as exc:
            raise _Outcome("unreachable", step, f"is unreachable: {_reason(exc)}") from None
    return step, "REST catalog answered"


def _fetch_token(
    session: requests.Session, config: CatalogConfig, base: str, timeout: float
) -> str:
    """The OAuth2 client-credentials exchange, as PyIceberg does it."""
    assert config.credential is not None
    credential = config.credential.get_secret_value()
    client_id, client_secret = credential.split(":", 1) if ":" in credential else (None, credential)
    data = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "scope": config.scope or "catalog",
    }
    for extra in ("audience", "resource"):
        if config.properties.get(extra):
            data[extra] = config.properties[extra]
    url = config.oauth2_server_uri or f"{base}/v1/oauth/tokens"
    response = session.post(url, data=data, timeout=timeout)
    _judge(response, "token", "OAuth2 token exchange ->")
    try:
        token = response.json()["access_token"]
    except (ValueError, KeyError, TypeError):
        raise _Outcome(
            "error", "token", "answered the OAuth2 exchange without an access_token"
        ) from None
    register_secrets([str(token)])
    return str(token)


def _reason(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 connection error ("Connection refused")."""
    current: Any = exc
    for _ in range(6):
        inner = getattr(current, "reason", None) or (current.args[0] if current.args else None)
        if not isinstance(inner, BaseException):
            break
        current = inner
    text = _one_line(current)
    if "Connection(" in text and "): " in text:  # urllib3: "HTTPConnection(host=..): Failed.."
        text = text.split("): ", 1)[-1]
    return text or type(current).__name__


def _config_prefix(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    for section in ("overrides", "defaults"):
        values = body.get(section)
        if isinstance(values, dict) and values.get("prefix"):
            return str(values["prefix"]).strip("/")
    return ""


def _probe_with_pyiceberg(config: CatalogConfig) -> tuple[str, str]:
    """REST catalogs with SigV4 signing: PyIceberg (with boto3) signs and asks /v1/config."""
    load_catalog(config)
    return "config", "REST catalog answered"


# -------------------------------------------------------------------------------------- SQL


def _probe_sql(config: CatalogConfig) -> tuple[str, str]:
    from pathlib import Path

    if config.uri.startswith("sqlite:///"):
        from floe_ingestion_dlt.catalog_local import local_catalog_problem

        problem = local_catalog_problem(config.uri, config.warehouse)
        if problem is not None:
            raise _Outcome("error", "sql", f"cannot be opened or created: {problem}")
        path = Path(config.uri.removeprefix("sqlite:///"))
        if not path.exists():
            return "sql", "embedded catalog can be created here by the first run"
    catalog = load_catalog(config)
    catalog.list_namespaces()
    return "sql", "SQL catalog answered"
