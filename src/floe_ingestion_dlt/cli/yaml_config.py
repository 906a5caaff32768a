"""Reading a ``floe-ingest`` YAML file into a :class:`~floe_ingestion_dlt.DltIngestionConfig`.

The file mirrors ``DltIngestionConfig``: ``sources``, ``catalog`` (alias of ``catalog_config``),
``retry`` (alias of ``retry_config``), ``pipelines_dir``, ``dlt_state_url`` and
``connect_timeout_seconds``. On top of the model it adds:

- ``${NAME}`` and ``${NAME:-default}`` in any string value, read from the environment
  (``$${`` writes a literal ``${``); an unset variable without a default is an error naming it;
- relative ``bucket_url`` folders (and floe's ``path``) of ``filesystem`` sources resolve against
  the YAML file's folder;
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
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.interpolation import DefaultedVariable, interpolate
from floe_ingestion_dlt.cli.loaded_config import LoadedConfig
from floe_ingestion_dlt.cli.problems import (
    ConfigFileError,
    ConfigProblem,
    describe_value,
    join_path,
    line_of,
    problems_from_pydantic,
)
from floe_ingestion_dlt.cli.source_checks import raw_source_problems

if TYPE_CHECKING:
    import yaml

    from floe_ingestion_dlt.config import CatalogConfig, DltIngestionConfig

__all__ = ["TOP_LEVEL_KEYS", "LoadedConfig", "catalog_from_uri", "load_config_file"]

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
_STATE_FOLDER = ".floe"


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


MAX_CONFIG_CHARS = 1_000_000
"""A configuration file larger than this is refused before it is parsed."""
MAX_EXPANDED_VALUES = 100_000
"""Values the YAML may expand to once every alias is followed (a billion-laughs file is
352 bytes and expands to 10^9 values: refused in milliseconds, not after minutes)."""


MAX_FLOW_DEPTH = 200
"""``[``/``{`` opened and not closed: PyYAML's scanner slows quadratically with the depth."""


def _flow_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of ``text`` (an over-estimate: quotes are not skipped)."""
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def _refused(file: Path, message: str, node: yaml.Node) -> ConfigFileError:
    return ConfigFileError(file, [ConfigProblem("", message, node.start_mark.line + 1)])


_RECURSIVE = "a YAML anchor refers to itself (recursive alias): refused"


def _check_expansion(file: Path, root: yaml.Node) -> None:
    """Refuse a recursive anchor or a document whose aliases expand past the limit.

    Sizes are computed once per node (aliases share nodes), iteratively: no recursion.
    """

    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_EXPANDED_VALUES:
                raise _refused(
                    file,
                    f"the YAML expands to more than {MAX_EXPANDED_VALUES:,} values "
                    "through its aliases (*name): refused",
                    node,
                )
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise _refused(file, _RECURSIVE, node)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise _refused(file, _RECURSIVE, child)
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _parse_yaml(file: Path, text: str) -> tuple[Any, dict[str, int]]:
    import yaml

    if len(text) > MAX_CONFIG_CHARS:
        raise ConfigFileError(
            file,
            [
                ConfigProblem(
                    "",
                    f"the file has {len(text):,} characters, more than the {MAX_CONFIG_CHARS:,} "
                    "a configuration file may have: split it or move data out of it",
                )
            ],
        )
    if _flow_depth(text) > MAX_FLOW_DEPTH:
        raise ConfigFileError(
            file,
            [ConfigProblem("", f"not valid YAML: nested more than {MAX_FLOW_DEPTH} levels deep")],
        )
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None:
            _check_expansion(file, node)
        data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigFileError(
            file, [ConfigProblem("", "not valid YAML: nested too deeply")]
        ) from None
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


def _check_top_level(data: Any, lines: dict[str, int]) -> tuple[dict[str, Any], dict[str, str]]:
    """Map the YAML's top-level keys onto model fields; problems for unknown or doubled keys."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(
            f"the file must be a mapping with the keys {', '.join(_DOCUMENTED_TOP_LEVEL)}, "
            f"got {describe_value(data)}"
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
    return ConfigProblem(shown, problem.message, line_of(lines, shown))


class _Problems(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _resolve_file_sources(fields: dict[str, Any], base: Path) -> None:
    """Relative ``bucket_url`` / ``path`` of filesystem sources are relative to the YAML file."""
    sources = fields.get("sources")
    if not isinstance(sources, list):
        return
    for source in sources:
        if not isinstance(source, dict) or source.get("source_type") != "filesystem":
            continue
        source_config = source.get("source_config")
        if not isinstance(source_config, dict):
            continue
        for key in ("bucket_url", "path"):  # path: floe's name, a folder or a file
            url = source_config.get(key)
            if isinstance(url, str) and url and "://" not in url:
                folder = Path(url).expanduser()
                if not folder.is_absolute():
                    folder = base / folder
                resolved = str(folder.resolve())
                trailing = "/" if key == "path" and url.endswith("/") else ""
                source_config[key] = resolved + trailing


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
    path = Path(file)
    work = Path(workdir) if workdir is not None else Path.cwd()
    data, lines = _parse_yaml(path, _read_text(path))
    try:
        fields, rename = _check_top_level(data, lines)
    except ValueError as exc:
        raise ConfigFileError(path, [ConfigProblem("", str(exc))]) from None
    except _Problems as exc:
        raise ConfigFileError(path, exc.problems) from None
    defaulted: list[DefaultedVariable] = []
    interpolated, problems = interpolate(
        fields, os.environ if environ is None else environ, defaulted=defaulted
    )
    if problems:
        # interpolation paths start with field names: show the keys the user wrote
        raise ConfigFileError(path, [_renamed(p, rename, lines) for p in problems])
    _resolve_file_sources(interpolated, path.resolve().parent)
    config = _validated(path, interpolated, rename, lines)
    return LoadedConfig(
        file=path,
        config=config.model_copy(update=_placed(path, config, catalog_uri, work)),
        lines=lines,
        workdir=work,
        defaulted=defaulted,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(path, [ConfigProblem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(path, [ConfigProblem("", f"cannot read the file: {exc}")]) from None


def _validated(
    path: Path, interpolated: dict[str, Any], rename: dict[str, str], lines: dict[str, int]
) -> DltIngestionConfig:
    """The model of the interpolated fields; every problem, sources' own included."""
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.config import DltIngestionConfig

    try:
        return DltIngestionConfig.model_validate(interpolated)
    except PydanticValidationError as exc:
        found = problems_from_pydantic(exc, DltIngestionConfig, rename=rename, lines=lines)
        raise ConfigFileError(path, found + raw_source_problems(interpolated, lines)) from None


def _placed(
    path: Path, config: DltIngestionConfig, catalog_uri: str | None, work: Path
) -> dict[str, Any]:
    """The catalog (``--catalog``, the file's, else embedded) and an absolute pipelines dir."""
    from pydantic import ValidationError as PydanticValidationError

    from floe_ingestion_dlt.config import CatalogConfig

    catalog = config.catalog_config
    if catalog_uri is not None:
        try:
            catalog = catalog_from_uri(catalog_uri, catalog)
        except (ValueError, PydanticValidationError) as exc:
            message = str(exc).splitlines()[0] if isinstance(exc, ValueError) else str(exc)
            raise ConfigFileError(path, [ConfigProblem("--catalog", message)]) from None
    if catalog is None:
        catalog = CatalogConfig.embedded(work / _STATE_FOLDER)
    pipelines_dir = config.pipelines_dir or Path(_STATE_FOLDER) / "pipelines"
    if not pipelines_dir.is_absolute():
        pipelines_dir = (work / pipelines_dir).resolve()
    return {"catalog_config": catalog, "pipelines_dir": pipelines_dir}
