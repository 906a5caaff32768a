"""Where ``floe-ingest`` writes: results to stdout, progress and logs to stderr.

Keeping stdout for the result makes ``floe-ingest run x.yaml --json > summary.json`` and
pipes work while a person still sees progress on the terminal.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["configure_cli_logging", "stderr_console", "stdout_console", "write_json"]

_WIDTH_WHEN_PIPED = 120


def _console(stderr: bool) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # captured output (CI logs, pipes) is read in wide viewers: do not fold at 80 columns
        console = Console(stderr=stderr, highlight=False, soft_wrap=False, width=_WIDTH_WHEN_PIPED)
    return console


def stdout_console() -> Console:
    """The console for results (tables, messages)."""
    return _console(stderr=False)


def stderr_console() -> Console:
    """The console for progress and diagnostics."""
    return _console(stderr=True)


def write_json(document: Any) -> None:
    """Print ``document`` as indented JSON on stdout (datetimes and paths as strings)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def configure_cli_logging(verbose: bool) -> None:
    """Plugin log lines go to stderr; only with ``--verbose`` (INFO) are they shown.

    Without it the command's own output already says what happened, so the logs stay quiet.
    dlt's anonymous telemetry is off unless ``RUNTIME__DLTHUB_TELEMETRY`` says otherwise.
    """
    import structlog

    from floe_ingestion_dlt.compat.dlt import disable_dlt_telemetry_by_default
    from floe_ingestion_dlt.logging import configure_logging

    disable_dlt_telemetry_by_default()
    configure_logging("INFO" if verbose else "CRITICAL")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
