"""``DltIngestionPlugin``: the floe ``IngestionPlugin`` implemented with dlt and Iceberg.

A thin conductor: configuration lives in :mod:`config`, sources in :mod:`sources`, the Iceberg
write path in :mod:`destination`, running and reporting in :mod:`runner`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import time
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from floe_core.plugin_metadata import HealthState, HealthStatus
from floe_core.plugins.ingestion import IngestionConfig, IngestionPlugin, IngestionResult
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.config import (
    CatalogConfig,
    DltIngestionConfig,
    IngestionSourceConfig,
    SchemaContract,
    SourceType,
    WriteMode,
)
from floe_ingestion_dlt.errors import ValidationError
from floe_ingestion_dlt.logging import configure_logging_from_env, get_logger
from floe_ingestion_dlt.pydantic_errors import validation_error
from floe_ingestion_dlt.scrub import register_secrets_in
from floe_ingestion_dlt.tracing import TRACER_NAME, span
from floe_ingestion_dlt.vocabulary import MergeStrategy

if TYPE_CHECKING:
    from floe_ingestion_dlt.maintenance import MaintenanceReport
    from floe_ingestion_dlt.pipeline import PipelinePlan
    from floe_ingestion_dlt.runner import RunOutcome

__all__ = ["DltIngestionPlugin"]

_log = get_logger(__name__)

HEALTH_TIMEOUT_DEFAULT = 5.0
HEALTH_TIMEOUT_MIN = 0.1
HEALTH_TIMEOUT_MAX = 10.0


class DltIngestionPlugin(IngestionPlugin):
    """dlt-based implementation of floe's ``IngestionPlugin``.

    Example:
        >>> from floe_ingestion_dlt import DltIngestionPlugin, DltIngestionConfig
        >>> from floe_core.plugins.ingestion import IngestionConfig
        >>> plugin = DltIngestionPlugin(config=DltIngestionConfig())
        >>> plugin.startup()
        >>> pipeline = plugin.create_pipeline(IngestionConfig(  # doctest: +SKIP
        ...     source_type="filesystem",
        ...     source_config={"bucket_url": "/data", "file_glob": "*.csv"},
        ...     destination_table="bronze.orders",
        ... ))
        >>> result = plugin.run(pipeline)  # doctest: +SKIP
        >>> plugin.shutdown()
    """

    def __init__(self, config: DltIngestionConfig | None = None) -> None:
        super().__init__()
        self._started = False
        self._plans: weakref.WeakKeyDictionary[Any, PipelinePlan] = weakref.WeakKeyDictionary()
        if config is not None:
            self.configure(config)

    # -- metadata -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "dlt"

    @property
    def version(self) -> str:
        return "0.1.0"

    @property
    def floe_api_version(self) -> str:
        return "1.0"

    @property
    def description(self) -> str:
        return "dlt ingestion plugin for floe data platform"

    @property
    def is_external(self) -> bool:
        return False

    @property
    def tracer_name(self) -> str:
        return TRACER_NAME

    @property
    def capabilities(self) -> dict[str, Any]:
        """What this plugin can do, for the platform and for users."""
        return {
            "source_types": [s.value for s in SourceType],
            "write_modes": [m.value for m in WriteMode],
            "schema_contracts": [c.value for c in SchemaContract],
            "merge_strategies": [s.value for s in MergeStrategy],
            "catalog_types": ["sql", "rest"],
            "incremental": True,
            "partition_transforms": [
                "identity",
                "year",
                "month",
                "day",
                "hour",
                "bucket",
                "truncate",
            ],
            "maintenance": ["compact", "expire_snapshots", "remove_orphan_files"],
        }

    # -- configuration --------------------------------------------------------------------

    def configure(self, config: BaseModel | dict[str, Any] | None) -> None:
        """Accept a validated config (floe-core's registry) or a plain dict."""
        if isinstance(config, dict):
            try:
                config = DltIngestionConfig.model_validate(config)
            except PydanticValidationError as exc:
                raise validation_error(exc) from None
        if config is not None and not isinstance(config, DltIngestionConfig):
            raise ValidationError(
                f"config must be a DltIngestionConfig, got {type(config).__name__}", field="config"
            )
        super().configure(config)
        if config is not None:
            from floe_ingestion_dlt.catalog import register_catalog_secrets

            register_catalog_secrets(self.config.resolved_catalog())

    @property
    def config(self) -> DltIngestionConfig:
        """The plugin configuration (the default one when none was given)."""
        if isinstance(self._config, DltIngestionConfig):
            return self._config
        return DltIngestionConfig()

    def get_config_schema(self) -> type[DltIngestionConfig]:
        return DltIngestionConfig

    @property
    def catalog(self) -> CatalogConfig:
        """The catalog tables are committed to (embedded under ``.floe/`` by default)."""
        return self.config.resolved_catalog()

    # -- platform composition (floe's compiler) ---------------------------------------------

    def get_composition_requirements(self) -> Any:
        """floe-core ``PluginRequirements``: S3(-compatible) storage, an Iceberg REST catalog."""
        from floe_ingestion_dlt.deployment_binding import composition_requirements

        return composition_requirements(self.name)

    def build_deployment_binding(self, *, storage: Any, catalog: Any) -> Any:
        """floe-core ``IngestionDeploymentBinding(provider="dlt", dlt=DltIngestionBinding)``.

        Secret-free: secrets appear only as the names of the environment variables that hold
        them (``env_refs``). dlt's bookkeeping goes to ``<storage warehouse>/_floe_dlt_state``
        (or the plugin config's ``dlt_state_url``), never into a catalog's table bucket.

        Raises:
            CompilationException: floe-core's own error (its compiler shows the message as it
                is), naming what the composition lacks; caused by a PipelineConfigurationError.
        """
        from floe_ingestion_dlt.deployment_binding import compilation_error, deployment_binding
        from floe_ingestion_dlt.errors import PipelineConfigurationError

        with span("build_deployment_binding"):
            try:
                return deployment_binding(
                    self.name,
                    storage=storage,
                    catalog=catalog,
                    dlt_state_url=self.config.dlt_state_url,
                )
            except PipelineConfigurationError as exc:
                raise compilation_error(exc, self.name) from exc

    # -- lifecycle ------------------------------------------------------------------------

    def startup(self) -> None:
        """Check that dlt and every configured source type's packages import."""
        configure_logging_from_env()  # FLOE_LOG_FORMAT / FLOE_LOG_LEVEL, when set
        with span("startup", **{"ingestion.sources": len(self.config.sources)}):
            # dlt is imported (as floe's contract asks: startup proves it works); PyIceberg is
            # only located: its catalogs cost ~0.5 s to import and load on first use.
            try:
                import dlt  # noqa: F401
            except ImportError as exc:
                raise ImportError(
                    f"{exc.name or exc}: pip install 'floe-ingestion-dlt' (dlt and pyiceberg)"
                ) from exc
            if importlib.util.find_spec("pyiceberg") is None:
                raise ImportError("pyiceberg: pip install 'floe-ingestion-dlt' (dlt and pyiceberg)")
            from floe_ingestion_dlt.sources import get_builder

            for source in self.config.sources:
                builder = get_builder(source.source_type.value)
                parsed = builder.parse(source.effective_source_config())
                hint = builder.install_hint(parsed)
                if hint:
                    raise ImportError(f"source {source.name!r} ({source.source_type.value}) {hint}")
            self._started = True
            _log.info("plugin started", sources=len(self.config.sources))

    def shutdown(self) -> None:
        """Release resources; calling it twice is harmless."""
        with span("shutdown"):
            self._plans.clear()
            if self._started:
                _log.info("plugin stopped")
            self._started = False

    def health_check(self, timeout: float | None = None) -> HealthStatus:
        """HEALTHY when dlt imports and the catalog answers within ``timeout`` seconds."""
        if timeout is None:
            timeout = HEALTH_TIMEOUT_DEFAULT
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"timeout must be a number of seconds, got {timeout!r}")
        if not HEALTH_TIMEOUT_MIN <= timeout <= HEALTH_TIMEOUT_MAX:
            raise ValueError(
                f"timeout must be between {HEALTH_TIMEOUT_MIN} and {HEALTH_TIMEOUT_MAX} seconds, "
                f"got {timeout}"
            )
        started = time.perf_counter()
        with span("health_check") as current:
            if self._started:
                from floe_ingestion_dlt.catalog import import_catalog_client

                with contextlib.suppress(ImportError):  # the probe reports a missing package
                    import_catalog_client(self.catalog)
            # the probe gets the timeout (after a first call's PyIceberg import), minus a
            # margin for building the answer
            budget = max(0.0, timeout - 0.02)
            state, message, details = self._health(time.perf_counter() + budget)
            elapsed_ms = (time.perf_counter() - started) * 1000
            current.set_attribute("health.state", state.value)
            current.set_attribute("health.check", str(details.get("check", "")))
        return HealthStatus(
            state=state,
            message=message,
            details={
                **details,
                "response_time_ms": elapsed_ms,
                "checked_at": datetime.now(UTC),
                "catalog_type": self.catalog.type,
            },
        )

    def _health(self, deadline: float) -> tuple[HealthState, str, dict[str, Any]]:
        """``(state, message, details)``; ``details["check"]`` names the check that decided."""
        if not self._started:
            message = "plugin not started: call startup() first"
            return HealthState.UNHEALTHY, message, {"check": "startup"}
        try:
            import dlt  # noqa: F401
        except ImportError as exc:
            return HealthState.UNHEALTHY, f"dlt does not import: {exc}", {"check": "dlt_import"}
        from floe_ingestion_dlt.catalog import probe_catalog

        probe = probe_catalog(self.catalog, max(0.0, deadline - time.perf_counter()))
        details: dict[str, Any] = {
            "check": "catalog",
            "catalog_status": probe.status,
            "catalog_step": probe.step,
            "catalog_response_time_ms": probe.response_time_ms,
            "catalog_uri": self.catalog.display_uri,
        }
        if probe.http_status is not None:
            details["catalog_http_status"] = probe.http_status
        if not probe.ok:
            return HealthState.UNHEALTHY, f"catalog {probe.status}: {probe.message}", details
        return HealthState.HEALTHY, f"dlt ready; {probe.message}", details

    # -- pipelines ------------------------------------------------------------------------

    def create_pipeline(self, config: IngestionConfig) -> Any:
        """Validate ``config`` and build a dlt pipeline that :meth:`run` executes as it is."""
        from floe_ingestion_dlt.pipeline import pipeline_name_for, plan_pipeline

        attributes = {
            "ingestion.source_type": getattr(config, "source_type", None),
            "ingestion.destination_table": getattr(config, "destination_table", None),
        }
        with span("create_pipeline", **attributes) as current:
            register_secrets_in(getattr(config, "source_config", None))
            with contextlib.suppress(ValueError, AttributeError, TypeError):
                current.set_attribute(
                    "ingestion.pipeline_name", pipeline_name_for(config.destination_table)
                )
            config, catalog, dlt_state_url = self._platform_inputs(config)
            current.set_attribute(
                "ingestion.runtime_binding", bool(getattr(config, "runtime_binding", None))
            )
            plan = plan_pipeline(
                config,
                catalog,
                pipelines_dir=self.config.pipelines_dir,
                dlt_state_url=dlt_state_url,
                reachability_timeout=self.config.connect_timeout_seconds,
            )
            self._plans[plan.pipeline] = plan
            _log.info(
                "pipeline created",
                pipeline_name=plan.context.pipeline_name,
                source_type=plan.context.source_type,
                destination_table=plan.context.destination_table,
            )
            return plan.pipeline

    def _platform_inputs(
        self, config: IngestionConfig
    ) -> tuple[IngestionConfig, CatalogConfig, str | None]:
        """``(config, catalog, dlt_state_url)`` with what floe's platform supplies folded in.

        A ``runtime_binding`` takes precedence over the plugin's own ``catalog_config`` and
        ``dlt_state_url`` (secrets read now from the variables its ``env_refs`` name). A source
        declared in the plugin config for the same table (the manifest's ``sources``) lends its
        ``cursor_field`` / ``primary_key`` when ``source_config`` has none: floe's orchestrator
        passes only ``source_config`` to ``create_pipeline``.
        """
        import dataclasses

        from floe_ingestion_dlt.catalog import register_catalog_secrets
        from floe_ingestion_dlt.runtime_binding import (
            resolve_runtime_binding,
            source_storage_credentials,
        )

        catalog, dlt_state_url = self.catalog, self.config.dlt_state_url
        source_config = getattr(config, "source_config", None)
        if not isinstance(source_config, dict):
            return config, catalog, dlt_state_url
        declared = self.config.declared_source_for(
            getattr(config, "source_type", None), getattr(config, "destination_table", None)
        )
        if declared is not None:
            source_config = {**declared.key_options(), **source_config}
        binding = getattr(config, "runtime_binding", None)
        if binding:
            target = resolve_runtime_binding(binding)
            register_catalog_secrets(target.catalog)
            register_secrets_in(target.source_storage)
            catalog, dlt_state_url = target.catalog, target.dlt_state_url or dlt_state_url
            if config.source_type == "filesystem":
                source_config = source_storage_credentials(source_config, target)
        return dataclasses.replace(config, source_config=source_config), catalog, dlt_state_url

    def run(self, pipeline: Any, **kwargs: Any) -> IngestionResult:
        """Run a pipeline from :meth:`create_pipeline`; failures come back in the result.

        ``kwargs`` are floe's orchestrator keywords (``source``, ``write_disposition``,
        ``table_name``, ``schema_contract``, ``cursor_field``, ``primary_key``, ``source_type``,
        ``source_name``, ``source_path``; see :mod:`floe_ingestion_dlt.run_options`). They are
        checked against the pipeline's plan, never passed to ``dlt.Pipeline.run``: an unknown
        keyword or one that would load differently than planned fails the run with a
        CONFIGURATION error before anything runs.
        """
        from floe_ingestion_dlt.result import DltIngestionResult

        outcome = self.run_with_outcome(pipeline, **kwargs)
        return DltIngestionResult(
            success=outcome.success,
            rows_loaded=outcome.rows_loaded,
            bytes_written=outcome.bytes_written,
            duration_seconds=outcome.duration_seconds,
            errors=outcome.errors,
            loads=outcome.loads,  # a pending load of an earlier run is reported apart
        )

    def run_with_outcome(self, pipeline: Any, **kwargs: Any) -> RunOutcome:
        """Like :meth:`run`, with the full :class:`~floe_ingestion_dlt.runner.RunOutcome`.

        The outcome adds what floe's ``IngestionResult`` has no field for: the load ids, the
        Iceberg snapshots this run committed (``snapshot_ids``), the attempts and the error
        category. Failures come back in the outcome, they are not raised.
        """
        from floe_ingestion_dlt.errors import ErrorCategory
        from floe_ingestion_dlt.runner import RunOutcome, run_plan

        plan = self._plans.get(pipeline)
        if plan is None:
            return RunOutcome(
                success=False,
                errors=[
                    "[CONFIGURATION] PipelineConfigurationError: the pipeline was not created by "
                    "this plugin's create_pipeline() (source_type=-, destination_table=-, "
                    f"pipeline={getattr(pipeline, 'pipeline_name', '-')})"
                ],
                category=ErrorCategory.CONFIGURATION,
            )
        from floe_ingestion_dlt.errors import IngestionError, format_error
        from floe_ingestion_dlt.run_options import parse_run_keywords

        try:
            request = parse_run_keywords(plan, kwargs)
        except IngestionError as exc:  # refused before anything runs
            ctx = plan.context
            _log.error("run refused", error=str(exc), destination_table=ctx.destination_table)
            return RunOutcome(
                success=False,
                errors=[
                    format_error(
                        exc,
                        source_type=ctx.source_type,
                        destination_table=ctx.destination_table,
                        pipeline_name=ctx.pipeline_name,
                    )
                ],
                category=exc.category,
            )
        outcome = run_plan(plan, self.config.retry_config, request)
        if outcome.success:
            from floe_ingestion_dlt.maintenance.after_load import maintain_after_load

            maintain_after_load(plan)
        return outcome

    def maintain(
        self,
        table: str,
        *,
        compact: bool = False,
        expire_older_than: str | None = None,
        retain_last: int = 1,
        remove_orphans_older_than: str | None = None,
        dry_run: bool = False,
    ) -> MaintenanceReport:
        """Maintain ``table`` (``namespace.table``) of the plugin's catalog.

        ``compact`` rewrites small files as one ``replace`` snapshot; ``expire_older_than``
        (``"7d"``) expires older snapshots, keeping ``retain_last`` and the incremental state;
        ``remove_orphans_older_than`` (``"3d"``, at least ``"1h"``) deletes unreferenced files
        older than that. See :mod:`floe_ingestion_dlt.maintenance`.

        Raises:
            ValidationError: a bad duration or count, naming the argument.
        """
        from floe_ingestion_dlt.catalog import load_catalog
        from floe_ingestion_dlt.maintenance import MaintenancePolicy, maintain_table

        try:
            policy = MaintenancePolicy(
                compact=compact,
                expire_older_than=expire_older_than,
                retain_last=retain_last,
                remove_orphans_older_than=remove_orphans_older_than,
            )
        except PydanticValidationError as exc:
            raise validation_error(exc) from None
        with span("maintain", **{"ingestion.destination_table": table}):
            return maintain_table(load_catalog(self.catalog), table, policy, dry_run=dry_run)

    def ingestion_config_for(self, source: IngestionSourceConfig | str) -> IngestionConfig:
        """The floe ``IngestionConfig`` of a source declared in the plugin configuration."""
        if isinstance(source, str):
            source = self.config.source(source)
        return IngestionConfig(
            source_type=source.source_type.value,
            source_config=source.effective_source_config(),
            destination_table=source.destination_table,
            write_mode=source.write_mode.value,
            schema_contract=source.schema_contract.value,
        )

    def get_destination_config(self, catalog_config: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of :class:`floe_ingestion_dlt.iceberg` for ``catalog_config``.

        ``catalog_config`` uses PyIceberg's catalog property names (``type``, ``uri``,
        ``warehouse``, ``credential``, ``scope``, ``token``, ``s3.endpoint``, ``s3.region``,
        ``s3.path-style-access``, ``s3.access-key-id``, ``s3.secret-access-key``,
        ``header.X-Iceberg-Access-Delegation``, ``properties``); an http(s) ``uri`` without
        ``type`` is a REST catalog (Polaris). Secret values come back as ``SecretStr``;
        ``bucket_url`` is the plugin's ``dlt_state_url`` (default: a local catalog's warehouse).

        Raises:
            ValidationError: naming ``catalog_config.<key>`` for unknown or conflicting keys.
            PipelineConfigurationError: a remote catalog and no ``dlt_state_url``.

        Example:
            >>> DltIngestionPlugin().get_destination_config(
            ...     {"type": "sql", "uri": "sqlite:////tmp/c.db", "warehouse": "file:///tmp/w"}
            ... )["catalog_type"]
            'sql'
        """
        from floe_ingestion_dlt.catalog import register_catalog_secrets
        from floe_ingestion_dlt.destination.factory import destination_config

        with span("get_destination_config"):
            catalog = CatalogConfig.parse(catalog_config, prefix="catalog_config")
            register_catalog_secrets(catalog)
            return destination_config(catalog, self.config.dlt_state_url)
