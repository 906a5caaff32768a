"""run_plan's error reporting: attempts, category, one entry per distinct error, no raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from floe_ingestion_dlt.config import CatalogConfig, RetryConfig
from floe_ingestion_dlt.errors import ErrorCategory
from floe_ingestion_dlt.pipeline import PipelinePlan
from floe_ingestion_dlt.runner import run_plan
from floe_ingestion_dlt.sources import SourceContext
from tests.unit.errors.factories import http_error

CONTEXT = SourceContext(
    source_type="rest_api",
    destination_table="bronze.items",
    namespace="bronze",
    table_name="items",
    write_mode="append",
    schema_contract="evolve",
    pipeline_name="floe__bronze__items",
)
RETRY = RetryConfig(max_retries=4, initial_delay_seconds=0.0, jitter=False)


@pytest.fixture(autouse=True)
def no_local_state_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in pipeline has no working folder: skip the state housekeeping steps."""
    from floe_ingestion_dlt import runner

    monkeypatch.setattr(runner, "finish_interrupted_normalize", lambda pipeline: None)
    monkeypatch.setattr(runner, "start_from_destination_state", lambda pipeline: None)


class ScriptedPipeline:
    """A stand-in dlt pipeline whose ``run`` fails with the scripted errors, then succeeds."""

    pipeline_name = CONTEXT.pipeline_name
    has_pending_data = False

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.runs = 0

    def run(self, *args: Any, **kwargs: Any) -> None:
        self.runs += 1
        if self.failures:
            raise self.failures.pop(0)


def plan(pipeline: ScriptedPipeline, tmp_path: Path) -> PipelinePlan:
    return PipelinePlan(
        pipeline=pipeline,
        resource=None,  # type: ignore[arg-type]
        context=CONTEXT,
        catalog=CatalogConfig.embedded(tmp_path),
        builder=None,  # type: ignore[arg-type]
        source_config=None,  # type: ignore[arg-type]
    )


def test_transient_errors_then_success_report_no_errors(tmp_path: Path) -> None:
    pipeline = ScriptedPipeline(http_error(503), ConnectionResetError(104, "reset"))
    outcome = run_plan(plan(pipeline, tmp_path), RETRY)
    assert outcome.success
    assert outcome.errors == []
    assert outcome.attempts == 3
    assert pipeline.runs == 3


def test_distinct_errors_once_each_deciding_one_first(tmp_path: Path) -> None:
    pipeline = ScriptedPipeline(http_error(503), http_error(503), http_error(401))
    outcome = run_plan(plan(pipeline, tmp_path), RETRY)
    assert not outcome.success
    assert outcome.category is ErrorCategory.PERMANENT
    assert outcome.attempts == 3
    suffix = "(source_type=rest_api, destination_table=bronze.items, pipeline=floe__bronze__items)"
    # outside a dlt step the failure is the run's write (the contract's DestinationWriteError),
    # the cause is kept in the message
    assert outcome.errors == [
        "[PERMANENT] DestinationWriteError: HTTPError: 401 Client Error: Unauthorized for url: "
        f"http://api.test/items {suffix}",
        "[TRANSIENT] DestinationWriteError: HTTPError: 503 Server Error: Error for url: "
        f"http://api.test/items {suffix}",
    ]


@pytest.mark.parametrize(
    ("failure", "category"),
    [
        (http_error(401), ErrorCategory.PERMANENT),
        (http_error(404), ErrorCategory.CONFIGURATION),
        (ModuleNotFoundError("No module named 'psycopg2'"), ErrorCategory.CONFIGURATION),
    ],
)
def test_non_transient_errors_are_reported_after_one_attempt(
    tmp_path: Path, failure: BaseException, category: ErrorCategory
) -> None:
    pipeline = ScriptedPipeline(failure)
    outcome = run_plan(plan(pipeline, tmp_path), RETRY)
    assert (outcome.success, outcome.category, outcome.attempts) == (False, category, 1)
    assert len(outcome.errors) == 1 and outcome.errors[0].startswith(f"[{category.value}]")


def test_exhausted_retries_report_transient(tmp_path: Path) -> None:
    pipeline = ScriptedPipeline(*[TimeoutError("read timed out") for _ in range(10)])
    outcome = run_plan(plan(pipeline, tmp_path), RETRY)
    assert (outcome.success, outcome.category, outcome.attempts) == (
        False,
        ErrorCategory.TRANSIENT,
        5,
    )
    assert outcome.errors == [
        "[TRANSIENT] DestinationWriteError: TimeoutError: read timed out (source_type=rest_api, "
        "destination_table=bronze.items, pipeline=floe__bronze__items)"
    ]
