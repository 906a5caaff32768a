"""The rules that sort any exception into an :class:`ErrorCategory`, looking through wrappers.

:func:`categorize_error` walks an exception's chain (dlt's step and job wrappers, ``raise ...
from``, then ``__context__``) and asks :data:`CATEGORY_RULES` about each link: a typed error's own
category, S3 error codes, HTTP statuses, PostgreSQL SQLSTATEs, driver messages, exception type
names, builtins. :func:`root_error` picks the most informative exception of a chain.

The typed errors themselves are in :mod:`floe_ingestion_dlt.errors`, which re-exports every
public name of this module (``from floe_ingestion_dlt.errors import categorize_error`` keeps
working). This module does not import them: a typed error is recognised by the
:class:`ErrorCategory` it carries in ``category``, so the arrow points from the hierarchy down to
the classifier only.

Example:
    >>> categorize_error(ConnectionResetError("connection reset by peer"))
    <ErrorCategory.TRANSIENT: 'TRANSIENT'>
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "CATEGORY_RULES",
    "CategoryRule",
    "ErrorCategory",
    "categorize_error",
    "exception_chain",
    "is_commit_job",
    "root_error",
]


class ErrorCategory(StrEnum):
    """What an operator should do about a failure."""

    TRANSIENT = "TRANSIENT"
    """Retry: the same call may succeed later (timeouts, 429/503, commit conflicts)."""
    PERMANENT = "PERMANENT"
    """Fix the source or the data: retrying will not help (401/403, contract violation)."""
    PARTIAL = "PARTIAL"
    """Some load jobs failed while others committed."""
    CONFIGURATION = "CONFIGURATION"
    """Fix the configuration or the installation (invalid config, missing package)."""


# --------------------------------------------------------------------------------------------
# Walking exception chains
# --------------------------------------------------------------------------------------------

_EXPLICIT_LINKS = ("exception", "client_exception", "error", "orig", "__cause__")
"""Attributes through which wrappers name their cause: dlt's ``PipelineStepFailed.exception``
and ``LoadClientJob*.client_exception``, our ``IcebergLoadTerminalError.error``, SQLAlchemy's
``DBAPIError.orig`` and ``raise ... from``."""

_WRAPPERS = frozenset(
    {
        "PipelineStepFailed",
        "LoadClientJobFailed",
        "LoadClientJobRetry",
        "LoadClientJobTerminalRetry",
        "LoadPackageAborted",
        "ResourceExtractionError",
        "IcebergLoadTerminalError",
        "RetryError",
    }
)


def _links(exc: BaseException) -> list[BaseException]:
    found = []
    for attr in _EXPLICIT_LINKS:
        inner = getattr(exc, attr, None)
        if isinstance(inner, BaseException) and inner is not exc:
            found.append(inner)
    return found


def _explicit_chain(exc: BaseException, seen: list[BaseException]) -> list[BaseException]:
    """``exc`` and what it explicitly wraps, outermost first (breadth first)."""
    chain: list[BaseException] = []
    pending: list[BaseException] = [exc]
    while pending and len(seen) < 64:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        chain.append(current)
        pending.extend(_links(current))
    return chain


def _split_chain(exc: BaseException) -> tuple[list[BaseException], list[BaseException]]:
    seen: list[BaseException] = []
    explicit = _explicit_chain(exc, seen)
    implicit: list[BaseException] = []
    index = 0
    nodes = list(explicit)
    while index < len(nodes):
        current = nodes[index]
        index += 1
        context = current.__context__
        if context is None or current.__suppress_context__:
            continue
        found = _explicit_chain(context, seen)
        implicit.extend(found)
        nodes.extend(found)
    return explicit, implicit


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps, in order of authority.

    First ``exc`` and the causes it names explicitly (dlt's step and job wrappers,
    ``raise ... from``), outermost first; then, as weaker evidence, the exceptions that were
    merely being handled when one of them was raised (``__context__``, unless suppressed).
    """
    explicit, implicit = _split_chain(exc)
    return explicit + implicit


def root_error(exc: BaseException) -> BaseException:
    """The most informative exception in the chain.

    Our own typed error if there is one, else the innermost non-wrapper exception. A worker
    process's ``_RemoteTraceback`` (the worker's traceback as text, whose first line is
    ``\"\"\"``) is skipped: the exception it is attached to has the worker's type and message.
    """
    explicit, implicit = _split_chain(exc)
    for candidate in [*explicit, *implicit]:
        if _carried_category(candidate) is not None:
            return candidate
    for candidate in reversed(explicit):
        if type(candidate).__name__ not in (*_WRAPPERS, "_RemoteTraceback"):
            return candidate
    return explicit[-1]


