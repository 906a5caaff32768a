"""One table (or view) of a SQL database, read by dlt's ``sql_table`` resource.

The default backend is ``pyarrow``: Arrow tables of ``chunk_size`` rows, with the column types
reflected from the database (decimals keep precision and scale, timestamps keep whether they
carry a time zone). On PostgreSQL, when ``adbc-driver-postgresql`` imports, dlt's query runs
through ADBC, which streams Arrow batches straight from libpq; they are cast to exactly the
types dlt's row path gives (see ``sql_adbc``). Tables with types ADBC cannot hand over the same
way (intervals, ``time with time zone``, arrays of other than ints/text/booleans ...), and
other databases, keep dlt's path: rows read by SQLAlchemy in chunks and turned into Arrow.
``sqlalchemy`` yields Python dicts, ``connectorx`` reads straight into Arrow, ``pandas``
yields data frames.

An incremental cursor (``cursor_field``) is pushed down into the ``SELECT`` as a ``WHERE``
on the cursor column; ``where`` adds a filter of your own.

Example ``source_config``::

    {"credentials": {"from_env": "ORDERS_DB_URL"}, "table": "orders", "schema": "shop",
     "columns": ["id", "amount", "updated_at"], "where": "status <> 'draft'",
     "cursor_field": "updated_at"}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from floe_ingestion_dlt.errors import ErrorCategory, SourceConnectionError, ValidationError
from floe_ingestion_dlt.scrub import register_secrets, scrub_text
from floe_ingestion_dlt.sources.base import SourceBuilder, SourceContext, SourceOptions
from floe_ingestion_dlt.sources.reachability import call_with_deadline
from floe_ingestion_dlt.sources.secrets import SecretValue, reveal, secret_input
from floe_ingestion_dlt.sources.sql_read_only import (
    enforce_read_only,
    read_only_connect_args,
    read_only_url,
)

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource
    from sqlalchemy.engine import URL

__all__ = ["SqlCredentials", "SqlDatabaseSourceBuilder", "SqlDatabaseSourceConfig"]

SOURCE_TYPE = "sql_database"
Backend = Literal["pyarrow", "sqlalchemy", "connectorx", "pandas"]
ReflectionLevel = Literal["minimal", "full", "full_with_precision"]

_DEFAULT_DRIVERS = {
    "postgres": "postgresql+psycopg2",
    "postgresql": "postgresql+psycopg2",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
"""Dialects without a driver -> the driver the plugin's extras install (SQLAlchemy 2.1 would
pick psycopg 3 for ``postgresql://`` and mysqlclient for ``mysql://``)."""

_DRIVER_MODULES: dict[str, tuple[str, str]] = {
    "psycopg2": ("psycopg2", "floe-ingestion-dlt[postgres]"),
    "psycopg": ("psycopg", "psycopg[binary]"),
    "pg8000": ("pg8000", "pg8000"),
    "asyncpg": ("asyncpg", "asyncpg"),
    "pymysql": ("pymysql", "floe-ingestion-dlt[mysql]"),
    "mysqldb": ("MySQLdb", "mysqlclient"),
    "mysqlconnector": ("mysql.connector", "mysql-connector-python"),
    "pyodbc": ("pyodbc", "pyodbc"),
    "pymssql": ("pymssql", "pymssql"),
    "oracledb": ("oracledb", "oracledb"),
    "cx_oracle": ("cx_Oracle", "cx-Oracle"),
    "duckdb": ("duckdb_engine", "duckdb-engine"),
    "snowflake": ("snowflake.sqlalchemy", "snowflake-sqlalchemy"),
}
"""SQLAlchemy driver name -> (module to import, pip requirement)."""

_BACKEND_MODULES: dict[str, tuple[tuple[str, str], ...]] = {
    "pyarrow": (("pyarrow", "floe-ingestion-dlt"),),
    "sqlalchemy": (),
    "connectorx": (("connectorx", "floe-ingestion-dlt[connectorx]"),),
    "pandas": (("pandas", "floe-ingestion-dlt[pandas]"),),
}

_AUTH_FAILURES = (
    "password authentication failed",
    "authentication failed",
    "access denied for user",
    "login failed",
    "no password supplied",
    "no pg_hba.conf entry",
    "invalid password",
    "invalid username/password",
    'role "',
)
"""Driver messages meaning the credentials were refused: retrying will not help."""

_MISSING_DATABASE = re.compile(r'database "?[^"]*"? does not exist|unknown database', re.IGNORECASE)


