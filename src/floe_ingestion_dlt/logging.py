"""Structured logging with structlog; every event is scrubbed of secrets.

The plugin logs through ``get_logger``; :func:`configure_logging` sets the output (console or
JSON lines) and installs the scrubbing processor, which also guards dlt's own log records.
"""

from __future__ import annotations

import logging as std_logging
from collections.abc import MutableMapping
from typing import Any

import structlog

from floe_ingestion_dlt.scrub import scrub_mapping

__all__ = ["configure_logging", "get_logger", "scrub_processor"]


def scrub_processor(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and secrets inside any string value."""
    return scrub_mapping(dict(event_dict))


class _ScrubbingFilter(std_logging.Filter):
    """Scrubs standard-library records (dlt, PyIceberg, urllib3) before any handler sees them."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        from floe_ingestion_dlt.scrub import scrub_text

        try:
            message = record.getMessage()
        except Exception:  # a malformed record is passed on as it is
            return True
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


_SCRUB_FILTER = _ScrubbingFilter()


def install_stdlib_scrubbing() -> None:
    """Attach the scrubbing filter to the root handlers and to dlt's logger."""
    for name in ("", "dlt", "pyiceberg", "urllib3", "sqlalchemy"):
        logger = std_logging.getLogger(name)
        if _SCRUB_FILTER not in logger.filters:
            logger.addFilter(_SCRUB_FILTER)
        for handler in logger.handlers:
            if _SCRUB_FILTER not in handler.filters:
                handler.addFilter(_SCRUB_FILTER)


def configure_logging(level: str | int = "INFO", json: bool = False) -> None:
    """Configure structlog output for the plugin (console or JSON lines)."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            scrub_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            std_logging.getLevelName(level) if isinstance(level, str) else level
        ),
        cache_logger_on_first_use=False,
    )
    install_stdlib_scrubbing()


def get_logger(name: str) -> Any:
    """A structlog logger whose events pass through the scrubbing processor."""
    return structlog.get_logger(name).bind()
