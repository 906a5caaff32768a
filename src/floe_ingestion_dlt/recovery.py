"""What the runner does around a failed run so that no row is lost or loaded twice.

dlt 1.31 commits the advanced incremental cursor to the *local* pipeline state when extract
finishes, before the package is loaded. Three rules keep that safe:

1. A package that failed with a TRANSIENT error stays pending: the next attempt (or run)
   resumes it, and the load job skips any table whose snapshot already carries the load id.
2. A package that failed with a PERMANENT or CONFIGURATION error is aborted with dlt's
   ``Pipeline.abort_packages()``, which rewinds the local state (cursor included) to where the
   package started. The next run re-extracts those rows under the fixed configuration, exactly
   as a fresh pod would after restoring state from the destination; a package that cannot
   succeed no longer blocks every later run. Nothing of it was committed, so nothing doubles.
3. A PARTIAL package (some tables committed, some not) stays pending: aborting it would make
   the next run append the committed tables' rows again. Its rerun commits only the rest.
4. A package refused because its state is stale (``StaleStateError``: another writer moved
   the cursor on, or the table was dropped or replaced, see ``destination.lineage``) is
   aborted at once, whatever its category: resuming it could never commit, and the retry
   extracts again from the table's current state.

``load.raise_on_failed_jobs = false`` would let dlt mark a package with a failed table as
loaded and store its advanced cursor at the destination, skipping that table's rows for good:
such a setting is refused before anything runs.
"""

from __future__ import annotations

from typing import Any

from floe_ingestion_dlt.errors import (
    ErrorCategory,
    PipelineConfigurationError,
    StaleStateError,
    exception_chain,
)
from floe_ingestion_dlt.logging import get_logger

__all__ = [
    "abort_stale_packages",
    "check_load_settings",
    "failed_load_ids",
    "release_failed_packages",
]

_log = get_logger(__name__)


def check_load_settings(pipeline_name: str) -> None:
    """Refuse dlt settings under which a failed table load would lose rows.

    Raises:
        PipelineConfigurationError: when ``load.raise_on_failed_jobs`` resolves to false for
            this pipeline (environment, ``config.toml`` ...).
    """
    import dlt

    for key in (f"{pipeline_name}.load.raise_on_failed_jobs", "load.raise_on_failed_jobs"):
        value = dlt.config.get(key, bool)
        if value is None:
            continue
        if value is False:
            raise PipelineConfigurationError(
                f"{key}=false is not supported: dlt would record a package whose table failed "
                "to load as loaded and move the incremental cursor past its rows; remove the "
                "setting (the plugin reports failed tables itself)",
                field="load.raise_on_failed_jobs",
                pipeline_name=pipeline_name,
            )
        return


def failed_load_ids(exc: BaseException) -> list[str]:
    """Load ids named by dlt's step failures in the chain of ``exc``."""
    ids: list[str] = []
    for candidate in exception_chain(exc):
        load_id = getattr(candidate, "load_id", None)
        is_step = type(candidate).__name__ == "PipelineStepFailed"
        if is_step and isinstance(load_id, str) and load_id and load_id not in ids:
            ids.append(load_id)
    return ids


def _packages_with_committed_tables(pipeline: Any) -> list[str]:
    from floe_ingestion_dlt.errors import is_commit_job

    found = []
    for load_id in pipeline.list_normalized_load_packages():
        info = pipeline.get_load_package_info(load_id)
        if any(is_commit_job(job) for job in info.jobs.get("completed_jobs", [])):
            found.append(load_id)
    return found


def release_failed_packages(pipeline: Any, category: ErrorCategory) -> list[str]:
    """Abort the pending packages of a run that failed for good; returns their load ids.

    Only PERMANENT and CONFIGURATION failures abort (see the module docs). Never raises: a
    package that cannot be aborted stays pending and is resumed (and reported) next time.
    """
    if category not in (ErrorCategory.PERMANENT, ErrorCategory.CONFIGURATION):
        return []
    try:
        if not pipeline.has_pending_data:
            return []
        committed = _packages_with_committed_tables(pipeline)
        if committed:
            _log.warning(
                "failed load package already committed some tables; it stays pending so the "
                "next run commits only the rest",
                pipeline_name=getattr(pipeline, "pipeline_name", None),
                load_ids=committed,
            )
            return []
        plan = pipeline.abort_packages()
    except Exception as exc:  # the run's own error is what gets reported
        _log.warning(
            "could not abort the failed load package; it stays pending",
            pipeline_name=getattr(pipeline, "pipeline_name", None),
            error_type=type(exc).__name__,
        )
        return []
    if not plan:
        return []
    aborted = [
        *([plan["package_to_abort"]["load_id"]] if plan.get("package_to_abort") else []),
        *plan.get("packages_to_delete", []),
        *plan.get("extracted_packages_to_delete", []),
    ]
    _log.warning(
        "aborted failed load packages; local state rewound, the next run extracts them again",
        pipeline_name=getattr(pipeline, "pipeline_name", None),
        load_ids=aborted,
        category=category.value,
    )
    return [str(load_id) for load_id in aborted]


def abort_stale_packages(pipeline: Any, exc: BaseException) -> bool:
    """Abort the pending package when ``exc`` is a stale-state refusal; True when it was.

    The refused package committed nothing to the refusing table; a package that committed
    other tables (nested child tables) stays pending so those are not appended twice.
    """
    if not any(isinstance(e, StaleStateError) for e in exception_chain(exc)):
        return False
    try:
        if pipeline.has_pending_data and not _packages_with_committed_tables(pipeline):
            pipeline.abort_packages()
            _log.warning(
                "aborted a load package extracted from a stale incremental state; the retry "
                "extracts again from the table's current state",
                pipeline_name=getattr(pipeline, "pipeline_name", None),
            )
    except Exception as abort_failure:  # the stale refusal is what gets reported
        _log.warning(
            "could not abort the stale load package; it stays pending",
            pipeline_name=getattr(pipeline, "pipeline_name", None),
            error_type=type(abort_failure).__name__,
        )
    return True
