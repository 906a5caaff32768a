"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability_sdk import OtelSdk, install_sdk
from tests.services.http_api import FakeApiServer
from tests.services.postgres import PostgresServer
from tests.services.seaweedfs import SeaweedFS

# Tests reach nothing but 127.0.0.1: dlt's anonymous usage telemetry stays off.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"

UNIT_TESTS = Path(__file__).parent / "unit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests (the compat canaries among them, ~40 s) belong to the supported-range job.

    See scripts/test_supported_range.sh: many of them pin what dlt and PyIceberg do.
    """
    for item in items:
        if item.path.is_relative_to(UNIT_TESTS):
            item.add_marker(pytest.mark.supported_range)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI, the benchmarks and some tests configure logging process-wide: undo it."""
    import logging

    import structlog

    saved = structlog.get_config()
    filters = {name: list(logging.getLogger(name).filters) for name in ("", "dlt", "pyiceberg")}
    try:
        yield
    finally:
        structlog.configure(**saved)
        for name, kept in filters.items():
            logging.getLogger(name).filters[:] = kept


@pytest.fixture(scope="session")
def otel_session() -> OtelSdk:
    """The process's one OpenTelemetry SDK with in-memory span and metric readers."""
    return install_sdk()


@pytest.fixture
def otel(otel_session: OtelSdk) -> Iterator[OtelSdk]:
    """The in-memory SDK with no finished spans from earlier tests."""
    otel_session.spans.clear()
    yield otel_session
    otel_session.spans.clear()


# =====================================================================================
# Real test services (tests/services). Started once per session, always stopped.
# A service that cannot start makes its fixture raise: nothing here ever skips.
# Tests that stop() a session service must start() it again (use try/finally).
# =====================================================================================


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Throwaway PostgreSQL cluster on 127.0.0.1 (password auth over TCP)."""
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def api_server_session() -> Iterator[FakeApiServer]:
    """The local HTTP JSON API, shared by the whole session."""
    server = FakeApiServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_server(api_server_session: FakeApiServer) -> Iterator[FakeApiServer]:
    """The session API server with datasets, auth, faults and request log reset per test."""
    api_server_session.reset()
    try:
        yield api_server_session
    finally:
        api_server_session.reset()


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """``weed mini``: S3 endpoint + Iceberg REST catalog with table bucket "lakehouse"."""
    server = SeaweedFS()
    try:
        server.start()
        yield server
    finally:
        server.close()


# ============================ end of real test services ==============================
