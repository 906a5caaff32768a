"""Typed errors of the plugin and the rules that sort any exception into a category.

Every error carries a :class:`ErrorCategory` and the context an operator needs
(source type, destination table, pipeline name). Messages are scrubbed of secrets when built.

Example:
    >>> from floe_ingestion_dlt.errors import SourceConnectionError, ErrorCategory
    >>> err = SourceConnectionError("connection refused by db:5432", source_type="sql_database")
    >>> err.category is ErrorCategory.TRANSIENT
    True
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from floe_ingestion_dlt.scrub import scrub_text

__all__ = [
    "DestinationWriteError",
    "ErrorCategory",
    "IngestionError",
    "PipelineConfigurationError",
    "SchemaContractViolation",
    "SourceConnectionError",
    "ValidationError",
    "categorize_error",
    "exception_chain",
    "format_error",
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


class IngestionError(Exception):
    """Base of every error the plugin raises on purpose."""

    default_category: ErrorCategory = ErrorCategory.PERMANENT

    def __init__(
        self,
        message: str,
        *,
        category: ErrorCategory | None = None,
        source_type: str | None = None,
        destination_table: str | None = None,
        pipeline_name: str | None = None,
        field: str | None = None,
    ) -> None:
        self.message = scrub_text(message)
        self.category = category or self.default_category
        self.source_type = source_type
        self.destination_table = destination_table
        self.pipeline_name = pipeline_name
        self.field = field
        super().__init__(self.message)

    def with_context(self, **context: Any) -> IngestionError:
        """Fill in context fields that are still empty; returns ``self``."""
        for key in ("source_type", "destination_table", "pipeline_name"):
            if getattr(self, key) is None and context.get(key) is not None:
                setattr(self, key, context[key])
        return self

    def context_suffix(self) -> str:
        """``(source_type=..., destination_table=..., pipeline=...)`` for result entries."""
        return (
            f"(source_type={self.source_type or '-'}, "
            f"destination_table={self.destination_table or '-'}, "
            f"pipeline={self.pipeline_name or '-'})"
        )


class ValidationError(IngestionError, ValueError):
    """The configuration is invalid; ``field`` names the offending field. Nothing was written."""

    default_category = ErrorCategory.CONFIGURATION


class PipelineConfigurationError(IngestionError):
    """The pipeline cannot be built as configured (missing package, impossible combination)."""

    default_category = ErrorCategory.CONFIGURATION


class SourceConnectionError(IngestionError, ConnectionError):
    """The source (database, API, bucket) or the catalog could not be reached."""

    default_category = ErrorCategory.TRANSIENT


class DestinationWriteError(IngestionError):
    """Writing to or committing the Iceberg table failed."""

    default_category = ErrorCategory.TRANSIENT


class SchemaContractViolation(IngestionError):
    """The data does not fit a frozen schema; nothing was committed."""

    default_category = ErrorCategory.PERMANENT


# --------------------------------------------------------------------------------------------
# Categorizing any exception
# --------------------------------------------------------------------------------------------

_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_PERMANENT_STATUS = frozenset({401, 403})
_CONFIG_STATUS = frozenset({400, 404, 405, 422})
_TRANSIENT_NAMES = frozenset(
    {
        "CommitFailedException",
        "CommitStateUnknownException",
        "ServiceUnavailableError",
        "ServerError",
        "TimeoutError",
        "Timeout",
        "ReadTimeout",
        "ConnectTimeout",
        "ConnectionError",
        "ConnectionRefusedError",
        "ConnectionResetError",
        "ConnectionAbortedError",
        "BrokenPipeError",
        "RemoteDisconnected",
        "ProtocolError",
        "ChunkedEncodingError",
        "OperationalError",
        "SlowDown",
        "gaierror",
        "NewConnectionError",
        "MaxRetryError",
        "LoadClientJobRetry",
        "DestinationTransientException",
    }
)
_PERMANENT_NAMES = frozenset(
    {
        "UnauthorizedError",
        "ForbiddenError",
        "NoSuchTableError",
        "NoSuchNamespaceError",
        "DataValidationError",
        "ResourceNameNotAvailable",
        "ResourcesNotFoundError",
    }
)
_CONFIG_NAMES = frozenset(
    {
        "ModuleNotFoundError",
        "ImportError",
        "MissingDependencyException",
        "ConfigFieldMissingException",
        "InvalidNativeValue",
        "ArgumentsError",
        "BadRequestError",
        "OAuthError",
        "NoSuchPropertyException",
        "ProgrammingError",
        "NoSuchModuleError",
        "ArgumentError",
    }
)
_TRANSIENT_TEXT = (
    "connection refused",
    "connection reset",
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
)


def _status_code(exc: BaseException) -> int | None:
    """HTTP status of requests/httpx/botocore errors, if the exception carries one."""
    response = getattr(exc, "response", None)
    for holder in (response, exc):
        code = getattr(holder, "status_code", None) or getattr(holder, "status", None)
        if isinstance(code, int):
            return code
    if isinstance(response, dict):  # botocore ClientError
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if isinstance(code, int):
            return code
    return None


def exception_chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and everything it wraps: dlt step/job wrappers, causes and contexts."""
    chain: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is seen for seen in chain) or len(chain) > 32:
            continue
        chain.append(current)
        for attr in ("exception", "client_exception", "error", "__cause__", "__context__"):
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException):
                pending.append(inner)
    return chain


