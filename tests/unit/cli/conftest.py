"""Fixtures of the command-line tests: the CLI reconfigures logging, tests put it back."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import structlog


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``floe-ingest`` quiets structlog and installs filters; other tests must not notice."""
    saved = structlog.get_config()
    filters = {name: list(logging.getLogger(name).filters) for name in ("", "dlt", "pyiceberg")}
    try:
        yield
    finally:
        structlog.configure(**saved)
        for name, kept in filters.items():
            logging.getLogger(name).filters[:] = kept
