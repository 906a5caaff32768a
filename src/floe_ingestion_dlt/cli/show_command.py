"""``floe-ingest show``: an Iceberg table's schema, snapshot history and first rows.

Read only. The catalog is ``--catalog``, else the catalog of ``--config``, else the embedded
catalog in ``.floe/`` of the working folder (which must exist: ``show`` never creates it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.cli.console import (
    configure_cli_logging,
    stderr_console,
    stdout_console,
    write_json,
)
from floe_ingestion_dlt.cli.exit_codes import ExitCode, exit_code_for
from floe_ingestion_dlt.cli.problems import ConfigFileError, ConfigProblem
from floe_ingestion_dlt.cli.yaml_config import catalog_from_uri, load_config_file

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table
    from rich.console import Console

    from floe_ingestion_dlt.config import CatalogConfig

__all__ = ["describe_table", "list_tables", "resolve_catalog", "show_command"]

_HIDDEN_SUMMARY_KEYS = frozenset({"floe.dlt-state"})
"""Snapshot summary keys too bulky to show (dlt's pipeline state document)."""
_SNAPSHOTS_SHOWN = 20


def resolve_catalog(config: Path | None, catalog_uri: str | None) -> CatalogConfig:
    """The catalog ``show`` reads: ``--catalog``, else ``--config``'s, else the embedded one.

    Raises:
        ConfigFileError: for a bad ``--config`` file, a bad ``--catalog`` URI, or an embedded
            catalog that does not exist yet.
    """
    from floe_ingestion_dlt.config import CatalogConfig

    if config is not None:
        catalog = load_config_file(config, catalog_uri=catalog_uri).config.resolved_catalog()
    elif catalog_uri is not None:
        try:
            catalog = catalog_from_uri(catalog_uri)
        except ValueError as exc:
            raise ConfigFileError("--catalog", [ConfigProblem("--catalog", str(exc))]) from None
    else:
        catalog = CatalogConfig.embedded(Path.cwd() / ".floe")
    if catalog.type == "sql" and catalog.uri.startswith("sqlite:///"):
        database = Path(catalog.uri[len("sqlite:///") :])
        if not database.exists():
            raise ConfigFileError(
                "--catalog",
                [
                    ConfigProblem(
                        "--catalog",
                        f"no catalog at {database}: run `floe-ingest run CONFIG.yaml` here first, "
                        "or name the catalog with --catalog or --config",
                    )
                ],
            )
    return catalog


def _snapshot_rows(table: Table) -> list[dict[str, Any]]:
    snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    current = table.metadata.current_snapshot_id
    out = []
    for snapshot in snapshots:
        summary = snapshot.summary
        properties = dict(summary.additional_properties) if summary is not None else {}
        out.append(
            {
                "snapshot_id": snapshot.snapshot_id,
                "parent_id": snapshot.parent_snapshot_id,
                "committed_at": datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC),
                "operation": summary.operation.value if summary is not None else None,
                "current": snapshot.snapshot_id == current,
                "summary": {k: v for k, v in properties.items() if k not in _HIDDEN_SUMMARY_KEYS},
            }
        )
    return out


def describe_table(catalog: Catalog, identifier: str, limit: int) -> dict[str, Any]:
    """Everything ``show`` prints about one table, as plain data."""
    namespace, _, name = identifier.rpartition(".")
    table = catalog.load_table((*namespace.split("."), name) if namespace else name)
    snapshot = table.current_snapshot()
    total = None
    if snapshot is not None and snapshot.summary is not None:
        total = snapshot.summary.additional_properties.get("total-records")
    rows = table.scan(limit=limit).to_arrow().to_pylist() if limit and snapshot else []
    return {
        "table": identifier,
        "location": table.location(),
        "format_version": table.metadata.format_version,
        "current_snapshot_id": snapshot.snapshot_id if snapshot else None,
        "total_records": int(total) if total is not None else 0,
        "schema": [
            {
                "id": f.field_id,
                "name": f.name,
                "type": str(f.field_type),
                "required": f.required,
                "doc": f.doc,
            }
            for f in table.schema().fields
        ],
        "partition_spec": [str(field) for field in table.spec().fields],
        "identifier_fields": sorted(table.schema().identifier_field_names()),
        "snapshots": _snapshot_rows(table),
        "rows": rows,
    }