# --------------------------------------------------------------------------------------------
# Categorizing one exception
# --------------------------------------------------------------------------------------------

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_PERMANENT_STATUS = frozenset({401, 403})
_CONFIG_STATUS = frozenset({400, 404, 405, 422})

_S3_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeTooSkewed",
        "ServiceUnavailable",
        "InternalError",
        "503",
    }
)
_S3_PERMANENT_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "NoSuchKey",
        "AllAccessDisabled",
    }
)
_S3_CONFIG_CODES = frozenset({"NoSuchBucket", "InvalidBucketName", "PermanentRedirect"})

_PG_TRANSIENT_CLASSES = ("08", "40", "53", "57")
"""SQLSTATE classes: connection exception, transaction rollback (serialization, deadlock),
insufficient resources, operator intervention (server shutting down)."""
_PG_PERMANENT_CODES = frozenset({"25006", "28000", "28P01", "42501", "42P01", "42703"})
"""Read-only transaction (a write refused in the plugin's read-only source sessions), invalid
authorization / password, insufficient privilege, undefined table / column."""
_PG_CONFIG_CODES = frozenset({"3D000"})
"""Invalid catalog name: the database does not exist."""

_TRANSIENT_NAMES = frozenset(
    {
        # PyIceberg
        "CommitFailedException",
        "CommitStateUnknownException",
        "ServiceUnavailableError",
        "ServerError",
        "TooManyRequestsError",
        "AuthorizationExpiredError",
        "WaitingForLockException",
        # requests / urllib3 / httpx / http.client
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ReadTimeoutError",
        "ConnectTimeoutError",
        "TimeoutException",
        "ConnectError",
        "ReadError",
        "RemoteProtocolError",
        "ChunkedEncodingError",
        "ProtocolError",
        "NewConnectionError",
        "MaxRetryError",
        "RemoteDisconnected",
        "IncompleteRead",
        "ConnectionError",
        # botocore
        "EndpointConnectionError",
        "ConnectionClosedError",
        # dlt
        "DestinationTransientException",
        "LoadClientJobRetry",
        "TransientException",
        # DB-API (refined by SQLSTATE and message below)
        "OperationalError",
        # socket
        "gaierror",
    }
)
_PERMANENT_NAMES = frozenset(
    {
        "UnauthorizedError",
        "NormalizeJobFailed",  # dlt: a normalize job that "failed terminally" (the data)
        "ForbiddenError",
        "OAuthError",
        "NoSuchTableError",
        "NoSuchNamespaceError",
        "NoSuchIdentifierError",
        "NoSuchViewError",
        "DataValidationError",
        "ResourcesNotFoundError",
        "ResourceNameNotAvailable",
        "DestinationUndefinedEntity",
        "DestinationTerminalException",
        "TerminalException",
        "ProgrammingError",
        "PermissionError",
        "FileNotFoundError",
    }
)
_CONFIG_NAMES = frozenset(
    {
        "ImportError",
        "ModuleNotFoundError",
        "MissingDependencyException",
        "NotInstalledError",
        "ConfigurationException",
        "DictValidationException",
        "InvalidDestinationReference",
        "BadRequestError",
        "NoSuchPropertyException",
        "NoSuchModuleError",
        "ArgumentError",
        "ArgumentsOverloadException",
    }
)
_AUTH_TEXT = (
    "password authentication failed",
    "authentication failed",
    "invalid credentials",
    "access denied",
    "permission denied",
    "401 client error",
    "403 client error",
    "unauthorized",
    "forbidden",
)
_MISSING_DATABASE_TEXT = ("does not exist", "unknown database")
_TRANSIENT_TEXT = (
    "connection refused",
    "connection reset",
    "connection aborted",
    "timed out",
    "timeout",
    "temporarily unavailable",
    "temporary failure in name resolution",
    "name or service not known",
    "nodename nor servname",
    "could not translate host name",
    "slowdown",
    "slow down",
    "service unavailable",
    "too many requests",
    "server closed the connection",
    "database is locked",
)


