"""The ``floe-ingest`` commands and their options.

This module is imported to answer ``--help``: it imports typer and nothing heavy. Each
command's work lives in its own module, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

_EXAMPLES_ROOT = """\b
Examples:
  floe-ingest validate ingest.yaml
  floe-ingest check ingest.yaml
  floe-ingest run ingest.yaml
  floe-ingest run ingest.yaml --source orders --json
  floe-ingest show bronze.orders --limit 5

Exit codes: 0 success, 1 permanent failure, 2 configuration error, 3 transient failure
(retry), 4 partial load."""

app = typer.Typer(
    name="floe-ingest",
    help=(
        "Load REST APIs, SQL databases and files into Iceberg tables with dlt.\n\n"
        "Sources are declared in a YAML file (sources, catalog, retry). Without a catalog, "
        "tables go to the embedded catalog in .floe/ of the working folder: no services needed."
    ),
    epilog=_EXAMPLES_ROOT,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)

ConfigArgument = Annotated[
    Path,
    typer.Argument(
        metavar="CONFIG.yaml",
        help="YAML file declaring sources, catalog and retry; ${ENV_VAR} and "
        "${ENV_VAR:-default} are read from the environment.",
        show_default=False,
    ),
]
CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        metavar="URI",
        help="Use this catalog instead of the file's: sqlite:///path/catalog.db (embedded) or "
        "http(s)://... (Iceberg REST).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print a machine-readable JSON document only."),
]
VerboseOption = Annotated[
    bool,
    typer.Option("--verbose", "-v", help="Show the plugin's log lines (on stderr)."),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"floe-ingest {version('floe-ingestion-dlt')}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Load REST APIs, SQL databases and files into Iceberg tables with dlt."""


@app.command(
    short_help="Run the sources of a YAML file into Iceberg.",
    epilog="""\b
Examples:
  floe-ingest run ingest.yaml
  floe-ingest run ingest.yaml --source orders --source customers
  floe-ingest run ingest.yaml --catalog http://localhost:8181/api/catalog
  floe-ingest run ingest.yaml --json > summary.json

Progress goes to stderr, the summary to stdout. Exit code 0 when every source succeeded,
otherwise the code of the worst error category (1 permanent, 2 configuration,
3 transient, 4 partial).""",
)
def run(
    config: ConfigArgument,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            metavar="NAME",
            help="Run only this source (repeat for several). Default: every source.",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
    fail_fast: Annotated[
        bool,
        typer.Option("--fail-fast", "-x", help="Stop at the first source that fails."),
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Run the sources of CONFIG.yaml and print what each one committed.

    Shows dlt's progress (rows extracted, files normalized, load jobs) while each source runs,
    then one line per source: rows, bytes, duration, Iceberg snapshot id and status.
    """
    from floe_ingestion_dlt.cli.run_command import run_command

    raise typer.Exit(
        run_command(
            config,
            sources=source or [],
            catalog_uri=catalog,
            json_output=json_output,
            fail_fast=fail_fast,
            verbose=verbose,
        )
    )


@app.command(
    short_help="Validate a YAML file; touches nothing.",
    epilog="""\b
Examples:
  floe-ingest validate ingest.yaml
  floe-ingest validate ingest.yaml --json

Each problem is reported with its YAML path and line, e.g.
sources[2].source_config.table (line 14): required key is missing.
Nothing is created and nothing is contacted. Exit code 0 when valid, 2 otherwise.""",
)
def validate(
    config: ConfigArgument,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check CONFIG.yaml without touching anything: keys, values, source configs, packages."""
    from floe_ingestion_dlt.cli.validate_command import validate_command

    raise typer.Exit(validate_command(config, catalog_uri=catalog, json_output=json_output))


@app.command(
    short_help="Check the catalog and every source answer.",
    epilog="""\b
Examples:
  floe-ingest check ingest.yaml
  floe-ingest check ingest.yaml --catalog http://localhost:8181/api/catalog --timeout 2

Exit code 0 when the catalog and every source answer, otherwise the code of the worst
error category (3 transient: unreachable; 1 permanent: e.g. refused credentials).""",
)
def check(
    config: ConfigArgument,
    catalog: CatalogOption = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.1, max=10.0, help="Seconds each probe may take (0.1 to 10)."
        ),
    ] = 5.0,
    json_output: JsonOption = False,
) -> None:
    """Check that the catalog answers and that every source can be reached."""
    from floe_ingestion_dlt.cli.check_command import check_command

    raise typer.Exit(
        check_command(config, catalog_uri=catalog, timeout=timeout, json_output=json_output)
    )


