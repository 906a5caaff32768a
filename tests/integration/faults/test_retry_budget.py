"""``retry_config`` is the one retry budget of a run: attempts and time, end to end.

Before it, retries stacked: dlt's HTTP client made 5 attempts per request (~15 s of backoff) on
every attempt of the run, so a dead REST source with ``max_retries=1`` took ~32 s and 10
requests. Now every layer draws from one budget: a dead source fails, typed, within
``max_retry_seconds`` (plus one attempt and the run's own overhead), after ``max_retries + 1``
attempts in all, counted from the server's own request log. Bounds, not benchmarks.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.destination import load_job
from floe_ingestion_dlt.errors import ErrorCategory
from floe_ingestion_dlt.runner import RunOutcome
from tests.helpers import embedded_plugin, read_table
from tests.integration.faults.support import incremental_files_config, write_ids_csv
from tests.integration.faults.test_commit_faults import FailingCommits
from tests.services.http_api import FakeApiServer, make_records
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

SLACK = 4.0
"""Seconds a failed run may take beyond its retry budget: the last attempt, dlt's pipeline
start and teardown, reading the table state (a bound on a 2-core machine, not a benchmark)."""

DATA = "/offset/orders"


def budget(max_retries: int, seconds: float, delay: float = 0.5) -> RetryConfig:
    return RetryConfig(
        max_retries=max_retries,
        initial_delay_seconds=delay,
        max_delay_seconds=10.0,
        jitter=False,
        max_retry_seconds=seconds,
    )


def rest(api: FakeApiServer, token: str, **extra: Any) -> IngestionConfig:
    api.set_records("orders", make_records(30))
    api.require_bearer(token)
    return IngestionConfig(
        source_type="rest_api",
        source_config={
            "base_url": api.base_url,
            "path": "offset/orders",
            "paginator": {"type": "offset", "limit": 10, "total_path": "total"},
            "data_selector": "items",
            "auth": {"type": "bearer", "token": token},
            **extra,
        },
        destination_table="bronze.orders",
    )


@pytest.fixture
def output(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[list[str]]:
    """Append secrets to the yielded list: none may show up in any captured output."""
    caplog.set_level("DEBUG")
    secrets: list[str] = []
    yield secrets
    out = capsys.readouterr()
    text = caplog.text + out.out + out.err
    for secret in secrets:
        assert secret not in text


def timed_run(plugin: DltIngestionPlugin, pipeline: Any) -> tuple[RunOutcome, float, list[Any]]:
    """Run; return the outcome, the seconds it took and the retry log events."""
    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        outcome = plugin.run_with_outcome(pipeline)
        elapsed = time.monotonic() - started
    return outcome, elapsed, [e for e in logs if e["event"] in ("retrying", "giving up")]


def assert_typed_transient(outcome: RunOutcome, *secrets: str) -> None:
    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.errors[0].startswith("[TRANSIENT] SourceConnectionError: extract step: ")
    for secret in secrets:
        assert secret not in " ".join(outcome.errors)


# ------------------------------------------------------------------------------- rest_api


def test_api_answering_503_to_everything_fails_within_the_budget(
    tmp_path: Path, api_server: FakeApiServer, output: list[str]
) -> None:
    token = "tok-" + uuid.uuid4().hex
    output.append(token)
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=1, seconds=5))
    pipeline = plugin.create_pipeline(rest(api_server, token))
    api_server.set_status(503)
    api_server.clear_log()

    outcome, elapsed, retries = timed_run(plugin, pipeline)

    assert_typed_transient(outcome, token)
    assert "HTTPError: 503" in outcome.errors[0]
    # max_retries=1: two requests in all, whichever layer made them (was 10: 5 x 2)
    assert api_server.request_count(DATA) == 2
    assert [(e["event"], e["retry_layer"]) for e in retries] == [
        ("retrying", "http"),
        ("giving up", "http"),
        ("giving up", "run"),
    ]
    assert outcome.attempts == 1
    assert elapsed < 5 + SLACK


def test_api_on_a_dead_port_fails_within_the_budget(tmp_path: Path, output: list[str]) -> None:
    token = "tok-" + uuid.uuid4().hex
    output.append(token)
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=1, seconds=5))
    with FakeApiServer() as api:  # up for create_pipeline's probe, then gone: nothing listens
        pipeline = plugin.create_pipeline(rest(api, token))

    outcome, elapsed, retries = timed_run(plugin, pipeline)

    assert_typed_transient(outcome, token)
    assert "Connection refused" in outcome.errors[0]
    attempts = [e for e in retries if e["retry_layer"] == "http"]
    assert [e["event"] for e in attempts] == ["retrying", "giving up"]  # 2 connections
    assert elapsed < 5 + SLACK


def test_the_time_bound_stops_retries_the_count_still_allows(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    """max_retries=20 would mean ~20 minutes of backoff; max_retry_seconds=4 ends it: waits
    of 0.5, 1 and 2 s fit in 4 s, the next (4 s) would end past it."""
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=20, seconds=4))
    pipeline = plugin.create_pipeline(rest(api_server, "tok"))
    api_server.set_status(503)
    api_server.clear_log()

    outcome, elapsed, retries = timed_run(plugin, pipeline)

    assert_typed_transient(outcome)
    assert api_server.request_count(DATA) == 4
    gave_up = [e for e in retries if e["event"] == "giving up"]
    assert "max_retry_seconds=4" in gave_up[0]["reason"]
    assert elapsed < 4 + SLACK


def test_api_failing_once_then_recovering_loads_with_retries_left(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=2, seconds=30))
    pipeline = plugin.create_pipeline(rest(api_server, "tok"))
    api_server.clear_log()
    api_server.fail_next(1, "503")

    with structlog.testing.capture_logs() as logs:
        outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    assert outcome.attempts == 1  # the session's one retry healed it: the run was not retried
    assert [r.fault for r in api_server.requests].count("503") == 1
    finished = next(e for e in logs if e["event"] == "run finished")
    assert finished["retries"] == {"http": 1}  # one of the two retries spent
    table = read_table(plugin, "bronze.orders")
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(1, 31))


def test_run_level_retry_after_a_failure_the_session_does_not_retry(
    tmp_path: Path, api_server: FakeApiServer
) -> None:
    """With ``request_max_attempts=1`` the session hands the failure to the run: the run's
    retry re-reads the source, from the same budget."""
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=1, seconds=30))
    pipeline = plugin.create_pipeline(rest(api_server, "tok", request_max_attempts=1))
    api_server.clear_log()
    api_server.fail_next(1, "503")

    outcome = plugin.run_with_outcome(pipeline)

    assert outcome.success, outcome.errors
    assert outcome.attempts == 2
    table = read_table(plugin, "bronze.orders")
    assert sorted(table.scan().to_arrow()["id"].to_pylist()) == list(range(1, 31))


# --------------------------------------------------------------------------- sql_database


@pytest.fixture
def orders_db(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"budget_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    postgres_server.execute("CREATE TABLE orders (id int PRIMARY KEY)", database=name)
    postgres_server.execute(
        "INSERT INTO orders SELECT g FROM generate_series(1, 50) g", database=name
    )
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def test_sql_source_on_a_stopped_postgres_fails_within_the_budget(
    tmp_path: Path, postgres_server: PostgresServer, orders_db: str, output: list[str]
) -> None:
    output.append(postgres_server.password)
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=1, seconds=5))
    config = IngestionConfig(
        source_type="sql_database",
        source_config={
            "credentials": postgres_server.dsn(orders_db),
            "table": "orders",
            "connect_timeout": 2,
        },
        destination_table="bronze.orders",
    )
    pipeline = plugin.create_pipeline(config)
    postgres_server.stop()
    try:
        outcome, elapsed, retries = timed_run(plugin, pipeline)
    finally:
        postgres_server.start()

    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.errors[0].startswith("[TRANSIENT] SourceConnectionError")
    assert postgres_server.password not in " ".join(outcome.errors)
    assert outcome.attempts == 2  # no inner layer retries a SQL source: the run's own retry
    assert [(e["event"], e["retry_layer"]) for e in retries] == [
        ("retrying", "run"),
        ("giving up", "run"),
    ]
    assert elapsed < 5 + SLACK


# ------------------------------------------------------------------------ Iceberg commits


def test_commit_conflict_waits_never_pass_the_runs_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Conflicts with other writers are not failures of a service: the load job's own loop
    (8 commits) runs in full on a first attempt. Once the run is failing, its waits stop at the
    deadline: the retried attempt gives up after at most 6 commits (waits of at least
    0.05 + 0.1 + 0.2 + 0.4 + 0.8 s pass the 1 s budget), not 8."""
    plugin = embedded_plugin(tmp_path, retry_config=budget(max_retries=1, seconds=1.0, delay=0.01))
    data = tmp_path / "data"
    write_ids_csv(data, range(1, 101), "a.csv")
    fault = FailingCommits(10_000).install(monkeypatch)

    outcome, _, retries = timed_run(plugin, plugin.create_pipeline(incremental_files_config(data)))

    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.attempts == 2
    assert [(e["event"], e["retry_layer"]) for e in retries] == [
        ("retrying", "run"),
        ("giving up", "run"),
    ]
    assert load_job.COMMIT_ATTEMPTS + 1 <= fault.failed <= load_job.COMMIT_ATTEMPTS + 6
