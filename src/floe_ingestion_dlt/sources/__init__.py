"""Source builders, one module per source type, behind a small registry.

Each builder parses its ``source_config`` into a typed model (errors name
``source_config.<field>``), reports the packages it needs, checks reachability and builds one
dlt resource. :func:`build_resource` then applies what all sources share: table name, write
disposition, keys, incremental cursor and schema contract.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.sources.base import SourceBuilder, SourceContext, SourceOptions
from floe_ingestion_dlt.vocabulary import DEFAULT_MERGE_STRATEGY, WriteMode

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource

__all__ = [
    "SOURCE_BUILDERS",
    "SourceBuilder",
    "SourceContext",
    "apply_shared_hints",
    "build_resource",
    "get_builder",
    "incremental_hint",
]

SOURCE_BUILDERS: dict[str, str] = {
    "filesystem": "floe_ingestion_dlt.sources.filesystem:FilesystemSourceBuilder",
    "rest_api": "floe_ingestion_dlt.sources.rest_api:RestApiSourceBuilder",
    "sql_database": "floe_ingestion_dlt.sources.sql_database:SqlDatabaseSourceBuilder",
}
"""Source type -> ``module:class`` of its builder, imported on first use."""


def get_builder(source_type: str) -> SourceBuilder:
    """The builder of ``source_type``.

    Raises:
        ValidationError: naming ``source_type`` and the allowed values.
    """
    target = SOURCE_BUILDERS.get(source_type)
    if target is None:
        raise ValidationError(
            f"source_type: {source_type!r} is not supported (allowed: {sorted(SOURCE_BUILDERS)})",
            field="source_type",
        )
    module_name, class_name = target.split(":")
    builder_class = getattr(importlib.import_module(module_name), class_name)
    builder: SourceBuilder = builder_class()
    return builder


def _write_disposition(config: SourceOptions, write_mode: WriteMode) -> Any:
    """dlt's ``write_disposition`` hint: the mode, with the merge strategy for a merge."""
    if write_mode is not WriteMode.MERGE:
        return write_mode.value
    strategy = config.merge_strategy or DEFAULT_MERGE_STRATEGY
    return {"disposition": write_mode.value, "strategy": strategy.value}


def incremental_hint(config: SourceOptions) -> Any:
    """``dlt.sources.incremental`` on ``cursor_field`` with the configured bounds."""
    import dlt

    assert config.cursor_field is not None
    kwargs: dict[str, Any] = {}
    for name in ("initial_value", "end_value", "lag", "row_order"):
        value = getattr(config, name)
        if value is not None:
            kwargs[name] = value
    return dlt.sources.incremental(config.cursor_field, **kwargs)


def _builder_handles_incremental(builder: SourceBuilder, config: BaseModel) -> bool:
    """Whether the builder binds the cursor itself (a SQL WHERE, an API query parameter).

    ``handles_incremental`` is a class flag or a method of the parsed config.
    """
    handles = getattr(builder, "handles_incremental", False)
    return bool(handles(config) if callable(handles) else handles)


def schema_contract_hint(mode: str) -> dict[str, str]:
    """dlt's contract for a plugin contract mode: it governs columns and types, never the table.

    A bare mode string would also freeze (or discard) dlt's ``tables`` entity, refusing the
    table's first rows; the Bronze table itself is always allowed to be created.

    Example:
        >>> schema_contract_hint("freeze")
        {'tables': 'evolve', 'columns': 'freeze', 'data_type': 'freeze'}
    """
    return {"tables": "evolve", "columns": mode, "data_type": mode}


def build_resource(
    builder: SourceBuilder, config: BaseModel, context: SourceContext
) -> DltResource:
    """Build the resource and apply the hints every source type shares."""
    resource = builder.build(config, context)
    apply_shared_hints(resource, builder, config, context)
    return resource


def apply_shared_hints(
    resource: DltResource,
    builder: SourceBuilder,
    config: BaseModel,
    context: SourceContext,
    *,
    keep_own_cursor: bool = False,
) -> None:
    """Give ``resource`` the plan's table, write disposition, keys, cursor, contract, format.

    Also applied to a resource the caller built (``run(pipeline, source=...)``), so it loads
    exactly as a plugin-built one would; with ``keep_own_cursor`` a resource that already binds
    a cursor (``dlt.sources.incremental``) keeps it.
    """
    assert isinstance(config, SourceOptions)
    hints: dict[str, Any] = {
        "table_name": context.table_name,
        "write_disposition": _write_disposition(config, context.write_mode),
        "table_format": "iceberg",
        "schema_contract": schema_contract_hint(context.schema_contract),
    }
    if config.primary_key:
        hints["primary_key"] = config.primary_key
    if config.merge_key:
        hints["merge_key"] = config.merge_key
    if config.cursor_field:
        if keep_own_cursor:  # a caller's resource: the builder's own binding does not apply
            binds_cursor = getattr(resource, "incremental", None) is not None
        else:
            binds_cursor = _builder_handles_incremental(builder, config)
        if not binds_cursor:
            hints["incremental"] = incremental_hint(config)
    if config.hard_delete_column:
        hints["columns"] = {config.hard_delete_column: {"hard_delete": True}}
    resource.apply_hints(**hints)
