"""Structured logging with structlog; every event is scrubbed of secrets, dlt's records too.

* The plugin logs through :func:`get_logger`. Its loggers scrub each event (and any traceback)
  *before* handing it to structlog, so secrets stay out even when the platform configured
  structlog with processors of its own. Values bound with :func:`log_context` (pipeline name,
  load id ...) are added to every event of the plugin logged inside the block, in any thread
  that entered it.
* :func:`configure_logging` sets the output: console lines or JSON lines (``json=True``, or the
  environment variable ``FLOE_LOG_FORMAT=json``), level from ``level`` or ``FLOE_LOG_LEVEL``.
  It also puts :func:`scrub_processor` in structlog's chain for events logged by anyone else.
* Standard-library records (dlt logs through the ``dlt`` logger; PyIceberg, botocore, urllib3,
  SQLAlchemy through theirs) are scrubbed when they are created, by a log record factory that
  this module installs on import: no handler, however late it is added, sees a secret.

Example:
    >>> configure_logging(level="INFO", json=True)  # doctest: +SKIP
    >>> get_logger("floe").info("run finished", dsn="postgresql://app:hunter2@db/shop")
    ... # doctest: +SKIP
    {"dsn": "postgresql://app:***@db/shop", "event": "run finished", "level": "info", ...}
"""

from __future__ import annotations

import logging as std_logging
import os
import traceback
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, TextIO

import structlog

from floe_ingestion_dlt.scrub import scrub_mapping, scrub_text

__all__ = [
    "ENV_LOG_FORMAT",
    "ENV_LOG_LEVEL",
    "ScrubbingLogger",
    "configure_logging",
    "configure_logging_from_env",
    "get_logger",
    "install_stdlib_scrubbing",
    "log_context",
    "scrub_processor",
]

ENV_LOG_FORMAT = "FLOE_LOG_FORMAT"
"""``json`` for JSON lines, ``console`` (default) for human-readable lines."""
ENV_LOG_LEVEL = "FLOE_LOG_LEVEL"
"""``DEBUG``, ``INFO`` (default), ``WARNING``, ``ERROR`` or ``CRITICAL``."""

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})
_log_context: ContextVar[MappingProxyType[str, Any]] = ContextVar(
    "floe_ingestion_log_context", default=_EMPTY
)


