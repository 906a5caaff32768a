"""Problems of a configuration file, located by YAML path, and pydantic errors turned into them.

A :class:`ConfigProblem` says where (``sources[2].source_config.table``, line 14) and what is
wrong, and what is allowed: the keys a model accepts (with a "did you mean"), the values of an
enum, the types of a union.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydantic import ValidationError as PydanticValidationError

__all__ = [
    "ConfigFileError",
    "ConfigProblem",
    "allowed_keys",
    "describe_value",
    "join_path",
    "line_of",
    "problems_from_pydantic",
    "sorted_problems",
]

_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHOULD = re.compile(r"^(Input|String|Value|List|Dictionary|Number|Tuple|Set) should ")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration file, located by its YAML path."""

    path: str
    """``sources[2].source_config.table``; empty for the file as a whole."""
    message: str
    """What is wrong and what is allowed."""
    line: int | None = None

    def __str__(self) -> str:
        where = self.path or "(file)"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": self.path, "line": self.line, "message": self.message}


class ConfigFileError(Exception):
    """The YAML file cannot be used as it is; ``problems`` lists everything found."""

    def __init__(self, file: Path | str, problems: list[ConfigProblem]) -> None:
        self.file = Path(file)
        self.problems = sorted_problems(problems)
        problems = self.problems
        count = len(problems)
        listing = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{file}: {count} problem{'s' if count != 1 else ''}\n{listing}")


def join_path(parent: str, key: str | int) -> str:
    """``parent.key``, ``parent[3]`` or ``parent["s3.endpoint"]``.

    Example:
        >>> join_path(join_path(join_path("", "sources"), 2), "source_config")
        'sources[2].source_config'
        >>> join_path("catalog", "s3.endpoint")
        'catalog["s3.endpoint"]'
    """
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _PLAIN_KEY.match(key):
        return f"{parent}.{key}" if parent else key
    return f'{parent}["{key}"]'


def line_of(lines: dict[str, int], path: str) -> int | None:
    """The line of ``path`` in ``lines``, or of its closest enclosing key."""
    candidate = path
    while candidate:
        if candidate in lines:
            return lines[candidate]
        cut = max(candidate.rfind("."), candidate.rfind("["))
        if cut <= 0:
            break
        candidate = candidate[:cut]
    return lines.get(candidate)


