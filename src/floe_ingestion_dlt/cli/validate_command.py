"""``floe-ingest validate``: every problem of a YAML file, located, without touching anything.

No pipeline folder, catalog, namespace or table is created and no source is contacted: the file
is parsed, interpolated and checked against the plugin's models and each source type's
``source_config`` model.
"""

from __future__ import annotations

from pathlib import Path

from floe_ingestion_dlt.cli.console import stderr_console, stdout_console, write_json
from floe_ingestion_dlt.cli.exit_codes import ExitCode
from floe_ingestion_dlt.cli.problems import ConfigFileError, ConfigProblem
from floe_ingestion_dlt.cli.source_checks import deep_problems
from floe_ingestion_dlt.cli.yaml_config import LoadedConfig, load_config_file

__all__ = ["validate_command"]


def validate_command(config_path: Path, *, catalog_uri: str | None, json_output: bool) -> int:
    """Print the problems of ``config_path`` (or that it is valid); returns the exit code."""
    from floe_ingestion_dlt.cli.console import configure_cli_logging

    configure_cli_logging(verbose=False)
    loaded: LoadedConfig | None = None
    problems: list[ConfigProblem]
    try:
        loaded = load_config_file(config_path, catalog_uri=catalog_uri)
        problems = deep_problems(loaded)
    except ConfigFileError as exc:
        problems = exc.problems
    code = ExitCode.CONFIGURATION if problems else ExitCode.OK
    if json_output:
        _print_json(config_path, loaded, problems, code)
    elif problems:
        from floe_ingestion_dlt.cli.render import print_problems

        print_problems(stderr_console(), str(config_path), problems)
    else:
        assert loaded is not None
        _print_valid(config_path, loaded)
    return int(code)


def _print_valid(config_path: Path, loaded: LoadedConfig) -> None:
    from rich.markup import escape

    from floe_ingestion_dlt.cli.render import catalog_summary

    console = stdout_console()
    sources = loaded.config.sources
    catalog = catalog_summary(loaded.config.resolved_catalog())
    console.print(
        f"[green]✓ {escape(str(config_path))} is valid[/green]: {len(sources)} source"
        f"{'s' if len(sources) != 1 else ''} -> {catalog['type']} catalog "
        f"{escape(catalog['uri'])}"
    )
    for source in sources:
        console.print(
            f"  {escape(source.name)}: {source.source_type.value} -> "
            f"{escape(source.destination_table)} ({source.write_mode.value}, "
            f"schema {source.schema_contract.value})"
        )


def _print_json(
    config_path: Path, loaded: LoadedConfig | None, problems: list[ConfigProblem], code: ExitCode
) -> None:
    from floe_ingestion_dlt.cli.render import catalog_summary

    document: dict[str, object] = {
        "config": str(config_path),
        "valid": not problems,
        "exit_code": int(code),
        "problems": [problem.as_dict() for problem in problems],
    }
    if loaded is not None:
        document["catalog"] = catalog_summary(loaded.config.resolved_catalog())
        document["sources"] = [
            {
                "name": s.name,
                "source_type": s.source_type.value,
                "destination_table": s.destination_table,
                "write_mode": s.write_mode.value,
                "schema_contract": s.schema_contract.value,
            }
            for s in loaded.config.sources
        ]
    write_json(document)