def root_error(exc: BaseException) -> BaseException:
    """The most informative exception in the chain: our own typed error, else the deepest."""
    chain = exception_chain(exc)
    for candidate in chain:
        if isinstance(candidate, IngestionError):
            return candidate
    wrappers = ("PipelineStepFailed", "LoadClientJobFailed", "LoadClientJobRetry", "RetryError")
    for candidate in reversed(chain):
        if type(candidate).__name__ not in wrappers:
            return candidate
    return chain[-1]


def _categorize_one(exc: BaseException) -> ErrorCategory | None:
    if isinstance(exc, IngestionError):
        return exc.category
    name = type(exc).__name__
    if name == "PipelineStepFailed" and getattr(exc, "is_package_partially_loaded", False):
        return ErrorCategory.PARTIAL
    status = _status_code(exc)
    if status is not None:
        if status in _TRANSIENT_STATUS:
            return ErrorCategory.TRANSIENT
        if status in _PERMANENT_STATUS:
            return ErrorCategory.PERMANENT
        if status in _CONFIG_STATUS:
            return ErrorCategory.CONFIGURATION
    if name in _CONFIG_NAMES or isinstance(exc, ImportError):
        return ErrorCategory.CONFIGURATION
    if name in _PERMANENT_NAMES:
        return ErrorCategory.PERMANENT
    if name in _TRANSIENT_NAMES or isinstance(exc, TimeoutError | ConnectionError):
        return ErrorCategory.TRANSIENT
    if type(exc).__name__ == "ClientError":  # botocore: SlowDown, 503
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        if code in {"SlowDown", "ServiceUnavailable", "RequestTimeout", "Throttling"}:
            return ErrorCategory.TRANSIENT
    text = str(exc).lower()
    if any(marker in text for marker in _TRANSIENT_TEXT):
        return ErrorCategory.TRANSIENT
    return None


def categorize_error(exc: BaseException) -> ErrorCategory:
    """Sort ``exc`` into a category, looking through dlt's wrappers and exception chains.

    Example:
        >>> categorize_error(TimeoutError("read timed out"))
        <ErrorCategory.TRANSIENT: 'TRANSIENT'>
        >>> categorize_error(ModuleNotFoundError("No module named 'psycopg2'"))
        <ErrorCategory.CONFIGURATION: 'CONFIGURATION'>
    """
    if isinstance(exc, IngestionError):
        return exc.category
    chain = exception_chain(exc)
    for candidate in chain:
        if isinstance(candidate, IngestionError):
            return candidate.category
    # the deepest cause knows best; wrappers only speak when nothing below does
    for candidate in reversed(chain):
        category = _categorize_one(candidate)
        if category is not None:
            return category
    return ErrorCategory.PERMANENT


def format_error(exc: BaseException, **context: Any) -> str:
    """``[CATEGORY] ErrorType: message (source_type=..., destination_table=..., pipeline=...)``.

    The message is the root cause's, scrubbed of secrets.
    """
    root = root_error(exc)
    category = categorize_error(exc)
    if isinstance(root, IngestionError):
        root.with_context(**context)
        message, suffix = root.message, root.context_suffix()
    else:
        message = scrub_text(str(root).strip().splitlines()[0] if str(root).strip() else "")
        suffix = IngestionError("", **context).context_suffix()
    return f"[{category.value}] {type(root).__name__}: {message} {suffix}"
