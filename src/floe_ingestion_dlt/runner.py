"""Running a planned pipeline and reporting what it really committed.

``rows_loaded`` and ``bytes_written`` are read from the Iceberg snapshots whose summaries carry
a load id of this run, never from dlt's counters: they are what a reader of the table sees.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.catalog import forget_shared_catalogs, load_catalog, shared_sql_catalogs
from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.destination.schema_contract import contract_violation_from
from floe_ingestion_dlt.destination.snapshots import CommittedLoad, committed_loads
from floe_ingestion_dlt.errors import (
    ErrorCategory,
    PartialLoadError,
    categorize_error,
    format_error,
)
from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.metrics import record_run
from floe_ingestion_dlt.observability import observe_run
from floe_ingestion_dlt.on_disk import guard_dlt_trace, scrub_pipeline_files
from floe_ingestion_dlt.performance import apply_pipeline_settings
from floe_ingestion_dlt.recovery import (
    abort_stale_packages,
    check_load_settings,
    failed_load_ids,
    release_failed_packages,
)
from floe_ingestion_dlt.result import LoadReport
from floe_ingestion_dlt.retry import call_with_retry
from floe_ingestion_dlt.retry_budget import RetryBudget, run_budget
from floe_ingestion_dlt.run_errors import contract_error
from floe_ingestion_dlt.run_options import RunRequest
from floe_ingestion_dlt.state_sync import (
    finish_interrupted_normalize,
    start_from_destination_state,
)
from floe_ingestion_dlt.tracing import record_error, span

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from floe_ingestion_dlt.pipeline import PipelinePlan

__all__ = ["PartialLoadError", "RunOutcome", "run_plan"]

_log = get_logger(__name__)


@dataclass
class RunOutcome:
    """What one :func:`run_plan` call did."""

    success: bool
    rows_loaded: int = 0
    bytes_written: int = 0
    duration_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)
    load_ids: list[str] = field(default_factory=list)
    commits: list[CommittedLoad] = field(default_factory=list)
    attempts: int = 0
    category: ErrorCategory | None = None
    resumed_load_ids: list[str] = field(default_factory=list)
    """Loads extracted by an earlier run that this run committed (see ``loads``)."""

    @property
    def snapshot_ids(self) -> list[int]:
        return [c.snapshot_id for c in self.commits]

    @property
    def loads(self) -> list[LoadReport]:
        """One report per load this run committed, in commit order: a pending load of an
        earlier run (``resumed``) is a load of its own, next to this run's."""
        reports: dict[str, list[CommittedLoad]] = {}
        for commit in self.commits:
            reports.setdefault(commit.load_id, []).append(commit)
        return [
            LoadReport(
                load_id=load_id,
                resumed=load_id in self.resumed_load_ids,
                rows_loaded=sum(c.rows_loaded for c in commits),
                bytes_written=sum(c.bytes_written for c in commits),
                snapshot_ids=tuple(c.snapshot_id for c in commits),
            )
            for load_id, commits in reports.items()
        ]


def _failed_jobs_message(info: Any) -> str:
    failed = [
        f"{job.job_file_info.table_name}: "
        + (str(job.failed_message or "").strip().splitlines() or ["failed"])[-1]
        for package in info.load_packages
        for job in package.jobs.get("failed_jobs", [])
    ]
    return "some load jobs failed: " + "; ".join(failed)


