"""Reading a ``floe-ingest`` YAML file into a :class:`~floe_ingestion_dlt.DltIngestionConfig`.

The file mirrors ``DltIngestionConfig``: ``sources``, ``catalog`` (alias of ``catalog_config``),
``retry`` (alias of ``retry_config``), ``pipelines_dir``, ``dlt_state_url`` and
``connect_timeout_seconds``. On top of the model it adds:

- ``${NAME}`` and ``${NAME:-default}`` in any string value, read from the environment
  (``$${`` writes a literal ``${``); an unset variable without a default is an error naming it;
- relative ``bucket_url`` folders of ``filesystem`` sources resolve against the YAML file's folder;
- the embedded catalog (``.floe/`` in the working folder) when no catalog is given, and
  ``pipelines_dir`` defaulting to ``.floe/pipelines`` there.

Every problem is reported with its YAML path (``sources[2].source_config.table``), its line and
what is allowed, all at once rather than one per attempt.

Example:
    >>> import os, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "ingest.yaml").write_text(
    ...     "sources:\\n"
    ...     "  - name: orders\\n"
    ...     "    source_type: filesystem\\n"
    ...     "    source_config: {bucket_url: data, file_glob: '*.csv'}\\n"
    ...     "    destination_table: bronze.orders\\n"
    ... )
    >>> loaded = load_config_file(folder / "ingest.yaml", workdir=folder)
    >>> loaded.config.sources[0].source_config["bucket_url"] == str(folder / "data")
    True
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml
    from pydantic import BaseModel
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.config import CatalogConfig, DltIngestionConfig, IngestionSourceConfig
    from floe_ingestion_dlt.sources.base import SourceBuilder

__all__ = [
    "TOP_LEVEL_KEYS",
    "ConfigFileError",
    "ConfigProblem",
    "LoadedConfig",
    "catalog_from_uri",
    "deep_problems",
    "interpolate",
    "load_config_file",
]

TOP_LEVEL_KEYS: dict[str, str] = {
    "sources": "sources",
    "catalog": "catalog_config",
    "catalog_config": "catalog_config",
    "retry": "retry_config",
    "retry_config": "retry_config",
    "pipelines_dir": "pipelines_dir",
    "dlt_state_url": "dlt_state_url",
    "connect_timeout_seconds": "connect_timeout_seconds",
}
"""YAML key -> ``DltIngestionConfig`` field."""

_DOCUMENTED_TOP_LEVEL = (
    "sources",
    "catalog",
    "retry",
    "pipelines_dir",
    "dlt_state_url",
    "connect_timeout_seconds",
)
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VARIABLE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$", re.DOTALL)
_STATE_FOLDER = ".floe"
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


@dataclass
class LoadedConfig:
    """A validated configuration and where its parts were written."""

    file: Path
    config: DltIngestionConfig
    lines: dict[str, int] = field(default_factory=dict)
    workdir: Path = field(default_factory=Path.cwd)

    def line_of(self, path: str) -> int | None:
        """The line of ``path`` or of its closest enclosing key."""
        return _line_of(self.lines, path)


# --------------------------------------------------------------------------------------------
# YAML paths and lines
# --------------------------------------------------------------------------------------------


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


def _line_of(lines: dict[str, int], path: str) -> int | None:
    candidate = path
    while candidate:
        if candidate in lines:
            return lines[candidate]
        cut = max(candidate.rfind("."), candidate.rfind("["))
        if cut <= 0:
            break
        candidate = candidate[:cut]
    return lines.get(candidate)


def _map_lines(
    node: yaml.Node, path: str, lines: dict[str, int], problems: list[ConfigProblem]
) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = join_path(path, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(ConfigProblem(child, f"duplicate key {key!r}: give it once", line))
            seen.add(key)
            lines.setdefault(child, line)
            _map_lines(value_node, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines.setdefault(child, item.start_mark.line + 1)
            _map_lines(item, child, lines, problems)


def _parse_yaml(file: Path, text: str) -> tuple[Any, dict[str, int]]:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigFileError(
            file, [ConfigProblem("", f"not valid YAML: {problem}", line)]
        ) from None
    lines: dict[str, int] = {}
    problems: list[ConfigProblem] = []
    if node is not None:
        _map_lines(node, "", lines, problems)
    if problems:
        raise ConfigFileError(file, problems)
    return data, lines


# --------------------------------------------------------------------------------------------
# ${ENV_VAR} interpolation
# --------------------------------------------------------------------------------------------


def interpolate(
    value: Any, environ: typing.Mapping[str, str], path: str = ""
) -> tuple[Any, list[ConfigProblem]]:
    """Replace ``${NAME}`` / ``${NAME:-default}`` in every string of ``value``.

    Returns the new value and the problems (unset variables, malformed references), each at
    its YAML path. Values substituted under secret-named keys are registered with the scrubber.

    Example:
        >>> interpolate({"url": "http://${HOST:-localhost}:${PORT}"}, {"PORT": "80"})
        ({'url': 'http://localhost:80'}, [])
        >>> interpolate({"token": "${TOKEN}"}, {})[1][0].message.split(":")[0]
        "environment variable 'TOKEN' is not set"
    """
    problems: list[ConfigProblem] = []
    result = _interpolate(value, environ, path, problems)
    return result, problems


def _interpolate(
    value: Any, environ: typing.Mapping[str, str], path: str, problems: list[ConfigProblem]
) -> Any:
    from floe_ingestion_dlt.scrub import is_secret_key, register_secrets

    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            child = join_path(path, str(key))
            new = _interpolate(item, environ, child, problems)
            if isinstance(key, str) and is_secret_key(key) and isinstance(new, str) and new != item:
                register_secrets([new])
            out[key] = new
        return out
    if isinstance(value, list):
        return [
            _interpolate(item, environ, join_path(path, i), problems)
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


# --------------------------------------------------------------------------------------------
# pydantic errors -> YAML paths
# --------------------------------------------------------------------------------------------


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


def _describe(value: Any) -> str:
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
        shown = repr(given) if isinstance(given, str | int | float | bool) else _describe(given)
        return parts, f"{shown} is not allowed; allowed values: {ctx.get('expected', '?')}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return parts, f"must be a mapping of keys to values, got {_describe(given)}"
    if kind == "list_type":
        return parts, f"must be a list, got {_describe(given)}"
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
            f"{_describe(given_at[path])} is not allowed here; expected {accepted}"
        )
    return [
        ConfigProblem(path, scrub_text("; ".join(messages)), _line_of(lines or {}, path))
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


# --------------------------------------------------------------------------------------------
# Catalog override
# --------------------------------------------------------------------------------------------


def catalog_from_uri(uri: str, base: CatalogConfig | None = None) -> CatalogConfig:
    """The catalog named on the command line (``--catalog``).

    ``sqlite:///path/catalog.db`` is an embedded SQL catalog whose warehouse is the folder
    ``warehouse`` beside the file; ``http(s)://...`` is a REST catalog (credentials, warehouse
    and S3 settings are kept from the file's catalog when that one is a REST catalog too).

    Raises:
        ValueError: for any other form, saying which forms are accepted.

    Example:
        >>> catalog_from_uri("sqlite:////tmp/lake/catalog.db").warehouse
        'file:///tmp/lake/warehouse'
        >>> catalog_from_uri("http://127.0.0.1:8181/catalog").type
        'rest'
    """
    from floe_ingestion_dlt.config import CatalogConfig

    if uri.startswith(("http://", "https://")):
        if base is not None and base.type == "rest":
            data = base.model_dump(by_alias=True, exclude_none=True)
            data["uri"] = uri
            return CatalogConfig.model_validate(data)
        return CatalogConfig(type="rest", uri=uri)
    if uri.startswith("sqlite:///"):
        database = Path(uri[len("sqlite:///") :]).expanduser()
        if not database.is_absolute():
            database = Path.cwd() / database
        database = database.resolve()
        return CatalogConfig(
            type="sql",
            uri=f"sqlite:///{database}",
            warehouse=(database.parent / "warehouse").as_uri(),
        )
    given = uri.split("://", maxsplit=1)[0] + "://..." if "://" in uri else repr(uri)
    raise ValueError(
        "expected sqlite:///path/to/catalog.db (embedded catalog) or an http(s):// REST "
        f"catalog URI, got {given}"
    )


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def _check_top_level(data: Any, lines: dict[str, int]) -> tuple[dict[str, Any], dict[str, str]]:
    """Map the YAML's top-level keys onto model fields; problems for unknown or doubled keys."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(
            f"the file must be a mapping with the keys {', '.join(_DOCUMENTED_TOP_LEVEL)}, "
            f"got {_describe(data)}"
        )
    problems: list[ConfigProblem] = []
    fields: dict[str, Any] = {}
    rename: dict[str, str] = {}
    for key, value in data.items():
        target = TOP_LEVEL_KEYS.get(str(key))
        if target is None:
            close = difflib.get_close_matches(str(key), list(TOP_LEVEL_KEYS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(
                ConfigProblem(
                    str(key),
                    f"unknown key {key!r}{hint}; allowed keys: {', '.join(_DOCUMENTED_TOP_LEVEL)}",
                    lines.get(str(key)),
                )
            )
            continue
        if target in fields:
            problems.append(
                ConfigProblem(
                    str(key),
                    f"{key!r} and {rename[target]!r} are the same setting: give one of them",
                    lines.get(str(key)),
                )
            )
            continue
        fields[target] = value
        rename[target] = str(key)
    if problems:
        raise _Problems(problems)
    return fields, rename


def _renamed(
    problem: ConfigProblem, rename: typing.Mapping[str, str], lines: dict[str, int]
) -> ConfigProblem:
    head, sep, rest = problem.path.partition(".")
    bracket = head.find("[")
    if bracket > 0:
        head, rest, sep = head[:bracket], head[bracket:] + sep + rest, ""
    shown = rename.get(head, head) + sep + rest
    return ConfigProblem(shown, problem.message, _line_of(lines, shown))


class _Problems(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _resolve_file_sources(fields: dict[str, Any], base: Path) -> None:
    """Relative ``bucket_url`` folders of filesystem sources are relative to the YAML file."""
    sources = fields.get("sources")
    if not isinstance(sources, list):
        return
    for source in sources:
        if not isinstance(source, dict) or source.get("source_type") != "filesystem":
            continue
        source_config = source.get("source_config")
        if not isinstance(source_config, dict):
            continue
        url = source_config.get("bucket_url")
        if isinstance(url, str) and url and "://" not in url:
            folder = Path(url).expanduser()
            if not folder.is_absolute():
                folder = base / folder
            source_config["bucket_url"] = str(folder.resolve())


def load_config_file(
    file: str | Path,
    *,
    catalog_uri: str | None = None,
    workdir: str | Path | None = None,
    environ: typing.Mapping[str, str] | None = None,
) -> LoadedConfig:
    """Read, interpolate, resolve and validate ``file``.

    Args:
        file: the YAML file.
        catalog_uri: ``--catalog`` override (see :func:`catalog_from_uri`).
        workdir: the working folder holding ``.floe/`` (default: the current folder).
        environ: the variables ``${...}`` reads (default: ``os.environ``).

    Raises:
        ConfigFileError: listing every problem with its YAML path, line and what is allowed.
    """
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.config import CatalogConfig, DltIngestionConfig

    path = Path(file)
    work = Path(workdir) if workdir is not None else Path.cwd()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(path, [ConfigProblem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(path, [ConfigProblem("", f"cannot read the file: {exc}")]) from None
    data, lines = _parse_yaml(path, text)
    try:
        fields, rename = _check_top_level(data, lines)
    except ValueError as exc:
        raise ConfigFileError(path, [ConfigProblem("", str(exc))]) from None
    except _Problems as exc:
        raise ConfigFileError(path, exc.problems) from None
    interpolated, problems = interpolate(fields, os.environ if environ is None else environ)
    if problems:
        # interpolation paths start with field names: show the keys the user wrote
        raise ConfigFileError(path, [_renamed(p, rename, lines) for p in problems])
    _resolve_file_sources(interpolated, path.resolve().parent)
    try:
        config = DltIngestionConfig.model_validate(interpolated)
    except PydanticValidationError as exc:
        found = problems_from_pydantic(exc, DltIngestionConfig, rename=rename, lines=lines)
        raise ConfigFileError(path, found + _raw_source_problems(interpolated, lines)) from None
    updates: dict[str, Any] = {}
    catalog = config.catalog_config
    if catalog_uri is not None:
        try:
            catalog = catalog_from_uri(catalog_uri, catalog)
        except (ValueError, PydanticValidationError) as exc:
            message = str(exc).splitlines()[0] if isinstance(exc, ValueError) else str(exc)
            raise ConfigFileError(path, [ConfigProblem("--catalog", message)]) from None
    if catalog is None:
        catalog = CatalogConfig.embedded(work / _STATE_FOLDER)
    updates["catalog_config"] = catalog
    pipelines_dir = config.pipelines_dir or Path(_STATE_FOLDER) / "pipelines"
    if not pipelines_dir.is_absolute():
        pipelines_dir = (work / pipelines_dir).resolve()
    updates["pipelines_dir"] = pipelines_dir
    return LoadedConfig(
        file=path, config=config.model_copy(update=updates), lines=lines, workdir=work
    )


def deep_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    """Check every source against its source type, the way ``create_pipeline`` will.

    Parses each ``source_config`` with its builder's model (all errors, not only the first),
    runs :func:`~floe_ingestion_dlt.pipeline.validate_ingestion_config` and reports missing
    packages. Creates nothing and connects to nothing.
    """
    from floe_ingestion_dlt.errors import IngestionError
    from floe_ingestion_dlt.pipeline import validate_ingestion_config
    from floe_ingestion_dlt.plugin import DltIngestionPlugin

    config = loaded.config
    problems: list[ConfigProblem] = []
    if not config.sources:
        problems.append(
            ConfigProblem(
                "sources",
                "no sources declared: add a list of sources, each with name, source_type, "
                "source_config and destination_table",
                loaded.line_of("sources"),
            )
        )
    plugin = DltIngestionPlugin(config=config)
    for index, source in enumerate(config.sources):
        base = join_path("sources", index)
        type_path = join_path(base, "source_type")
        builder, parsed, found = _source_config_check(index, source, loaded.lines)
        if found or builder is None or parsed is None:
            problems.extend(found)
            continue
        try:
            validate_ingestion_config(plugin.ingestion_config_for(source))
        except IngestionError as exc:
            field_name = getattr(exc, "field", None) or ""
            message = exc.message
            if field_name and message.startswith(f"{field_name}: "):
                message = message[len(field_name) + 2 :]
            target = f"{base}.{field_name}" if field_name else base
            problems.append(
                _hoisted(ConfigProblem(target, message), source.source_config, base, loaded.lines)
            )
            continue
        missing = builder.missing_packages(parsed)
        if missing:
            requirements = " ".join(sorted({f"'{req}'" for _, req in missing}))
            modules = ", ".join(module for module, _ in missing)
            problems.append(
                ConfigProblem(
                    type_path,
                    f"needs {modules}, which is not installed: pip install {requirements}",
                    loaded.line_of(type_path),
                )
            )
    return sorted_problems(problems)


def _hoisted(
    problem: ConfigProblem, source_config: dict[str, Any], base: str, lines: dict[str, int]
) -> ConfigProblem:
    """Point at ``sources[i].cursor_field`` when that is where the user wrote the key."""
    prefix = f"{base}.source_config."
    path = problem.path
    if path.startswith(prefix):
        key = re.split(r"[.\[]", path[len(prefix) :], maxsplit=1)[0]
        if key in ("cursor_field", "primary_key") and key not in source_config:
            path = f"{base}.{path[len(prefix) :]}"
    return ConfigProblem(path, problem.message, _line_of(lines, path))


def _source_config_check(
    index: int, source: IngestionSourceConfig, lines: dict[str, int]
) -> tuple[SourceBuilder | None, BaseModel | None, list[ConfigProblem]]:
    """Parse a source's ``source_config`` with its type's model; every problem, located."""
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.errors import IngestionError
    from floe_ingestion_dlt.sources import get_builder

    base = join_path("sources", index)
    type_path = join_path(base, "source_type")
    try:
        builder = get_builder(source.source_type.value)
    except (IngestionError, ImportError) as exc:
        message = f"source type {source.source_type.value!r} is not available: {exc}"
        return None, None, [ConfigProblem(type_path, message, _line_of(lines, type_path))]
    try:
        parsed = builder.config_model.model_validate(source.effective_source_config())
    except PydanticValidationError as exc:
        found = problems_from_pydantic(
            exc, builder.config_model, prefix=join_path(base, "source_config")
        )
        return builder, None, [_hoisted(p, source.source_config, base, lines) for p in found]
    return builder, parsed, []


def _raw_source_problems(fields: dict[str, Any], lines: dict[str, int]) -> list[ConfigProblem]:
    """``source_config`` problems of the sources that are otherwise valid.

    Used when the file as a whole failed validation, so that one run of ``validate`` lists
    the problems inside ``source_config`` too.
    """
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.config import IngestionSourceConfig

    raw_sources = fields.get("sources")
    if not isinstance(raw_sources, list):
        return []
    problems: list[ConfigProblem] = []
    for index, raw in enumerate(raw_sources):
        try:
            source = IngestionSourceConfig.model_validate(raw)
        except PydanticValidationError:
            continue  # already reported
        problems.extend(_source_config_check(index, source, lines)[2])
    return problems
