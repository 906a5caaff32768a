"""pydantic's ``ValidationError`` as the plugin's typed error: one field path, one message form.

Every place that validates a model (the plugin configuration, a catalog, a ``source_config``,
a table layout, ``maintain()``'s arguments) reports the FIRST problem pydantic found as
``<field path>: <message>`` with ``field`` set to that path. The path is, in this order:

1. the first key a custom error names in its context (``ctx["keys"]``: the catalog's
   conflicting or unknown keys);
2. pydantic's location of the error (``sources.0.write_mode``);
3. continued by the field a model-level validator's message starts with (``"format: ..."``:
   ``sources.0`` + ``primary_key``);

behind ``prefix`` when one is given (``source_config.format``). pydantic's ``"Value error, "``
is dropped, and the allowed values are added when the message does not list them already.

Example:
    >>> from pydantic import BaseModel
    >>> class Options(BaseModel):
    ...     retries: int
    >>> try:
    ...     Options.model_validate({"retries": [1]})
    ... except Exception as exc:
    ...     error = validation_error(exc, prefix="source_config")
    >>> error.field, error.message
    ('source_config.retries', 'source_config.retries: Input should be a valid integer')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.errors import ValidationError

__all__ = ["FirstError", "first_error", "first_message", "validation_error"]

_NAMED = re.compile(r"^([A-Za-z_][\w.\-]*): ")
"""A model-level validator's message that starts with the field it is about."""


@dataclass(frozen=True)
class FirstError:
    """The first problem of a pydantic ``ValidationError``: where it is and what it says."""

    location: str
    """The field path inside the validated model ('' for the model as a whole)."""
    message: str

    def field(self, prefix: str = "") -> str:
        """``prefix.location`` (either part may be empty)."""
        return ".".join(part for part in (prefix, self.location) if part)

    def text(self, prefix: str = "") -> str:
        """``<field>: <message>``; a path the scrubber would take for a secret's key
        (``credentials.token: ...``) is named after the message instead, so that the message
        stays readable."""
        from floe_ingestion_dlt.scrub import scrub_text

        field = self.field(prefix)
        if not field:
            return self.message
        probe = f"{field}: message"
        if scrub_text(probe) != probe:
            return f"{self.message} (field {field})"
        return f"{field}: {self.message}"


def first_error(exc: PydanticValidationError) -> FirstError:
    """The first error of ``exc``, its location and message as described in the module."""
    first: dict[str, Any] = dict(exc.errors()[0])
    message = str(first["msg"]).removeprefix("Value error, ")
    ctx = first.get("ctx") or {}
    keys = ctx.get("keys")
    path = [str(part) for part in first["loc"]]
    named = _NAMED.match(message) if first.get("type") == "value_error" else None
    if keys:
        path = [*path, str(keys[0])]
    elif named and named.group(1) not in path[-1:]:
        # a model validator names its field first: the path continues inside the model
        path, message = [*path, named.group(1)], message[named.end() :]
    location = ".".join(path)
    expected = ctx.get("expected")
    if expected is not None and str(expected) not in message:
        message = f"{message} (allowed: {expected})"
    return FirstError(location=location, message=message)


def first_message(exc: PydanticValidationError, *, named: bool = True) -> str:
    """The first error's text for a validator that re-raises it as its own ``ValueError``.

    ``named=False`` leaves the field out (pydantic puts the outer field in front itself).
    """
    error = first_error(exc)
    return error.text() if named else error.message


def validation_error(exc: PydanticValidationError, prefix: str = "") -> ValidationError:
    """The plugin's :class:`~floe_ingestion_dlt.errors.ValidationError` (CONFIGURATION) for
    the first problem of ``exc``, naming ``prefix.<field>``."""
    from floe_ingestion_dlt.errors import ValidationError

    error = first_error(exc)
    return ValidationError(error.text(prefix), field=error.field(prefix) or prefix or None)
