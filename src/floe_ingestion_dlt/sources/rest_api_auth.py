"""Authentication and headers of the ``rest_api`` source: every secret a ``SecretStr``.

The four auth types of dlt's REST client (``bearer``, ``api_key``, ``http_basic``,
``oauth2_client_credentials``) as pydantic models; an auth dict without ``type`` is bearer, as
in dlt. Secret values may be ``{"from_env": "NAME"}``; they are registered for scrubbing when
parsed and revealed only in :meth:`RestAuth.to_dlt`, for dlt's HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, TypeAdapter

from floe_ingestion_dlt.scrub import is_secret_key, register_secrets
from floe_ingestion_dlt.sources.secrets import SecretValue, from_env, reveal

if TYPE_CHECKING:
    import requests

__all__ = [
    "AUTH_ADAPTER",
    "ApiKeyAuth",
    "AuthConfig",
    "BearerAuth",
    "EnvText",
    "Headers",
    "HttpBasicAuth",
    "OAuth2ClientCredentialsAuth",
    "RestAuth",
    "env_or_text",
    "reveal_headers",
]


def env_or_text(value: Any) -> Any:
    """A plain (non-secret) string that may also come from ``{"from_env": NAME}``."""
    if isinstance(value, Mapping) and set(value) == {"from_env"}:
        return from_env(value["from_env"])
    return value


EnvText = Annotated[str, BeforeValidator(env_or_text)]


class RestAuth(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_dlt(self, session: requests.Session | None = None) -> dict[str, Any]:
        """dlt's auth configuration dict (secrets revealed for the HTTP client only)."""
        raise NotImplementedError


class BearerAuth(RestAuth):
    """``Authorization: Bearer <token>``."""

    type: Literal["bearer"] = "bearer"
    token: SecretValue

    def to_dlt(self, session: requests.Session | None = None) -> dict[str, Any]:
        return {"type": "bearer", "token": reveal(self.token)}


class ApiKeyAuth(RestAuth):
    """An API key in a header (default ``Authorization``), query parameter or cookie."""

    type: Literal["api_key"]
    api_key: SecretValue
    name: str = Field(default="Authorization", min_length=1)
    location: Literal["header", "query", "param", "cookie"] = "header"

    def to_dlt(self, session: requests.Session | None = None) -> dict[str, Any]:
        return {
            "type": "api_key",
            "api_key": reveal(self.api_key),
            "name": self.name,
            "location": self.location,
        }


class HttpBasicAuth(RestAuth):
    """HTTP basic authentication."""

    type: Literal["http_basic"]
    username: EnvText
    password: SecretValue

    def to_dlt(self, session: requests.Session | None = None) -> dict[str, Any]:
        return {"type": "http_basic", "username": self.username, "password": reveal(self.password)}


class OAuth2ClientCredentialsAuth(RestAuth):
    """OAuth 2.0 client credentials: a token from ``access_token_url``, sent as bearer."""

    type: Literal["oauth2_client_credentials"]
    access_token_url: str = Field(min_length=1)
    client_id: EnvText
    client_secret: SecretValue
    access_token_request_data: dict[str, Any] | None = None
    default_token_expiration: int = Field(default=3600, ge=1)

    def to_dlt(self, session: requests.Session | None = None) -> dict[str, Any]:
        auth: dict[str, Any] = {
            "type": "oauth2_client_credentials",
            "access_token_url": self.access_token_url,
            "client_id": self.client_id,
            "client_secret": reveal(self.client_secret),
            "default_token_expiration": self.default_token_expiration,
        }
        if self.access_token_request_data:
            auth["access_token_request_data"] = dict(self.access_token_request_data)
        if session is not None:
            auth["session"] = session
        return auth


def _default_bearer(value: Any) -> Any:
    """dlt's shorthand: an auth dict without ``type`` is bearer."""
    if isinstance(value, Mapping) and "type" not in value:
        return {**value, "type": "bearer"}
    return value


AuthConfig = Annotated[
    BearerAuth | ApiKeyAuth | HttpBasicAuth | OAuth2ClientCredentialsAuth,
    Field(discriminator="type"),
    BeforeValidator(_default_bearer),
]
AUTH_ADAPTER: TypeAdapter[Any] = TypeAdapter(AuthConfig)


_PUBLIC_HEADERS = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "cache-control",
        "connection",
        "content-type",
        "pragma",
        "user-agent",
        "x-request-id",
        "x-correlation-id",
    }
)
"""Standard headers whose values say nothing secret; every other custom header (``X-Session``,
``X-Tenant-Token`` ...) may carry a credential and its value is registered for scrubbing."""


def _secret_headers(value: Any) -> Any:
    """Header values as ``SecretStr``; those from the environment, with a secret-looking name
    (``Authorization``, ``X-Api-Key`` ...) or any name but the standard public headers
    (``Accept``, ``User-Agent`` ...) are registered for scrubbing."""
    if not isinstance(value, Mapping):
        return value
    headers: dict[str, Any] = {}
    for name, raw in value.items():
        text = raw
        if isinstance(raw, Mapping) and set(raw) == {"from_env"}:
            text = from_env(raw["from_env"])
            register_secrets([text])
        elif isinstance(raw, str) and (
            is_secret_key(str(name)) or str(name).lower() not in _PUBLIC_HEADERS
        ):
            register_secrets([raw])
        headers[name] = text
    return headers


Headers = Annotated[dict[str, SecretStr], BeforeValidator(_secret_headers)]


def reveal_headers(headers: Mapping[str, SecretStr] | None) -> dict[str, str]:
    return {k: v.get_secret_value() for k, v in (headers or {}).items()}