@app.command(
    short_help="Show a table: schema, snapshots, rows.",
    epilog="""\b
Examples:
  floe-ingest show                                  # every table of the embedded catalog
  floe-ingest show quickstart.orders --limit 5
  floe-ingest show bronze.orders --config ingest.yaml
  floe-ingest show bronze.orders --catalog sqlite:///.floe/catalog.db --json

The catalog is the one of --catalog, else the one of --config, else the embedded
catalog in .floe/ of the working folder.""",
)
def show(
    table: Annotated[
        str | None,
        typer.Argument(
            metavar="[NAMESPACE.TABLE]",
            help="The Iceberg table to show; without it, list the catalog's tables.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=0, help="How many rows to show.")] = 10,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            metavar="CONFIG.yaml",
            help="Take the catalog from this YAML file.",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show an Iceberg table: schema, snapshot history and its first rows.

    NAMESPACE.TABLE is the table (e.g. bronze.orders); without it, the catalog's tables are
    listed with their row counts.
    """
    from floe_ingestion_dlt.cli.show_command import show_command

    raise typer.Exit(
        show_command(
            table, limit=limit, config=config, catalog_uri=catalog, json_output=json_output
        )
    )


MaintainTableArgument = Annotated[
    str | None,
    typer.Argument(
        metavar="[NAMESPACE.TABLE]",
        help="The table; without it, the tables of --config's sources (or of the catalog).",
        show_default=False,
    ),
]
CompactOption = Annotated[
    bool, typer.Option("--compact", help="Rewrite small files into target-size files.")
]
ExpireOlderThanOption = Annotated[
    str | None,
    typer.Option(
        "--expire-older-than",
        metavar="AGE",
        help="Expire snapshots older than AGE (e.g. 7d, 12h).",
        show_default=False,
    ),
]
RetainLastOption = Annotated[
    int, typer.Option("--retain-last", min=1, help="Always keep this many newest snapshots.")
]
RemoveOrphansOption = Annotated[
    bool,
    typer.Option("--remove-orphans", help="Delete files no snapshot references."),
]
OlderThanOption = Annotated[
    str,
    typer.Option(
        "--older-than", metavar="AGE", help="Grace period of --remove-orphans (at least 1h)."
    ),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Report what would be done; change nothing.")
]
PolicyConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        metavar="CONFIG.yaml",
        help="Take the catalog (and the tables' policies) from this YAML file.",
        show_default=False,
    ),
]


@app.command(
    short_help="Compact files, expire snapshots, remove orphan files.",
    epilog="""\b
Examples:
  floe-ingest maintain bronze.orders --compact
  floe-ingest maintain bronze.orders --expire-older-than 7d --retain-last 50
  floe-ingest maintain bronze.orders --remove-orphans --older-than 3d --dry-run
  floe-ingest maintain --config ingest.yaml          # every source's maintenance: policy

Compaction commits one 'replace' snapshot with the same rows; expiry keeps the snapshot
holding each pipeline's incremental state; orphan removal keeps files younger than
--older-than (a load may be writing them). Exit code 0 on success, 2 for bad options.""",
)
def maintain(
    table: MaintainTableArgument = None,
    compact: CompactOption = False,
    expire_older_than: ExpireOlderThanOption = None,
    retain_last: RetainLastOption = 1,
    remove_orphans: RemoveOrphansOption = False,
    older_than: OlderThanOption = "3d",
    dry_run: DryRunOption = False,
    config: PolicyConfigOption = None,
    catalog: CatalogOption = None,
    json_output: JsonOption = False,
) -> None:
    """Maintain Iceberg tables: compaction, snapshot expiry, orphan file removal."""
    from floe_ingestion_dlt.cli.maintain_command import maintain_command

    raise typer.Exit(
        maintain_command(
            table,
            config=config,
            catalog_uri=catalog,
            compact=compact,
            expire_older_than=expire_older_than,
            retain_last=retain_last,
            remove_orphans=remove_orphans,
            older_than=older_than,
            dry_run=dry_run,
            json_output=json_output,
        )
    )