class SqlCredentials(BaseModel):
    """A database connection: a SQLAlchemy URL, or its parts (dlt's dict form).

    ``source_config["credentials"]`` may be the URL string itself, ``{"from_env": "NAME"}``
    holding the URL, or ``{"drivername", "username", "password", "host", "port", "database",
    "query"}`` where the password may again be ``{"from_env": "NAME"}``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretValue | None = None
    drivername: str | None = Field(default=None, min_length=1)
    username: str | None = None
    password: SecretValue | None = None
    host: str | None = None
    port: int | None = Field(default=None, ge=1, le=65535)
    database: str | None = None
    query: dict[str, str] | None = None

    _url: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _build_url(self) -> SqlCredentials:
        from sqlalchemy.engine import URL, make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        if (self.url is None) == (self.drivername is None):
            raise ValueError(
                "give either a SQLAlchemy URL (dialect+driver://user:password@host:port/db) "
                "or its parts with drivername"
            )
        try:
            if self.url is not None:
                url = make_url(self.url.get_secret_value())
            else:
                assert self.drivername is not None
                url = URL.create(
                    self.drivername,
                    username=self.username,
                    password=reveal(self.password),
                    host=self.host,
                    port=self.port,
                    database=self.database,
                    query=self.query or {},
                )
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a valid SQLAlchemy URL (dialect+driver://user:password@host:port/database)"
            ) from None
        default_driver = _DEFAULT_DRIVERS.get(url.drivername)
        if default_driver is not None:
            url = url.set(drivername=default_driver)
        if url.password:
            register_secrets([str(url.password)])
        try:
            url.get_dialect()
        except NoSuchModuleError:
            raise ValueError(f"unknown SQL dialect {url.drivername!r}") from None
        self._url = url
        return self

    @property
    def sqlalchemy_url(self) -> URL:
        """The connection URL (a SQLAlchemy ``URL``; its ``repr`` hides the password)."""
        url: URL = self._url
        return url

    def describe(self) -> str:
        """``dialect://user@host:port/database``: what a message may say about the connection."""
        url = self.sqlalchemy_url
        where = url.host or ""
        if url.port:
            where += f":{url.port}"
        user = f"{url.username}@" if url.username else ""
        return f"{url.get_backend_name()}://{user}{where}/{url.database or ''}"


