"""``floe-ingest check``: does the catalog answer, can every source be reached?

The catalog is probed through ``DltIngestionPlugin.health_check`` (REST: ``GET /v1/config``;
SQL: open and list namespaces), each source through its builder's ``check_reachable`` (a bounded
connection, a listing or a request). Nothing is written.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from floe_ingestion_dlt.cli.console import (
    configure_cli_logging,
    stderr_console,
    stdout_console,
    write_json,
)
from floe_ingestion_dlt.cli.exit_codes import ExitCode, exit_code_for, worst
from floe_ingestion_dlt.cli.hints import unreachable_hint
from floe_ingestion_dlt.cli.outcomes import CheckResult
from floe_ingestion_dlt.cli.problems import ConfigFileError
from floe_ingestion_dlt.cli.yaml_config import load_config_file

if TYPE_CHECKING:
    from floe_ingestion_dlt.cli.loaded_config import LoadedConfig
    from floe_ingestion_dlt.config import IngestionSourceConfig
    from floe_ingestion_dlt.plugin import DltIngestionPlugin

__all__ = ["CheckResult", "check_command", "source_target"]


def source_target(source: IngestionSourceConfig) -> str:
    """A short description of where a source reads, with secrets masked.

    Example:
        >>> from floe_ingestion_dlt.config import IngestionSourceConfig
        >>> source_target(IngestionSourceConfig(
        ...     name="db", source_type="sql_database", destination_table="a.b",
        ...     source_config={"credentials": "postgresql://u:pw@db:5432/shop", "table": "t"}))
        'postgresql://u:***@db:5432/shop'
    """
    from floe_ingestion_dlt.scrub import scrub_text

    config = source.source_config
    for key in ("base_url", "bucket_url", "credentials"):
        value = config.get(key)
        if isinstance(value, str):
            return scrub_text(value)
        if isinstance(value, dict) and isinstance(value.get("from_env"), str):
            return f"${{{value['from_env']}}}"
    return source.source_type.value


_PROBE_CATEGORY = {
    "unreachable": "TRANSIENT",
    "rejected": "CONFIGURATION",
    "error": "CONFIGURATION",
}
"""Catalog probe verdict -> error category (refused credentials are fixed in the config)."""


def _check_catalog(plugin: DltIngestionPlugin, timeout: float, started_ok: bool) -> CheckResult:
    from floe_ingestion_dlt.catalog import probe_catalog
    from floe_ingestion_dlt.cli.render import catalog_summary

    catalog = plugin.catalog
    target = catalog_summary(catalog)["uri"]
    if started_ok:
        status = plugin.health_check(timeout)
        ok = status.state.value == "healthy"
        verdict = str(status.details.get("catalog_status", "unreachable"))
        elapsed = float(status.details.get("response_time_ms", 0.0))
        category = None if ok else _PROBE_CATEGORY.get(verdict, "TRANSIENT")
        return CheckResult("catalog", target, ok, status.message, elapsed, category)
    probe = probe_catalog(catalog, timeout)
    category = None if probe.ok else _PROBE_CATEGORY.get(probe.status, "TRANSIENT")
    return CheckResult("catalog", target, probe.ok, probe.message, probe.response_time_ms, category)


def _check_source(source: IngestionSourceConfig, timeout: float) -> CheckResult:
    from floe_ingestion_dlt.errors import categorize_error, format_error
    from floe_ingestion_dlt.sources import get_builder

    component = f"source {source.name}"
    target = source_target(source)
    started = time.perf_counter()
    try:
        builder = get_builder(source.source_type.value)
        parsed = builder.parse(source.effective_source_config())
        hint = builder.install_hint(parsed)
        if hint:
            elapsed = (time.perf_counter() - started) * 1000
            return CheckResult(component, target, False, hint, elapsed, "CONFIGURATION")
        builder.check_reachable(parsed, timeout)
    except Exception as exc:  # a check reports every failure, it does not stop
        elapsed = (time.perf_counter() - started) * 1000
        return CheckResult(
            component,
            target,
            False,
            format_error(exc, source_type=source.source_type.value),
            elapsed,
            categorize_error(exc).value,
        )
    elapsed = (time.perf_counter() - started) * 1000
    return CheckResult(component, target, True, "reachable", elapsed)


def check_command(
    config_path: Path, *, catalog_uri: str | None, timeout: float, json_output: bool
) -> int:
    """Probe the catalog and every source; returns the exit code."""
    configure_cli_logging(verbose=False)
    try:
        loaded = load_config_file(config_path, catalog_uri=catalog_uri)
    except ConfigFileError as exc:
        from floe_ingestion_dlt.cli.render import print_config_error

        return print_config_error(exc, json_output)
    results, hints = _run_checks(loaded, timeout)
    code = worst([ExitCode.OK if r.ok else exit_code_for(r.category) for r in results])
    if json_output:
        write_json(
            {
                "config": str(config_path),
                "healthy": code == ExitCode.OK,
                "exit_code": int(code),
                "checks": [result.as_dict() for result in results],
            }
        )
    else:
        _print_checks(results, hints, code)
    return int(code)


def _run_checks(loaded: LoadedConfig, timeout: float) -> tuple[list[CheckResult], list[str]]:
    """Every check's result, and a fix line per unreachable source a hint knows about."""
    from floe_ingestion_dlt.errors import format_error
    from floe_ingestion_dlt.plugin import DltIngestionPlugin

    plugin = DltIngestionPlugin(config=loaded.config)
    results: list[CheckResult] = []
    started_ok = True
    try:
        plugin.startup()
    except Exception as exc:  # missing packages: still probe what can be probed
        started_ok = False
        results.append(
            CheckResult(
                "installation", "python packages", False, format_error(exc), 0.0, "CONFIGURATION"
            )
        )
    hints: list[str] = []
    try:
        results.append(_check_catalog(plugin, timeout, started_ok))
        for source in loaded.config.sources:
            result = _check_source(source, timeout)
            hint = None if result.ok else unreachable_hint(loaded, source.name, result.category)
            if hint is not None:
                result.detail = f"{result.detail}; fix: {hint.message}"
                result.category = hint.category
                hints.append(f"{source.name}: {hint.message}")
            results.append(result)
    finally:
        plugin.shutdown()
    return results, hints


def _print_checks(results: list[CheckResult], hints: list[str], code: ExitCode) -> None:
    from rich.markup import escape

    from floe_ingestion_dlt.cli.render import check_table

    stdout_console().print(check_table(results))
    failed = [r for r in results if not r.ok]
    for hint_line in hints:
        stderr_console().print(f"[yellow]fix[/yellow] {escape(hint_line)}", soft_wrap=True)
    if failed:
        stderr_console().print(
            f"[red]✗ {len(failed)} of {len(results)} checks failed[/red] "
            f"(exit code {int(code)}: {code.name.lower()})"
        )
    else:
        stdout_console().print(f"[green]✓ all {len(results)} checks passed[/green]")
