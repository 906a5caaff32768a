"""Is a REST API reachable, and does it accept our credentials? One bounded request says.

The probe sends the request the load starts with: the selected resource's endpoint or, for a
child resource, the endpoint of the root of its parent chain (children need the parent's
records to form their URLs). Static query parameters, headers and auth are the configured
ones; OAuth2 fetches a token first. No retries: reachability is decided once, within
``timeout`` seconds, and the run's own retries deal with a flaky API later.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError, ValidationError
from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.scrub import scrub_text
from floe_ingestion_dlt.sources.reachability import call_with_deadline
from floe_ingestion_dlt.sources.rest_api_config import SOURCE_TYPE, RestApiSourceConfig

__all__ = ["ProbeRequest", "probe_endpoint", "probe_request"]

_log = get_logger(__name__)
_AUTH_STATUS = frozenset({401, 403, 407})


class ProbeRequest:
    """The request the probe sends, and what to call it in messages."""

    def __init__(
        self,
        method: str,
        url: str,
        params: dict[str, Any],
        headers: dict[str, str],
        json_body: Any,
        auth: dict[str, Any] | None,
        resource: str,
        concrete: bool,
    ) -> None:
        self.method = method
        self.url = url
        self.params = params
        self.headers = headers
        self.json_body = json_body
        self.auth = auth
        self.resource = resource
        self.concrete = concrete
        """False when the path holds placeholders and only the base URL is probed."""

    @property
    def host(self) -> str:
        """``host:port`` of the URL, without any user info."""
        return urlsplit(self.url).netloc.rpartition("@")[2]

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"


def _static(value: Any) -> bool:
    """A parameter value known before the run (not a resolve/incremental binding)."""
    return not isinstance(value, dict) and "{" not in str(value)


def probe_request(config: RestApiSourceConfig) -> ProbeRequest:
    """The first request of the load, built from dlt's own reading of the config."""
    from dlt.sources.helpers.rest_client.utils import join_url
    from dlt.sources.rest_api.config_setup import build_resource_dependency_graph

    dlt_config = config.to_dlt_config(session=None, name="data")
    defaults: Any = dlt_config.get("resource_defaults") or {}
    graph: Any = build_resource_dependency_graph(defaults, dlt_config["resources"])
    endpoints: dict[str, Any] = graph[1]
    parents: dict[str, Any] = graph[2]
    name = config.selected_resource() or "data"
    while parents.get(name):
        name = parents[name][0].resolve_config["resource"]
    endpoint: dict[str, Any] = dict(endpoints[name]["endpoint"])
    client: dict[str, Any] = dlt_config["client"]
    path = str(endpoint.get("path") or "")
    concrete = "{" not in path
    if not concrete:
        url = client["base_url"]
    elif urlsplit(path).scheme in ("http", "https"):
        url = path
    else:
        url = join_url(client["base_url"], path)
    headers = {**(client.get("headers") or {}), **(endpoint.get("headers") or {})}
    return ProbeRequest(
        method=str(endpoint.get("method") or "GET").upper() if concrete else "GET",
        url=url,
        params={k: v for k, v in (endpoint.get("params") or {}).items() if _static(v)}
        if concrete
        else {},
        headers={k: str(v) for k, v in headers.items() if _static(v)},
        json_body=endpoint.get("json") if concrete else None,
        auth=endpoint.get("auth") or client.get("auth"),
        resource=name,
        concrete=concrete,
    )