@dataclass
class _Attempts:
    """The attempts of one :func:`run_plan` call and the loads they made, across retries.

    A failed attempt may still have committed tables (a pending package, part of a package):
    its load ids are kept, so the run reads back everything it committed.
    """

    plan: PipelinePlan
    request: RunRequest
    load_ids: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    """Loads extracted by an earlier run that an attempt committed."""

    def run_once(self) -> None:
        """One attempt; a failure is raised as the typed error the retry loop sorts."""
        plan = self.plan
        pipeline = plan.pipeline
        # another plan of this pipeline in this process may have changed its settings since
        apply_pipeline_settings(pipeline.pipeline_name, plan.dlt_settings)
        check_load_settings(pipeline.pipeline_name)
        try:
            self._load_pending_then_new()
        except Exception as exc:
            self.load_ids.extend(failed_load_ids(exc))  # a failed package may have committed
            abort_stale_packages(pipeline, exc)  # a retry extracts again from the new state
            violation = contract_violation_from(exc, plan.context.destination_table)
            if violation is not None:  # dlt's own freeze refusal, reported as ours
                raise violation from exc
            ctx = plan.context
            typed = contract_error(
                exc,
                source_type=ctx.source_type,
                destination_table=ctx.destination_table,
                pipeline_name=ctx.pipeline_name,
            )
            if typed is exc:
                raise
            raise typed from exc

    def _load_pending_then_new(self) -> None:
        plan, request = self.plan, self.request
        pipeline = plan.pipeline
        finish_interrupted_normalize(pipeline)
        if pipeline.has_pending_data:
            self._load_pending()
        # the cursor comes from the destination (committed with the rows), never local files
        start_from_destination_state(pipeline)
        check_source = getattr(plan.builder, "check_before_run", None)
        if request.resource is None and check_source is not None:
            check_source(plan.source_config)  # a source that cannot be read now fails the run
        resource = request.resource if request.resource is not None else plan.resource
        info = pipeline.run(resource, loader_file_format="parquet")
        if info is not None:
            self.load_ids.extend(info.loads_ids)
            if info.has_failed_jobs:
                raise PartialLoadError(_failed_jobs_message(info))

    def _load_pending(self) -> None:
        """dlt loads pending packages and returns without extracting: finish them first.

        They are loads of their own (rows as extracted then), reported apart from this run's.
        """
        pipeline = self.plan.pipeline
        pending = list(pipeline.list_normalized_load_packages())
        pending += list(pipeline.list_extracted_load_packages())
        # a package of this run's own earlier attempt (a retry) is not an earlier run's
        self.resumed.extend(p for p in pending if p not in self.resumed and p not in self.load_ids)
        _log.warning(
            "committing load packages an earlier run left pending, then this run's own load",
            pipeline_name=pipeline.pipeline_name,
            load_ids=pending,
        )
        info = pipeline.run()
        if info is not None:
            self.load_ids.extend(info.loads_ids)


def _committed(plan: PipelinePlan, load_ids: list[str]) -> list[CommittedLoad]:
    from pyiceberg.exceptions import NoSuchTableError

    if not load_ids:
        return []
    catalog = load_catalog(plan.catalog)
    try:
        table = catalog.load_table((plan.context.namespace, plan.context.table_name))
    except NoSuchTableError:
        return []
    return committed_loads(table, load_ids)


def _log_fields(plan: PipelinePlan, request: RunRequest) -> dict[str, str]:
    """What names the run in its log events and error entries."""
    ctx = plan.context
    fields = {
        "source_type": ctx.source_type,
        "destination_table": ctx.destination_table,
        "pipeline_name": ctx.pipeline_name,
    }
    if request.source_name:
        fields["source_name"] = request.source_name
    if request.source_path:
        fields["source_path"] = request.source_path
    return fields


def _add_error(outcome: RunOutcome, entry: str) -> None:
    if entry not in outcome.errors:
        outcome.errors.append(entry)


def _attempt(
    attempts: _Attempts,
    retry: RetryConfig,
    budget: RetryBudget,
    run_span: Span,
    context: dict[str, str],
) -> RunOutcome:
    """Run the attempts with retries for TRANSIENT failures; a failure ends in the outcome."""
    outcome = RunOutcome(success=False)
    failures: list[BaseException] = []

    def count_attempt(number: int) -> None:
        outcome.attempts = number
        if number > 1:
            run_span.add_event("retry", {"attempt": number})

    def attempt_failed(_number: int, failure: BaseException) -> None:
        failures.append(failure)
        forget_shared_catalogs()  # the next attempt opens the catalog anew

    try:
        call_with_retry(
            attempts.run_once,
            retry,
            budget=budget,
            on_attempt=count_attempt,
            on_failure=attempt_failed,
            log_context=context,
        )
        outcome.success = True
    except Exception as exc:  # run() reports failures in the result, it does not raise
        outcome.category = categorize_error(exc)
        # one entry per distinct error: the deciding (last) one first, then earlier attempts'
        for failure in [exc, *reversed(failures)]:
            _add_error(outcome, format_error(failure, **context))
        record_error(run_span, exc)
        release_failed_packages(attempts.plan.pipeline, outcome.category)
        _log.error("run failed", error=outcome.errors[0], **context)
    outcome.load_ids = list(dict.fromkeys(attempts.load_ids))
    outcome.resumed_load_ids = attempts.resumed
    return outcome