class SqlDatabaseSourceConfig(SourceOptions):
    """``source_config`` of the ``sql_database`` source type."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    credentials: SqlCredentials
    table: str = Field(min_length=1)
    db_schema: str | None = Field(default=None, alias="schema", min_length=1)
    backend: Backend = "pyarrow"
    chunk_size: int = Field(default=50_000, ge=1)
    columns: list[str] | None = Field(default=None, min_length=1)
    """Only these columns are read (default: all)."""
    where: str | None = Field(default=None, min_length=1)
    """A SQL condition added to the ``SELECT`` (``status <> 'draft'``)."""
    reflection_level: ReflectionLevel = "full"
    """dlt's reflection: ``full`` keeps the database's column types (decimal precision, tz)."""
    connect_timeout: float = Field(default=10.0, gt=0, le=600)
    """Seconds a connection attempt may take during the run."""
    engine_kwargs: dict[str, Any] | None = None
    """Extra ``sqlalchemy.create_engine`` arguments (pool sizes, ``connect_args``)."""

    @field_validator("where")
    @classmethod
    def _one_boolean_expression(cls, value: str | None, info: ValidationInfo) -> str | None:
        from floe_ingestion_dlt.sources.sql_where import FIELD, safe_where

        credentials = info.data.get("credentials")
        if value is None or not isinstance(credentials, SqlCredentials):
            return value
        try:
            safe_where(value, credentials.sqlalchemy_url.get_backend_name())
        except ValidationError as exc:
            raise ValueError(exc.message.removeprefix(f"{FIELD}: ")) from None
        return value

    def safe_where(self) -> str | None:
        """The ``where`` filter as the parser rendered it (what reaches the database)."""
        from floe_ingestion_dlt.sources.sql_where import safe_where

        if self.where is None:
            return None
        return safe_where(self.where, self.credentials.sqlalchemy_url.get_backend_name())

    @field_validator("credentials", mode="before")
    @classmethod
    def _credentials_as_url(cls, value: Any) -> Any:
        if isinstance(value, str | SecretStr) or (
            isinstance(value, Mapping) and set(value) == {"from_env"}
        ):
            return {"url": secret_input(value)}
        return value


class SqlDatabaseSourceBuilder(SourceBuilder):
    """Builds the ``sql_database`` source on ``dlt.sources.sql_database.sql_table``."""

    source_type: ClassVar[str] = SOURCE_TYPE
    config_model: ClassVar[type[BaseModel]] = SqlDatabaseSourceConfig
    handles_incremental: ClassVar[bool] = True
    """The cursor is passed to ``sql_table`` so it becomes a ``WHERE`` in the query."""

    def modules_for(self, config: BaseModel | None) -> tuple[tuple[str, str], ...]:
        modules: tuple[tuple[str, str], ...] = (
            ("dlt", "floe-ingestion-dlt"),
            ("sqlalchemy", "floe-ingestion-dlt"),
        )
        if not isinstance(config, SqlDatabaseSourceConfig):
            return modules
        modules += _BACKEND_MODULES[config.backend]
        driver = _driver_module(config.credentials.sqlalchemy_url)
        if driver is not None:
            modules += (driver,)
        return modules

    def check_reachable(self, config: BaseModel, timeout: float) -> None:
        """Connect, find the table and its columns, try the ``where`` filter.

        Raises:
            SourceConnectionError: TRANSIENT when the server cannot be reached in time,
                PERMANENT when it refuses the credentials.
            ValidationError: unknown database, table, column or an invalid ``where``.
        """
        assert isinstance(config, SqlDatabaseSourceConfig)
        target = config.credentials.describe()
        _check_sqlite_file(config)
        try:
            columns = call_with_deadline(
                lambda: _probe(config, timeout),
                timeout,
                what=f"database {target}",
                source_type=SOURCE_TYPE,
            )
        except (ValidationError, SourceConnectionError):
            raise
        except Exception as exc:
            raise _connection_error(exc, config) from None
        _check_columns(config, columns)

    def build(self, config: BaseModel, context: SourceContext) -> DltResource:
        from dlt.sources.sql_database import sql_table

        from floe_ingestion_dlt.sources import incremental_hint
        from floe_ingestion_dlt.sources.sql_connectorx import (
            connectorx_loader_class,
            decimal_caster,
        )

        assert isinstance(config, SqlDatabaseSourceConfig)
        kwargs: dict[str, Any] = {
            "credentials": read_only_url(config.credentials.sqlalchemy_url).render_as_string(
                hide_password=False
            ),
            "table": config.table,
            "schema": config.db_schema,
            "backend": config.backend,
            "chunk_size": config.chunk_size,
            "reflection_level": config.reflection_level,
            "engine_kwargs": _engine_kwargs(config, config.connect_timeout),
            "engine_adapter_callback": enforce_read_only,
        }
        if config.columns:
            kwargs["included_columns"] = list(config.columns)
        connectorx = config.backend == "connectorx"
        if config.where or connectorx:
            kwargs["query_adapter_callback"] = _query_adapter(config.safe_where(), connectorx)
        if config.cursor_field:
            kwargs["incremental"] = incremental_hint(config)
        if connectorx:
            # stream Arrow batches of chunk_size instead of one table of every row
            kwargs["backend_kwargs"] = {"return_type": "arrow_stream"}
            kwargs["table_loader_class"] = connectorx_loader_class()
        adbc_loader = _adbc_loader(config)
        if adbc_loader is not None:
            kwargs["table_loader_class"] = adbc_loader
        resource: DltResource = sql_table(**kwargs)
        if connectorx:
            resource.add_map(decimal_caster(resource.columns, config.table))
        if config.backend == "sqlalchemy":
            resource.add_map(_refuse_non_finite_floats(config.table))
            resource.add_map(_refuse_unfit_decimals(resource.columns, config.table))
        return resource


def _refuse_non_finite_floats(table: str) -> Any:
    """A map step failing on NaN/Infinity in rows of the ``sqlalchemy`` backend.

    Rows of that backend travel as JSON through dlt's extract files, where NaN and Infinity
    become NULL: a silent change of the data. The ``pyarrow`` backend keeps them.
    """

    def check(row: Any) -> Any:
        if isinstance(row, dict):
            for column, value in row.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(
                        f"table {table!r}, column {column!r}: {value} cannot be carried by the "
                        "sqlalchemy backend (dlt would store NULL); use backend: pyarrow, "
                        "which keeps NaN and Infinity"
                    )
        return row

    return check


def _refuse_unfit_decimals(hints: Any, table: str) -> Any:
    """A map step failing on a decimal the ``sqlalchemy`` backend's rows cannot carry.

    dlt turns those rows into Arrow decimals of the column's declared type (an unbounded
    ``NUMERIC``: ``decimal(38, 9)``) in a normalize worker process, where a value with more
    digits fails as ``ArrowInvalid`` without table or column (or a bare ``_RemoteTraceback``).
    Checking here names both and stops the run before anything is written.
    """
    from floe_ingestion_dlt.sources.sql_connectorx import DEFAULT_DECIMAL, MAX_DECIMAL_PRECISION

    columns: dict[str, Any] = dict(hints) if isinstance(hints, Mapping) else {}
    declared: dict[str, tuple[int, int]] = {}
    for name, hint in columns.items():
        if hint.get("data_type") != "decimal":
            continue
        precision, scale = hint.get("precision"), hint.get("scale")
        if precision is None:
            declared[name] = DEFAULT_DECIMAL
        elif int(precision) <= MAX_DECIMAL_PRECISION:
            declared[name] = (int(precision), int(scale or 0))

    def check(row: Any) -> Any:
        if not declared or not isinstance(row, dict):
            return row
        for column, (precision, scale) in declared.items():
            value = row.get(column)
            if not isinstance(value, Decimal) or not value.is_finite():
                continue
            exponent = value.normalize().as_tuple().exponent
            fraction_digits = max(0, -exponent) if isinstance(exponent, int) else 0
            integer_digits = value.adjusted() + 1 if abs(value) >= 1 else 0
            if integer_digits > precision - scale or fraction_digits > scale:
                raise ValueError(
                    f"table {table!r}, column {column!r}: the value {value} does not fit "
                    f"decimal({precision}, {scale}), the type it is loaded as; declare the "
                    f"column with a precision and scale that hold it (at most "
                    f"{MAX_DECIMAL_PRECISION} digits) or cast it in the source"
                )
        return row

    return check


def _adbc_loader(config: SqlDatabaseSourceConfig) -> type[Any] | None:
    """The ADBC table loader for the ``pyarrow`` backend on PostgreSQL, if ADBC imports."""
    from floe_ingestion_dlt.sources import sql_adbc

    url = config.credentials.sqlalchemy_url
    if config.backend != "pyarrow" or url.get_backend_name() != "postgresql":
        return None
    if not sql_adbc.adbc_available():
        return None
    connect_args = read_only_connect_args(
        "postgresql", dict((config.engine_kwargs or {}).get("connect_args") or {})
    )
    uri = sql_adbc.libpq_uri(url, config.connect_timeout, connect_args)
    if uri is None:
        return None
    return sql_adbc.adbc_loader_class(
        uri,
        None if url.password is None else str(url.password),
        lambda exc: _connection_error(exc, config),
        config.credentials.describe(),
    )


def _driver_module(url: URL) -> tuple[str, str] | None:
    """The DB-API module a URL needs, and the pip requirement providing it."""
    if url.get_backend_name() == "sqlite":
        return None
    if url.get_backend_name() == "duckdb":
        return _DRIVER_MODULES["duckdb"]
    return _DRIVER_MODULES.get(url.get_driver_name())


def _engine_kwargs(config: SqlDatabaseSourceConfig, timeout: float) -> dict[str, Any]:
    """``create_engine`` arguments: the user's, a bounded connect timeout, read-only sessions."""
    kwargs = dict(config.engine_kwargs or {})
    connect_args = dict(kwargs.get("connect_args") or {})
    seconds = max(1, math.ceil(timeout))
    backend = config.credentials.sqlalchemy_url.get_backend_name()
    if backend in ("postgresql", "mysql", "mariadb"):
        connect_args.setdefault("connect_timeout", seconds)
    elif backend == "sqlite":
        connect_args.setdefault("timeout", seconds)
    connect_args = read_only_connect_args(backend, connect_args)
    if connect_args:
        kwargs["connect_args"] = connect_args
    return kwargs


