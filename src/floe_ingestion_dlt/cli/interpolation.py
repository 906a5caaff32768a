"""``${NAME}`` and ``${NAME:-default}`` in the string values of a configuration file.

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


_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
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

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        inner = match.group(1)
        parsed = _VARIABLE.match(inner)
        if parsed is None:
            problems.append(
                ConfigProblem(
                    path,
                    f"malformed reference ${{{inner}}}: write ${{NAME}} or ${{NAME:-default}} "
                    "(NAME of letters, digits and '_'; $${ for a literal '${')",
                )
            )
            return match.group(0)
        name, default = parsed.group(1), parsed.group(2)
        current = environ.get(name)
        if default is not None and not current:
            defaulted.append(DefaultedVariable(path, name, default))
            return default
        if current is None:
            problems.append(
                ConfigProblem(
                    path,
                    f"environment variable {name!r} is not set: export it, or write "
                    f"${{{name}:-default}} to give a default",
                )
            )
            return match.group(0)
        return current

    return _REFERENCE.sub(substitute, value)
