"""Shared pytest fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.services.http_api import FakeApiServer
from tests.services.postgres import PostgresServer
from tests.services.seaweedfs import SeaweedFS

# Tests reach nothing but 127.0.0.1: dlt's anonymous usage telemetry stays off.
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"


@pytest.fixture(autouse=True)
def _restore_structlog_configuration() -> Iterator[None]:
    """The CLI configures structlog process-wide (in-process CliRunner): undo it after each test."""
    import structlog

    saved = structlog.get_config()
    yield
    structlog.configure(**saved)

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