def scrub_processor(
    _: Any, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and secrets inside any string value."""
    return scrub_mapping(dict(event_dict))


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Add ``values`` to every plugin event logged inside the block (this thread/context)."""
    token = _log_context.set(
        MappingProxyType(
            {**_log_context.get(), **{k: v for k, v in values.items() if v is not None}}
        )
    )
    try:
        yield
    finally:
        _log_context.reset(token)


def _format_exception(exc_info: Any) -> str | None:
    if exc_info is True:
        import sys

        exc_info = sys.exc_info()
    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    if not isinstance(exc_info, tuple) or exc_info[1] is None:
        return None
    return scrub_text("".join(traceback.format_exception(*exc_info)).rstrip("\n"))


class ScrubbingLogger:
    """A structlog logger that scrubs every event before structlog's processors see it."""

    __slots__ = ("_bound", "_name", "_proxy")

    def __init__(self, name: str, bound: dict[str, Any] | None = None) -> None:
        self._name = name
        self._bound = bound or {}
        # a lazy proxy: it follows structlog's configuration even when that changes later
        self._proxy = structlog.get_logger(name)

    def bind(self, **values: Any) -> ScrubbingLogger:
        """A logger that adds ``values`` to each of its events."""
        return ScrubbingLogger(self._name, {**self._bound, **values})

    def _emit(self, method: str, event: str, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
        if args:
            try:
                event = event % args
            except (TypeError, ValueError):
                event = f"{event} {args!r}"
        exc_info = kw.pop("exc_info", method == "exception")
        values = scrub_mapping({**_log_context.get(), **self._bound, **kw})
        values.setdefault("logger", self._name)
        formatted = _format_exception(exc_info) if exc_info else None
        if formatted:
            values["exception"] = formatted
        getattr(self._proxy, "error" if method == "exception" else method)(
            scrub_text(str(event)), **values
        )

    def debug(self, event: str, *args: Any, **kw: Any) -> None:
        """Log ``event`` at DEBUG."""
        self._emit("debug", event, args, kw)

    def info(self, event: str, *args: Any, **kw: Any) -> None:
        """Log ``event`` at INFO."""
        self._emit("info", event, args, kw)

    def warning(self, event: str, *args: Any, **kw: Any) -> None:
        """Log ``event`` at WARNING."""
        self._emit("warning", event, args, kw)

    warn = warning

    def error(self, event: str, *args: Any, **kw: Any) -> None:
        """Log ``event`` at ERROR."""
        self._emit("error", event, args, kw)

    def exception(self, event: str, *args: Any, **kw: Any) -> None:
        """Log ``event`` at ERROR with the current exception's (scrubbed) traceback."""
        self._emit("exception", event, args, kw)

    def critical(self, event: str, *args: Any, **kw: Any) -> None:
        """Log ``event`` at CRITICAL."""
        self._emit("critical", event, args, kw)


def get_logger(name: str) -> ScrubbingLogger:
    """A structlog logger whose events are scrubbed of secrets, whatever the configuration."""
    return ScrubbingLogger(name)


def _level_number(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    name = str(level).strip().upper()
    if name == "WARN":
        name = "WARNING"
    if name not in _LEVELS:
        raise ValueError(f"log level: {level!r} is not one of {list(_LEVELS)}")
    return int(std_logging.getLevelName(name))


def configure_logging(
    level: str | int | None = None, json: bool | None = None, *, stream: TextIO | None = None
) -> None:
    """Configure structlog output for the plugin: console or JSON lines, scrubbed.

    Args:
        level: lowest level logged; default ``FLOE_LOG_LEVEL`` or ``INFO``.
        json: JSON lines; default true when ``FLOE_LOG_FORMAT`` is ``json``.
        stream: where lines go; default the current ``sys.stdout`` at each event.
    """
    if level is None:
        level = os.environ.get(ENV_LOG_LEVEL) or "INFO"
    if json is None:
        json = os.environ.get(ENV_LOG_FORMAT, "").strip().lower() == "json"
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            scrub_processor,  # before level and time stamp: they hold no secrets
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    install_stdlib_scrubbing()


def configure_logging_from_env() -> bool:
    """Apply ``FLOE_LOG_FORMAT`` / ``FLOE_LOG_LEVEL`` when either is set; True if applied."""
    if not (os.environ.get(ENV_LOG_FORMAT) or os.environ.get(ENV_LOG_LEVEL)):
        install_stdlib_scrubbing()
        return False
    # keep the stream chosen before (the CLI sends log lines to stderr: stdout is its output)
    configure_logging(stream=_configured_stream())
    return True


def _configured_stream() -> TextIO | None:
    """The stream structlog currently prints to, if one was set explicitly."""
    factory = structlog.get_config().get("logger_factory")
    stream = getattr(factory, "_file", None)
    return stream if stream is not None and hasattr(stream, "write") else None


# -- standard-library records ---------------------------------------------------------------


def _scrub_record(record: std_logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed record is passed on as it is
        return
    scrubbed = scrub_text(message)
    if scrubbed != message:
        record.msg, record.args = scrubbed, None
    if record.exc_info and record.exc_info[1] is not None:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        clean = scrub_text(text)
        if clean != text:
            # formatters print exc_text when it is set; the raw exception is dropped
            record.exc_text, record.exc_info = clean, None
    if record.stack_info:
        record.stack_info = scrub_text(record.stack_info)


def install_stdlib_scrubbing() -> None:
    """Scrub every standard-library log record as it is created (idempotent).

    Wraps the current log record factory, so records of dlt, PyIceberg, botocore, urllib3,
    SQLAlchemy and any other library are clean before filters or handlers see them.
    """
    current = std_logging.getLogRecordFactory()
    if getattr(current, "floe_scrubbing", False):
        return

    def factory(*args: Any, **kwargs: Any) -> std_logging.LogRecord:
        record = current(*args, **kwargs)
        _scrub_record(record)
        return record

    factory.floe_scrubbing = True  # type: ignore[attr-defined]
    std_logging.setLogRecordFactory(factory)


install_stdlib_scrubbing()