def _query_adapter(where: str | None, decimals_as_text: bool) -> Any:
    """A dlt ``query_adapter_callback``: add ``where``, read decimals as text for ConnectorX."""
    import sqlalchemy as sa

    from floe_ingestion_dlt.sources.sql_connectorx import select_decimals_as_text

    def adapt(query: Any, table: Any) -> Any:
        if where:
            query = query.where(sa.text(where))
        if decimals_as_text:
            query = select_decimals_as_text(query)
        return query

    return adapt


def _probe(config: SqlDatabaseSourceConfig, timeout: float) -> list[str]:
    """Column names of the configured table; unknown table or bad ``where`` -> ValidationError."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    kwargs = _engine_kwargs(config, timeout)
    kwargs.pop("poolclass", None)
    engine = enforce_read_only(
        sa.create_engine(config.credentials.sqlalchemy_url, poolclass=NullPool, **kwargs)
    )
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            if not inspector.has_table(config.table, schema=config.db_schema):
                raise _unknown_table(config, inspector)
            columns = [
                str(c["name"]) for c in inspector.get_columns(config.table, config.db_schema)
            ]
            if config.where:
                _try_where(conn, config)
            return columns
    finally:
        engine.dispose()


def _check_sqlite_file(config: SqlDatabaseSourceConfig) -> None:
    """A SQLite database file must exist: connecting would create an empty one."""
    import os

    url = config.credentials.sqlalchemy_url
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if database.startswith("file:"):
        return  # a SQLite URI filename: its own mode= says what may be created
    if not os.path.isfile(database):
        raise SourceConnectionError(
            f"source_config.credentials: SQLite database file {database} does not exist",
            category=ErrorCategory.CONFIGURATION,
            field="source_config.credentials",
            source_type=SOURCE_TYPE,
        )


def _unknown_table(config: SqlDatabaseSourceConfig, inspector: Any) -> ValidationError:
    where = f"schema {config.db_schema!r}" if config.db_schema else "the default schema"
    try:
        names = sorted(
            inspector.get_table_names(config.db_schema) + inspector.get_view_names(config.db_schema)
        )
    except Exception:  # listing is a courtesy
        names = []
    listing = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
    return ValidationError(
        f"source_config.table: table {config.table!r} not found in {where} of "
        f"{config.credentials.describe()}" + (f" (tables: {listing})" if names else ""),
        field="source_config.table",
        category=ErrorCategory.CONFIGURATION,
        source_type=SOURCE_TYPE,
    )


def _try_where(conn: Any, config: SqlDatabaseSourceConfig) -> None:
    """Compile and plan the ``where`` filter without reading rows.

    The filter comes first so the planner folds what it can of it (``IMMUTABLE`` functions)
    before ``AND 1 = 0`` makes the result empty: a filter that would fail or write fails here,
    in a read-only session, not at run time.
    """
    import sqlalchemy as sa
    from sqlalchemy.exc import DBAPIError, StatementError

    table = sa.table(config.table, schema=config.db_schema)
    probe = (
        sa.select(sa.literal(1))
        .select_from(table)
        .where(sa.text(f"({config.safe_where()}) AND 1 = 0"))
    )
    try:
        conn.execute(probe).all()
    except (DBAPIError, StatementError) as exc:
        if isinstance(exc, DBAPIError) and exc.connection_invalidated:
            raise
        detail = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise ValidationError(
            f"source_config.where: the filter is not valid for table {config.table!r}: {detail}",
            field="source_config.where",
            source_type=SOURCE_TYPE,
        ) from None


def _check_columns(config: SqlDatabaseSourceConfig, columns: list[str]) -> None:
    known = set(columns)
    checks: list[tuple[str, list[str]]] = [("columns", list(config.columns or []))]
    if config.cursor_field:
        checks.append(("cursor_field", [config.cursor_field]))
    for name in ("primary_key", "merge_key"):
        value = getattr(config, name)
        checks.append((name, [value] if isinstance(value, str) else list(value or [])))
    for field, wanted in checks:
        missing = [c for c in wanted if c not in known]
        if missing:
            raise ValidationError(
                f"source_config.{field}: column(s) {missing} not in table {config.table!r} "
                f"(columns: {', '.join(columns)})",
                field=f"source_config.{field}",
                source_type=SOURCE_TYPE,
            )


def _connection_error(exc: Exception, config: SqlDatabaseSourceConfig) -> Exception:
    """The typed error for a failed probe; the message never holds the password.

    Messages avoid ``credentials: <word>``, which the scrubber reads as a secret value.
    """
    target = config.credentials.describe()
    original = getattr(exc, "orig", None) or exc
    detail = scrub_text(" ".join(str(original).split()))[:300]
    lowered = detail.lower()
    if isinstance(exc, ImportError):
        return ValidationError(
            f"the driver for {target} does not import (source_config.credentials): {detail}",
            field="source_config.credentials",
            source_type=SOURCE_TYPE,
        )
    if any(marker in lowered for marker in _AUTH_FAILURES):
        return SourceConnectionError(
            f"database {target} refused the login: {detail}",
            category=ErrorCategory.PERMANENT,
            field="source_config.credentials",
            source_type=SOURCE_TYPE,
        )
    if _MISSING_DATABASE.search(lowered):
        return ValidationError(
            f"no such database on {target} (source_config.credentials): {detail}",
            field="source_config.credentials",
            source_type=SOURCE_TYPE,
        )
    return SourceConnectionError(
        f"database {target} is not reachable: {detail}",
        source_type=SOURCE_TYPE,
    )