def list_tables(catalog: Catalog) -> list[dict[str, Any]]:
    """Every table of the catalog with its current row count and snapshot count."""
    tables: list[dict[str, Any]] = []
    for namespace in sorted(catalog.list_namespaces()):
        for identifier in sorted(catalog.list_tables(namespace)):
            table = catalog.load_table(identifier)
            snapshot = table.current_snapshot()
            total = "0"
            if snapshot is not None and snapshot.summary is not None:
                total = snapshot.summary.additional_properties.get("total-records", "0")
            tables.append(
                {
                    "table": ".".join(identifier),
                    "total_records": int(total),
                    "snapshots": len(table.metadata.snapshots),
                    "current_snapshot_id": snapshot.snapshot_id if snapshot else None,
                    "last_commit": (
                        datetime.fromtimestamp(snapshot.timestamp_ms / 1000, tz=UTC)
                        if snapshot
                        else None
                    ),
                }
            )
    return tables


def show_command(
    table: str | None,
    *,
    limit: int,
    config: Path | None,
    catalog_uri: str | None,
    json_output: bool,
) -> int:
    """Print one table (or the list of tables); returns the exit code."""
    configure_cli_logging(verbose=False)
    try:
        catalog_config = resolve_catalog(config, catalog_uri)
    except ConfigFileError as exc:
        from floe_ingestion_dlt.cli.render import print_config_error

        if json_output or str(exc.file) != "--catalog":
            return print_config_error(exc, json_output)
        for problem in exc.problems:
            stderr_console().print(f"[red]✗[/red] {_escape(problem.message)}", soft_wrap=True)
        return int(ExitCode.CONFIGURATION)
    if table is not None and not _is_qualified(table):
        message = _unqualified_table_message(table, catalog_config)
        return _report_error(message, "CONFIGURATION", json_output)
    try:
        document = _read_document(catalog_config, table, limit)
    except Exception as exc:  # unknown table, unreachable catalog: categorized message
        from floe_ingestion_dlt.cli.render import error_line
        from floe_ingestion_dlt.errors import categorize_error

        message = error_line(exc)
        if table is not None and type(exc).__name__ in ("NoSuchTableError", "NoSuchNamespaceError"):
            message += _known_tables_hint(catalog_config)
        return _report_error(message, categorize_error(exc).value, json_output)
    if json_output:
        write_json(document)
    elif table is None:
        _print_listing(document["tables"], catalog_config)
    else:
        _print_table(document, limit)
    return int(ExitCode.OK)


def _read_document(catalog_config: CatalogConfig, table: str | None, limit: int) -> dict[str, Any]:
    """The listing of the catalog's tables, or the description of ``table``."""
    from floe_ingestion_dlt.catalog import load_catalog

    catalog = load_catalog(catalog_config)
    if table is None:
        return {"tables": list_tables(catalog)}
    return describe_table(catalog, table, limit)


def _report_error(message: str, category: str, json_output: bool) -> int:
    """Report what went wrong (JSON, or a line on stderr); returns the category's exit code."""
    if json_output:
        write_json({"error": message, "category": category})
    else:
        stderr_console().print(f"[red]✗[/red] {_escape(message)}", soft_wrap=True)
    return int(exit_code_for(category))


def _is_qualified(table: str) -> bool:
    """``namespace.table`` (a REST catalog's namespace may have several levels)."""
    namespace, _, name = table.rpartition(".")
    return bool(name) and bool(namespace) and all(namespace.split("."))


