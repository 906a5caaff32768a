"""Secrets never appear in logs, spans, metrics, exception texts or results, even at DEBUG.

Each test gives the plugin a known secret (a PostgreSQL password inside a DSN, S3 credentials,
REST catalog credential and token), turns on DEBUG everywhere (structlog, the stdlib root
logger, dlt's own logger through ``RUNTIME__LOG_LEVEL``), runs, and then searches everything
that was emitted for the secret. Each test also checks that the channels it searches really
carried output, so the search cannot pass by looking at nothing.
"""

from __future__ import annotations

import io
import logging
import os
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext
from floe_core.plugins.ingestion import IngestionConfig

from floe_ingestion_dlt import (
    CatalogConfig,
    DltIngestionConfig,
    DltIngestionPlugin,
    IngestionError,
    RetryConfig,
)
from floe_ingestion_dlt.logging import configure_logging
from tests.helpers import embedded_plugin, read_table
from tests.observability_sdk import OtelSdk
from tests.services.http_api import FakeApiServer, make_records
from tests.services.postgres import PostgresServer

pytestmark = pytest.mark.integration

SECRET = "Fl0e-K3pt-S3cret-9x7"


@dataclass
class Capture:
    """Everything emitted while a test runs, gathered for one search."""

    structlog: io.StringIO = field(default_factory=io.StringIO)
    dlt_log: io.StringIO = field(default_factory=io.StringIO)
    texts: list[str] = field(default_factory=list)

    def add(self, *texts: object) -> None:
        self.texts.extend(str(t) for t in texts)

    def add_exception(self, exc: BaseException) -> None:
        self.add(str(exc), repr(exc), "".join(traceback.format_exception(exc)))


def span_texts(otel: OtelSdk) -> list[str]:
    texts = []
    for s in otel.finished():
        texts += [s.name, repr(dict(s.attributes or {})), s.status.description or ""]
        texts += [f"{e.name} {dict(e.attributes or {})}" for e in s.events]
    return texts


def metric_texts(otel: OtelSdk) -> list[str]:
    data = otel.metrics.get_metrics_data()
    return [data.to_json()] if data else []


@pytest.fixture
def debug_everywhere(caplog: pytest.LogCaptureFixture) -> Iterator[Capture]:
    """DEBUG for structlog, the root logger and dlt's logger; every channel captured."""
    capture = Capture()
    configure_logging(level="DEBUG", json=True, stream=capture.structlog)
    caplog.set_level(logging.DEBUG)
    dlt_settings = {"RUNTIME__LOG_LEVEL": "DEBUG", "RUNTIME__DLTHUB_TELEMETRY": "false"}
    previous = {name: os.environ.get(name) for name in dlt_settings}
    os.environ.update(dlt_settings)
    run_context = Container()[PluggableRunContext]
    run_context.initialize_runtime()  # dlt re-reads its runtime settings: its logger at DEBUG
    dlt_logger = logging.getLogger("dlt")
    handler = logging.StreamHandler(capture.dlt_log)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    dlt_logger.addHandler(handler)
    try:
        assert dlt_logger.isEnabledFor(logging.DEBUG)
        yield capture
    finally:
        dlt_logger.removeHandler(handler)
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        run_context.initialize_runtime()  # back to the session's dlt settings


def assert_nowhere(
    secret: str,
    capture: Capture,
    otel: OtelSdk,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    *,
    loaded: bool = False,
    ran: bool = True,
) -> None:
    """Search every channel for ``secret``; ``ran``/``loaded`` say which channels had output."""
    out, err = capfd.readouterr()
    channels = {
        "structlog events": capture.structlog.getvalue(),
        "dlt log records": capture.dlt_log.getvalue(),
        "stdlib log records": caplog.text,
        "stdout": out,
        "stderr": err,
        "spans": "\n".join(span_texts(otel)),
        "metrics": "\n".join(metric_texts(otel)),
        "results and exceptions": "\n".join(capture.texts),
    }
    leaked = [name for name, text in channels.items() if secret in text]
    assert not leaked, f"secret found in: {leaked}"
    # the search looked at real output
    assert "floe.ingestion." in channels["spans"]
    assert channels["results and exceptions"]
    if ran:
        assert '"event": "run finished"' in channels["structlog events"]
        assert "ingestion.source_type" in channels["metrics"]
        assert "DEBUG" in channels["stdlib log records"]
    if loaded:
        assert "DEBUG dlt" in channels["dlt log records"]


