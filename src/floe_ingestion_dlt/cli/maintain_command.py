"""``floe-ingest maintain``: compact files, expire snapshots, remove orphan files.

The tables are TABLE, else every destination table of ``--config``'s sources (each with its
own ``maintenance:`` policy unless a step is given on the command line), else every table of
the catalog. The catalog is resolved as for ``show``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.console import (
    configure_cli_logging,
    stderr_console,
    stdout_console,
    write_json,
)
from floe_ingestion_dlt.cli.exit_codes import ExitCode, exit_code_for, worst
from floe_ingestion_dlt.cli.problems import ConfigFileError

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from floe_ingestion_dlt.maintenance import MaintenancePolicy, MaintenanceReport

__all__ = ["maintain_command"]


def _command_line_policy(
    compact: bool,
    expire_older_than: str | None,
    retain_last: int,
    remove_orphans: bool,
    older_than: str,
) -> MaintenancePolicy:
    from floe_ingestion_dlt.maintenance import MaintenancePolicy

    return MaintenancePolicy(
        compact=compact,
        expire_older_than=expire_older_than,
        retain_last=retain_last,
        remove_orphans_older_than=older_than if remove_orphans else None,
    )


def _targets(
    table: str | None, config: Path | None, catalog_uri: str | None, given: MaintenancePolicy
) -> list[tuple[str, MaintenancePolicy]]:
    """``(table, policy)`` pairs: the command line's steps win over a source's policy."""
    from floe_ingestion_dlt.maintenance import MaintenancePolicy

    if table is not None:
        return [(table, given)]
    if config is not None:
        from floe_ingestion_dlt.cli.yaml_config import load_config_file

        loaded = load_config_file(config, catalog_uri=catalog_uri).config
        pairs = []
        for source in loaded.sources:
            declared = source.effective_source_config().get("maintenance")
            policy = given
            if not given.does_anything and declared:
                policy = MaintenancePolicy.model_validate(declared)
            pairs.append((source.destination_table, policy))
        return pairs
    return []


def _line(report: MaintenanceReport) -> str:
    parts = [report.table]
    if report.compaction is not None:
        c = report.compaction
        if c.skipped_reason:
            parts.append(f"compaction skipped ({c.skipped_reason})")
        elif c.gave_way:
            parts.append("compaction gave way to a concurrent rewrite")
        else:
            verb = "would rewrite" if report.dry_run else "rewrote"
            parts.append(f"{verb} {c.files_rewritten} files into {c.files_written or '?'}")
    if report.expiry is not None:
        verb = "would expire" if report.dry_run else "expired"
        parts.append(
            f"{verb} {len(report.expiry.expired)} snapshots "
            f"({len(report.expiry.kept_for_state)} old ones kept for the incremental state)"
        )
    if report.orphans is not None:
        verb = "would remove" if report.dry_run else "removed"
        parts.append(
            f"{verb} {len(report.orphans.orphans)} orphan files "
            f"({report.orphans.too_young} unreferenced but within the grace period)"
        )
    stats = report.table_stats
    parts.append(
        f"now {stats.get('data_files', 0)} data files, {stats.get('manifests', 0)} manifests, "
        f"{stats.get('snapshots', 0)} snapshots"
    )
    return " · ".join(parts)


def maintain_command(
    table: str | None,
    *,
    config: Path | None,
    catalog_uri: str | None,
    compact: bool,
    expire_older_than: str | None,
    retain_last: int,
    remove_orphans: bool,
    older_than: str,
    dry_run: bool,
    json_output: bool,
) -> int:
    """Run maintenance; returns the exit code."""
    from floe_ingestion_dlt.cli.render import print_config_error
    from floe_ingestion_dlt.cli.show_command import resolve_catalog

    configure_cli_logging(verbose=False)
    try:
        given = _command_line_policy(
            compact, expire_older_than, retain_last, remove_orphans, older_than
        )
    except Exception as exc:  # pydantic: a bad duration
        message = str(exc).splitlines()[-1] if str(exc) else type(exc).__name__
        return _configuration_error(message, json_output)
    try:
        catalog_config = resolve_catalog(config, catalog_uri)
        targets = _targets(table, config, catalog_uri, given)
    except ConfigFileError as exc:
        return print_config_error(exc, json_output)
    from floe_ingestion_dlt.catalog import load_catalog

    catalog = load_catalog(catalog_config)
    if table is None and config is None:
        targets = [
            (".".join(identifier), given)
            for namespace in catalog.list_namespaces()
            for identifier in catalog.list_tables(namespace)
        ]
    if not any(policy.does_anything for _, policy in targets):
        return _configuration_error(
            "nothing to do: give --compact, --expire-older-than or --remove-orphans "
            "(or a maintenance: policy in the sources of --config)",
            json_output,
        )
    return _maintain_all(catalog, targets, dry_run=dry_run, json_output=json_output)


def _configuration_error(message: str, json_output: bool) -> int:
    """Report a problem of the command line (JSON, or a line on stderr); returns 2."""
    if json_output:
        write_json({"error": message, "category": "CONFIGURATION"})
    else:
        stderr_console().print(f"[red]✗[/red] {message}", markup=True, soft_wrap=True)
    return int(ExitCode.CONFIGURATION)


def _maintain_all(
    catalog: Catalog,
    targets: list[tuple[str, MaintenancePolicy]],
    *,
    dry_run: bool,
    json_output: bool,
) -> int:
    """Maintain each target with its policy; a failed table is reported and the rest go on."""
    from floe_ingestion_dlt.cli.render import error_line
    from floe_ingestion_dlt.errors import categorize_error
    from floe_ingestion_dlt.maintenance import maintain_table

    codes = [ExitCode.OK]
    documents: list[dict[str, Any]] = []
    for name, policy in targets:
        if not policy.does_anything:
            continue
        try:
            report = maintain_table(catalog, name, policy, dry_run=dry_run)
        except Exception as exc:
            category = categorize_error(exc)
            codes.append(exit_code_for(category.value))
            documents.append({"table": name, "error": error_line(exc)})
            if not json_output:
                stderr_console().print(
                    f"[red]✗[/red] {name}: {error_line(exc)}", markup=False, soft_wrap=True
                )
            continue
        documents.append(report.as_dict())
        if not json_output:
            stdout_console().print(_line(report), markup=False, soft_wrap=True)
    if json_output:
        write_json({"tables": documents})
    return int(worst(codes))
