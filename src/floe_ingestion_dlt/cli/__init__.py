"""``floe-ingest``: run, validate, check and inspect ingestions declared in a YAML file.

Only ``typer`` is imported to answer ``--help``; dlt, PyIceberg, floe-core and the pydantic
models load inside the command that needs them.

Example:
    >>> from floe_ingestion_dlt.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    floe-ingest 0.1.0
    0
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    from floe_ingestion_dlt.cli.app import app

    try:
        app(args=argv, prog_name="floe-ingest", standalone_mode=True)
    except SystemExit as exc:
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else 1
    return 0