def _unwrap(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model class inside ``annotation`` (list/Optional/Annotated) and whether it is a union."""
    from pydantic import BaseModel

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
        return None, True
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return (_unwrap(args[0])[0] if args else None), False
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def _field_named(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return name, info
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """The keys ``model`` accepts, spelled as in a YAML file (aliases where they exist).

    The model's own keys come first, then those it inherits (the options every source shares).
    """
    from pydantic import BaseModel

    inherited: set[str] = set()
    for base in model.__mro__[1:]:
        if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel:
            inherited.update(base.model_fields)
    fields = model.model_fields.items()
    ordered = [(n, i) for n, i in fields if n not in inherited]
    ordered += [(n, i) for n, i in fields if n in inherited]
    return [info.alias or name for name, info in ordered]


@dataclass
class _Located:
    parts: list[str | int]
    parent: type[BaseModel] | None
    """Model whose fields the last part is a key of (None below plain values)."""
    value: type[BaseModel] | None
    """Model of the value found at ``parts`` (None for plain values)."""
    union_tag: bool = False


def _locate(root: type[BaseModel], loc: tuple[str | int, ...]) -> _Located:
    """Follow ``loc`` through ``root``'s fields, dropping pydantic's union-member tags."""
    parts: list[str | int] = []
    parent: type[BaseModel] | None = root
    current: type[BaseModel] | None = root
    in_union = False
    for part in loc:
        if in_union:
            return _Located(parts, parent, None, union_tag=True)
        parts.append(part)
        if isinstance(part, int):
            continue
        parent = current
        found = _field_named(current, part) if current is not None else None
        if found is None:
            current = None
            continue
        current, in_union = _unwrap(found[1].annotation)
    return _Located(parts, parent, current)


def describe_value(value: Any) -> str:
    """``a mapping``, ``a list``, ``a number`` ...: what a value is, never what it holds."""
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def _message_for(error: Any, located: _Located) -> tuple[list[str | int], str]:
    """The message (and possibly refined path parts) of one pydantic error."""
    kind = error["type"]
    parts = list(located.parts)
    ctx = error.get("ctx") or {}
    given = error.get("input")
    if kind == "missing":
        return parts, "required key is missing"
    if kind == "extra_forbidden":
        key = str(parts[-1]) if parts else ""
        allowed = allowed_keys(located.parent) if located.parent is not None else []
        message = f"unknown key {key!r}"
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            message += f" (did you mean {close[0]!r}?)"
        if allowed:
            message += f"; allowed keys: {', '.join(allowed)}"
        return parts, message
    if kind in ("enum", "literal_error"):
        plain = isinstance(given, str | int | float | bool)
        shown = repr(given) if plain else describe_value(given)
        return parts, f"{shown} is not allowed; allowed values: {ctx.get('expected', '?')}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return parts, f"must be a mapping of keys to values, got {describe_value(given)}"
    if kind == "list_type":
        return parts, f"must be a list, got {describe_value(given)}"
    keys = ctx.get("keys")
    if str(kind).endswith("unknown_keys") and isinstance(keys, list) and len(keys) == 1:
        parts.append(str(keys[0]))  # a model that checks its own keys: point at the key
    message = _SHOULD.sub("must ", str(error["msg"]))
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
    head, sep, rest = message.partition(": ")
    model = located.value
    if sep and model is not None and _field_named(model, head) is not None:
        return [*parts, head], rest
    if isinstance(given, int | float) and not isinstance(given, bool):
        message += f", got {given}"
    return parts, message


def problems_from_pydantic(
    exc: PydanticValidationError,
    model: type[BaseModel],
    *,
    prefix: str = "",
    rename: typing.Mapping[str, str] | None = None,
    lines: dict[str, int] | None = None,
) -> list[ConfigProblem]:
    """One :class:`ConfigProblem` per distinct location of ``exc``, with YAML paths.

    ``rename`` maps first-level field names back to the YAML keys the user wrote
    (``catalog_config`` -> ``catalog``). Union failures at one place merge into one problem that
    lists the accepted types.
    """
    from floe_ingestion_dlt.scrub import scrub_text

    grouped: dict[str, list[str]] = {}
    unions: dict[str, list[str]] = {}
    given_at: dict[str, Any] = {}
    for error in exc.errors():
        located = _locate(model, tuple(error["loc"]))
        if located.union_tag:
            path = _render(prefix, located.parts, rename)
            tag = str(error["loc"][len(located.parts)])
            unions.setdefault(path, []).append(tag)
            given_at[path] = error.get("input")
            continue
        parts, message = _message_for(error, located)
        path = _render(prefix, parts, rename)
        grouped.setdefault(path, [])
        if message not in grouped[path]:
            grouped[path].append(message)
    for path, tags in unions.items():
        accepted = " or ".join(dict.fromkeys(_plain_tag(t) for t in tags))
        grouped.setdefault(path, []).append(
            f"{describe_value(given_at[path])} is not allowed here; expected {accepted}"
        )
    return [
        ConfigProblem(path, scrub_text("; ".join(messages)), line_of(lines or {}, path))
        for path, messages in grouped.items()
    ]


def sorted_problems(problems: Iterable[ConfigProblem]) -> list[ConfigProblem]:
    """Problems in file order (those without a line first), each reported once."""
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (p.line or 0, p.path))


def _plain_tag(tag: str) -> str:
    """``function-after[...]`` union tags of validators name nothing useful: keep the type."""
    inner = re.search(r"\[(.*)\]$", tag)
    if tag.startswith(("function-", "json-or-python")) and inner:
        return inner.group(1).split(",")[-1].strip() or tag
    return tag


def _render(
    prefix: str, parts: Iterable[str | int], rename: typing.Mapping[str, str] | None
) -> str:
    path = prefix
    for index, part in enumerate(parts):
        shown = part
        if index == 0 and not prefix and rename and isinstance(part, str):
            shown = rename.get(part, part)
        path = join_path(path, shown)
    return path
