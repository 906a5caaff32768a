"""The ``source_config`` model of the ``rest_api`` source type (see :mod:`.rest_api`).

Below both the builder (:mod:`~floe_ingestion_dlt.sources.rest_api`) and the reachability
probe (:mod:`~floe_ingestion_dlt.sources.rest_api_probe`), which the builder calls.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.sources.base import (
    SourceOptions,
    validation_error,
)
from floe_ingestion_dlt.sources.rest_api_auth import (
    AUTH_ADAPTER,
    AuthConfig,
    Headers,
    RestAuth,
    env_or_text,
    reveal_headers,
)

if TYPE_CHECKING:
    import requests


__all__ = ["SOURCE_TYPE", "RestApiSourceConfig", "RestClientConfig"]

SOURCE_TYPE = "rest_api"
_SHORT_FORM_FIELDS = ("path", "method", "params", "json_body", "paginator", "data_selector")


def _http_url(value: str) -> str:
    if urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc:
        raise ValueError(f"must be an http(s) URL, got {value!r}")
    return value


class RestClientConfig(BaseModel):
    """dlt's ``client`` section: base URL, headers, auth and the default paginator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: Annotated[str, BeforeValidator(env_or_text)]
    headers: Headers | None = None
    auth: AuthConfig | None = None
    paginator: str | dict[str, Any] | None = None

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    def to_dlt(self, session: requests.Session | None) -> dict[str, Any]:
        """dlt ``ClientConfig`` dict."""
        client: dict[str, Any] = {"base_url": self.base_url}
        if self.headers:
            client["headers"] = reveal_headers(self.headers)
        if self.auth is not None:
            client["auth"] = self.auth.to_dlt(session)
        if self.paginator is not None:
            client["paginator"] = copy.deepcopy(self.paginator)
        if session is not None:
            client["session"] = session
        return client


def _parse_endpoint_auth(section: Any, where: str) -> Any:
    """A resource (or ``resource_defaults``) dict with ``endpoint.auth`` parsed like ``auth``."""
    if not isinstance(section, Mapping):
        return section
    endpoint = section.get("endpoint")
    if not isinstance(endpoint, Mapping) or endpoint.get("auth") is None:
        return section
    try:
        auth = AUTH_ADAPTER.validate_python(endpoint["auth"])
    except PydanticValidationError as exc:
        raise ValueError(f"{where}.endpoint.auth: {validation_error(exc, '').message}") from None
    return {**section, "endpoint": {**endpoint, "auth": auth}}


def _dlt_section(section: Any, session: requests.Session | None) -> Any:
    """A deep copy of a resource dict for dlt, with a parsed endpoint auth turned back to dlt's."""
    if not isinstance(section, Mapping):
        return section
    endpoint = section.get("endpoint")
    if not (isinstance(endpoint, Mapping) and isinstance(endpoint.get("auth"), RestAuth)):
        return copy.deepcopy(dict(section))
    plain = {k: v for k, v in section.items() if k != "endpoint"}
    rest = {k: v for k, v in endpoint.items() if k != "auth"}
    return {
        **copy.deepcopy(plain),
        "endpoint": {**copy.deepcopy(rest), "auth": endpoint["auth"].to_dlt(session)},
    }


