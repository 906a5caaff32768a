"""One resource of a REST API, read by dlt's declarative ``rest_api`` source.

``source_config`` is dlt's ``RESTAPIConfig`` as it is (``client``, ``resource_defaults``,
``resources``: paginators, data selectors, parent/child resources, incremental params), plus
``resource`` naming the one resource this pipeline loads when several are declared. The
short form ``{"base_url", "path", "params", "paginator", "data_selector", "auth"}`` covers the
common single-endpoint case.

Secrets (tokens, passwords, API keys, client secrets, secret-looking headers) are ``SecretStr``
and may be given as ``{"from_env": "NAME"}``. Requests have a bounded timeout and are retried
on 429, 5xx, resets and timeouts, honouring ``Retry-After``, within the run's one retry budget
(``retry_config``, see ``rest_api_guards.retrying_session``).

Example ``source_config``::

    {"base_url": "https://api.example.com/v1", "path": "orders",
     "params": {"status": "open"},
     "paginator": {"type": "offset", "limit": 100, "total_path": "total"},
     "data_selector": "items",
     "auth": {"type": "bearer", "token": {"from_env": "SHOP_API_TOKEN"}}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel

from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.scrub import scrub_text
from floe_ingestion_dlt.sources.base import (
    SourceBuilder,
    SourceContext,
)
from floe_ingestion_dlt.sources.rest_api_auth import (
    ApiKeyAuth,
    BearerAuth,
    HttpBasicAuth,
    OAuth2ClientCredentialsAuth,
)
from floe_ingestion_dlt.sources.rest_api_config import (
    SOURCE_TYPE,
    RestApiSourceConfig,
    RestClientConfig,
)
from floe_ingestion_dlt.sources.rest_api_probe import probe_endpoint
from floe_ingestion_dlt.vocabulary import WriteMode

if TYPE_CHECKING:
    import requests
    from dlt.extract.resource import DltResource

    from floe_ingestion_dlt.performance import DltSettings

__all__ = [
    "ApiKeyAuth",
    "BearerAuth",
    "HttpBasicAuth",
    "OAuth2ClientCredentialsAuth",
    "RestApiSourceBuilder",
    "RestApiSourceConfig",
    "RestClientConfig",
]


class RestApiSourceBuilder(SourceBuilder):
    """Builds the ``rest_api`` source on ``dlt.sources.rest_api.rest_api_resources``."""

    source_type: ClassVar[str] = SOURCE_TYPE
    config_model: ClassVar[type[BaseModel]] = RestApiSourceConfig

    def modules_for(self, config: BaseModel | None) -> tuple[tuple[str, str], ...]:
        return (("dlt", "floe-ingestion-dlt"), ("requests", "floe-ingestion-dlt"))

    def handles_incremental(self, config: BaseModel) -> bool:
        """The cursor goes to the API as a query parameter: dlt's endpoint incremental owns it."""
        return isinstance(config, RestApiSourceConfig) and config.sends_cursor()

    def parse(self, source_config: dict[str, Any]) -> BaseModel:
        """Validate the fields, the resource choice and the whole config against dlt's rules."""
        config = super().parse(source_config)
        assert isinstance(config, RestApiSourceConfig)
        config.selected_resource()
        _validate_with_dlt(config)
        return config

    def dlt_settings(self, config: BaseModel, context: SourceContext) -> DltSettings:
        from floe_ingestion_dlt.performance import arrow_pages_settings

        assert isinstance(config, RestApiSourceConfig)
        if arrow_pages_apply(config, context):
            return arrow_pages_settings()
        return super().dlt_settings(config, context)

    def check_reachable(self, config: BaseModel, timeout: float) -> None:
        """One request to the endpoint the load starts with (the root of a parent chain).

        Raises:
            SourceConnectionError: TRANSIENT when the host is unknown, refuses or does not
                answer within ``timeout``; PERMANENT when it refuses the credentials (401/403).
            ValidationError: the endpoint does not exist (404).
        """
        assert isinstance(config, RestApiSourceConfig)
        probe_endpoint(config, timeout)

    def build(self, config: BaseModel, context: SourceContext) -> DltResource:
        from dlt.sources.rest_api import rest_api_resources

        from floe_ingestion_dlt.sources.rest_api_guards import (
            bound_response_time,
            guard_pagination,
            retrying_session,
        )

        assert isinstance(config, RestApiSourceConfig)
        guard_pagination()
        session = retrying_session(config, context.pipeline_name)  # the run's retry budget
        bound_response_time(session, config.request_total_timeout)
        decode_json_once(session)
        name = config.selected_resource() or context.table_name
        dlt_config = config.to_dlt_config(session=session, name=name)
        _compile_data_selectors(dlt_config)
        resources = rest_api_resources(dlt_config)  # type: ignore[arg-type]
        resource: DltResource = next(r for r in resources if r.name == name)
        resource.max_table_nesting = config.max_table_nesting
        from floe_ingestion_dlt.sources.rest_api_keys import KeyCollisionCheck

        resource.add_step(KeyCollisionCheck(context.table_name))
        if arrow_pages_apply(config, context):
            from floe_ingestion_dlt.sources.rest_api_arrow import ArrowPages

            resource.add_step(ArrowPages(context.table_name, context.pipeline_name))
        return resource


