"""``floe-ingest run``: run the sources of a YAML file through ``DltIngestionPlugin``.

Every selected source is validated first (nothing runs when one is invalid), then each runs in
turn: ``ingestion_config_for`` -> ``create_pipeline`` -> ``run_with_outcome``, with dlt's
counters shown live. The summary reports what the Iceberg snapshots of this run hold.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.console import (
    configure_cli_logging,
    stderr_console,
    stdout_console,
    write_json,
)
from floe_ingestion_dlt.cli.exit_codes import ExitCode, worst
from floe_ingestion_dlt.cli.hints import unreachable_hint
from floe_ingestion_dlt.cli.outcomes import SourceRun
from floe_ingestion_dlt.cli.problems import ConfigFileError, ConfigProblem
from floe_ingestion_dlt.cli.render import catalog_summary, print_config_error
from floe_ingestion_dlt.cli.source_checks import deep_problems
from floe_ingestion_dlt.cli.yaml_config import LoadedConfig, load_config_file

if TYPE_CHECKING:
    from rich.console import Console

    from floe_ingestion_dlt.config import CatalogConfig, IngestionSourceConfig
    from floe_ingestion_dlt.plugin import DltIngestionPlugin

__all__ = [
    "SourceRun",
    "committed_rows_text",
    "run_command",
    "select_sources",
]


def select_sources(loaded: LoadedConfig, names: list[str]) -> list[IngestionSourceConfig]:
    """The sources named with ``--source`` (all when none), in the file's order.

    Raises:
        ConfigFileError: naming the unknown names and the declared ones.
    """
    declared = [source.name for source in loaded.config.sources]
    unknown = [name for name in dict.fromkeys(names) if name not in declared]
    if unknown:
        raise ConfigFileError(
            loaded.file,
            [
                ConfigProblem(
                    "--source",
                    f"no source named {name!r}; declared sources: {', '.join(declared) or '-'}",
                )
                for name in unknown
            ],
        )
    wanted = set(names)
    return [s for s in loaded.config.sources if not wanted or s.name in wanted]


def run_command(
    config_path: Path,
    *,
    sources: list[str],
    catalog_uri: str | None,
    json_output: bool,
    fail_fast: bool,
    verbose: bool,
) -> int:
    """Run the selected sources; returns the exit code (see :mod:`.exit_codes`)."""
    configure_cli_logging(verbose)
    try:
        loaded, restricted = _load_selected(config_path, sources, catalog_uri)
    except ConfigFileError as exc:
        return print_config_error(exc, json_output)
    selected = restricted.config.sources
    catalog = restricted.config.resolved_catalog()
    err = stderr_console()
    if not json_output:
        _announce(err, config_path, len(selected), catalog)
    runs = [
        SourceRun(
            name=s.name,
            source_type=s.source_type.value,
            destination_table=s.destination_table,
            write_mode=s.write_mode.value,
        )
        for s in selected
    ]
    _run_all(restricted, runs, err, quiet=json_output, fail_fast=fail_fast)
    _add_hints(loaded, runs)
    code = worst([run.exit_code for run in runs])
    if json_output:
        write_json(
            {
                "config": str(config_path),
                "catalog": catalog_summary(catalog),
                "success": code == ExitCode.OK,
                "exit_code": int(code),
                "sources": [run.as_dict() for run in runs],
            }
        )
    else:
        _print_summary(stdout_console(), runs, code)
    return int(code)


def _load_selected(
    config_path: Path, sources: list[str], catalog_uri: str | None
) -> tuple[LoadedConfig, LoadedConfig]:
    """The file as loaded, and restricted to the selected sources, each checked in depth.

    Raises:
        ConfigFileError: every problem of the file or of a selected source.
    """
    loaded = load_config_file(config_path, catalog_uri=catalog_uri)
    selected = select_sources(loaded, sources)
    restricted = LoadedConfig(
        file=loaded.file,
        config=loaded.config.model_copy(update={"sources": selected}),
        lines=loaded.lines,
        workdir=loaded.workdir,
    )
    problems = deep_problems(restricted)
    if problems:
        raise ConfigFileError(loaded.file, problems)
    return loaded, restricted


def _announce(err: Console, config_path: Path, count: int, catalog: CatalogConfig) -> None:
    from rich.markup import escape

    err.print(
        f"[bold]floe-ingest[/bold] {escape(str(config_path))}: {count} source"
        f"{'s' if count != 1 else ''} -> {catalog.type} catalog "
        f"{escape(catalog_summary(catalog)['uri'])}",
        soft_wrap=True,
    )


def _run_all(
    restricted: LoadedConfig, runs: list[SourceRun], err: Console, *, quiet: bool, fail_fast: bool
) -> None:
    """Run each source of ``restricted`` in turn, recording into its entry of ``runs``."""
    from floe_ingestion_dlt.plugin import DltIngestionPlugin

    plugin = DltIngestionPlugin(config=restricted.config)
    try:
        plugin.startup()
        for source, source_run in zip(restricted.config.sources, runs, strict=True):
            _run_one(plugin, source, source_run, err, quiet=quiet)
            if fail_fast and source_run.status == "failed":
                break
    except ImportError as exc:  # startup(): a package a source type needs is missing
        from floe_ingestion_dlt.errors import ErrorCategory, format_error

        for source_run in runs:
            source_run.status, source_run.category = "failed", ErrorCategory.CONFIGURATION.value
            source_run.errors = [format_error(exc)]
    finally:
        plugin.shutdown()


def _add_hints(loaded: LoadedConfig, runs: list[SourceRun]) -> None:
    """A failed source whose target is unreachable gets the fix as its last error line."""
    for source_run in runs:
        hint = None
        if source_run.status == "failed":
            hint = unreachable_hint(loaded, source_run.name, source_run.category)
        if hint is not None:
            source_run.category = hint.category
            source_run.errors.append(f"fix: {hint.message}")


def _run_one(
    plugin: DltIngestionPlugin,
    source: IngestionSourceConfig,
    source_run: SourceRun,
    console: Console,
    *,
    quiet: bool,
) -> None:
    from floe_ingestion_dlt.cli.progress import SourceProgress
    from floe_ingestion_dlt.errors import categorize_error, format_error

    label = f"{source.name} -> {source.destination_table}"
    started = time.perf_counter()
    with SourceProgress(console, label, quiet=quiet) as progress:
        try:
            progress.phase("checking source")
            pipeline = plugin.create_pipeline(plugin.ingestion_config_for(source))
            pipeline.collector = progress.collector
            outcome = plugin.run_with_outcome(pipeline)
        except Exception as exc:  # create_pipeline raises typed errors: report, go on
            source_run.status = "failed"
            source_run.category = categorize_error(exc).value
            source_run.errors = [format_error(exc, source_type=source.source_type.value)]
        else:
            source_run.record(outcome)
        counts = progress.collector.counts
        source_run.rows_extracted = counts.rows_extracted
        source_run.files_normalized = counts.files_total
        source_run.load_jobs = counts.jobs_done
        source_run.duration_seconds = time.perf_counter() - started
    progress.finished(_done_line(label, source_run, counts))


def _done_line(label: str, source_run: SourceRun, counts: Any) -> str:
    """The line that replaces a source's progress display when it is done."""
    from rich.markup import escape

    from floe_ingestion_dlt.cli.progress import describe_done
    from floe_ingestion_dlt.cli.render import human_duration

    took = human_duration(source_run.duration_seconds)
    if source_run.status != "success":
        return f"[red]✗[/red] {escape(label)}: failed after {took}"
    nothing_new = " (no new data)" if not source_run.snapshot_ids else ""
    return (
        f"[green]✓[/green] {escape(label)}: {escape(describe_done(counts))} · "
        f"[bold]{source_run.rows_loaded:,} rows committed[/bold]{nothing_new} in {took}"
    )