class RestApiSourceConfig(SourceOptions):
    """``source_config`` of the ``rest_api`` source type (dlt's ``RESTAPIConfig`` or short form)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    # dlt's declarative RESTAPIConfig
    client: RestClientConfig | None = None
    resources: list[str | dict[str, Any]] | None = Field(default=None, min_length=1)
    resource_defaults: dict[str, Any] | None = None
    resource: str | None = Field(default=None, min_length=1)
    """The resource to load when ``resources`` declares several."""

    # short form
    base_url: Annotated[str, BeforeValidator(env_or_text)] | None = None
    path: str | None = None
    method: Literal["GET", "POST", "get", "post"] | None = None
    params: dict[str, Any] | None = None
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    paginator: str | dict[str, Any] | None = None
    data_selector: str | None = None
    auth: AuthConfig | None = None
    headers: Headers | None = None

    # behaviour
    max_table_nesting: int | None = Field(default=0, ge=0)
    """Nesting levels unpacked into child tables; 0 (default) keeps nested values as JSON
    columns of the one destination table."""
    request_timeout: float = Field(default=30.0, gt=0, le=600)
    """Seconds to connect and to wait for each response."""
    request_max_attempts: int = Field(default=5, ge=1, le=20)
    """Most attempts of one request on 429, 5xx, connection resets and timeouts; the retries
    between them also count against the run's ``retry_config`` (one budget, docs/retries.md)."""
    request_backoff_factor: float = Field(default=1.0, ge=0, le=60)
    """Exponential backoff multiplier between attempts (``Retry-After`` wins when sent). Only
    when set: otherwise the waits are ``retry_config``'s."""
    request_max_retry_delay: float = Field(default=60.0, ge=0, le=3600)
    """Longest wait between attempts, ``Retry-After`` included (a longer one is capped). Only
    when set: otherwise ``retry_config``'s, and never past its ``max_retry_seconds``."""
    request_total_timeout: float = Field(default=300.0, gt=0, le=86400)
    """Seconds a whole response may take to arrive (``request_timeout`` bounds each read)."""
    arrow_pages: bool = True
    """Turn flat pages into Arrow tables typed as dlt would type the rows (append/replace,
    ``evolve`` contract); ``false`` sends every record through dlt's row normalizer."""
    cursor_param: str | None = Field(default=None, min_length=1)
    """Short form: query parameter that receives the cursor's last value (``cursor_field``),
    so the API returns only newer rows (dlt's endpoint ``incremental.start_param``)."""

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("resources", mode="after")
    @classmethod
    def _resource_auth(cls, value: list[Any] | None) -> list[Any] | None:
        if value is None:
            return None
        return [_parse_endpoint_auth(r, f"resources[{i}]") for i, r in enumerate(value)]

    @field_validator("resource_defaults", mode="after")
    @classmethod
    def _defaults_auth(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        parsed: dict[str, Any] | None = _parse_endpoint_auth(value, "resource_defaults")
        return parsed

    @model_validator(mode="after")
    def _one_form(self) -> RestApiSourceConfig:
        full = self.client is not None or self.resources is not None
        if full and self.base_url is not None:
            raise ValueError(
                "give either dlt's REST API config (client, resources) or the short form "
                "(base_url, path, ...), not both"
            )
        if full:
            if self.client is None or self.resources is None:
                raise ValueError("dlt's REST API config needs both client and resources")
            for name in (*_SHORT_FORM_FIELDS, "auth", "headers"):
                if getattr(self, name):
                    key = "json" if name == "json_body" else name
                    raise ValueError(
                        f"{key}: short-form keys do not mix with client/resources; "
                        "put it in client or in the resource's endpoint"
                    )
        elif self.base_url is None:
            raise ValueError(
                "give base_url (short form) or client and resources (dlt's REST API config)"
            )
        else:
            for name in ("resource", "resource_defaults"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: belongs to the client/resources form")
        if self.cursor_param is not None:
            if full:
                raise ValueError(
                    "cursor_param: belongs to the short form; with client/resources declare "
                    "'incremental' (start_param, cursor_path) in the resource's endpoint"
                )
            if self.cursor_field is None:
                raise ValueError("cursor_param: needs cursor_field (the field it is taken from)")
        return self

    def sends_cursor(self) -> bool:
        """True when the API receives the cursor (dlt's endpoint incremental), so dlt binds it."""
        if self.is_short_form:
            return self.cursor_param is not None
        name = self.selected_resource()
        for item in self.resources or []:
            if isinstance(item, dict) and item.get("name") == name:
                endpoint = item.get("endpoint")
                if not isinstance(endpoint, dict):
                    return False
                params = endpoint.get("params") or {}
                return "incremental" in endpoint or any(
                    isinstance(p, dict) and p.get("type") == "incremental" for p in params.values()
                )
        return False

    def _endpoint_incremental(self) -> dict[str, Any]:
        incremental: dict[str, Any] = {
            "start_param": self.cursor_param,
            "cursor_path": self.cursor_field,
        }
        for name in ("initial_value", "end_value", "lag", "row_order"):
            if getattr(self, name) is not None:
                incremental[name] = getattr(self, name)
        return incremental

    @property
    def is_short_form(self) -> bool:
        return self.base_url is not None

    def resource_names(self) -> list[str]:
        """Names of the declared resources (empty for the short form)."""
        names: list[str] = []
        for index, item in enumerate(self.resources or []):
            name = item if isinstance(item, str) else item.get("name")
            if not isinstance(name, str) or not name:
                raise ValidationError(
                    f"source_config.resources[{index}].name: every resource needs a name",
                    field=f"source_config.resources[{index}].name",
                    source_type=SOURCE_TYPE,
                )
            names.append(name)
        return names

    def selected_resource(self) -> str | None:
        """The resource to load; ``None`` for the short form.

        Raises:
            ValidationError: naming ``source_config.resource`` and the declared names.
        """
        if self.is_short_form:
            return None
        names = self.resource_names()
        if self.resource is None:
            if len(names) == 1:
                return names[0]
            raise ValidationError(
                f"source_config.resource: the config declares {len(names)} resources; name the "
                f"one to load (one of: {', '.join(names)})",
                field="source_config.resource",
                source_type=SOURCE_TYPE,
            )
        if self.resource not in names:
            raise ValidationError(
                f"source_config.resource: {self.resource!r} is not declared in resources "
                f"(one of: {', '.join(names)})",
                field="source_config.resource",
                source_type=SOURCE_TYPE,
            )
        return self.resource

    def to_dlt_config(
        self, session: requests.Session | None = None, name: str = "data"
    ) -> dict[str, Any]:
        """dlt's ``RESTAPIConfig``; the short form becomes one resource called ``name``."""
        if not self.is_short_form:
            assert self.client is not None and self.resources is not None
            config: dict[str, Any] = {
                "client": self.client.to_dlt(session),
                "resources": [_dlt_section(r, session) for r in self.resources],
            }
            if self.resource_defaults:
                config["resource_defaults"] = _dlt_section(self.resource_defaults, session)
            return config
        assert self.base_url is not None
        client = RestClientConfig.model_construct(
            base_url=self.base_url, headers=self.headers, auth=self.auth, paginator=None
        ).to_dlt(session)
        endpoint: dict[str, Any] = {"path": self.path or ""}
        if self.method:
            endpoint["method"] = self.method.upper()
        if self.params:
            endpoint["params"] = copy.deepcopy(self.params)
        if self.json_body:
            endpoint["json"] = copy.deepcopy(self.json_body)
        if self.paginator is not None:
            endpoint["paginator"] = copy.deepcopy(self.paginator)
        if self.data_selector:
            endpoint["data_selector"] = self.data_selector
        if self.cursor_param is not None:
            endpoint["incremental"] = self._endpoint_incremental()
        return {"client": client, "resources": [{"name": name, "endpoint": endpoint}]}

    def auth_field(self) -> str:
        return "source_config.auth" if self.is_short_form else "source_config.client.auth"
