"""Fixtures of the observability unit tests: the session's in-memory OpenTelemetry SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog

from tests.unit.observability.otel_sdk import OtelSdk, install_sdk


@pytest.fixture(scope="session")
def otel_session() -> OtelSdk:
    return install_sdk()


@pytest.fixture
def otel(otel_session: OtelSdk) -> Iterator[OtelSdk]:
    """The in-memory SDK with no finished spans from earlier tests."""
    otel_session.spans.clear()
    yield otel_session
    otel_session.spans.clear()


@pytest.fixture(autouse=True)
def _restore_structlog() -> Iterator[None]:
    """Tests reconfigure structlog; put the previous configuration back afterwards."""
    saved = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**saved)
