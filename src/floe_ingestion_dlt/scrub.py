"""Removing secrets from text and structures before they reach logs, spans or results.

Two mechanisms work together: patterns (URL passwords, Authorization headers, ``key=value``
pairs whose key names a secret) and a registry of known secret values taken from the
configuration, so a token that looks like any other word is still removed.

Example:
    >>> scrub_text("postgresql://app:hunter2@db:5432/shop")
    'postgresql://app:***@db:5432/shop'
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MASK",
    "is_secret_key",
    "known_secrets",
    "register_secrets",
    "register_secrets_in",
    "scrub_mapping",
    "scrub_text",
    "scrub_value",
]

MASK = "***"

_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|credential|api[_-]?key|private[_-]?key|authorization|"
    r"access[_-]?key|session[_-]?key|client[_-]?secret|dsn)",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^:/?#@\s]*):(?P<pw>[^@/\s]+)@"
)
_AUTH_HEADER = re.compile(
    r"(?i)\b(authorization|proxy-authorization)(['\"]?\s*[:=]\s*['\"]?)(bearer|basic|token)?\s*[^\s'\",}]+"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9\-._~+/]+=*")
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>[\"']?[\w.\-]*(pass(word|wd)?|secret|token|credential|api[_-]?key|access[_-]?key(-id)?)[\w.\-]*[\"']?)"
    r"(?P<sep>\s*[:=]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s\"',}&)]+)"
)

_URL_START = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_PATTERN_TRIGGER = re.compile(r"[:=]|bearer|basic", re.IGNORECASE)
"""Every pattern above needs one of these; text without them skips the patterns."""
_MIN_SECRET_LENGTH = 4

_known_secrets: set[str] = set()
_known_longest_first: tuple[str, ...] = ()
_lock = threading.Lock()


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values so that :func:`scrub_text` removes them wherever they appear.

    Their URL-encoded forms are remembered too (a password inside a DSN or a query string).
    Values shorter than 4 characters are left to the patterns: masking them everywhere would
    garble ordinary text.
    """
    global _known_longest_first
    with _lock:
        for value in values:
            if value and len(value) >= _MIN_SECRET_LENGTH:
                _known_secrets.add(value)
                _known_secrets.update({quote(value, safe=""), quote_plus(value, safe="")})
        _known_longest_first = tuple(sorted(_known_secrets, key=len, reverse=True))


def known_secrets() -> tuple[str, ...]:
    """The registered secret values (and their URL-encoded forms), longest first."""
    return _known_longest_first


def register_secrets_in(data: Any) -> None:
    """Register the secrets found in a configuration structure (mapping, list, pydantic model).

    Found are: ``SecretStr`` values, string values under secret-named keys (``password``,
    ``token``, ``aws_secret_access_key``, ``Authorization`` ...; for ``Bearer xyz`` also
    ``xyz``) and passwords inside URLs (``postgresql://user:pw@host/db``).

    Example:
        >>> register_secrets_in({"credentials": {"api_token": "tok-123456"}})
        >>> scrub_text("sent tok-123456")
        'sent ***'
    """
    found: list[str] = []
    _collect_secrets(data, None, found, depth=0)
    register_secrets(found)


def _collect_secrets(data: Any, key: str | None, found: list[str], depth: int) -> None:
    if depth > 20:
        return
    reveal = getattr(data, "get_secret_value", None)
    if callable(reveal):  # pydantic SecretStr / SecretBytes
        value = reveal()
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        _collect_secrets(value, "secret", found, depth + 1)
        return
    if isinstance(data, str):
        if key is not None and is_secret_key(key) and not _URL_START.match(data):
            # a URL is not a secret as a whole (its path names a file, a host, a database):
            # its password (below) and secret-named query values are
            found.append(data)
            scheme, _, credential = data.partition(" ")
            if credential and scheme.lower() in {"bearer", "basic", "token"}:
                found.append(credential.strip())
        found.extend(m["pw"] for m in _URL_PASSWORD.finditer(data))
        if _URL_START.match(data):
            found.extend(m["value"] for m in _KEY_VALUE.finditer(data.partition("?")[2]))
        return
    if isinstance(data, Mapping):
        for k, v in data.items():
            _collect_secrets(v, str(k), found, depth + 1)
        return
    if isinstance(data, list | tuple | set | frozenset):
        for item in data:
            _collect_secrets(item, key, found, depth + 1)
        return
    fields = getattr(type(data), "model_fields", None)
    if isinstance(fields, Mapping):  # a pydantic model
        for name in fields:
            _collect_secrets(getattr(data, name, None), name, found, depth + 1)


@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """True when a mapping key names a secret (password, token, credential, ...)."""
    return bool(_SECRET_KEY.search(key))


def scrub_text(text: str) -> str:
    """Return ``text`` with every secret it holds replaced by ``***``."""
    if len(text) < _MIN_SECRET_LENGTH:
        return text
    for secret in _known_longest_first:  # an immutable snapshot: no lock needed to read it
        if secret in text:
            text = text.replace(secret, MASK)
    if _PATTERN_TRIGGER.search(text) is None:
        return text  # no separator, no auth scheme: none of the patterns can match
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m[1]} {MASK}", text)
    text = _KEY_VALUE.sub(_mask_key_value, text)
    return text


_FIELD_PATH = re.compile(r"^\.?(source_config|catalog_config|config)\.", re.IGNORECASE)
"""Keys that are configuration paths in a validation message (``source_config.token: ...``)."""


def _mask_key_value(match: re.Match[str]) -> str:
    if _FIELD_PATH.match(match["key"].strip("\"'")) and match["sep"].strip() == ":":
        return match[0]  # "source_config.token: Field required" names a field, holds no secret
    value = match["value"]
    quote_char = value[0] if value[:1] in {'"', "'"} else ""
    if value.strip("\"'") in {MASK, ""}:
        return match[0]
    return f"{match['key']}{match['sep']}{quote_char}{MASK}{quote_char}"


def scrub_value(value: Any) -> Any:
    """Scrub strings, mappings and sequences recursively; other values pass unchanged."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return scrub_mapping(value)
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(v) for v in value)
    return value


def scrub_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with values under secret-named keys masked and strings scrubbed."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(key, str) and is_secret_key(key) and isinstance(value, str | bytes):
            out[key] = MASK
        else:
            out[key] = scrub_value(value)
    return out