def arrow_pages_apply(config: RestApiSourceConfig, context: SourceContext) -> bool:
    """Arrow pages are written exactly as rows would be for these loads (see rest_api_arrow)."""
    return (
        config.arrow_pages
        and context.write_mode in (WriteMode.APPEND, WriteMode.REPLACE)
        and context.schema_contract == "evolve"
    )


def _compile_data_selectors(dlt_config: dict[str, Any]) -> None:
    """Compile each endpoint's ``data_selector`` once: dlt parses a string once per page."""
    from dlt.common.jsonpath import compile_path

    sections = [*dlt_config["resources"], dlt_config.get("resource_defaults")]
    for section in sections:
        endpoint = section.get("endpoint") if isinstance(section, dict) else None
        if isinstance(endpoint, dict) and isinstance(endpoint.get("data_selector"), str):
            endpoint["data_selector"] = compile_path(endpoint["data_selector"])


_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19
"""19+ digits in a row: orjson would turn an integer past 64 bits into a float. Found by mapping
every digit to ``0`` and searching for the run: ~10x faster than a regex over a page."""


def decode_json_once(session: requests.Session) -> None:
    """Make ``response.json()`` of ``session``'s responses decode the body once, with orjson.

    dlt's paginators and its data selector each call ``response.json()``, so every page was
    decoded twice (0.35 s per 100,000 records with simplejson). Bodies orjson could read
    differently (19+ digit numbers) or refuses (not UTF-8, NaN, lone surrogates) are decoded by
    ``requests`` as before. (A session ``response`` hook would not do: dlt's per-request hooks
    replace the session's.)
    """
    send = session.send

    def send_then_decode_once(request: requests.PreparedRequest, **kwargs: Any) -> Any:
        response = send(request, **kwargs)
        decode = response.json
        decoded: list[Any] = []

        def json_once(**options: Any) -> Any:
            try:
                if options:
                    return decode(**options)
                if not decoded:
                    decoded.append(_decode(response.content, decode))
                return decoded[0]
            except ValueError as exc:
                raise NotJsonError(_not_json(response, exc)) from None

        response.json = json_once  # type: ignore[method-assign]
        return response

    session.send = send_then_decode_once  # type: ignore[method-assign]


class NotJsonError(ValueError):
    """A response that should be JSON is not (an HTML error page, a truncated document)."""


def _not_json(response: Any, exc: ValueError) -> str:
    """What the response was instead of JSON: status, content type, the start of the body."""
    content = response.content if isinstance(response.content, bytes) else b""
    start = " ".join(content[:80].decode("utf-8", errors="replace").split())
    url = scrub_text(str(getattr(response, "url", "") or ""))
    return (
        f"the response of {url} is not JSON (HTTP {response.status_code}, Content-Type "
        f"{response.headers.get('Content-Type', '-')!r}, {len(content)} bytes starting "
        f"{start!r}): {exc}"
    )


def _decode(content: bytes | None, fallback: Any) -> Any:
    import orjson

    if not isinstance(content, bytes) or _LONG_NUMBER in content.translate(_DIGITS_AS_ZERO):
        return fallback()
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError:
        return fallback()


def _validate_with_dlt(config: RestApiSourceConfig) -> None:
    """dlt's own validation of the RESTAPIConfig, as a ValidationError on ``source_config``."""
    from dlt.common.exceptions import DictValidationException
    from dlt.common.validation import validate_dict
    from dlt.sources.rest_api.config_setup import build_resource_dependency_graph
    from dlt.sources.rest_api.typing import RESTAPIConfig

    dlt_config: dict[str, Any] = config.to_dlt_config()
    defaults: Any = dlt_config.get("resource_defaults") or {}
    try:
        validate_dict(RESTAPIConfig, dlt_config, path=".")
        build_resource_dependency_graph(defaults, dlt_config["resources"])
    except (DictValidationException, ValueError) as exc:
        raise ValidationError(
            f"source_config: not a valid dlt REST API config: {exc}",
            field="source_config",
            source_type=SOURCE_TYPE,
        ) from None
