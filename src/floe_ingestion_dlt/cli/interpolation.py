"""``${NAME}`` and ``${NAME:-default}`` in the string values of a configuration file.

A default may hold references itself (``${A:-${B}}``, up to 8 levels); an unterminated
``${A`` or a malformed reference is a problem reported at its YAML path, never passed on.

Example:
    >>> interpolate({"url": "http://${HOST:-localhost}:${PORT}"}, {"PORT": "80"})
    ({'url': 'http://localhost:80'}, [])
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from typing import Any

from floe_ingestion_dlt.cli.problems import ConfigProblem, join_path

__all__ = ["DefaultedVariable", "interpolate"]


@dataclass(frozen=True)
class DefaultedVariable:
    """A ``${NAME:-default}`` whose variable was unset or empty, so the default was used."""

    path: str
    """The YAML path of the value, e.g. ``sources[2].source_config.base_url``."""
    name: str
    default: str


_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)


def interpolate(
    value: Any,
    environ: typing.Mapping[str, str],
    path: str = "",
    defaulted: list[DefaultedVariable] | None = None,
) -> tuple[Any, list[ConfigProblem]]:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of ``value``.

    Returns the new value and the problems (unset variables, malformed references), each at
    its YAML path. Values substituted under secret-named keys are registered with the scrubber.
    ``defaulted``, when given, receives every ``${NAME:-default}`` that fell back to its default
    (so a failure can say where a value came from).

    Example:
        >>> interpolate({"url": "http://${HOST:-localhost}:${PORT}"}, {"PORT": "80"})
        ({'url': 'http://localhost:80'}, [])
        >>> interpolate({"token": "${TOKEN}"}, {})[1][0].message.split(":")[0]
        "environment variable 'TOKEN' is not set"
    """
    problems: list[ConfigProblem] = []
    used = defaulted if defaulted is not None else []
    result = _interpolate(value, environ, path, problems, used)
    return result, problems


def _interpolate(
    value: Any,
    environ: typing.Mapping[str, str],
    path: str,
    problems: list[ConfigProblem],
    defaulted: list[DefaultedVariable],
) -> Any:
    from floe_ingestion_dlt.scrub import is_secret_key, register_secrets

    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            child = join_path(path, str(key))
            new = _interpolate(item, environ, child, problems, defaulted)
            if isinstance(key, str) and is_secret_key(key) and isinstance(new, str) and new != item:
                register_secrets([new])
            out[key] = new
        return out
    if isinstance(value, list):
        return [
            _interpolate(item, environ, join_path(path, i), problems, defaulted)
            for i, item in enumerate(value)
        ]
    if not isinstance(value, str) or "$" not in value:
        return value

    return _expand(value, environ, path, problems, defaulted, depth=0)


_MAX_NESTING = 8


def _closing_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``; -1 if none."""
    depth = 1
    index = start
    while index < len(text):
        if text.startswith("${", index):
            depth += 1
            index += 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    return -1


def _expand(
    text: str,
    environ: typing.Mapping[str, str],
    path: str,
    problems: list[ConfigProblem],
    defaulted: list[DefaultedVariable],
    depth: int,
) -> str:
    """``text`` with its references replaced; a default may itself hold references."""
    out: list[str] = []
    index = 0
    while index < len(text):
        found = text.find("$", index)
        if found < 0:
            out.append(text[index:])
            break
        out.append(text[index:found])
        if text.startswith("$${", found):
            out.append("${")
            index = found + 3
            continue
        if not text.startswith("${", found):
            out.append("$")
            index = found + 1
            continue
        end = _closing_brace(text, found + 2)
        if end < 0:
            problems.append(
                ConfigProblem(
                    path,
                    f"unterminated reference {text[found : found + 40]!r}: close it with '}}' "
                    "($${ for a literal '${')",
                )
            )
            out.append(text[found:])
            break
        out.append(_resolve(text[found + 2 : end], environ, path, problems, defaulted, depth))
        index = end + 1
    return "".join(out)


def _resolve(
    inner: str,
    environ: typing.Mapping[str, str],
    path: str,
    problems: list[ConfigProblem],
    defaulted: list[DefaultedVariable],
    depth: int,
) -> str:
    parsed = _VARIABLE.match(inner)
    if parsed is None:
        problems.append(
            ConfigProblem(
                path,
                f"malformed reference ${{{inner}}}: write ${{NAME}} or ${{NAME:-default}} "
                "(NAME of letters, digits and '_'; $${ for a literal '${')",
            )
        )
        return "${" + inner + "}"
    name, default = parsed.group(1), parsed.group(2)
    current = environ.get(name)
    if default is not None and not current:
        defaulted.append(DefaultedVariable(path, name, default))
        if depth >= _MAX_NESTING:
            problems.append(
                ConfigProblem(path, f"references nested deeper than {_MAX_NESTING} levels")
            )
            return default
        return _expand(default, environ, path, problems, defaulted, depth + 1)
    if current is None:
        problems.append(
            ConfigProblem(
                path,
                f"environment variable {name!r} is not set: export it, or write "
                f"${{{name}:-default}} to give a default",
            )
        )
        return "${" + inner + "}"
    from floe_ingestion_dlt.scrub import is_secret_key, register_secrets

    if is_secret_key(name):  # ${API_TOKEN} is a secret wherever it is used (a path, a URL)
        register_secrets([current])
    return current
