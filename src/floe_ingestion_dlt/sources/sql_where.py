"""The ``where`` filter of ``sql_database``: exactly one boolean expression, parsed by sqlglot.

The filter used to be pasted into the ``SELECT`` as text, so ``1=1); DROP TABLE t; SELECT 1
WHERE (1=1`` ran a ``DROP`` with the source user's rights. It is now parsed with a real SQL
parser in the source database's dialect and refused (a CONFIGURATION ``ValidationError`` naming
``source_config.where``) unless it is one expression that:

* is a condition (a comparison, ``IN``, ``LIKE``, ``AND``/``OR``/``NOT`` ..., not a statement);
* holds no statement anywhere inside it (``DROP``, ``INSERT``, ``SET``, ``COMMIT`` ...), no
  comment (``--`` would swallow the rest of dlt's query) and no call of a function that changes
  the session (``set_config`` could switch the read-only mode off for later transactions);

and what reaches the database is sqlglot's own rendering of the parsed expression, never the
original text, so the database executes what the parser understood. Sub-queries
(``id IN (SELECT ...)``) stay allowed: every session is read-only at the database level
(:mod:`floe_ingestion_dlt.sources.sql_read_only`), which stops writes hidden in functions.
"""

from __future__ import annotations

from floe_ingestion_dlt.errors import ValidationError

__all__ = ["FORBIDDEN_FUNCTIONS", "safe_where", "sqlglot_dialect"]

FIELD = "source_config.where"

_DIALECTS = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "mssql": "tsql",
    "oracle": "oracle",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "trino": "trino",
    "databricks": "databricks",
}
"""SQLAlchemy backend name -> sqlglot dialect (others are parsed as generic SQL)."""

FORBIDDEN_FUNCTIONS = frozenset(
    {
        "set_config",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "dblink_connect_u",
        "dblink_send_query",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "lo_import",
        "lo_export",
        "sleep",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "benchmark",
    }
)
"""Functions that change the session or another session, reach out of the database or hold
the connection: refused in a filter whatever the database's own permissions."""


def sqlglot_dialect(backend_name: str) -> str | None:
    """The sqlglot dialect of a SQLAlchemy backend name (``None``: generic SQL)."""
    return _DIALECTS.get(backend_name)


def _refuse(where: str, reason: str) -> ValidationError:
    shown = where if len(where) <= 120 else where[:117] + "..."
    return ValidationError(
        f"{FIELD}: {reason}; give one boolean condition such as \"status <> 'draft'\" "
        f"(got {shown!r})",
        field=FIELD,
        source_type="sql_database",
    )


def safe_where(where: str, backend_name: str) -> str:
    """The filter as the SQL to put after ``WHERE``, or a ``ValidationError`` naming the field.

    Example:
        >>> safe_where("status <> 'draft'", "postgresql")
        "status <> 'draft'"
    """
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    dialect = sqlglot_dialect(backend_name)
    try:
        statements = sqlglot.parse(where, read=dialect)
    except (ParseError, TokenError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _refuse(where, f"not a SQL expression ({_plain(detail)})") from None
    parsed = [statement for statement in statements if statement is not None]
    if len(parsed) != 1 or len(statements) != 1:
        raise _refuse(where, f"{len(statements)} statements, a filter is one expression")
    expression = parsed[0]
    if isinstance(expression, exp.Query) or not isinstance(expression, exp.Condition):
        raise _refuse(where, f"a {type(expression).__name__} statement is not a condition")
    for node in expression.walk():
        if node.comments:
            raise _refuse(where, "comments are not allowed in a filter")
        if _is_statement(node):
            raise _refuse(where, f"a {type(node).__name__} statement inside the filter")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in FORBIDDEN_FUNCTIONS:
                raise _refuse(where, f"the function {name}() is not allowed in a filter")
    return expression.sql(dialect=dialect)


def _is_statement(node: object) -> bool:
    from sqlglot import exp

    statements = (
        exp.Insert,
        exp.Update,
        exp.Delete,
        exp.Drop,
        exp.Create,
        exp.Alter,
        exp.Command,
        exp.Set,
        exp.Transaction,
        exp.Commit,
        exp.Rollback,
        exp.Merge,
        exp.Into,
        exp.Copy,
        exp.Grant,
        exp.TruncateTable,
        exp.LoadData,
        exp.Use,
    )
    return isinstance(node, statements)


def _plain(detail: str) -> str:
    """sqlglot's message without its ANSI underline codes."""
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", detail)
