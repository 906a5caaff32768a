"""Each source of a loaded file checked against its source type, without touching anything.

The plugin's own validation (:func:`~floe_ingestion_dlt.pipeline.validate_ingestion_config`)
stops at the first problem; these checks parse each ``source_config`` with its builder's model
to report every problem at once, located in the YAML file.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.problems import (
    ConfigProblem,
    join_path,
    line_of,
    problems_from_pydantic,
    sorted_problems,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from floe_ingestion_dlt.cli.loaded_config import LoadedConfig
    from floe_ingestion_dlt.config import IngestionSourceConfig
    from floe_ingestion_dlt.sources.base import SourceBuilder

__all__ = ["deep_problems", "raw_source_problems"]


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
        hint = builder.install_hint(parsed)
        if hint:
            problems.append(ConfigProblem(type_path, hint, loaded.line_of(type_path)))
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
    return ConfigProblem(path, problem.message, line_of(lines, path))


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
        return None, None, [ConfigProblem(type_path, message, line_of(lines, type_path))]
    try:
        parsed = builder.config_model.model_validate(source.effective_source_config())
    except PydanticValidationError as exc:
        found = problems_from_pydantic(
            exc, builder.config_model, prefix=join_path(base, "source_config")
        )
        return builder, None, [_hoisted(p, source.source_config, base, lines) for p in found]
    return builder, parsed, []


def raw_source_problems(fields: dict[str, Any], lines: dict[str, int]) -> list[ConfigProblem]:
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
