"""Sources that cannot be read fail early, typed, categorized, in bounded time, without secrets.

Every test captures the logs (stdlib and structlog output) and checks the secret involved is
in none of them, nor in the error or the result.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import DltIngestionPlugin
from floe_ingestion_dlt.config import RetryConfig
from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError, ValidationError
from tests.helpers import embedded_plugin
from tests.services.http_api import FakeApiServer, make_records
from tests.services.postgres import PostgresServer, free_port

pytestmark = pytest.mark.integration

TIMEOUT = 2.0
SLACK = 2.0
"""Seconds a failure may take beyond the reachability timeout (thread hand-off, imports)."""


@pytest.fixture
def plugin(tmp_path: Path) -> DltIngestionPlugin:
    return embedded_plugin(
        tmp_path,
        connect_timeout_seconds=TIMEOUT,
        retry_config=RetryConfig(max_retries=2, initial_delay_seconds=0.05, jitter=False),
    )


@pytest.fixture
def no_secret_in_output(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> Iterator[list[str]]:
    """Append secrets to the yielded list; the test fails if any shows up in the output."""
    caplog.set_level("DEBUG")
    watched: list[str] = []
    yield watched
    out = capsys.readouterr()
    text = caplog.text + out.out + out.err
    for secret in watched:
        assert secret not in text


@pytest.fixture(scope="module")
def shop_db(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"shop_{uuid.uuid4().hex[:8]}"
    postgres_server.create_database(name)
    postgres_server.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10, 2), status text)",
        database=name,
    )
    postgres_server.execute(
        "INSERT INTO orders SELECT g, g * 1.5, 'open' FROM generate_series(1, 100) g",
        database=name,
    )
    postgres_server.execute("CREATE TABLE customers (id int PRIMARY KEY)", database=name)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def sql(url: str, table: str = "orders", **extra: Any) -> IngestionConfig:
    return IngestionConfig(
        source_type="sql_database",
        source_config={"credentials": url, "table": table, **extra},
        destination_table="bronze.orders",
    )


def rest(source_config: dict[str, Any]) -> IngestionConfig:
    return IngestionConfig(
        source_type="rest_api", source_config=source_config, destination_table="bronze.api"
    )


def create_fails(plugin: DltIngestionPlugin, config: IngestionConfig) -> tuple[Exception, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as info:
        plugin.create_pipeline(config)
    return info.value, time.monotonic() - started


def url_for(server: PostgresServer, database: str, password: str, host: str, port: int) -> str:
    return f"postgresql+psycopg2://{server.user}:{password}@{host}:{port}/{database}"


# --------------------------------------------------------------------------- sql_database


def test_wrong_password_is_permanent_and_tried_once(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    shop_db: str,
    no_secret_in_output: list[str],
) -> None:
    wrong = "wrong-" + uuid.uuid4().hex
    no_secret_in_output.extend([wrong, postgres_server.password])
    before = postgres_server.log_tail(10_000).count("password authentication failed")
    url = url_for(postgres_server, shop_db, wrong, postgres_server.host, postgres_server.port)
    error, _ = create_fails(plugin, sql(url))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.PERMANENT
    assert error.field == "source_config.credentials"
    assert f"{postgres_server.host}:{postgres_server.port}" in str(error)
    assert "refused the login" in str(error)
    assert "password authentication failed" in str(error)
    assert wrong not in str(error) and wrong not in repr(error.__cause__)
    after = postgres_server.log_tail(10_000).count("password authentication failed")
    assert after - before == 1


def test_unknown_table_names_the_table_and_the_ones_there_are(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, shop_db: str
) -> None:
    error, _ = create_fails(plugin, sql(postgres_server.dsn(shop_db), table="ordres"))
    assert isinstance(error, ValidationError)
    assert error.field == "source_config.table"
    assert error.category is ErrorCategory.CONFIGURATION
    assert "'ordres'" in str(error)
    assert "customers, orders" in str(error)


@pytest.mark.parametrize(
    ("extra", "field", "text"),
    [
        ({"columns": ["id", "amount", "colour"]}, "source_config.columns", "colour"),
        ({"cursor_field": "updated_at"}, "source_config.cursor_field", "updated_at"),
        ({"primary_key": ["id", "sku"]}, "source_config.primary_key", "sku"),
        ({"where": "statuz = 'open'"}, "source_config.where", "statuz"),
    ],
)
def test_unknown_columns_and_bad_filters_fail_before_anything_runs(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    shop_db: str,
    extra: dict[str, Any],
    field: str,
    text: str,
) -> None:
    error, _ = create_fails(plugin, sql(postgres_server.dsn(shop_db), **extra))
    assert isinstance(error, ValidationError)
    assert error.field == field
    assert text in str(error)


def test_unknown_database_is_a_configuration_error(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, no_secret_in_output: list[str]
) -> None:
    no_secret_in_output.append(postgres_server.password)
    error, _ = create_fails(plugin, sql(postgres_server.dsn("no_such_db")))
    assert isinstance(error, ValidationError)
    assert error.field == "source_config.credentials"
    assert "no_such_db" in str(error)


def test_dead_port_is_transient_and_quick(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, no_secret_in_output: list[str]
) -> None:
    no_secret_in_output.append(postgres_server.password)
    port = free_port()
    url = url_for(postgres_server, "shop", postgres_server.password, "127.0.0.1", port)
    error, elapsed = create_fails(plugin, sql(url))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.TRANSIENT
    assert f"127.0.0.1:{port}" in str(error)
    assert "refused" in str(error).lower()
    assert elapsed < TIMEOUT + SLACK


def test_unresolvable_host_is_transient(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, no_secret_in_output: list[str]
) -> None:
    no_secret_in_output.append(postgres_server.password)
    url = url_for(postgres_server, "shop", postgres_server.password, "db.floe-test.invalid", 5432)
    error, elapsed = create_fails(plugin, sql(url))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.TRANSIENT
    assert "db.floe-test.invalid" in str(error)
    assert elapsed < TIMEOUT + SLACK


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield int(sock.getsockname()[1])


def test_database_that_never_answers_fails_within_the_timeout(
    plugin: DltIngestionPlugin, postgres_server: PostgresServer, silent_listener: int
) -> None:
    url = url_for(postgres_server, "shop", postgres_server.password, "127.0.0.1", silent_listener)
    error, elapsed = create_fails(plugin, sql(url))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.TRANSIENT
    assert f"127.0.0.1:{silent_listener}" in str(error)
    assert TIMEOUT - 0.5 < elapsed < TIMEOUT + SLACK


def test_database_gone_during_the_run_is_a_transient_result(
    plugin: DltIngestionPlugin,
    postgres_server: PostgresServer,
    shop_db: str,
    no_secret_in_output: list[str],
) -> None:
    no_secret_in_output.append(postgres_server.password)
    pipeline = plugin.create_pipeline(sql(postgres_server.dsn(shop_db), connect_timeout=2))
    postgres_server.stop()
    try:
        outcome = plugin.run_with_outcome(pipeline)
    finally:
        postgres_server.start()
    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.attempts == 3  # retried: the database may come back
    assert outcome.errors and outcome.errors[0].startswith("[TRANSIENT]")
    assert postgres_server.password not in " ".join(outcome.errors)
    # and it does come back: the same pipeline then loads
    result = plugin.run(pipeline)
    assert result.success, result.errors
    assert result.rows_loaded == 100


# ------------------------------------------------------------------------------- rest_api


def orders_api(api: FakeApiServer, **extra: Any) -> dict[str, Any]:
    api.set_records("orders", make_records(30))
    return {
        "base_url": api.base_url,
        "path": "offset/orders",
        "paginator": {"type": "offset", "limit": 10, "total_path": "total"},
        "data_selector": "items",
        **extra,
    }


def test_api_refusing_the_token_is_permanent_and_asked_once(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, no_secret_in_output: list[str]
) -> None:
    good, wrong = "good-" + uuid.uuid4().hex, "wrong-" + uuid.uuid4().hex
    no_secret_in_output.extend([good, wrong])
    api_server.require_bearer(good)
    error, _ = create_fails(plugin, rest(orders_api(api_server, auth={"token": wrong})))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.PERMANENT
    assert error.field == "source_config.auth"
    assert f"127.0.0.1:{api_server.port}" in str(error)
    assert "401" in str(error)
    assert wrong not in str(error)
    assert api_server.request_count() == 1


def test_token_revoked_after_create_is_a_permanent_result_without_retries(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, no_secret_in_output: list[str]
) -> None:
    token = "tok-" + uuid.uuid4().hex
    no_secret_in_output.append(token)
    api_server.require_bearer(token)
    pipeline = plugin.create_pipeline(rest(orders_api(api_server, auth={"token": token})))
    api_server.require_bearer("rotated-" + uuid.uuid4().hex)
    api_server.clear_log()
    outcome = plugin.run_with_outcome(pipeline)
    assert not outcome.success
    assert outcome.category is ErrorCategory.PERMANENT
    assert outcome.attempts == 1
    assert outcome.errors[0].startswith("[PERMANENT]")
    assert "401" in outcome.errors[0]
    assert token not in " ".join(outcome.errors)
    assert api_server.request_count("/offset/orders") == 1  # no HTTP retry either


def test_oauth2_client_secret_refused_is_permanent(
    plugin: DltIngestionPlugin, api_server: FakeApiServer, no_secret_in_output: list[str]
) -> None:
    wrong = "cs-" + uuid.uuid4().hex
    no_secret_in_output.append(wrong)
    api_server.enable_oauth2("floe", "the-right-" + uuid.uuid4().hex)
    auth = {
        "type": "oauth2_client_credentials",
        "access_token_url": f"{api_server.base_url}/oauth/token",
        "client_id": "floe",
        "client_secret": wrong,
    }
    error, _ = create_fails(plugin, rest(orders_api(api_server, auth=auth)))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.PERMANENT
    assert "token endpoint" in str(error) and "401" in str(error)


def test_api_without_such_endpoint_is_a_configuration_error(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    error, _ = create_fails(plugin, rest(orders_api(api_server, path="offset/ordres")))
    assert isinstance(error, ValidationError)
    assert error.field == "source_config.path"
    assert "/offset/ordres" in str(error) and "404" in str(error)


@pytest.mark.parametrize(
    "source_config",
    [
        {"client": {"base_url": "http://127.0.0.1:1"}, "resources": ["a", "b"]},
        {"client": {"base_url": "http://127.0.0.1:1"}, "resources": ["a"], "resource": "c"},
    ],
)
def test_missing_or_unknown_resource_fails_before_any_request(
    plugin: DltIngestionPlugin, source_config: dict[str, Any]
) -> None:
    error, elapsed = create_fails(plugin, rest(source_config))
    assert isinstance(error, ValidationError)
    assert error.field == "source_config.resource"
    assert elapsed < 1.0


def test_api_dead_port_is_transient_and_quick(plugin: DltIngestionPlugin) -> None:
    port = free_port()
    error, elapsed = create_fails(
        plugin, rest({"base_url": f"http://127.0.0.1:{port}", "path": "orders"})
    )
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.TRANSIENT
    assert f"127.0.0.1:{port}" in str(error) and "connection refused" in str(error)
    assert elapsed < TIMEOUT + SLACK


def test_api_host_that_does_not_resolve_is_transient(
    plugin: DltIngestionPlugin, no_secret_in_output: list[str]
) -> None:
    token = "tok-" + uuid.uuid4().hex
    no_secret_in_output.append(token)
    config = {
        "base_url": "https://api.floe-test.invalid/v1",
        "path": "orders",
        "auth": {"token": token},
    }
    error, elapsed = create_fails(plugin, rest(config))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.TRANSIENT
    assert "api.floe-test.invalid" in str(error) and "does not resolve" in str(error)
    assert elapsed < TIMEOUT + SLACK


def test_api_that_does_not_answer_fails_within_the_timeout(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    config = orders_api(api_server)
    api_server.set_delay(TIMEOUT + 3)
    error, elapsed = create_fails(plugin, rest(config))
    assert isinstance(error, SourceConnectionError)
    assert error.category is ErrorCategory.TRANSIENT
    assert "did not answer" in str(error)
    assert TIMEOUT - 0.5 < elapsed < TIMEOUT + SLACK


def test_api_failing_through_every_retry_is_a_transient_result(
    plugin: DltIngestionPlugin, api_server: FakeApiServer
) -> None:
    config = orders_api(
        api_server,
        request_max_attempts=2,
        request_backoff_factor=0.01,
        request_max_retry_delay=0.05,
    )
    pipeline = plugin.create_pipeline(rest(config))
    api_server.set_faults(rate=1.0, kinds=("503",), retry_after=None)
    outcome = plugin.run_with_outcome(pipeline)
    assert not outcome.success
    assert outcome.category is ErrorCategory.TRANSIENT
    assert outcome.attempts == 2
    assert "503" in outcome.errors[0]
    # one budget of max_retries=2 for the HTTP session and the run together: the probe, then
    # 3 requests (the 1st attempt's request retried once by the session, the run retried once)
    assert api_server.request_count("/offset/orders") == 1 + 3
