"""The keywords ``run(pipeline, **kwargs)`` understands, checked against the pipeline's plan.

floe's orchestrator (``floe_orchestrator_dagster.assets.ingestion``) calls ``run`` with
``write_disposition``, ``table_name``, ``schema_contract``, ``cursor_field``, ``primary_key``,
``source_type``, ``source_name``, ``source_path`` and ``source`` (a dlt resource it built).
None of them is forwarded to ``dlt.Pipeline.run``: each is compared with what
``create_pipeline`` planned, and a value that would load differently than planned (another
table, another write disposition, another key) is a CONFIGURATION error raised before anything
runs. ``source=`` replaces the plugin-built resource and gets the plan's hints (table, write
disposition, keys, cursor, contract, Iceberg), so it is loaded with every guarantee a
plugin-built source has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.vocabulary import DEFAULT_MERGE_STRATEGY, MergeStrategy

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource

    from floe_ingestion_dlt.pipeline import PipelinePlan
    from floe_ingestion_dlt.sources.base import SourceContext

__all__ = ["ACCEPTED_RUN_KEYWORDS", "RunRequest", "parse_run_keywords"]

ACCEPTED_RUN_KEYWORDS: tuple[str, ...] = (
    "source",
    "write_disposition",
    "table_name",
    "schema_contract",
    "cursor_field",
    "primary_key",
    "source_type",
    "source_name",
    "source_path",
)
"""Every keyword ``run()`` accepts; docs/configuration.md describes each."""


@dataclass(frozen=True)
class RunRequest:
    """What one ``run()`` call asks for beyond the plan."""

    resource: DltResource | None = None
    """The caller's resource (``source=``) with the plan's hints, or None for the plan's own."""
    source_name: str | None = None
    source_path: str | None = None


def _conflict(keyword: str, given: Any, planned: Any, plan: PipelinePlan) -> ValidationError:
    ctx = plan.context
    return ValidationError(
        f"run(): keyword {keyword}={given!r} conflicts with the pipeline created for "
        f"{ctx.destination_table} ({keyword} {planned!r}); a run loads exactly what "
        "create_pipeline planned: create another pipeline for another table or setting",
        field=keyword,
        source_type=ctx.source_type,
        destination_table=ctx.destination_table,
        pipeline_name=ctx.pipeline_name,
    )


def _key_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValidationError(
        f"run(): primary_key must be a column name or a list of names, got {value!r}",
        field="primary_key",
    )


def _planned_write_disposition(plan: PipelinePlan) -> str:
    return plan.context.write_mode.value


def _check_write_disposition(value: Any, plan: PipelinePlan) -> None:
    planned = _planned_write_disposition(plan)
    given = value.get("disposition") if isinstance(value, Mapping) else value
    if given != planned:
        raise _conflict("write_disposition", value, planned, plan)
    if isinstance(value, Mapping):
        strategy = value.get("strategy")
        planned_strategy = MergeStrategy(
            getattr(plan.source_config, "merge_strategy", None) or DEFAULT_MERGE_STRATEGY
        ).value
        if strategy is not None and strategy != planned_strategy:
            raise _conflict("write_disposition", value, {"strategy": planned_strategy}, plan)


def _check_table_name(value: Any, plan: PipelinePlan) -> None:
    ctx = plan.context
    if value not in (ctx.table_name, ctx.destination_table):
        raise _conflict("table_name", value, ctx.table_name, plan)


def _check_schema_contract(value: Any, plan: PipelinePlan) -> None:
    from floe_ingestion_dlt.sources import schema_contract_hint

    planned = plan.context.schema_contract
    if value == planned or value == schema_contract_hint(planned):
        return
    raise _conflict("schema_contract", value, planned, plan)


def _check_cursor_field(value: Any, plan: PipelinePlan) -> None:
    planned = getattr(plan.source_config, "cursor_field", None)
    if value != planned:
        raise _conflict("cursor_field", value, planned, plan)


def _check_primary_key(value: Any, plan: PipelinePlan) -> None:
    planned = getattr(plan.source_config, "primary_key", None)
    if _key_list(value) != _key_list(planned):
        raise _conflict("primary_key", value, planned, plan)


def _check_source_type(value: Any, plan: PipelinePlan) -> None:
    if value != plan.context.source_type:
        raise _conflict("source_type", value, plan.context.source_type, plan)


