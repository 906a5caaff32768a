"""A failed run named with the contract's error types.

The contract of ``run()`` names three errors: ``SourceConnectionError`` (TRANSIENT) when the
source fails during extract, ``DestinationWriteError`` (TRANSIENT) when the Iceberg write
fails, ``SchemaContractViolation`` (PERMANENT) when a frozen schema refuses a change.
:func:`contract_error` turns whatever a run raised (dlt's ``PipelineStepFailed`` around a
driver's ``OperationalError``, a PyIceberg ``CommitFailedException``, ``NotADirectoryError`` ...)
into one of them, so ``IngestionResult.errors`` and the span's ``error.type`` say
``SourceConnectionError`` / ``DestinationWriteError`` while the message keeps the cause::

    [TRANSIENT] DestinationWriteError: OperationalError: database is locked (source_type=...)

* Errors the plugin raised on purpose (every :class:`IngestionError`) are kept as they are.
* The step decides the type: dlt's ``extract`` and ``normalize`` steps read the source
  (``SourceConnectionError``); ``load``, the catalog and everything after it write the table
  (``DestinationWriteError``).
* The category is the contract's (TRANSIENT) unless the cause is recognised by
  :func:`~floe_ingestion_dlt.errors.categorize_error`'s rules as something a retry cannot fix
  (refused credentials, a missing table, bad data: PERMANENT; a missing package:
  CONFIGURATION). The same typed error is what the retry policy sees.
"""

from __future__ import annotations

from typing import Any

from floe_ingestion_dlt.errors import (
    CATEGORY_RULES,
    DestinationWriteError,
    ErrorCategory,
    IngestionError,
    PartialLoadError,
    SourceConnectionError,
    categorize_error,
    exception_chain,
    root_error,
)
from floe_ingestion_dlt.scrub import scrub_text

__all__ = ["SOURCE_STEPS", "contract_error", "describe_cause"]

SOURCE_STEPS = frozenset({"extract", "normalize"})
"""dlt steps that read the source: their failures are ``SourceConnectionError``."""

_WRAPPER_NAMES = frozenset(
    {"PipelineStepFailed", "ResourceExtractionError", "LoadClientJobFailed", "RetryError"}
)


def _failed_step(exc: BaseException) -> str | None:
    for candidate in exception_chain(exc):
        step = getattr(candidate, "step", None)
        if type(candidate).__name__ == "PipelineStepFailed" and isinstance(step, str):
            return step
    return None


def _recognised_category(exc: BaseException) -> ErrorCategory | None:
    """The category a rule gives the innermost recognised cause (``None``: nothing known)."""
    chain = [c for c in exception_chain(exc) if type(c).__name__ not in _WRAPPER_NAMES]
    for candidate in reversed(chain):
        for rule in CATEGORY_RULES:
            category = rule.match(candidate)
            if category is not None:
                return ErrorCategory(category)
    return None


def _cause(exc: BaseException) -> BaseException:
    """The root cause, but never a worker process's ``_RemoteTraceback`` (a traceback text):
    the exception it is attached to has the worker's type and message."""
    root = root_error(exc)
    if type(root).__name__ != "_RemoteTraceback":
        return root
    chain = [c for c in exception_chain(exc) if type(c).__name__ not in _WRAPPER_NAMES]
    for candidate in reversed(chain):
        if type(candidate).__name__ != "_RemoteTraceback":
            return candidate
    return root


def describe_cause(exc: BaseException) -> str:
    """``CauseType: first line of its message`` of the root cause, scrubbed."""
    root = _cause(exc)
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return scrub_text(f"{type(root).__name__}: {first}" if first else type(root).__name__)


def _context(context: dict[str, Any]) -> dict[str, Any]:
    keys = ("source_type", "destination_table", "pipeline_name")
    return {key: context.get(key) for key in keys}


def contract_error(exc: BaseException, **context: Any) -> IngestionError:
    """``exc`` as the contract's typed error of a failed run (``exc`` itself if it is one).

    ``context`` (``source_type``, ``destination_table``, ``pipeline_name``) fills the error's
    context. The returned error has ``exc`` as its ``__cause__``.
    """
    for candidate in exception_chain(exc):
        if isinstance(candidate, IngestionError):
            return candidate.with_context(**context)
    if categorize_error(exc) is ErrorCategory.PARTIAL:
        partial = PartialLoadError(describe_cause(exc), **_context(context))
        partial.__cause__ = exc
        return partial
    step = _failed_step(exc)
    kind: type[IngestionError] = (
        SourceConnectionError if step in SOURCE_STEPS else DestinationWriteError
    )
    category = _recognised_category(exc) or kind.default_category
    where = f"{step} step: " if step in SOURCE_STEPS else ""
    typed = kind(
        f"{where}{describe_cause(exc)}",
        category=category,
        **_context(context),
    )
    typed.__cause__ = exc
    return typed