def _reason(exc: BaseException) -> str:
    """A short, secret-free reason for a failed connection."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(chain) < 16:
        chain.append(current)
        current = current.__cause__ or current.__context__ or _wrapped(current)
    for item in chain:
        if isinstance(item, socket.gaierror) or type(item).__name__ == "NameResolutionError":
            return "the host name does not resolve"
        if isinstance(item, ConnectionRefusedError):
            return "connection refused"
        if isinstance(item, ConnectionResetError):
            return "connection reset"
    deepest = chain[-1]
    return scrub_text(f"{type(deepest).__name__}: {deepest}")[:300]


def _wrapped(exc: BaseException) -> BaseException | None:
    """urllib3 keeps the cause of a MaxRetryError in ``reason``; requests in ``args[0]``."""
    for inner in (getattr(exc, "reason", None), *(exc.args[:1] if exc.args else ())):
        if isinstance(inner, BaseException):
            return inner
    return None


def _send(request: ProbeRequest, timeout: float) -> Any:
    import requests
    from dlt.sources.rest_api.config_setup import create_auth

    with requests.Session() as session:
        auth = None
        if request.auth is not None:
            auth_config = dict(request.auth)
            if auth_config.get("type") == "oauth2_client_credentials":
                auth_config["session"] = session
            auth = create_auth(auth_config)  # type: ignore[arg-type]
        return session.request(
            request.method,
            request.url,
            params=request.params,
            headers=request.headers,
            json=request.json_body,
            auth=auth,
            timeout=(timeout, timeout),
        )


def probe_endpoint(config: RestApiSourceConfig, timeout: float) -> None:
    """Raise the typed error an unreachable, unauthorised or missing endpoint deserves."""
    import requests

    request = probe_request(config)
    api = f"REST API {request.host}"
    try:
        response = call_with_deadline(
            lambda: _send(request, timeout), timeout, what=api, source_type=SOURCE_TYPE
        )
    except SourceConnectionError:
        raise
    except requests.HTTPError as exc:  # only the OAuth2 token request raises for its status
        raise _token_error(config, exc) from None
    except requests.Timeout:
        raise SourceConnectionError(
            f"{api} did not answer within {timeout:g}s", source_type=SOURCE_TYPE
        ) from None
    except requests.ConnectionError as exc:
        raise SourceConnectionError(
            f"{api} is not reachable: {_reason(exc)}", source_type=SOURCE_TYPE
        ) from None
    except requests.RequestException as exc:
        field = "source_config.base_url" if config.is_short_form else "source_config.client"
        raise ValidationError(
            f"{field}: cannot send a request to {request.host}: {_reason(exc)}",
            field=field,
            source_type=SOURCE_TYPE,
        ) from None
    status = int(response.status_code)
    where = f"{request.method} {request.path}"
    if not config.is_short_form:
        where += f" (resource {request.resource!r})"
    if status in _AUTH_STATUS:
        raise SourceConnectionError(
            f"{api} refused the credentials for {where}: HTTP {status}",
            category=ErrorCategory.PERMANENT,
            field=config.auth_field(),
            source_type=SOURCE_TYPE,
        )
    if status == 404 and request.concrete:
        field = "source_config.path" if config.is_short_form else "source_config.resources"
        raise ValidationError(
            f"{field}: {api} has no endpoint {where}: HTTP 404",
            field=field,
            source_type=SOURCE_TYPE,
        )
    _log.debug("rest api reachable", host=request.host, path=request.path, status=status)


def _token_error(config: RestApiSourceConfig, exc: Any) -> Exception:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    token_host = urlsplit(str(getattr(getattr(exc, "request", None), "url", ""))).netloc
    where = f"the OAuth2 token endpoint {token_host.rpartition('@')[2] or '?'}"
    if status in (400, 401, 403):
        return SourceConnectionError(
            f"{where} refused the client credentials: HTTP {status}",
            category=ErrorCategory.PERMANENT,
            field=config.auth_field(),
            source_type=SOURCE_TYPE,
        )
    if status is None or status == 429 or status >= 500:
        return SourceConnectionError(f"{where} failed: HTTP {status}", source_type=SOURCE_TYPE)
    return ValidationError(
        f"{config.auth_field()}.access_token_url: {where} answered HTTP {status}",
        field=f"{config.auth_field()}.access_token_url",
        source_type=SOURCE_TYPE,
    )