def _optional_text(keyword: str, value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValidationError(
        f"run(): {keyword} must be a string, got {type(value).__name__}", field=keyword
    )


_CHECKS = {
    "write_disposition": _check_write_disposition,
    "table_name": _check_table_name,
    "schema_contract": _check_schema_contract,
    "cursor_field": _check_cursor_field,
    "primary_key": _check_primary_key,
    "source_type": _check_source_type,
}


def parse_run_keywords(plan: PipelinePlan, kwargs: Mapping[str, Any]) -> RunRequest:
    """Check ``run()``'s keywords against ``plan``; creates and loads nothing.

    A keyword given as ``None`` is treated as absent (the orchestrator passes
    ``cursor_field=None`` for a source without a cursor).

    Raises:
        ValidationError: CONFIGURATION, naming the keyword, for an unknown keyword, a value
            that conflicts with the plan, or a ``source`` that would load other tables.
    """
    unknown = sorted(set(kwargs) - set(ACCEPTED_RUN_KEYWORDS))
    if unknown:
        raise ValidationError(
            f"run(): unknown keyword(s) {unknown}; accepted: {list(ACCEPTED_RUN_KEYWORDS)}",
            field=unknown[0],
            source_type=plan.context.source_type,
            destination_table=plan.context.destination_table,
            pipeline_name=plan.context.pipeline_name,
        )
    for keyword, check in _CHECKS.items():
        value = kwargs.get(keyword)
        if value is not None:
            check(value, plan)
    source = kwargs.get("source")
    resource = caller_resource(source, plan) if source is not None else None
    return RunRequest(
        resource=resource,
        source_name=_optional_text("source_name", kwargs.get("source_name")),
        source_path=_optional_text("source_path", kwargs.get("source_path")),
    )


def caller_resource(source: Any, plan: PipelinePlan) -> DltResource:
    """The caller's dlt source/resource as one resource carrying the plan's hints.

    A dlt source must select exactly one resource; a resource whose table hint names another
    table (or is computed per item) is refused: a run never writes a table other than the
    pipeline's own. Plain iterables (a list of rows, a generator) become a resource.

    Raises:
        ValidationError: CONFIGURATION, ``field="source"``.
    """
    from floe_ingestion_dlt.config import SchemaContract
    from floe_ingestion_dlt.sources import apply_shared_hints

    ctx = plan.context
    resource = _as_one_resource(source, ctx)
    if resource.has_dynamic_table_name:
        raise ValidationError(
            "run(): source= computes its table name per item; a pipeline loads one table "
            f"({ctx.destination_table})",
            field="source",
            destination_table=ctx.destination_table,
        )
    # a resource without a table name hint writes to its own name (dlt's ``table_name``)
    table_hint = resource.table_name
    if table_hint not in (resource.name, ctx.table_name):
        raise ValidationError(
            f"run(): source= writes to table {table_hint!r}, the pipeline loads "
            f"{ctx.destination_table}",
            field="source",
            destination_table=ctx.destination_table,
        )
    apply_shared_hints(resource, plan.builder, plan.source_config, ctx, keep_own_cursor=True)
    if ctx.schema_contract == SchemaContract.DISCARD_VALUE.value:  # as the plan's own resource
        from floe_ingestion_dlt.destination.lossless_cast import add_discard_value_caster

        add_discard_value_caster(resource, plan.catalog, ctx.namespace, ctx.table_name)
    return resource


def _as_one_resource(source: Any, ctx: SourceContext) -> DltResource:
    """The one resource of a dlt source, a dlt resource itself, or rows made a resource.

    Raises:
        ValidationError: CONFIGURATION, ``field="source"``: a dlt source selecting other than
            one resource, or something that is not rows (a string, bytes, a mapping, a scalar).
    """
    import dlt
    from dlt.extract.resource import DltResource
    from dlt.extract.source import DltSource

    if isinstance(source, DltSource):
        selected = list(source.selected_resources.values())
        if len(selected) != 1:
            names = [r.name for r in selected]
            raise ValidationError(
                f"run(): source= selects {len(selected)} resources {names}; a pipeline loads "
                f"one table ({ctx.destination_table}): select exactly one resource",
                field="source",
                destination_table=ctx.destination_table,
            )
        return selected[0]
    if isinstance(source, DltResource):
        return source
    if isinstance(source, str | bytes | Mapping) or not hasattr(source, "__iter__"):
        raise ValidationError(
            f"run(): source= must be a dlt source, a dlt resource or an iterable of rows, "
            f"got {type(source).__name__}",
            field="source",
            destination_table=ctx.destination_table,
        )
    rows: DltResource = dlt.resource(source, name=ctx.table_name)
    return rows
