"""PostgreSQL read columnar: dlt's query through ADBC, Arrow batches in dlt's pyarrow types.

The ``pyarrow`` backend of ``sql_database`` used to fetch Python row tuples through
SQLAlchemy/psycopg2 and transpose them into Arrow. On PostgreSQL (when
``adbc-driver-postgresql`` imports) :func:`adbc_loader_class` gives ``sql_table`` a table
loader that runs dlt's own ``SELECT`` (incremental cursor ``WHERE``/``ORDER BY``, ``columns``,
the ``where`` filter) through ADBC, which streams Arrow record batches straight from libpq's
binary protocol. Batches are re-cut to ``chunk_size`` rows and cast to the exact Arrow schema
dlt's pyarrow backend builds from the reflected columns (``get_py_arrow_datatype``), so the
Iceberg table written is the same, type for type and value for value.

What ADBC cannot hand over in that form is read differently, decided once per table from the
reflected columns (:func:`plan_adbc_read`):

* ``real`` is read as text and parsed into float64 (psycopg2 parses the shortest text of the
  float4, ``1.1``; widening the float4 itself would give ``1.100000023841858``);
* ``uuid``, enums and other types dlt reflects as ``text`` are read as ``CAST(col AS TEXT)``;
* ``numeric`` arrives as text and becomes the reflected decimal, failing rather than losing a
  digit (:func:`~floe_ingestion_dlt.sources.sql_connectorx.decimal_caster`);
* ``json``/``jsonb`` arrive as JSON text, arrays of integers, plain text or booleans are read
  as ``array_to_json(col)::text``; these columns alone are decoded value by value with
  ``json.loads`` (what psycopg2 does) and converted by dlt's own ``convert_array_to_arrow``;
* a table with ``interval``, ``time with time zone``, other arrays, columns without a
  reflected type (``reflection_level: minimal``) or anything else is read by dlt's own
  pyarrow loader (SQLAlchemy), exactly as before; so is a table whose ADBC result schema is
  not what the plan expects (checked before the first row is used).

ADBC's error texts may carry the whole connection string: errors are re-raised as the typed
errors of the SQLAlchemy path, with the connection string and password masked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, cast
from urllib.parse import quote, urlencode

from dlt.common.configuration.container import Container
from dlt.common.destination import DestinationCapabilitiesContext
from dlt.sources.sql_database.helpers import TableLoader
from pydantic import SecretStr

from floe_ingestion_dlt.compat.dlt import table_loader_rows
from floe_ingestion_dlt.errors import SourceConnectionError, categorize_error
from floe_ingestion_dlt.logging import get_logger
from floe_ingestion_dlt.scrub import scrub_text

if TYPE_CHECKING:
    import pyarrow as pa
    from sqlalchemy.engine import URL

__all__ = [
    "AdbcEndpoint",
    "AdbcReadPlan",
    "AdbcTableLoader",
    "adbc_available",
    "adbc_loader_class",
    "libpq_uri",
    "plan_adbc_read",
]

_log = get_logger(__name__)

READER_EVENT = "sql reader chosen"
"""The INFO event naming the reader of a table (``reader``: ``adbc`` or ``sqlalchemy``)."""

_PSYCOPG2_ONLY_ARGS = frozenset({"connection_factory", "cursor_factory", "async", "async_"})
"""``connect_args`` psycopg2 consumes itself; every other one is a libpq keyword."""


def adbc_available() -> bool:
    """Whether ``adbc_driver_postgresql`` (with its bundled libpq) imports."""
    try:
        import adbc_driver_postgresql.dbapi  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def libpq_uri(
    url: URL, connect_timeout: float, connect_args: Mapping[str, Any] | None = None
) -> SecretStr | None:
    """The libpq connection URI for a SQLAlchemy PostgreSQL ``url`` (``None``: not expressible).

    User, password and database are percent-encoded; the URL's query (``sslmode`` ...) and
    scalar psycopg2 ``connect_args`` (libpq keywords) become URI parameters; ``connect_timeout``
    is added in whole seconds unless given. ``None`` when ``connect_args`` hold something that
    is not a libpq keyword value (a psycopg2 factory), so the caller keeps the SQLAlchemy path.
    """
    params: dict[str, str] = {}
    for key, value in url.query.items():
        params[key] = value if isinstance(value, str) else str(value[-1])
    for key, value in (connect_args or {}).items():
        if key in _PSYCOPG2_ONLY_ARGS or not isinstance(value, str | int | float):
            return None
        params[key] = str(value)
    params.setdefault("connect_timeout", str(max(1, math.ceil(connect_timeout))))
    auth = ""
    if url.username:
        auth = quote(url.username, safe="")
        if url.password is not None:
            auth += ":" + quote(str(url.password), safe="")
        auth += "@"
    host = url.host or ""
    if ":" in host:
        host = f"[{host}]"
    if url.port:
        host += f":{url.port}"
    database = quote(url.database, safe="") if url.database else ""
    query = urlencode(params, quote_via=quote)
    return SecretStr(f"postgresql://{auth}{host}/{database}?{query}")


@dataclass(frozen=True)
class AdbcReadPlan:
    """How ADBC reads one table so its Arrow equals dlt's pyarrow backend's.

    Attributes:
        query: dlt's query, with the columns of ``text_columns`` selected as text and arrays of
            ``json_columns`` as ``array_to_json(col)::text``.
        schema: the Arrow schema dlt's pyarrow backend gives these columns.
        text_columns: columns read as ``CAST(col AS TEXT)``.
        inferred_columns: columns without a dlt type, whose type pyarrow infers from each chunk
            (a chunk of only NULLs gets the ``null`` type, as dlt's reader gives it).
        json_columns: ``json``/``jsonb`` and array columns, read as JSON text, decoded with
            ``json.loads`` as psycopg2 does and converted by dlt's own ``convert_array_to_arrow``
            (the only columns converted value by value).
        hints: dlt's hints of the selected columns.
        caps: the destination capabilities dlt converts with.
        tz: the time zone of aware timestamps.
    """

    query: Any
    schema: pa.Schema
    text_columns: frozenset[str]
    inferred_columns: frozenset[str] = frozenset()
    json_columns: frozenset[str] = frozenset()
    hints: Mapping[str, Any] = field(default_factory=dict)
    caps: Any = None
    tz: str = "UTC"

    def mismatch(self, received: pa.Schema) -> str | None:
        """Why ADBC's result schema cannot be cast to :attr:`schema` exactly (``None``: it can)."""
        if received.names != self.schema.names:
            return f"result columns {received.names} are not {self.schema.names}"
        for got, want in zip(received, self.schema, strict=True):
            as_text = got.name in self.text_columns or got.name in self.json_columns
            if not _castable(got.type, want.type, as_text):
                return f"column {got.name!r} arrives as {got.type}, not castable to {want.type}"
        return None


def _castable(got: pa.DataType, want: pa.DataType, as_text: bool) -> bool:
    import pyarrow as pa

    if as_text or pa.types.is_decimal(want):
        got = _text_storage(got)
        return bool(pa.types.is_string(got) or pa.types.is_decimal(got))
    checks: list[tuple[Callable[[Any], bool], Callable[[Any], bool]]] = [
        (pa.types.is_integer, pa.types.is_integer),
        (pa.types.is_floating, pa.types.is_float64),
        (pa.types.is_string, pa.types.is_string),
        (pa.types.is_boolean, pa.types.is_boolean),
        (pa.types.is_date32, pa.types.is_date32),
        (pa.types.is_time, pa.types.is_time64),
        (pa.types.is_timestamp, pa.types.is_timestamp),
        (pa.types.is_binary, pa.types.is_binary),
    ]
    return any(is_wanted(want) and is_got(got) for is_wanted, is_got in checks)


def _text_storage(kind: pa.DataType) -> pa.DataType:
    """The storage type of an extension type stored as text (ADBC's opaque ``numeric``)."""
    return kind.storage_type if _is_text_extension(kind) else kind


def _is_text_extension(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return isinstance(kind, pa.BaseExtensionType) and pa.types.is_string(kind.storage_type)


def _unwrap_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    import pyarrow as pa

    if not _is_text_extension(column.type):
        return column
    return pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)


_NATIVE_DLT_TYPES = frozenset({"bigint", "decimal", "bool", "date", "time", "timestamp", "binary"})
"""dlt types ADBC hands over as Arrow that casts exactly to dlt's pyarrow type."""


@dataclass(frozen=True)
class _ColumnRead:
    """How ADBC reads one column (all ``False``: as is, cast to dlt's Arrow type).

    Attributes:
        as_text: selected as ``CAST(col AS TEXT)``.
        inferred: no dlt type; pyarrow infers ``double`` per chunk, as dlt's reader does.
        as_json: JSON text decoded value by value and converted by dlt.
        json_array: an array, selected as ``array_to_json(col)::text``.
    """

    as_text: bool = False
    inferred: bool = False
    as_json: bool = False
    json_array: bool = False


def plan_adbc_read(
    query: Any, columns: Mapping[str, Any], caps: Any, tz: str, *, json_loads: bool = True
) -> AdbcReadPlan | str:
    """The ADBC plan for dlt's ``query``, or why the table keeps dlt's SQLAlchemy reader.

    Args:
        query: the ``SELECT`` dlt's table loader built (after the query adapter).
        columns: dlt's column hints of the reflected table.
        caps: the destination capabilities dlt's pyarrow backend converts with.
        tz: the time zone of aware timestamps (dlt's ``tz`` backend argument, ``UTC``).
        json_loads: psycopg2 decodes JSON with ``json.loads`` (no ``json_deserializer`` given to
            the engine); otherwise tables with JSON keep dlt's reader.
    """
    import pyarrow as pa
    from dlt.common.libs.pyarrow import get_py_arrow_datatype

    selected = getattr(query, "selected_columns", None)
    if selected is None:
        return "the query is not a SELECT of table columns"
    fields: list[pa.Field] = []
    reads: dict[str, _ColumnRead] = {}
    for column in selected:
        name = str(column.name)
        hint = columns.get(name)
        if hint is None:
            return f"column {name!r} has no hints"
        read = _column_read(hint.get("data_type"), column.type, json_loads=json_loads)
        if isinstance(read, str):
            return f"column {name!r} {read}"
        arrow_type = pa.float64() if read.inferred else get_py_arrow_datatype(hint, caps, tz)
        if hint.get("data_type") == "binary" and arrow_type != pa.binary():
            return f"column {name!r} is fixed-size binary"
        fields.append(pa.field(name, arrow_type, nullable=hint.get("nullable", True)))
        reads[name] = read
    if not fields:
        return "no columns selected"
    json_columns = frozenset(name for name, read in reads.items() if read.as_json)
    text_columns = frozenset(name for name, read in reads.items() if read.as_text)
    arrays = frozenset(name for name, read in reads.items() if read.json_array)
    return AdbcReadPlan(
        query=_query_with_text_reads(query, text_columns, arrays),
        schema=pa.schema(fields),
        text_columns=text_columns,
        inferred_columns=frozenset(name for name, read in reads.items() if read.inferred),
        json_columns=json_columns,
        hints={name: dict(columns[name]) for name in json_columns},
        caps=caps,
        tz=tz,
    )


def _column_read(data_type: str | None, kind: Any, *, json_loads: bool) -> _ColumnRead | str:
    """How ADBC reads a column of dlt type ``data_type``, SQLAlchemy type ``kind``; or why not."""
    import sqlalchemy as sa

    if data_type is None:
        if isinstance(kind, sa.Float) and not kind.asdecimal:
            # dlt reflects no type for floats (SQLAlchemy 2.1): pyarrow infers double per chunk
            return _ColumnRead(as_text=isinstance(kind, sa.REAL), inferred=True)
        return "has no reflected type"
    if data_type == "json":
        return _json_column_read(kind, json_loads=json_loads)
    if data_type == "text":
        return _ColumnRead(as_text=not isinstance(kind, sa.String) or isinstance(kind, sa.Enum))
    if data_type == "double":
        if isinstance(kind, sa.REAL):
            return _ColumnRead(as_text=True)
        return _ColumnRead() if isinstance(kind, sa.Float) else f"has type {kind}"
    if data_type == "time" and getattr(kind, "timezone", False):
        return "is a time with time zone"
    if data_type not in _NATIVE_DLT_TYPES:
        return f"has dlt type {data_type}"
    return _ColumnRead()


def _json_column_read(kind: Any, *, json_loads: bool) -> _ColumnRead | str:
    """How ADBC reads a column dlt types ``json`` (a JSON or array column), or why not."""
    import sqlalchemy as sa

    if not json_loads:
        return "is json and the engine has its own json_deserializer"
    if isinstance(kind, sa.ARRAY):
        if not _json_array_item(kind.item_type):
            return f"is an array of {kind.item_type}"
        return _ColumnRead(as_json=True, json_array=True)
    if not isinstance(kind, sa.JSON):
        return f"has type {kind}"
    return _ColumnRead(as_json=True)


def _query_with_text_reads(query: Any, text_columns: frozenset[str], arrays: frozenset[str]) -> Any:
    """dlt's ``query`` selecting ``text_columns`` as text and ``arrays`` as JSON text."""
    import sqlalchemy as sa

    from floe_ingestion_dlt.sources.sql_connectorx import select_as_text

    query = select_as_text(query, text_columns)
    if not arrays:
        return query
    return query.with_only_columns(
        *(
            sa.cast(sa.func.array_to_json(column), sa.Text).label(column.name)
            if column.name in arrays
            else column
            for column in query.selected_columns
        )
    )


def _json_array_item(item_type: Any) -> bool:
    """Array items whose JSON decodes to what psycopg2 parses (ints, plain text, booleans)."""
    import sqlalchemy as sa

    plain_text = isinstance(item_type, sa.String) and not isinstance(item_type, sa.Enum | sa.CHAR)
    return isinstance(item_type, sa.Integer | sa.Boolean) or plain_text


def cast_to_plan(table: pa.Table, plan: AdbcReadPlan, decimals: Callable[[Any], Any]) -> pa.Table:
    """``table`` (ADBC's types) cast to the plan's schema; a cast losing a digit raises."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if any(_is_text_extension(kind) for kind in table.schema.types):
        table = pa.Table.from_arrays(
            [_unwrap_text(column) for column in table.columns], table.column_names
        )
    table = decimals(table)
    arrays = []
    fields = []
    for received, wanted in zip(table.columns, plan.schema, strict=True):
        if wanted.name in plan.json_columns:
            converted = _json_to_arrow(received, plan, wanted)
            arrays.append(converted)
            fields.append(wanted.with_type(converted.type))
        elif wanted.name in plan.inferred_columns and received.null_count == len(received):
            arrays.append(pa.nulls(len(received)))
            fields.append(wanted.with_type(pa.null()))
        else:
            same = received.type == wanted.type
            arrays.append(received if same else pc.cast(received, wanted.type, safe=True))
            fields.append(wanted)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _json_to_arrow(received: pa.ChunkedArray, plan: AdbcReadPlan, wanted: pa.Field) -> Any:
    """JSON text decoded as psycopg2 decodes it, then converted by dlt as its reader does."""
    import json

    from dlt.common.libs.pyarrow import convert_array_to_arrow

    values = [None if text is None else json.loads(text) for text in received.to_pylist()]
    return convert_array_to_arrow(
        values, plan.caps, plan.hints[wanted.name], plan.tz, True, wanted.type
    )


def rechunk(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly ``rows`` rows (the last one shorter) from a stream of record batches."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            pending, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending)


class _DriverError(Exception):
    """An ADBC error's text with the connection string masked (the original is dropped)."""


def masked_driver_error(exc: BaseException, uri: SecretStr, password: str | None) -> _DriverError:
    """``exc`` as a plain error whose text holds neither the URI nor the password (any form)."""
    text = str(exc).replace(uri.get_secret_value(), "postgresql://***")
    if password:
        for form in {password, quote(password, safe=""), quote(password)}:
            text = text.replace(form, "***")
    return _DriverError(scrub_text(text))


@dataclass(frozen=True)
class AdbcEndpoint:
    """The PostgreSQL server an :class:`AdbcTableLoader` reads, and how its errors are told.

    Attributes:
        uri: the libpq URI (:func:`libpq_uri`).
        password: the password inside ``uri``, masked in any error text.
        connect_error: the typed error for a failed connection (the SQLAlchemy path's rules).
        target: ``postgresql://user@host:port/db`` for messages.
    """

    uri: SecretStr
    password: str | None
    connect_error: Callable[[Exception], Exception]
    target: str

    def masked(self, exc: BaseException) -> _DriverError:
        """``exc`` with the connection string and password masked."""
        return masked_driver_error(exc, self.uri, self.password)

    def connect(self) -> Any:
        """An ADBC connection; a failure raises :attr:`connect_error` of the masked error."""
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        try:
            return adbc.connect(self.uri.get_secret_value())
        except adbc_driver_manager.Error as exc:
            raise self.connect_error(self.masked(exc)) from None

    def query_error(self, exc: BaseException, table: str) -> SourceConnectionError:
        """The typed error for a failed query or batch of ``table`` (text masked, 300 chars)."""
        detail = " ".join(str(self.masked(exc)).split())[:300]
        return SourceConnectionError(
            f"reading table {table!r} from {self.target} failed: {detail}",
            category=categorize_error(exc),
            source_type="sql_database",
        )


class AdbcTableLoader(TableLoader):
    """dlt's pyarrow ``TableLoader`` whose rows come from ADBC when the types allow.

    dlt instantiates the loader itself (``sql_table(table_loader_class=...)``) with its own
    arguments, so the server travels on the class: :meth:`bound_to` makes the subclass reading
    one :class:`AdbcEndpoint`.
    """

    endpoint: ClassVar[AdbcEndpoint]

    @classmethod
    def bound_to(cls, endpoint: AdbcEndpoint) -> type[AdbcTableLoader]:
        """This loader class reading from ``endpoint``."""
        return cast("type[AdbcTableLoader]", type(cls.__name__, (cls,), {"endpoint": endpoint}))

    def load_rows(self, backend_kwargs: dict[str, Any] | None = None) -> Iterator[Any]:
        """dlt's rows of the table: through ADBC, or dlt's own reader when the plan says why."""
        backend_kwargs = dict(backend_kwargs or {})
        query = self.make_query()
        plan = self._plan(query, backend_kwargs)
        if isinstance(plan, str):
            yield from self._fallback(query, backend_kwargs, plan)
            return
        yield from self._read(query, backend_kwargs, plan)

    def _plan(self, query: Any, backend_kwargs: dict[str, Any]) -> AdbcReadPlan | str:
        if self.backend != "pyarrow":
            return f"backend is {self.backend}"
        if set(backend_kwargs) - {"tz"} or backend_kwargs.get("tz", "UTC") != "UTC":
            return "backend arguments given"
        caps = (
            Container().get(DestinationCapabilitiesContext)
            or DestinationCapabilitiesContext.generic_capabilities()
        )
        json_loads = getattr(self.engine.dialect, "_json_deserializer", None) is None
        return plan_adbc_read(query, self.columns, caps, "UTC", json_loads=json_loads)

    def _fallback(self, query: Any, backend_kwargs: dict[str, Any], reason: str) -> Any:
        _log.info(READER_EVENT, reader="sqlalchemy", table=self.table.name, reason=reason)
        return table_loader_rows(self, query, backend_kwargs)

    def _read(self, query: Any, backend_kwargs: dict[str, Any], plan: AdbcReadPlan) -> Any:
        import adbc_driver_manager

        from floe_ingestion_dlt.sources.sql_connectorx import compile_literal_sql, decimal_caster

        sql = compile_literal_sql(self.engine, plan.query)
        decimals = decimal_caster(self.columns, self.table.name)
        connection = self.endpoint.connect()
        try:
            with connection.cursor() as cursor:
                try:
                    cursor.execute(sql)
                    reader = cursor.fetch_record_batch()
                except adbc_driver_manager.Error as exc:
                    raise self.endpoint.query_error(exc, self.table.name) from None
                mismatch = plan.mismatch(reader.schema)
                if mismatch is None:
                    _log.info(READER_EVENT, reader="adbc", table=self.table.name)
                    batches = self._batches(reader)
                    for table in rechunk(batches, self.chunk_size):
                        yield cast_to_plan(table, plan, decimals)
        finally:
            connection.close()
        if mismatch is not None:
            yield from self._fallback(query, backend_kwargs, mismatch)

    def _batches(self, reader: Any) -> Iterator[Any]:
        import adbc_driver_manager

        try:
            yield from reader
        except adbc_driver_manager.Error as exc:
            raise self.endpoint.query_error(exc, self.table.name) from None


def adbc_loader_class(
    uri: SecretStr,
    password: str | None,
    connect_error: Callable[[Exception], Exception],
    target: str,
) -> type[AdbcTableLoader]:
    """A dlt table loader reading PostgreSQL through ADBC, falling back to dlt's own per table.

    Args:
        uri: the libpq URI (:func:`libpq_uri`).
        password: the password inside ``uri``, masked in any error text.
        connect_error: the typed error for a failed connection (the SQLAlchemy path's rules).
        target: ``postgresql://user@host:port/db`` for messages.
    """
    return AdbcTableLoader.bound_to(AdbcEndpoint(uri, password, connect_error, target))