def _read_back(
    outcome: RunOutcome, plan: PipelinePlan, run_span: Span, context: dict[str, str]
) -> None:
    """What the run committed, read from the table; a failure to read fails the outcome."""
    try:
        outcome.commits = _committed(plan, outcome.load_ids)
    except Exception as exc:  # reading the result back must not hide the run's outcome
        _add_error(outcome, format_error(exc, **context))
        outcome.success = False
        if outcome.category is None:  # the run succeeded, reading its result back failed
            record_error(run_span, exc)
        outcome.category = outcome.category or categorize_error(exc)
    outcome.rows_loaded = sum(c.rows_loaded for c in outcome.commits)
    outcome.bytes_written = sum(c.bytes_written for c in outcome.commits)


def _run_attributes(plan: PipelinePlan) -> dict[str, Any]:
    ctx = plan.context
    return {
        "ingestion.source_type": ctx.source_type,
        "ingestion.destination_table": ctx.destination_table,
        "ingestion.pipeline_name": ctx.pipeline_name,
        "ingestion.write_mode": ctx.write_mode,
        "ingestion.schema_contract": ctx.schema_contract,
    }


def _report(outcome: RunOutcome, plan: PipelinePlan, run_span: Span) -> None:
    """The outcome on the run span and in the run metrics."""
    run_span.set_attribute("ingestion.rows_loaded", outcome.rows_loaded)
    run_span.set_attribute("ingestion.bytes_written", outcome.bytes_written)
    run_span.set_attribute("ingestion.duration_seconds", outcome.duration_seconds)
    run_span.set_attribute("ingestion.attempts", outcome.attempts)
    if outcome.commits:
        run_span.set_attribute("iceberg.snapshot_id", outcome.commits[-1].snapshot_id)
        run_span.set_attribute("dlt.load_id", outcome.commits[-1].load_id)
        run_span.set_attribute("iceberg.snapshot_ids", outcome.snapshot_ids)
        run_span.set_attribute("dlt.load_ids", outcome.load_ids)
    record_run(
        source_type=plan.context.source_type,
        destination_table=plan.context.destination_table,
        success=outcome.success,
        rows_loaded=outcome.rows_loaded,
        bytes_written=outcome.bytes_written,
        duration_seconds=outcome.duration_seconds,
        error_category=outcome.category.value if outcome.category else None,
    )


def _log_finished(outcome: RunOutcome, budget: RetryBudget, context: dict[str, str]) -> None:
    _log.info(
        "run finished",
        status="success" if outcome.success else "failed",
        rows_loaded=outcome.rows_loaded,
        bytes_written=outcome.bytes_written,
        duration_seconds=round(outcome.duration_seconds, 3),
        load_ids=outcome.load_ids,
        loads=[load.as_dict() for load in outcome.loads],
        attempts=outcome.attempts,
        retries=dict(budget.spent),
        **context,
    )


def run_plan(
    plan: PipelinePlan, retry: RetryConfig, request: RunRequest | None = None
) -> RunOutcome:
    """Run ``plan`` with retries for TRANSIENT failures; never raises for a failed load.

    ``request`` carries what ``run()``'s keywords asked for (a caller-built resource, the
    source's name and path for messages), already checked against the plan.
    """
    request = request or RunRequest()
    context = _log_fields(plan, request)
    guard_dlt_trace()
    started = time.perf_counter()
    with (
        span("run", **_run_attributes(plan)) as run_span,
        observe_run(plan.context),
        shared_sql_catalogs(),  # restore, load and read-back open one SQL catalog per run
        run_budget(plan.context.pipeline_name, RetryBudget(retry)) as budget,  # every layer's
    ):
        outcome = _attempt(_Attempts(plan, request), retry, budget, run_span, context)
        _read_back(outcome, plan, run_span, context)
        outcome.duration_seconds = time.perf_counter() - started
        _report(outcome, plan, run_span)
    working_dir = getattr(plan.pipeline, "working_dir", None)
    if working_dir:
        scrub_pipeline_files(working_dir)
    _log_finished(outcome, budget, context)
    return outcome