def _unqualified_table_message(table: str, catalog_config: CatalogConfig) -> str:
    """What to type instead of a table name without (or with an empty) namespace."""
    from floe_ingestion_dlt.catalog import load_catalog

    try:
        names = [t["table"] for t in list_tables(load_catalog(catalog_config))]
    except Exception:  # the suggestion is a courtesy: the mistake is reported anyway
        names = []
    name = table.rpartition(".")[2] or table
    matches = [known for known in names if known.rpartition(".")[2] == name]
    message = f"table {table!r} is not NAMESPACE.TABLE: name the table with its namespace"
    if matches:
        return message + f", e.g. `floe-ingest show {matches[0]}`"
    example = names[0] if names else "bronze.orders"
    listed = ", ".join(names) if names else "none yet"
    return message + f", e.g. `floe-ingest show {example}`; tables in this catalog: {listed}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _known_tables_hint(catalog_config: CatalogConfig) -> str:
    from floe_ingestion_dlt.catalog import load_catalog

    try:
        names = [t["table"] for t in list_tables(load_catalog(catalog_config))]
    except Exception:  # the hint is a courtesy: never hide the real error
        return ""
    return f"; tables in this catalog: {', '.join(names) if names else 'none yet'}"


def _print_listing(tables: list[dict[str, Any]], catalog_config: CatalogConfig) -> None:
    from floe_ingestion_dlt.cli.render import catalog_summary, rows_table

    console = stdout_console()
    width = console.width
    uri = catalog_summary(catalog_config)["uri"]
    if not tables:
        console.print(f"no tables in the {catalog_config.type} catalog {_escape(uri)} yet")
        return
    console.print(
        rows_table(
            f"Tables in {catalog_config.type} catalog {uri}",
            ["table", "rows", "snapshots", "current snapshot", "last commit (UTC)"],
            [
                [
                    t["table"],
                    f"{t['total_records']:,}",
                    t["snapshots"],
                    t["current_snapshot_id"],
                    _when(t["last_commit"]),
                ]
                for t in tables
            ],
            width=width,
        )
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _print_table(document: dict[str, Any], limit: int) -> None:
    console = stdout_console()
    console.print(
        f"[bold]{_escape(document['table'])}[/bold]  {document['total_records']:,} rows · "
        f"Iceberg format v{document['format_version']} · current snapshot "
        f"{document['current_snapshot_id']}\n  location: {_escape(document['location'])}"
    )
    if document["partition_spec"]:
        console.print(f"  partitioned by: {_escape(', '.join(document['partition_spec']))}")
    if document["identifier_fields"]:
        console.print(f"  identifier fields: {_escape(', '.join(document['identifier_fields']))}")
    _print_schema_and_snapshots(console, document)
    rows = document["rows"]
    if limit == 0:
        return
    if not rows:
        console.print("(the table has no rows)")
        return
    from floe_ingestion_dlt.cli.render import rows_table

    columns = [c["name"] for c in document["schema"]]
    console.print(
        rows_table(
            f"First {len(rows)} rows",
            columns,
            [[row.get(column) for column in columns] for row in rows],
            width=console.width,
        )
    )


def _print_schema_and_snapshots(console: Console, document: dict[str, Any]) -> None:
    from floe_ingestion_dlt.cli.render import rows_table

    console.print(
        rows_table(
            "Schema",
            ["id", "column", "type", "required"],
            [
                [c["id"], c["name"], c["type"], "yes" if c["required"] else "no"]
                for c in document["schema"]
            ],
            width=console.width,
        )
    )
    snapshots = document["snapshots"][-_SNAPSHOTS_SHOWN:]
    skipped = len(document["snapshots"]) - len(snapshots)
    title = "Snapshots (oldest first)" + (f", last {len(snapshots)}" if skipped else "")
    console.print(
        rows_table(
            title,
            ["snapshot id", "committed (UTC)", "operation", "added rows", "total rows", "load id"],
            [
                [
                    f"{s['snapshot_id']}{' *' if s['current'] else ''}",
                    _when(s["committed_at"]),
                    s["operation"],
                    s["summary"].get("added-records", "0"),
                    s["summary"].get("total-records", "-"),
                    s["summary"].get("floe.load-id", "-"),
                ]
                for s in snapshots
            ],
            width=console.width,
        )
    )