_WRITE_MODE_WORDS = {
    "append": "{rows} new rows appended to {tables}",
    "merge": "{rows} rows merged into {tables} (inserted or updated)",
    "replace": "{rows} rows replaced the content of {tables}",
}


def committed_rows_text(runs: list[SourceRun]) -> str:
    """What the successful ``runs`` committed, by write mode, so a rerun cannot read as new rows.

    Example:
        >>> committed_rows_text([
        ...     SourceRun("orders", "filesystem", "q.orders", "append", "success"),
        ...     SourceRun("customers", "sql_database", "q.customers", "merge", "success",
        ...               rows_loaded=200, snapshot_ids=[1]),
        ... ])
        '200 rows merged into 1 table (inserted or updated); no new data: orders'
    """
    parts = []
    for mode, words in _WRITE_MODE_WORDS.items():
        committed = [run for run in runs if run.write_mode == mode and run.snapshot_ids]
        if committed:
            count = len(committed)
            rows = f"{sum(run.rows_loaded for run in committed):,}"
            parts.append(words.format(rows=rows, tables=f"{count} table{'s' * (count != 1)}"))
    unchanged = [run.name for run in runs if not run.snapshot_ids]
    if unchanged:
        parts.append(f"no new data: {', '.join(unchanged)}")
    return "; ".join(parts) or "nothing committed"


def _print_summary(console: Console, runs: list[SourceRun], code: ExitCode) -> None:
    from rich.markup import escape

    from floe_ingestion_dlt.cli.render import human_bytes, summary_table

    console.print(summary_table(runs))
    for run in runs:
        for error in run.errors:
            console.print(f"[red]{escape(run.name)}[/red]: {escape(error)}", soft_wrap=True)
    done = [run for run in runs if run.status == "success"]
    size = sum(run.bytes_written for run in done)
    if code == ExitCode.OK:
        console.print(
            f"[green]✓ {len(done)} source{'s' if len(done) != 1 else ''} succeeded, "
            f"{human_bytes(size)} written: {escape(committed_rows_text(done))}[/green]",
            soft_wrap=True,
        )
    else:
        failed = sum(1 for run in runs if run.status == "failed")
        console.print(
            f"[red]✗ {failed} of {len(runs)} sources failed[/red] (exit code {int(code)}: "
            f"{code.name.lower()})"
        )
