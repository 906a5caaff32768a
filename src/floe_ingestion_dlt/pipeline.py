"""Turning one ``IngestionConfig`` into a dlt pipeline plus the resource it will run.

Validation happens before anything is created: a bad config raises a typed error naming the
field and leaves no pipeline folder, namespace or table behind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from floe_ingestion_dlt.compat.dlt import disable_dlt_telemetry_by_default
from floe_ingestion_dlt.config import (
    CatalogConfig,
    SchemaContract,
    parse_destination_table,
)
from floe_ingestion_dlt.errors import PipelineConfigurationError, ValidationError
from floe_ingestion_dlt.performance import DltSettings, apply_pipeline_settings
from floe_ingestion_dlt.sources import SourceContext, build_resource, get_builder
from floe_ingestion_dlt.sources.base import SourceOptions
from floe_ingestion_dlt.vocabulary import WriteMode, missing_merge_keys

if TYPE_CHECKING:
    from dlt.common.pipeline import SupportsPipeline
    from dlt.extract.resource import DltResource
    from floe_core.plugins.ingestion import IngestionConfig
    from pydantic import BaseModel

    from floe_ingestion_dlt.sources.base import SourceBuilder

__all__ = [
    "PipelinePlan",
    "check_catalog_usable",
    "pipeline_name_for",
    "plan_pipeline",
    "validate_ingestion_config",
]


@dataclass
class PipelinePlan:
    """Everything :func:`~floe_ingestion_dlt.runner.run_plan` needs besides the pipeline."""

    pipeline: Any
    resource: DltResource
    context: SourceContext
    catalog: CatalogConfig
    builder: SourceBuilder
    source_config: BaseModel
    dlt_settings: DltSettings = field(default_factory=DltSettings)
    """Applied to the pipeline before every run (see ``performance.py``)."""


def pipeline_name_for(destination_table: str) -> str:
    """Stable pipeline name, unique per destination table.

    Example:
        >>> pipeline_name_for("bronze.raw_orders")
        'floe__bronze__raw_orders'
    """
    namespace, table = parse_destination_table(destination_table)
    return re.sub(r"[^a-z0-9_]", "_", f"floe__{namespace}__{table}".lower())


_E = TypeVar("_E", WriteMode, SchemaContract)


def _enum_value(value: Any, enum: type[_E], field: str) -> _E:
    """floe-core's string as the plugin's enum (the one conversion at the contract's edge)."""
    try:
        return enum(value)
    except ValueError:
        allowed = [m.value for m in enum]
        raise ValidationError(f"{field}: {value!r} is not one of {allowed}", field=field) from None


def _check_merge_keys(write_mode: WriteMode, parsed: BaseModel) -> None:
    """The merge-key rule (:func:`~floe_ingestion_dlt.vocabulary.missing_merge_keys`)."""
    if write_mode is not WriteMode.MERGE:
        return
    missing = missing_merge_keys(
        getattr(parsed, "merge_strategy", None),
        primary_key=getattr(parsed, "primary_key", None),
        merge_key=getattr(parsed, "merge_key", None),
    )
    if missing:
        raise ValidationError(
            f"source_config.primary_key: {missing}", field="source_config.primary_key"
        )


def validate_ingestion_config(
    config: IngestionConfig,
) -> tuple[SourceBuilder, BaseModel, SourceContext]:
    """Check every field of ``config`` and parse its ``source_config``; creates nothing."""
    if not isinstance(getattr(config, "source_type", None), str) or not config.source_type:
        raise ValidationError("source_type: must be a non-empty string", field="source_type")
    builder = get_builder(config.source_type)
    if not isinstance(config.destination_table, str) or not config.destination_table:
        raise ValidationError(
            "destination_table: must be 'namespace.table', got an empty value",
            field="destination_table",
        )
    try:
        namespace, table = parse_destination_table(config.destination_table)
    except ValueError as exc:
        raise ValidationError(f"destination_table: {exc}", field="destination_table") from None
    write_mode = _enum_value(config.write_mode, WriteMode, "write_mode")
    contract = _enum_value(config.schema_contract, SchemaContract, "schema_contract")
    if not isinstance(config.source_config, dict):
        raise ValidationError("source_config: must be a mapping", field="source_config")
    parsed = builder.parse(config.source_config)
    _check_merge_keys(write_mode, parsed)
    context = SourceContext(
        source_type=config.source_type,
        destination_table=config.destination_table,
        namespace=namespace,
        table_name=table,
        write_mode=write_mode,
        schema_contract=contract.value,
        pipeline_name=pipeline_name_for(config.destination_table),
    )
    return builder, parsed, context


def check_packages(builder: SourceBuilder, parsed: BaseModel | None, source_type: str) -> None:
    """Raise :class:`PipelineConfigurationError` with the pip command when a package is missing."""
    hint = builder.install_hint(parsed)
    if hint:
        raise PipelineConfigurationError(
            f"source type {source_type!r} {hint}", source_type=source_type
        )


def check_catalog_usable(catalog: CatalogConfig, context: SourceContext, timeout: float) -> None:
    """Before anything is created: the catalog answers and accepts our credentials.

    An embedded SQLite catalog is a local file and is not probed.

    Raises:
        SourceConnectionError: TRANSIENT, the catalog is unreachable within ``timeout`` s.
        PipelineConfigurationError: CONFIGURATION, it rejects the credentials (401/403) or the
            configuration; the message names the catalog URI, never a secret.
    """
    from floe_ingestion_dlt.catalog import check_catalog
    from floe_ingestion_dlt.errors import IngestionError

    if catalog.type == "sql" and catalog.uri.startswith("sqlite:"):
        return
    try:
        check_catalog(catalog, timeout, namespace=context.namespace)
    except IngestionError as exc:
        raise exc.with_context(
            source_type=context.source_type,
            destination_table=context.destination_table,
            pipeline_name=context.pipeline_name,
        ) from None


def open_pipeline(
    pipeline_name: str, pipelines_dir: Path | None, destination: Any, dataset_name: str
) -> SupportsPipeline:
    """``dlt.pipeline(...)``; a working folder dlt cannot read is set aside and rebuilt.

    A disk that filled up while dlt saved its local state or schemas leaves empty or cut-short
    JSON files, and dlt would fail on them for every later run. The local folder only holds
    working copies: the state and the schemas come back from the destination, and a package
    that was pending there was not committed (a cursor source extracts its rows again; the
    load id check keeps any table it did commit from being committed twice).
    """
    import shutil
    import time

    import dlt
    from dlt.common.pipeline import get_dlt_pipelines_dir

    def create() -> SupportsPipeline:
        return dlt.pipeline(
            pipeline_name=pipeline_name,
            pipelines_dir=str(pipelines_dir) if pipelines_dir else None,  # type: ignore[arg-type]
            destination=destination,
            dataset_name=dataset_name,
        )

    try:
        return create()
    except ValueError as exc:  # JSONDecodeError and dlt's state/schema decoding errors
        root = Path(pipelines_dir) if pipelines_dir else Path(get_dlt_pipelines_dir())
        working = root / pipeline_name
        if not working.is_dir():
            raise
        aside = root / ".damaged" / f"{pipeline_name}-{time.time_ns()}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(working), str(aside))
        from floe_ingestion_dlt.logging import get_logger

        get_logger(__name__).warning(
            "damaged pipelines folder set aside; state and schemas come from the destination",
            pipeline_name=pipeline_name,
            error_type=type(exc).__name__,
            error=str(exc)[:200],
            moved_to=str(aside),
        )
        return create()


def plan_pipeline(
    config: IngestionConfig,
    catalog: CatalogConfig,
    *,
    pipelines_dir: Path | None,
    dlt_state_url: str | None,
    reachability_timeout: float = 10.0,
) -> PipelinePlan:
    """Validate ``config``, check the catalog and the source are reachable, build the pipeline."""

    from floe_ingestion_dlt.destination import iceberg

    builder, parsed, context = validate_ingestion_config(config)
    check_packages(builder, parsed, context.source_type)
    layout = parsed.table_layout() if isinstance(parsed, SourceOptions) else None
    destination = iceberg(
        catalog_type=catalog.type,
        credentials=catalog,
        bucket_url=dlt_state_url,
        state_tables=[context.table_name],
        table_layouts={context.table_name: layout} if layout is not None else None,
        allow_empty_replace=bool(getattr(parsed, "allow_empty_replace", False)),
    )
    check_catalog_usable(catalog, context, reachability_timeout)
    builder.check_reachable(parsed, reachability_timeout)
    # floe has its own telemetry: dlt's anonymous usage reporting is off unless asked for
    disable_dlt_telemetry_by_default()
    dlt_settings = builder.dlt_settings(parsed, context)
    # worker/buffer settings for small machines (user settings win), row ids for Arrow pages
    apply_pipeline_settings(context.pipeline_name, dlt_settings)
    pipeline = open_pipeline(context.pipeline_name, pipelines_dir, destination, context.namespace)
    resource = build_resource(builder, parsed, context)
    if context.schema_contract == SchemaContract.DISCARD_VALUE.value:
        from floe_ingestion_dlt.destination.lossless_cast import add_discard_value_caster

        add_discard_value_caster(resource, catalog, context.namespace, context.table_name)
    return PipelinePlan(
        pipeline=pipeline,
        resource=resource,
        context=context,
        catalog=catalog,
        builder=builder,
        source_config=parsed,
        dlt_settings=dlt_settings,
    )
