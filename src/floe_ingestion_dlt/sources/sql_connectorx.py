"""What the ConnectorX backend needs to read a table as faithfully as the Arrow one.

* dlt compiles the ``SELECT`` for ConnectorX with the engine's dialect; for ``pyformat``
  drivers (psycopg2, pymysql) SQLAlchemy then doubles every ``%`` in literal SQL, so
  ``name LIKE 'a%'`` or ``id % 2 = 0`` reach the server as ``%%``.
  :func:`compile_literal_sql` compiles the same query in ``named`` paramstyle (used by
  :func:`connectorx_loader_class` and by the ADBC reader of ``sql_adbc``).
* ConnectorX returns every ``NUMERIC`` as ``decimal128(38, 10)``: digits past the tenth
  decimal are lost and declared precisions are not kept. :func:`select_decimals_as_text`
  reads decimal columns as text and :func:`decimal_caster` turns them back into decimals of the
  reflected precision and scale, failing rather than losing a digit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any

__all__ = [
    "ConnectorXReadError",
    "compile_literal_sql",
    "connectorx_loader_class",
    "decimal_caster",
    "select_as_text",
    "select_decimals_as_text",
    "spaces_as_percent20",
]

DEFAULT_DECIMAL = (38, 9)
"""dlt's decimal type for a column without declared precision (unbounded ``NUMERIC``)."""
MAX_DECIMAL_PRECISION = 38
"""The widest decimal Iceberg (and dlt's decimal128) holds."""


def connectorx_loader_class() -> type[Any]:
    """dlt's ConnectorX table loader, compiling the query without ``%`` escaping."""
    from dlt.sources.sql_database.helpers import ConnectorXTableLoader

    class FloeConnectorXTableLoader(ConnectorXTableLoader):
        def compile_query(self, query: Any) -> str:
            return compile_literal_sql(self.engine, query)

        def get_connection_url(self) -> str:
            return spaces_as_percent20(super().get_connection_url())

        def load_rows(self, backend_kwargs: Any = None) -> Iterator[Any]:
            try:
                yield from super().load_rows(backend_kwargs)
            except BaseException as exc:
                if type(exc).__name__ != "PanicException":
                    raise
                # a Rust panic is a BaseException: it would pass every `except Exception`
                raise ConnectorXReadError(str(exc)) from None

    return FloeConnectorXTableLoader


class ConnectorXReadError(RuntimeError):
    """A ConnectorX read that failed (a Rust panic), with the server's SQLSTATE if it sent one.

    Example:
        >>> ConnectorXReadError('code: SqlState(E25006), message: "read-only"').pgcode
        '25006'
    """

    def __init__(self, text: str) -> None:
        found = re.search(r"SqlState\(E?([0-9A-Z]{5})\)", text)
        self.pgcode = found.group(1) if found else None
        message = re.search(r'message: "([^"]*)"', text)
        detail = message.group(1) if message else text.splitlines()[0] if text else "failed"
        super().__init__(f"ConnectorX read failed: {detail}")


def spaces_as_percent20(url: str) -> str:
    """``url`` with the query's spaces as ``%20``: SQLAlchemy writes them as ``+``, which
    ConnectorX's PostgreSQL client does not decode (the read-only ``options`` hold spaces).

    A ``+`` of a value is written ``%2B`` by SQLAlchemy, so every ``+`` of the query is a space.
    """
    base, separator, query = url.partition("?")
    return base + separator + query.replace("+", "%20")


def compile_literal_sql(engine: Any, query: Any) -> str:
    """``query`` as SQL text with literal values, for ``engine``'s dialect, ``%`` unescaped."""
    dialect_class: Any = type(engine.dialect)
    dialect = dialect_class(paramstyle="named")
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def select_as_text(query: Any, names: Collection[str]) -> Any:
    """``query`` with the columns ``names`` selected as ``CAST(col AS TEXT) AS col``."""
    import sqlalchemy as sa

    if not names:
        return query
    columns = [
        sa.cast(column, sa.Text).label(column.name) if column.name in names else column
        for column in query.selected_columns
    ]
    return query.with_only_columns(*columns)


def select_decimals_as_text(query: Any) -> Any:
    """``query`` with each exact-numeric column selected as ``CAST(col AS TEXT) AS col``."""
    import sqlalchemy as sa

    names = {
        column.name
        for column in query.selected_columns
        if isinstance(column.type, sa.Numeric)
        and not isinstance(column.type, sa.Float)
        and column.type.asdecimal
    }
    return select_as_text(query, names)


def decimal_caster(hints: Any, table: str | None = None) -> Callable[[Any], Any]:
    """A map step casting decimal columns (text or any decimal) to their reflected type.

    A value that does not fit is an ``ArrowInvalid`` naming ``table`` and the column.
    """
    columns: dict[str, Any] = dict(hints) if isinstance(hints, Mapping) else {}
    wanted: dict[str, tuple[int, int]] = {}
    for name, hint in columns.items():
        if hint.get("data_type") != "decimal":
            continue
        precision = hint.get("precision")
        if precision is None:
            wanted[name] = DEFAULT_DECIMAL
        else:
            wanted[name] = (int(precision), int(hint.get("scale") or 0))

    def cast(item: Any) -> Any:
        import pyarrow as pa

        if not wanted or not isinstance(item, pa.Table):
            return item
        for index, field in enumerate(item.schema):
            target = wanted.get(field.name)
            if target is None or target[0] > MAX_DECIMAL_PRECISION:
                continue
            if not (pa.types.is_decimal(field.type) or pa.types.is_string(field.type)):
                continue
            decimal_type = pa.decimal128(*target)
            if field.type != decimal_type:
                try:
                    column = item.column(index).cast(decimal_type)
                except (pa.ArrowInvalid, OverflowError) as exc:
                    where = f"table {table!r}, " if table else ""
                    raise pa.ArrowInvalid(
                        f"{where}column {field.name!r}: a value does not fit "
                        f"decimal({target[0]}, {target[1]}), the column's declared type: {exc}"
                    ) from None
                item = item.set_column(index, field.with_type(decimal_type), column)
        return item

    return cast