def _type_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status_code(exc: BaseException) -> int | None:
    """HTTP status of requests/httpx/botocore errors, if the exception carries one."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code if isinstance(code, int) else None
    for holder in (response, exc):
        if holder is None:
            continue
        for attr in ("status_code", "status"):
            code = getattr(holder, attr, None)
            if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
                return code
    return None


def _category_of(
    value: object,
    transient: frozenset[Any],
    permanent: frozenset[Any],
    configuration: frozenset[Any],
) -> ErrorCategory | None:
    """The category whose set holds ``value`` (sets checked in that order)."""
    for category, members in (
        (ErrorCategory.TRANSIENT, transient),
        (ErrorCategory.PERMANENT, permanent),
        (ErrorCategory.CONFIGURATION, configuration),
    ):
        if value in members:
            return category
    return None


def _by_status(exc: BaseException) -> ErrorCategory | None:
    status = _status_code(exc)
    if status is None:
        return None
    if status >= 500:
        return ErrorCategory.TRANSIENT
    return _category_of(status, _TRANSIENT_STATUS, _PERMANENT_STATUS, _CONFIG_STATUS)


def _by_s3_code(exc: BaseException) -> ErrorCategory | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = str(response.get("Error", {}).get("Code", ""))
    return _category_of(code, _S3_TRANSIENT_CODES, _S3_PERMANENT_CODES, _S3_CONFIG_CODES)


def _sqlstate(exc: BaseException) -> str | None:
    """SQLSTATE of a PostgreSQL driver error (psycopg2 ``pgcode``, psycopg ``sqlstate``).

    psycopg2 error classes built without a server response carry no ``pgcode``; their class
    name is the SQLSTATE's condition name (``UndefinedTable`` -> ``UNDEFINED_TABLE`` = 42P01).
    """
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    if code is None and type(exc).__module__ == "psycopg2.errors":
        try:
            codes = importlib.import_module("psycopg2.errorcodes")
        except ImportError:  # pragma: no cover - the class came from psycopg2
            return None
        condition = re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).upper()
        code = getattr(codes, condition, None)
    return code if isinstance(code, str) else None


def _by_sqlstate(exc: BaseException) -> ErrorCategory | None:
    code = _sqlstate(exc)
    if not isinstance(code, str) or len(code) != 5:
        return None
    if code in _PG_PERMANENT_CODES:
        return ErrorCategory.PERMANENT
    if code in _PG_CONFIG_CODES:
        return ErrorCategory.CONFIGURATION
    if code.startswith(_PG_TRANSIENT_CLASSES):
        return ErrorCategory.TRANSIENT
    return None


def _by_driver_message(exc: BaseException) -> ErrorCategory | None:
    """DB-API ``OperationalError`` covers refused connections and refused passwords alike."""
    if "OperationalError" not in _type_names(exc):
        return None
    text = str(exc).lower()
    if any(marker in text for marker in _AUTH_TEXT):
        return ErrorCategory.PERMANENT
    if "database" in text and any(marker in text for marker in _MISSING_DATABASE_TEXT):
        return ErrorCategory.CONFIGURATION
    return ErrorCategory.TRANSIENT


def _by_pydantic(exc: BaseException) -> ErrorCategory | None:
    if type(exc).__module__.startswith("pydantic") and "ValidationError" in _type_names(exc):
        return ErrorCategory.CONFIGURATION
    return None


def _by_name(names: frozenset[str], category: ErrorCategory) -> Callable[[BaseException], Any]:
    def match(exc: BaseException) -> ErrorCategory | None:
        return category if _type_names(exc) & names else None

    return match


def _by_builtin(exc: BaseException) -> ErrorCategory | None:
    if isinstance(exc, ImportError):
        return ErrorCategory.CONFIGURATION
    if isinstance(exc, TimeoutError | ConnectionError):
        return ErrorCategory.TRANSIENT
    return None


def _by_partial_flag(exc: BaseException) -> ErrorCategory | None:
    """dlt's load step failed in a package where some table already committed its data.

    Counts only the jobs that commit a table (one reference job per table and load), not dlt's
    bookkeeping files nor the per-file jobs that always complete first.
    """
    if type(exc).__name__ != "PipelineStepFailed" or getattr(exc, "step", None) != "load":
        return None
    load_id = getattr(exc, "load_id", None)
    for package in getattr(getattr(exc, "step_info", None), "load_packages", None) or []:
        if load_id and getattr(package, "load_id", None) != load_id:
            continue
        jobs = getattr(package, "jobs", None) or {}
        committed = [j for j in jobs.get("completed_jobs", []) if is_commit_job(j)]
        failed = [j for j in jobs.get("failed_jobs", []) if is_commit_job(j)]
        failed += [
            j
            for state in ("new_jobs", "started_jobs")
            for j in jobs.get(state, [])
            if is_commit_job(j) and getattr(j, "failed_message", None)
        ]
        if committed and failed:
            return ErrorCategory.PARTIAL
    return None


def is_commit_job(job: Any) -> bool:
    """The job that commits one table's files of a load (not dlt's bookkeeping tables)."""
    info = getattr(job, "job_file_info", None)
    table = str(getattr(info, "table_name", ""))
    file_format = str(getattr(info, "file_format", ""))
    return bool(table) and not table.startswith("_dlt") and file_format == "reference"


def _by_programming_error(exc: BaseException) -> ErrorCategory | None:
    """Bad values, types and lookups do not heal by themselves, whoever wraps them."""
    if isinstance(exc, ValueError | TypeError | LookupError | AttributeError | NotImplementedError):
        return ErrorCategory.PERMANENT
    return None


def _carried_category(exc: BaseException) -> ErrorCategory | None:
    """The category a typed error carries (every ``errors.IngestionError`` does), if any."""
    category = getattr(exc, "category", None)
    return category if isinstance(category, ErrorCategory) else None


def _by_typed(exc: BaseException) -> ErrorCategory | None:
    return _carried_category(exc)


def _by_text(exc: BaseException) -> ErrorCategory | None:
    if type(exc).__name__ in _WRAPPERS:
        return None  # wrappers repeat their cause's message; the cause was asked already
    text = str(exc).lower()
    if any(marker in text for marker in _TRANSIENT_TEXT):
        return ErrorCategory.TRANSIENT
    return None


@dataclass(frozen=True)
class CategoryRule:
    """One rule of :func:`categorize_error`: ``match`` returns a category or ``None``."""

    name: str
    match: Callable[[BaseException], ErrorCategory | None]


CATEGORY_RULES: tuple[CategoryRule, ...] = (
    CategoryRule("typed IngestionError carries its category", _by_typed),
    CategoryRule("S3 error code (SlowDown, AccessDenied, NoSuchBucket ...)", _by_s3_code),
    CategoryRule("HTTP status: 429/5xx TRANSIENT, 401/403 PERMANENT, 400/404 CONFIG", _by_status),
    CategoryRule("PostgreSQL SQLSTATE (08/40/53/57 TRANSIENT, 28/42 PERMANENT)", _by_sqlstate),
    CategoryRule(
        "DB-API OperationalError message (auth, missing db, else TRANSIENT)", _by_driver_message
    ),
    CategoryRule("pydantic ValidationError -> CONFIGURATION", _by_pydantic),
    CategoryRule(
        "missing package / invalid configuration",
        _by_name(_CONFIG_NAMES, ErrorCategory.CONFIGURATION),
    ),
    CategoryRule(
        "auth refused, missing table/resource, contract",
        _by_name(_PERMANENT_NAMES, ErrorCategory.PERMANENT),
    ),
    CategoryRule(
        "timeouts, refused/reset connections, DNS, commit conflicts",
        _by_name(_TRANSIENT_NAMES, ErrorCategory.TRANSIENT),
    ),
    CategoryRule("builtin ImportError / TimeoutError / ConnectionError", _by_builtin),
    CategoryRule("ValueError / TypeError / LookupError: a bug or bad input", _by_programming_error),
    CategoryRule("message names a transient condition", _by_text),
)
"""The rules, in order; the first one that gives a category for an exception wins."""


def _categorize_one(exc: BaseException) -> ErrorCategory | None:
    for rule in CATEGORY_RULES:
        category = rule.match(exc)
        if category is not None:
            return ErrorCategory(category)
    return None


def categorize_error(exc: BaseException) -> ErrorCategory:
    """Sort ``exc`` into a category, looking through dlt's wrappers and exception chains.

    Order of evidence: a typed :class:`IngestionError` anywhere in the chain; then the
    innermost explicitly wrapped cause that a rule of :data:`CATEGORY_RULES` recognises, moving
    outwards; then the exceptions that were only being handled (``__context__``). Unknown errors
    are PERMANENT: retrying what nobody recognises wastes the retry budget and hides the real
    problem. Finally a dlt load step that failed after committing part of its package is
    PARTIAL, unless the cause is TRANSIENT (a retry then commits the rest, exactly once).

    Example:
        >>> categorize_error(TimeoutError("read timed out"))
        <ErrorCategory.TRANSIENT: 'TRANSIENT'>
        >>> categorize_error(ModuleNotFoundError("No module named 'psycopg2'"))
        <ErrorCategory.CONFIGURATION: 'CONFIGURATION'>
    """
    explicit, implicit = _split_chain(exc)
    category = _cause_category(explicit, implicit)
    if category is not ErrorCategory.TRANSIENT and any(
        _by_partial_flag(candidate) for candidate in explicit
    ):
        return ErrorCategory.PARTIAL
    return category


def _cause_category(explicit: list[BaseException], implicit: list[BaseException]) -> ErrorCategory:
    for candidate in [*explicit, *implicit]:
        carried = _carried_category(candidate)
        if carried is not None:
            return carried
    for group in (explicit, implicit):
        for candidate in reversed(group):
            category = _categorize_one(candidate)
            if category is not None:
                return category
    return ErrorCategory.PERMANENT
