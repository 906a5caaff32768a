"""Secret values in ``source_config``: ``SecretStr``, given inline or read from the environment.

A secret is either the value itself or ``{"from_env": "NAME"}``, the way Kubernetes secrets
arrive as environment variables. Every resolved value is registered with
:func:`floe_ingestion_dlt.scrub.register_secrets` the moment it is parsed, so it is masked in
every log line, span and error message from then on.

Example:
    >>> from pydantic import BaseModel
    >>> class Auth(BaseModel):
    ...     token: SecretValue
    >>> import os; os.environ["FLOE_DOC_TOKEN"] = "s3cr3t-token"
    >>> Auth.model_validate({"token": {"from_env": "FLOE_DOC_TOKEN"}}).token
    SecretStr('**********')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, SecretStr

from floe_ingestion_dlt.scrub import register_secrets

__all__ = ["SecretValue", "from_env", "reveal", "secret_input"]


def from_env(name: Any) -> str:
    """The value of environment variable ``name``; ``ValueError`` when it is not set."""
    if not isinstance(name, str) or not name:
        raise ValueError("from_env must name an environment variable")
    value = os.environ.get(name)
    if not value:
        raise ValueError(f"environment variable {name!r} (from_env) is not set or empty")
    return value


def secret_input(value: Any) -> Any:
    """Resolve ``{"from_env": NAME}``, register the secret value, hand it on to pydantic."""
    if isinstance(value, Mapping):
        if set(value) != {"from_env"}:
            raise ValueError('a secret is a string or {"from_env": "ENV_VAR_NAME"}')
        value = from_env(value["from_env"])
    if isinstance(value, SecretStr):
        register_secrets([value.get_secret_value()])
    elif isinstance(value, str):
        register_secrets([value])
    return value


SecretValue = Annotated[SecretStr, BeforeValidator(secret_input)]
"""A ``SecretStr`` that may also be given as ``{"from_env": "NAME"}``; registered for scrubbing."""


def reveal(value: SecretStr | str | None) -> str | None:
    """The plain value of a secret, for the one place that hands it to a client library."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value