def test_sql_database_run_with_password_in_the_dsn(
    tmp_path: Path,
    postgres_server: PostgresServer,
    otel: OtelSdk,
    debug_everywhere: Capture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A successful run: the DSN carries the server's real password."""
    secret = postgres_server.password
    database = f"obs_{uuid.uuid4().hex[:8]}"
    dsn = postgres_server.create_database(database)
    assert secret in dsn
    postgres_server.execute(
        "CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(10, 2))",
        database=database,
    )
    postgres_server.execute(
        "INSERT INTO orders SELECT g, 'n' || g, g * 1.5 FROM generate_series(1, 25) g",
        database=database,
    )
    plugin = embedded_plugin(tmp_path)
    try:
        pipeline = plugin.create_pipeline(
            IngestionConfig(
                source_type="sql_database",
                source_config={"credentials": dsn, "table": "orders"},
                destination_table=f"bronze.{database}",
            )
        )
        result = plugin.run(pipeline)
        debug_everywhere.add(result, plugin.health_check(5.0))
        assert result.success, result.errors
        assert read_table(plugin, f"bronze.{database}").scan().to_arrow().num_rows == 25
    finally:
        plugin.shutdown()
        postgres_server.drop_database(database)
    assert_nowhere(secret, debug_everywhere, otel, caplog, capfd, loaded=True)


def test_rest_api_run_with_an_api_key_in_the_query_string(
    tmp_path: Path,
    api_server: FakeApiServer,
    otel: OtelSdk,
    debug_everywhere: Capture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A successful run whose every request URL, and the API's next links, carry the key.

    urllib3 logs each request line at DEBUG and dlt logs the pages it follows: without
    scrubbing the key would be in those lines.
    """
    api_server.set_records("items", make_records(25))
    plugin = embedded_plugin(tmp_path)
    try:
        pipeline = plugin.create_pipeline(
            IngestionConfig(
                source_type="rest_api",
                source_config={
                    "base_url": api_server.base_url,
                    "path": "jsonlink/items",
                    "paginator": {"type": "json_link", "next_url_path": "next"},
                    "data_selector": "records",
                    "auth": {
                        "type": "api_key",
                        "name": "api_key",
                        "api_key": SECRET,
                        "location": "query",
                    },
                },
                destination_table="bronze.api_key_items",
            )
        )
        result = plugin.run(pipeline)
        debug_everywhere.add(result)
        assert result.success, result.errors
        assert read_table(plugin, "bronze.api_key_items").scan().to_arrow().num_rows == 25
    finally:
        plugin.shutdown()
    # the key really travelled in the query string of every request
    sent = [r for r in api_server.requests if "items" in r.path]
    assert len(sent) >= 3
    assert all(r.query.get("api_key") == SECRET for r in sent)
    assert "GET /jsonlink/items?" in caplog.text  # urllib3's request lines were captured
    assert_nowhere(SECRET, debug_everywhere, otel, caplog, capfd, loaded=True)


def test_sql_database_unreachable_dsn(
    tmp_path: Path,
    otel: OtelSdk,
    debug_everywhere: Capture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    plugin = embedded_plugin(tmp_path)
    with pytest.raises(Exception) as raised:
        plugin.create_pipeline(
            IngestionConfig(
                source_type="sql_database",
                source_config={
                    "credentials": f"postgresql+psycopg2://u:{SECRET}@127.0.0.1:1/db",
                    "table": "orders",
                },
                destination_table="bronze.unreachable_sql",
            )
        )
    debug_everywhere.add_exception(raised.value)
    assert otel.one("floe.ingestion.create_pipeline").attributes["error.category"]
    assert_nowhere(SECRET, debug_everywhere, otel, caplog, capfd, ran=False)


def test_s3_credentials_of_an_unreachable_bucket(
    tmp_path: Path,
    otel: OtelSdk,
    debug_everywhere: Capture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """An unreachable bucket fails create_pipeline's check: botocore logs at DEBUG around it."""
    plugin = embedded_plugin(
        tmp_path,
        retry_config=RetryConfig(max_retries=1, initial_delay_seconds=0.01, jitter=False),
    )
    with pytest.raises(IngestionError) as caught:
        plugin.create_pipeline(
            IngestionConfig(
                source_type="filesystem",
                source_config={
                    "bucket_url": "s3://bucket/data",
                    "file_glob": "*.csv",
                    "credentials": {
                        "aws_access_key_id": "AKIAFLOETEST",
                        "aws_secret_access_key": SECRET,
                        "endpoint_url": "http://127.0.0.1:1",
                    },
                },
                destination_table="bronze.unreachable_s3",
            )
        )
    debug_everywhere.add_exception(caught.value)
    assert type(caught.value).__name__ == "SourceConnectionError"
    assert caught.value.category.value == "TRANSIENT"
    span = otel.one("floe.ingestion.create_pipeline")
    assert span.attributes["error.category"] == "TRANSIENT"
    assert_nowhere(SECRET, debug_everywhere, otel, caplog, capfd, ran=False)


@pytest.mark.parametrize(
    "secrets",
    [
        {
            "credential": f"floe-client:{SECRET}",
            "s3.access-key-id": "AKIAFLOETEST",
            "s3.secret-access-key": SECRET,
        },
        {"token": SECRET, "s3.access-key-id": "AKIAFLOETEST", "s3.secret-access-key": SECRET},
    ],
    ids=["oauth2-credential", "bearer-token"],
)
def test_rest_catalog_credentials(
    tmp_path: Path,
    secrets: dict[str, str],
    otel: OtelSdk,
    debug_everywhere: Capture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    catalog = {
        "type": "rest",
        "uri": "http://127.0.0.1:1/api/catalog",
        "warehouse": "lake",
        **secrets,
    }
    plugin = DltIngestionPlugin(
        config=DltIngestionConfig(
            catalog_config=CatalogConfig.model_validate(catalog),
            pipelines_dir=tmp_path / "pipelines",
            dlt_state_url=str(tmp_path / "state"),
            retry_config=RetryConfig(max_retries=0),
        )
    )
    plugin.startup()
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.csv").write_text("id,name\n1,a\n")
    health = plugin.health_check(2.0)
    debug_everywhere.add(health, plugin.get_destination_config(catalog))
    assert health.state.value == "unhealthy"
    config = IngestionConfig(
        source_type="filesystem",
        source_config={"bucket_url": str(tmp_path / "src"), "file_glob": "*.csv"},
        destination_table="bronze.rest_secret",
    )
    try:
        pipeline = plugin.create_pipeline(config)
    except IngestionError as exc:  # the catalog is checked before the run
        debug_everywhere.add_exception(exc)
        assert otel.one("floe.ingestion.create_pipeline").attributes["error.category"]
        ran = False
    else:
        result = plugin.run(pipeline)
        debug_everywhere.add(result)
        assert not result.success
        assert otel.one("floe.ingestion.run").attributes["error.category"]
        ran = True
    assert_nowhere(SECRET, debug_everywhere, otel, caplog, capfd, ran=ran)


def test_invalid_configuration_holding_secrets(
    otel: OtelSdk,
    debug_everywhere: Capture,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A configuration the plugin refuses: the error names the field, never the value."""
    bad_catalog = {
        "type": "rest",
        "uri": "http://127.0.0.1:1/api/catalog",
        "credential": f"floe-client:{SECRET}",
        "token": SECRET,  # credential and token exclude each other
    }
    for attempt in (
        lambda: DltIngestionPlugin(config={"catalog_config": bad_catalog}),
        lambda: DltIngestionPlugin().get_destination_config(bad_catalog),
    ):
        with pytest.raises(Exception) as raised:
            attempt()
        debug_everywhere.add_exception(raised.value)
    assert "catalog_config" in debug_everywhere.texts[0]
    assert otel.one("floe.ingestion.get_destination_config").attributes["error.category"]
    assert_nowhere(SECRET, debug_everywhere, otel, caplog, capfd, ran=False)
