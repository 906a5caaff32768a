"""Rich renderings of ``floe-ingest`` results: problems, run summaries, checks, tables.

Shared by the commands, so that no command imports another one for its output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.console import stderr_console, write_json
from floe_ingestion_dlt.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from floe_ingestion_dlt.cli.outcomes import CheckResult, SourceRun
    from floe_ingestion_dlt.cli.problems import ConfigFileError, ConfigProblem
    from floe_ingestion_dlt.config import CatalogConfig

__all__ = [
    "catalog_summary",
    "check_table",
    "error_line",
    "human_bytes",
    "human_duration",
    "print_config_error",
    "print_problems",
    "rows_table",
    "summary_table",
]

_WHOLE = 21
"""Values up to this long (a snapshot id, a timestamp) are never broken across lines."""
_STATUS_STYLE = {"success": "green", "failed": "red", "skipped": "yellow", "ok": "green"}


def human_bytes(count: int) -> str:
    """``1536`` -> ``'1.5 KiB'``.

    Example:
        >>> human_bytes(0), human_bytes(1536), human_bytes(5 * 1024**3)
        ('0 B', '1.5 KiB', '5.0 GiB')
    """
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop always returns


def human_duration(seconds: float) -> str:
    """``0.42`` -> ``'0.42 s'``, ``75`` -> ``'1 min 15 s'``.

    Example:
        >>> human_duration(0.4242), human_duration(12.34), human_duration(75)
        ('0.42 s', '12.3 s', '1 min 15 s')
    """
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def print_problems(console: Console, file: str, problems: Sequence[ConfigProblem]) -> None:
    """The problems of a configuration file, one per line, path first."""
    from rich.markup import escape

    count = len(problems)
    console.print(
        f"[bold red]✗ {escape(file)}[/bold red]: {count} problem{'s' if count != 1 else ''}"
    )
    for problem in problems:
        where = problem.path or "(file)"
        line = f" [dim](line {problem.line})[/dim]" if problem.line is not None else ""
        console.print(
            f"  [bold]{escape(where)}[/bold]{line}: {escape(problem.message)}", soft_wrap=True
        )


def print_config_error(exc: ConfigFileError, json_output: bool) -> int:
    """Print the problems of a configuration file (text on stderr, or JSON); returns 2."""
    if json_output:
        write_json(
            {
                "config": str(exc.file),
                "success": False,
                "exit_code": int(ExitCode.CONFIGURATION),
                "problems": [p.as_dict() for p in exc.problems],
            }
        )
    else:
        print_problems(stderr_console(), str(exc.file), exc.problems)
    return int(ExitCode.CONFIGURATION)


def catalog_summary(catalog: CatalogConfig) -> dict[str, Any]:
    """Type, URI and warehouse of the catalog, for output (no secrets)."""
    from floe_ingestion_dlt.scrub import scrub_text

    return {
        "type": catalog.type,
        "uri": catalog.display_uri,
        "warehouse": scrub_text(catalog.warehouse) if catalog.warehouse else None,
    }


def summary_table(runs: Iterable[SourceRun]) -> Table:
    """One row per source: rows, bytes, duration, snapshot id, status."""
    from rich.table import Table

    table = Table(title="Ingestion summary", title_justify="left", show_lines=False)
    table.add_column("Source", no_wrap=True)
    table.add_column("Table", no_wrap=True)
    table.add_column("Status", no_wrap=True)
    table.add_column("Rows", justify="right", no_wrap=True)
    table.add_column("Bytes", justify="right", no_wrap=True)
    table.add_column("Duration", justify="right", no_wrap=True)
    table.add_column("Snapshot", justify="right", no_wrap=True)
    for run in runs:
        style = _STATUS_STYLE.get(run.status, "")
        status = run.status if run.category is None else f"{run.status} ({run.category})"
        table.add_row(
            run.name,
            run.destination_table,
            f"[{style}]{status}[/{style}]" if style else status,
            f"{run.rows_loaded:,}",
            human_bytes(run.bytes_written),
            human_duration(run.duration_seconds),
            str(run.snapshot_id) if run.snapshot_id is not None else "-",
        )
    return table


def check_table(results: Iterable[CheckResult]) -> Table:
    """One row per probe: what, where, status, time, detail."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Health", title_justify="left")
    table.add_column("Component", no_wrap=True)
    table.add_column("Target")
    table.add_column("Status", no_wrap=True)
    table.add_column("Time", justify="right", no_wrap=True)
    table.add_column("Detail")
    for result in results:
        status = "ok" if result.ok else f"failed ({result.category})"
        style = "green" if result.ok else "red"
        table.add_row(
            escape(result.component),
            escape(result.target),
            f"[{style}]{status}[/{style}]",
            f"{result.response_time_ms:.0f} ms",
            escape(result.detail),
        )
    return table


def _cell(value: Any, width: int = 40) -> str:
    if isinstance(value, datetime) and value.utcoffset() == timedelta(0):
        value = value.replace(tzinfo=None).isoformat(sep=" ") + "Z"  # UTC, short
    text = "∅" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def rows_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    width: int | None = None,
) -> Table:
    """A table of values (``None`` shows as ``∅``, values over 40 characters are cut).

    Short values (up to 21 characters: numbers, ids, timestamps) are kept on one line when
    the table fits ``width``; otherwise every column may wrap.
    """
    from rich.markup import escape
    from rich.table import Table

    cells = [[escape(_cell(value)) for value in row] for row in rows]
    minimums: list[int | None] = []
    for index, column in enumerate(columns):
        values = [len(row[index]) for row in cells]
        short = max(values, default=0) <= _WHOLE
        minimums.append(max([len(column), *values]) if short else None)
    if width is not None and sum(m or 8 for m in minimums) + 3 * len(minimums) + 1 > width:
        minimums = [None] * len(minimums)  # too wide anyway: let every column wrap
    table = Table(title=title, title_justify="left")
    for column, minimum in zip(columns, minimums, strict=True):
        table.add_column(escape(column), overflow="fold", min_width=minimum)
    for row in cells:
        table.add_row(*row)
    return table


def error_line(exc: BaseException) -> str:
    """``[CATEGORY] ErrorType: message`` of the root cause, scrubbed, on one line.

    Example:
        >>> error_line(TimeoutError("catalog did not answer"))
        '[TRANSIENT] TimeoutError: catalog did not answer'
    """
    from floe_ingestion_dlt.errors import categorize_error, root_error
    from floe_ingestion_dlt.scrub import scrub_text

    root = root_error(exc)
    text = str(getattr(root, "message", None) or root).strip()
    first = text.splitlines()[0] if text else ""
    return f"[{categorize_error(exc).value}] {type(root).__name__}: {scrub_text(first)}"
