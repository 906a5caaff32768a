"""Every session the plugin opens on a source database is read-only at the database level.

An ingestion only reads its source, so whatever reaches the server (a filter, a table name, a
connection option) cannot write with the source user's rights:

* PostgreSQL: the libpq ``options`` of every connection end with
  ``-c default_transaction_read_only=on`` (the last ``-c`` wins, so a user's own ``options``
  in the URL or in ``engine_kwargs.connect_args`` cannot switch it off); psycopg2 (the
  ``pyarrow``/``sqlalchemy``/``pandas`` backends and the reachability check), ADBC and
  ConnectorX all pass ``options`` to the server. SQLAlchemy engines also run
  ``SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`` on every checkout, for servers
  behind a pooler that drops startup options.
* MySQL / MariaDB: ``SET SESSION TRANSACTION READ ONLY`` on every checkout.
* SQLite: ``PRAGMA query_only = ON`` on every checkout.
* Other databases: no session switch is known; the filter is still parsed
  (:mod:`~floe_ingestion_dlt.sources.sql_where`) and a warning says so once per engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.logging import get_logger

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = [
    "PG_READ_ONLY_OPTION",
    "enforce_read_only",
    "read_only_connect_args",
    "read_only_url",
]

_log = get_logger(__name__)

PG_READ_ONLY_OPTION = "-c default_transaction_read_only=on"

_SESSION_STATEMENTS = {
    "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
}


def _with_pg_option(options: Any) -> str:
    existing = str(options).strip() if options else ""
    return f"{existing} {PG_READ_ONLY_OPTION}".strip()


def read_only_url(url: URL) -> URL:
    """``url`` with the read-only startup option for PostgreSQL (ConnectorX reads the URL)."""
    if url.get_backend_name() != "postgresql":
        return url
    options = url.query.get("options")
    if isinstance(options, tuple):
        options = " ".join(options)
    return url.update_query_dict({"options": _with_pg_option(options)})


def read_only_connect_args(backend_name: str, connect_args: dict[str, Any]) -> dict[str, Any]:
    """``connect_args`` with the read-only startup option for PostgreSQL drivers."""
    if backend_name != "postgresql":
        return connect_args
    return {**connect_args, "options": _with_pg_option(connect_args.get("options"))}


def enforce_read_only(engine: Engine) -> Engine:
    """Make every connection ``engine`` hands out read-only; returns ``engine``.

    Usable as dlt's ``engine_adapter_callback``.
    """
    from sqlalchemy import event

    backend = engine.url.get_backend_name()
    statement = _SESSION_STATEMENTS.get(backend)
    if statement is None:
        _log.warning(
            "source session not read-only at the database level",
            backend=backend,
            reason="no read-only session setting known for this database",
        )
        return engine
    if getattr(engine, "_floe_read_only", False):
        return engine

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(statement)
        finally:
            cursor.close()
        if backend != "sqlite":
            dbapi_connection.commit()  # a session setting made inside a transaction is kept

    event.listen(engine, "checkout", on_checkout)
    engine._floe_read_only = True  # type: ignore[attr-defined]
    return engine
