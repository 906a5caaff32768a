"""Typed errors of the plugin, and the one-line form of any error for results and logs.

Every error carries an :class:`ErrorCategory` and the context an operator needs (source type,
destination table, pipeline name). Messages are scrubbed of secrets when built.

Hierarchy (all are :class:`IngestionError`; the category is the default, a raiser may give
another one, e.g. a ``SourceConnectionError`` for refused credentials is PERMANENT)::

    IngestionError                      PERMANENT   base; carries category + context
    ├── PipelineConfigurationError      CONFIGURATION  missing package, impossible combination
    │   └── ValidationError (+ ValueError) CONFIGURATION  bad input, ``field`` names it
    ├── SourceConnectionError (+ ConnectionError) TRANSIENT  source/catalog not reachable
    ├── DestinationWriteError           TRANSIENT   Iceberg write or commit failed
    ├── SchemaContractViolation         PERMANENT   data does not fit a frozen schema
    └── PartialLoadError                PARTIAL     some load jobs failed, others committed

One hierarchy satisfies both wordings of the contract: ``startup()`` and ``create_pipeline()``
raise ``ValidationError`` for an invalid configuration, and a ``ValidationError`` *is a*
``PipelineConfigurationError`` (CONFIGURATION), so ``except PipelineConfigurationError``
catches every configuration problem, invalid values included, as the contract of
``startup()`` says.

``ValidationError`` is the error the plugin raises for invalid input to its methods
(``create_pipeline``, ``configure`` with a dict, ``get_destination_config``); it subclasses
``ValueError`` so ``except ValueError`` catches it as well as pydantic's own
``pydantic.ValidationError``, which constructing a config model directly
(``DltIngestionConfig(...)``) raises, as pydantic models do.

The rules that sort any exception into a category (:func:`categorize_error`, with
:func:`root_error` and :func:`exception_chain`) are in
:mod:`floe_ingestion_dlt.error_classification`, and importable from here as before.

Example:
    >>> from floe_ingestion_dlt.errors import SourceConnectionError, ErrorCategory
    >>> err = SourceConnectionError("connection refused by db:5432", source_type="sql_database")
    >>> err.category is ErrorCategory.TRANSIENT
    True
"""

from __future__ import annotations

from typing import Any

from floe_ingestion_dlt.error_classification import (
    CATEGORY_RULES,
    CategoryRule,
    ErrorCategory,
    categorize_error,
    exception_chain,
    is_commit_job,
    root_error,
)
from floe_ingestion_dlt.scrub import scrub_text

__all__ = [
    "CATEGORY_RULES",
    "CategoryRule",
    "DestinationWriteError",
    "EmptyReplaceRefused",
    "ErrorCategory",
    "IngestionError",
    "PartialLoadError",
    "PipelineConfigurationError",
    "SchemaContractViolation",
    "SourceConnectionError",
    "StaleStateError",
    "ValidationError",
    "categorize_error",
    "exception_chain",
    "format_error",
    "is_commit_job",
    "root_error",
]

_MAX_MESSAGE = 1000


class IngestionError(Exception):
    """Base of every error the plugin raises on purpose.

    Attributes:
        message: the scrubbed message.
        category: what to do about it (:class:`ErrorCategory`).
        source_type, destination_table, pipeline_name: where it happened (``None`` if unknown).
        field: the configuration field at fault, for configuration errors.
    """

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
        self.message = scrub_text(str(message))
        self.category = ErrorCategory(category) if category else self.default_category
        self.source_type = source_type
        self.destination_table = destination_table
        self.pipeline_name = pipeline_name
        self.field = field
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only arguments are not in ``args``: keep them across pickling (processes)
        return (_rebuild_error, (type(self), self.message, self._context()))

    def _context(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "source_type": self.source_type,
            "destination_table": self.destination_table,
            "pipeline_name": self.pipeline_name,
            "field": self.field,
        }

    def with_context(self, **context: Any) -> IngestionError:
        """Fill in context fields that are still empty; returns ``self``."""
        for key in ("source_type", "destination_table", "pipeline_name"):
            if getattr(self, key) is None and context.get(key) is not None:
                setattr(self, key, context[key])
        return self

    def context_suffix(self) -> str:
        """``(source_type=..., destination_table=..., pipeline=...)`` for result entries."""
        return _context_suffix(self.source_type, self.destination_table, self.pipeline_name)


def _rebuild_error(cls: type[IngestionError], message: str, context: dict[str, Any]) -> Any:
    return cls(message, **context)


def _context_suffix(
    source_type: str | None, destination_table: str | None, pipeline_name: str | None
) -> str:
    return (
        f"(source_type={source_type or '-'}, "
        f"destination_table={destination_table or '-'}, "
        f"pipeline={pipeline_name or '-'})"
    )


class PipelineConfigurationError(IngestionError):
    """The pipeline cannot be built as configured (missing package, impossible combination).

    Every :class:`ValidationError` is one too: an invalid value is a configuration error.
    """

    default_category = ErrorCategory.CONFIGURATION


class ValidationError(PipelineConfigurationError, ValueError):
    """The input is invalid; ``field`` names the offending field. Nothing was written."""

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


class StaleStateError(DestinationWriteError):
    """Another writer moved the table's incremental state on since this run read it (or the
    table was dropped or replaced): the package's rows came from a stale cursor and were not
    committed. The runner aborts the package and retries the run from the new state."""

    default_category = ErrorCategory.TRANSIENT


class EmptyReplaceRefused(IngestionError):
    """A replace with 0 rows would have emptied a table that holds rows, and the source options
    did not ask for it (``allow_empty_replace``); nothing was committed."""

    default_category = ErrorCategory.PERMANENT


class PartialLoadError(IngestionError):
    """Some load jobs of a package failed while others committed."""

    default_category = ErrorCategory.PARTIAL


def format_error(exc: BaseException, **context: Any) -> str:
    """``[CATEGORY] ErrorType: message (source_type=..., destination_table=..., pipeline=...)``.

    The type and message are the root cause's (see :func:`root_error`), first line only,
    scrubbed of secrets; ``context`` fills in what the error does not know itself.

    Example:
        >>> format_error(TimeoutError("read timed out"), source_type="rest_api")
        '[TRANSIENT] TimeoutError: read timed out (source_type=rest_api, destination_table=-, pipeline=-)'
    """  # noqa: E501
    root = root_error(exc)
    category = categorize_error(exc)
    if isinstance(root, IngestionError):
        root.with_context(**context)
        message, suffix = root.message, root.context_suffix()
    else:
        text = str(root).strip()
        message = scrub_text(text.splitlines()[0].strip() if text else "")
        suffix = _context_suffix(
            context.get("source_type"),
            context.get("destination_table"),
            context.get("pipeline_name"),
        )
    message = scrub_text(message.splitlines()[0] if message else "") or "(no message)"
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"[{category.value}] {type(root).__name__}: {message} {suffix}"
